"""The ledger survives the machine: a run into object storage killed again and again, each
restart on a fresh, empty state directory (a rescheduled pod), pays nothing twice.

A real S3-compatible server (moto, started here) holds the results and the ledger; the
emulator runs on a thread of the test, apart from the runs it kills."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.thread import EmulatorThread
from tests.run_helpers import emulator_config

pytestmark = pytest.mark.slow

IMAGE = "alibaba/qwen-image-2.0/text-to-image"
JOBS = 40


def spec(path: Path, jobs: int = JOBS) -> None:
    lines = ["version: 1", "name: ledger", f"endpoint: {IMAGE}", "jobs:"]
    lines += [f"  - {{id: j-{i:02d}, prompt: 'a paper boat, {i}'}}" for i in range(jobs)]
    lines += ["run: {poll_interval: 0.05, timeout: 60, signal_interval: 0.05}"]
    path.write_text("\n".join(lines) + "\n")


def start(work: Path, emu: EmulatorThread, state: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key}
    argv = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "s3://ledger/batch"]
    argv += ["--state", str(state), "-q", *extra]
    with (work / f"{state.name}.err").open("wb") as err:
        return subprocess.Popen(argv, cwd=work, env=env, stdout=err, stderr=err)


def wait_for(what: Any, limit: float = 60.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.02)
    return False


def kill_and_finish(
    work: Path, emu: EmulatorThread, kills: int, seed: int, extra: tuple[str, ...] = ()
) -> tuple[int, int]:
    """SIGKILL ``kills`` runs at random moments (after a random number of new submits, a
    random moment later), each on a fresh state directory; then one run to its end. The
    last run's exit code, and how many kills landed mid-run."""
    rng = random.Random(seed)
    landed = 0
    for k in range(kills):
        before = emu.stats()["submissions"]
        proc = start(work, emu, work / f"state-{k}", *extra)
        goal = before + rng.randint(1, 4)
        wait_for(lambda g=goal, p=proc: emu.stats()["submissions"] >= g or p.poll() is not None)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            landed += 1
        proc.wait(60)
    final = start(work, emu, work / "state-final", *extra)
    return final.wait(300), landed


def manifest(s3: Any) -> list[dict[str, Any]]:
    s3.invalidate_cache()
    return [json.loads(line) for line in s3.cat("ledger/batch/manifest.jsonl").splitlines()]


def test_a_run_killed_twelve_times_on_fresh_disks_pays_nothing_twice(
    tmp_path: Path, s3: Any
) -> None:
    """Twelve SIGKILLs at random moments, each restart with an empty --state as a
    rescheduled pod has: nothing paid twice, no more tasks than jobs, every job succeeded
    with its file in the bucket, but those a kill caught between sending a submit and its
    task id reaching the bucket: ``unknown``, at most one per kill (one submit at a
    time), each with exactly one task."""
    s3.mkdir("ledger")
    spec(tmp_path / "s.yaml")
    config = emulator_config(
        speed=100.0, durations={"image": {"kind": "uniform", "low": 5, "high": 30}}
    )
    with EmulatorThread(config) as emu:
        code, landed = kill_and_finish(tmp_path, emu, 12, 2026, ("--concurrency", "1"))
        stats = emu.stats(tasks=True)
    err = (tmp_path / "state-final.err").read_text()
    assert landed >= 10, err
    assert stats["paidTwice"] == {}
    assert stats["tasks"] <= JOBS
    records = manifest(s3)
    assert len(records) == JOBS
    statuses = [r["status"] for r in records]
    unknown = [r for r in records if r["status"] == "unknown"]
    assert statuses.count("succeeded") + len(unknown) == JOBS, statuses
    assert len(unknown) <= landed
    assert all(not r["taskId"] for r in unknown)
    per_body = stats["submissionsPerBody"]
    assert all(n == 1 for n in per_body.values()), per_body
    assert code == (0 if not unknown else 1), err
    for record in records:
        for out in record["outputs"]:
            assert s3.info(f"ledger/batch/{out['path']}")["size"] == out["bytes"]
