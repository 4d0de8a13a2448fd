"""Scenario 2: rhbatch's own CPU per job, with tasks that take no time and no downloads."""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import Outcome, emulator, measure, rhbatch, write_spec

TITLE = "client overhead: 10,000 zero-duration jobs, no downloads"
SETTINGS = {
    "durations": {"video": {"kind": "fixed", "value": 0}},
    "accounts": {"rhemu000000000000000000000000000": {"concurrency": 50, "balance": 1e9}},
}


def run(quick: bool, work: Path) -> Outcome:
    jobs = 500 if quick else 10_000
    spec = write_spec(work / "overhead.yaml", jobs, run={"concurrency": 50})
    outcome = Outcome("overhead", TITLE, "python -m benchmarks overhead", settings=SETTINGS)
    with emulator(SETTINGS) as emu:
        result = measure(
            rhbatch("run", str(spec), "--out", str(work / "out"), "--no-download", "-q"),
            env=emu.env(),
        )
        stats = emu.stats()
    assert result.code == 0, result.stderr
    assert stats["byStatus"] == {"SUCCESS": jobs}, stats["byStatus"]
    per_job_ms = result.cpu / jobs * 1000
    outcome.add("jobs", jobs, "jobs")
    outcome.add("rhbatch CPU per job", round(per_job_ms, 3), "ms", "≤ 0.5 ms", per_job_ms <= 0.5)
    outcome.add("rhbatch CPU total", round(result.cpu, 2), "s")
    outcome.add("wall time", round(result.wall, 2), "s")
    outcome.add("jobs per second", round(jobs / result.wall, 1), "jobs/s")
    outcome.add(
        "API requests per job", round(sum(stats["requests"].values()) / jobs, 3), "requests"
    )
    return outcome
