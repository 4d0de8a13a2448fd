"""Scenario 1: slot occupancy: how close rhbatch's makespan comes to a perfect scheduler's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import (
    KEY,
    Outcome,
    emulator,
    ideal_makespan,
    measure,
    rhbatch,
    timeline,
    write_spec,
)

TITLE = "slot occupancy: 1,000 jobs, 50 slots, realistic task durations"
SLOTS = 50


def settings(quick: bool) -> dict[str, Any]:
    return {
        "speed": 100.0,
        "seed": 7,
        "accounts": {KEY: {"concurrency": SLOTS, "balance": 1e9}},
        # Video generation times: a median of 90 s, most between 40 s and 200 s.
        "durations": {"video": {"kind": "lognormal", "median": 90, "sigma": 0.45}},
    }


def run(quick: bool, work: Path) -> Outcome:
    jobs = 150 if quick else 1000
    config = settings(quick)
    speed = config["speed"]
    outcome = Outcome("occupancy", TITLE, "python -m benchmarks occupancy", settings=config)
    # Times in the spec are RunningHub seconds; this emulator runs `speed` times faster.
    spec = write_spec(
        work / "occupancy.yaml",
        jobs,
        run={"concurrency": SLOTS, "poll_interval": 5 / speed, "signal_interval": 1 / speed},
    )
    modes = {"counts": [], "webhooks": ["--webhook-listen", "127.0.0.1:0"]}
    lines: dict[str, tuple[list[float], list[int]]] = {}
    for mode, extra in modes.items():
        with emulator(config) as emu:
            out = work / f"out-{mode}"
            result = measure(
                rhbatch("run", str(spec), "--out", str(out), "--no-download", "-q", *extra),
                env=emu.env(),
            )
            stats = emu.stats(tasks=True)
        assert result.code == 0, result.stderr
        assert stats["byStatus"] == {"SUCCESS": jobs}, stats["byStatus"]
        tasks = sorted(stats["taskList"], key=lambda t: (t["submitted"], t["taskId"]))
        makespan = max(t["ended"] for t in tasks) - min(t["submitted"] for t in tasks)
        ideal = ideal_makespan([t["ended"] - t["started"] for t in tasks], SLOTS)
        ratio = makespan / ideal
        outcome.add(f"{mode}: makespan / ideal", round(ratio, 4), "x", "≤ 1.02", ratio <= 1.02)
        outcome.add(f"{mode}: makespan", round(makespan * speed / 60, 2), "RunningHub min")
        outcome.add(
            f"{mode}: ideal (50 slots, same durations)",
            round(ideal * speed / 60, 2),
            "RunningHub min",
        )
        outcome.add(f"{mode}: queries per task", round(stats["polls"] / jobs, 2), "queries")
        outcome.add(f"{mode}: peak tasks running", stats["peakRunning"], "tasks")
        xs, ys = timeline(tasks)
        lines[f"in flight ({mode})"] = ([x * speed / 60 for x in xs], ys)
    outcome.series["inflight"] = {
        "title": f"tasks in flight, {jobs} jobs on {SLOTS} slots",
        "x": "RunningHub minutes",
        "y": "tasks running",
        "drawstyle": "steps-post",
        "lines": lines,
    }
    outcome.details["notes"] = [
        "The ideal is the makespan of a scheduler that starts each task, in the same order, "
        "the instant a slot frees, with the durations the emulator actually drew. "
        "`counts` is rhbatch's default (one look at the account's queue counts per second "
        "of RunningHub time); `webhooks` adds `--webhook-listen`."
    ]
    return outcome
