"""Scenario 4: peak memory of rhbatch for 1k to 1M jobs: validate, plan, run.

Each command is its own process; its peak RSS is the kernel's account of it.
``run`` uses tasks that end at once (instant reply) and ``--no-download``,
against the emulator in another process. What is written is deleted as soon as
it is measured (a million-job run leaves about 1.7 GB of state, manifest and
report). The goals are each command's peak at the largest size and its growth
from the size before: a batch ten times longer should not need more memory.
``run`` at a million jobs takes about ten minutes on a 2-core machine; it is
measured only when the run of 100,000 projects to at most ``RUN_BUDGET``, and
the page says so when it was not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.harness import KEY, Outcome, emulator, measure, rhbatch, write_spec

TITLE = "memory: peak RSS validating, planning and running 1k / 10k / 100k / 1M jobs"
SETTINGS = {
    "durations": {"video": {"kind": "fixed", "value": 0}},
    "accounts": {KEY: {"concurrency": 50, "balance": 1e12, "queue_limit": 1000}},
}
COMMANDS = ("validate", "plan", "run")
GOAL_PEAK_MB = 250
GOAL_GROWTH = 10  # percent, second largest size to the largest
RUN_BUDGET = 600  # seconds: ``run`` at the largest size only if it projects under this


def run(quick: bool, work: Path) -> Outcome:
    sizes = (200, 1_000, 2_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    outcome = Outcome("memory", TITLE, "python -m benchmarks memory", settings=SETTINGS)
    peaks: dict[str, list[float]] = {command: [] for command in COMMANDS}
    walls: dict[str, list[float]] = {command: [] for command in COMMANDS}
    skipped: dict[str, float] = {}
    for jobs in sizes:
        spec = write_spec(work / f"mem-{jobs}.yaml", jobs, run={"concurrency": 50})
        for command in ("validate", "plan"):
            result = measure(rhbatch(command, str(spec)))
            assert result.code == 0, result.stderr
            peaks[command].append(result.max_rss_mb)
            walls[command].append(result.wall)
        projected = walls["run"][-1] * jobs / sizes[-2] if jobs == sizes[-1] else 0.0
        if projected > RUN_BUDGET:
            skipped = {"jobs": jobs, "projected_seconds": round(projected, 1)}
        else:
            peak, wall = _run(work, spec, jobs)
            peaks["run"].append(peak)
            walls["run"].append(wall)
    largest = {command: sizes[len(peaks[command]) - 1] for command in COMMANDS}
    for i, jobs in enumerate(sizes):
        for command in COMMANDS:
            if i >= len(peaks[command]):
                continue
            value = peaks[command][i]
            judged = jobs == sizes[-1] or (command == "run" and skipped and jobs == sizes[-2])
            goal, met = (f"≤ {GOAL_PEAK_MB} MB", value <= GOAL_PEAK_MB) if judged else (None, None)
            outcome.add(f"{command} {jobs:,} jobs: peak RSS", round(value, 1), "MB", goal, met)
    for command in COMMANDS:
        if largest[command] != sizes[-1]:
            continue
        growth = (peaks[command][-1] / peaks[command][-2] - 1) * 100
        outcome.add(
            f"{command}: peak RSS growth {_short(sizes[-2])} -> {_short(sizes[-1])}",
            round(growth, 1),
            "%",
            f"< {GOAL_GROWTH}%",
            growth < GOAL_GROWTH,
        )
    for command in COMMANDS:
        jobs = largest[command]
        outcome.add(f"{command} {jobs:,} jobs: wall time", round(walls[command][-1], 1), "s")
    if skipped:
        outcome.add(
            f"run {sizes[-1]:,} jobs: not measured, projected wall time",
            round(skipped["projected_seconds"] / 60, 1),
            "min",
        )
    outcome.details["walls"] = walls
    outcome.details["run_skipped"] = skipped
    outcome.series["rss"] = {
        "title": "rhbatch peak RSS by number of jobs",
        "x": "jobs",
        "y": "MB",
        "logx": True,
        "lines": {
            command: (list(sizes[: len(values)]), values) for command, values in peaks.items()
        },
    }
    notes = [
        "Each command runs as its own process (peak RSS from the kernel's accounting of that "
        "process); `run` uses tasks that end at once and `--no-download`, against the emulator "
        f"in another process. Sizes: {', '.join(f'{n:,}' for n in sizes)} jobs, each a "
        "matrix expanded by rhbatch. The goals: each command's peak at the largest size at "
        f"most {GOAL_PEAK_MB} MB, and its growth from the second largest size to the largest "
        f"under {GOAL_GROWTH}% (a batch ten times longer should not need more memory).",
        f"`run` at the largest size is measured when the run of the size before projects "
        f"(times ten) to at most {RUN_BUDGET // 60} minutes on this machine.",
    ]
    if skipped:
        notes.append(
            f"Here it projected {skipped['projected_seconds'] / 60:.1f} minutes, so `run` was "
            f"measured up to {sizes[-2]:,} jobs only, and its goal of {GOAL_PEAK_MB} MB "
            f"applies there; `validate` and `plan` were measured at {sizes[-1]:,}."
        )
    outcome.details["notes"] = notes
    return outcome


def _run(work: Path, spec: Path, jobs: int) -> tuple[float, float]:
    """Peak RSS (MB) and wall time (s) of a run of ``spec``; what it wrote is deleted."""
    out = work / f"out-{jobs}"
    with emulator(SETTINGS) as emu:
        result = measure(
            rhbatch("run", str(spec), "--out", str(out), "--no-download", "-q"), env=emu.env()
        )
        stats = emu.stats()
    shutil.rmtree(out, ignore_errors=True)
    assert result.code == 0, result.stderr[-2000:]
    assert stats["byStatus"] == {"SUCCESS": jobs}, stats["byStatus"]
    return result.max_rss_mb, result.wall


def _short(jobs: int) -> str:
    """1,000,000 -> 1M, 100,000 -> 100k, 2,000 -> 2k."""
    if jobs % 1_000_000 == 0:
        return f"{jobs // 1_000_000}M"
    if jobs % 1_000 == 0:
        return f"{jobs // 1_000}k"
    return str(jobs)
