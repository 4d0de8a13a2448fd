"""Scenario 10: the time from typing ``rhbatch run`` to the first submit.

Everything a run does before it spends: read the spec, expand and validate every
job, price the batch, open the state store and write every job into it. At
100,000 and 1,000,000 jobs this is the time a person waits before anything
happens. The run is started with ``--log-json``; the clock stops when its first
``submitted`` event is read from stderr, and the run is then killed (the
figure is the wait, not the batch).

``RHBATCH_BENCH_BEFORE=DIR`` (a checkout of an earlier rhbatch, e.g. a ``git
worktree`` of the commit before a change) measures that code too, side by side
in the same run against the same emulator, each size alternating which goes
first; the ratio before/after is reported.
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
    before = os.environ.get("RHBATCH_BENCH_BEFORE")
    outcome = Outcome("first_submit", TITLE, "python -m benchmarks first_submit", settings=SETTINGS)
    with emulator(SETTINGS) as emu:
        for turn, jobs in enumerate(sizes):
            spec = write_spec(work / f"first-{jobs}.yaml", jobs, run={"concurrency": 50})
            codes = [("after", None)] + ([("before", before)] if before else [])
            if turn % 2:
                codes.reverse()
            walls = {}
            for name, root in codes:
                walls[name] = first_submit(spec, work / f"out-{jobs}-{name}", emu.env(), root)
            outcome.add(
                f"{jobs:,} jobs: seconds to the first submit", round(walls["after"], 2), "s"
            )
            outcome.add(f"{jobs:,} jobs: per job", round(walls["after"] / jobs * 1e6, 1), "µs")
            if before:
                outcome.add(
                    f"{jobs:,} jobs: seconds to the first submit, before",
                    round(walls["before"], 2),
                    "s",
                )
                outcome.add(
                    f"{jobs:,} jobs: before / after",
                    round(walls["before"] / walls["after"], 2),
                    "x",
                )
    notes = [
        "A fresh output directory each time: the spec is read, expanded, validated and "
        "priced, and every job is written to the state store before the first submit "
        "(`rhbatch run SPEC --out DIR --log-json`; the clock stops at the first "
        "`submitted` event, then the run is killed)."
    ]
    if before:
        notes.append(f"before: the rhbatch of {_describe(before)}, measured side by side.")
    outcome.details["notes"] = notes
    return outcome


def _describe(root: str) -> str:
    """The commit of a checkout, as git names it (the directory if git cannot)."""
    done = subprocess.run(
        ["git", "-C", root, "log", "-1", "--format=%h (%s)"], capture_output=True, text=True
    )
    return done.stdout.strip()[:120] if done.returncode == 0 else root


def first_submit(spec: Path, out: Path, env: dict[str, str], root: str | None = None) -> float:
    """Seconds from starting ``rhbatch run`` to its first ``submitted`` event; ``root``:
    run the rhbatch of that checkout instead of this one."""
    argv = rhbatch("run", str(spec), "--out", str(out), "--log-json")
    env = _with_path(env)
    if root is not None:
        env["PYTHONPATH"] = os.pathsep.join([root, env["PYTHONPATH"]])
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,
    )
    assert proc.stderr is not None
    try:
        tail: list[str] = []
        for line in proc.stderr:
            if line.startswith("{") and json.loads(line).get("event") == "submitted":
                return time.monotonic() - start
            tail = [*tail[-19:], line]
        raise RuntimeError("the run ended before its first submit:\n" + "".join(tail))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
