"""Scenario 4: peak memory of rhbatch for 1k, 10k and 100k jobs: validate, plan, run."""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import KEY, Outcome, emulator, measure, rhbatch, write_spec

TITLE = "memory: peak RSS validating, planning and running 1k / 10k / 100k jobs"
SETTINGS = {
    "durations": {"video": {"kind": "fixed", "value": 0}},
    "accounts": {KEY: {"concurrency": 50, "balance": 1e12, "queue_limit": 1000}},
}


def run(quick: bool, work: Path) -> Outcome:
    sizes = (200, 1_000, 2_000) if quick else (1_000, 10_000, 100_000)
    outcome = Outcome("memory", TITLE, "python -m benchmarks memory", settings=SETTINGS)
    peaks: dict[str, list[float]] = {"validate": [], "plan": [], "run": []}
    for jobs in sizes:
        spec = write_spec(work / f"mem-{jobs}.yaml", jobs, run={"concurrency": 50})
        for command in ("validate", "plan"):
            result = measure(rhbatch(command, str(spec)))
            assert result.code == 0, result.stderr
            peaks[command].append(result.max_rss_mb)
        with emulator(SETTINGS) as emu:
            result = measure(
                rhbatch(
                    "run", str(spec), "--out", str(work / f"out-{jobs}"), "--no-download", "-q"
                ),
                env=emu.env(),
            )
            stats = emu.stats()
        assert result.code == 0, result.stderr[-2000:]
        assert stats["byStatus"] == {"SUCCESS": jobs}, stats["byStatus"]
        peaks["run"].append(result.max_rss_mb)
        for command in peaks:
            goal = "≤ 250 MB" if jobs == sizes[-1] and command == "run" else None
            value = peaks[command][-1]
            outcome.add(
                f"{command} {jobs:,} jobs: peak RSS",
                round(value, 1),
                "MB",
                goal,
                value <= 250 if goal else None,
            )
    outcome.series["rss"] = {
        "title": "rhbatch peak RSS by number of jobs",
        "x": "jobs",
        "y": "MB",
        "logx": True,
        "lines": {command: (list(sizes), values) for command, values in peaks.items()},
    }
    outcome.details["notes"] = [
        "Each command runs as its own process (peak RSS from the kernel's accounting of that "
        "process); `run` uses tasks that end at once and `--no-download`, against the emulator "
        "in another process."
    ]
    return outcome
