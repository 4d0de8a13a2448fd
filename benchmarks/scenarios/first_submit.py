"""Scenario 10: the time from typing ``rhbatch run`` to the first submit.

Everything a run does before it spends: read the spec, expand and validate every
job, price the batch, open the state store and write every job into it. At
100,000 and 1,000,000 jobs this is the time a person waits before anything
happens. The run is started with ``--log-json``; the clock stops when its first
``submitted`` event is read from stderr, and the run is then killed (the
figure is the wait, not the batch).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from benchmarks.harness import KEY, Outcome, _with_path, emulator, rhbatch, write_spec

TITLE = "time to the first submit of a large spec"
SETTINGS = {
    "durations": {"video": {"kind": "fixed", "value": 600}},
    "accounts": {KEY: {"concurrency": 50, "balance": 1e15}},
}


def run(quick: bool, work: Path) -> Outcome:
    sizes = (2_000, 10_000) if quick else (100_000, 1_000_000)
    outcome = Outcome("first_submit", TITLE, "python -m benchmarks first_submit", settings=SETTINGS)
    with emulator(SETTINGS) as emu:
        for jobs in sizes:
            spec = write_spec(
                work / f"first-{jobs}.yaml", jobs, run={"concurrency": 50}
            )
            wall = first_submit(spec, work / f"out-{jobs}", emu.env())
            outcome.add(f"{jobs:,} jobs: seconds to the first submit", round(wall, 2), "s")
            outcome.add(f"{jobs:,} jobs: per job", round(wall / jobs * 1e6, 1), "µs")
    outcome.details["notes"] = [
        "A fresh output directory each time: the spec is read, expanded, validated and "
        "priced, and every job is written to the state store before the first submit "
        "(`rhbatch run SPEC --out DIR --log-json`; the clock stops at the first "
        "`submitted` event, then the run is killed)."
    ]
    return outcome


def first_submit(spec: Path, out: Path, env: dict[str, str]) -> float:
    """Seconds from starting ``rhbatch run`` to its first ``submitted`` event."""
    argv = rhbatch("run", str(spec), "--out", str(out), "--log-json")
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_with_path(env),
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    try:
        tail: list[str] = []
        for line in proc.stderr:
            if line.startswith("{") and json.loads(line).get("event") == "submitted":
                return time.monotonic() - start
            tail = (tail + [line])[-20:]
        raise RuntimeError("the run ended before its first submit:\n" + "".join(tail))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
