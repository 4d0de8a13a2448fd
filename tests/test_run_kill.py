"""A run killed (kill -9) or interrupted (Ctrl-C) mid-batch loses nothing and pays nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rhbatch.emulator.thread import EmulatorThread
from tests.run_helpers import emulator_config, manifest, spec_text, verify_files

JOBS = 40


def start_run(tmp_path: Path, emu: EmulatorThread, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key}
    return subprocess.Popen(
        [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out", "-q", *extra],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(check: object, limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def rerun(tmp_path: Path, emu: EmulatorThread) -> tuple[int, str]:
    with start_run(tmp_path, emu) as proc:
        out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(spec_text(JOBS, run="  concurrency: 8\n  signal_interval: 0.05\n"))
    return path


def quiet_moment(emu: EmulatorThread) -> bool:
    """All 8 slots full and no submit for a while: nothing is on the wire."""
    stats = emu.stats(tasks=True)
    running = stats["byStatus"].get("RUNNING", 0)
    last = max((t["submitted"] for t in stats["taskList"]), default=0.0)
    now = emu.call(lambda e: e.now())
    return stats["submissions"] >= 16 and running == 8 and now - last > 0.15


def test_kill_9_then_rerun(tmp_path: Path, spec: Path) -> None:
    """kill -9 with 8 tasks in flight; the rerun polls them (no resubmit) and finishes
    every job: the ledger shows each job submitted exactly once."""
    slow = {"video": {"kind": "uniform", "low": 1600, "high": 2400}}  # 0.8-1.2 s at speed 2000
    with EmulatorThread(emulator_config(durations=slow)) as emu:
        with start_run(tmp_path, emu) as proc:
            wait_until(lambda: quiet_moment(emu))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        killed_at = emu.stats()["submissions"]
        code, output = rerun(tmp_path, emu)
        stats = emu.stats()
    assert proc.returncode == -signal.SIGKILL
    assert 16 <= killed_at < JOBS
    assert code == 0, output
    assert "resuming:" not in output  # -q: no chatter
    assert stats["submissions"] == JOBS
    assert stats["duplicateSubmissions"] == {}
    records = manifest(tmp_path / "out")
    assert {r["status"] for r in records} == {"succeeded"}
    assert verify_files(tmp_path / "out", records) == JOBS


def test_kill_9_during_a_submit(tmp_path: Path, spec: Path) -> None:
    """Killed while a submit is on the wire: the rerun marks that job unknown and does not
    send it again; everything else finishes."""
    # Replies held 3 s: long enough to kill the run with a submit on the wire.
    config = emulator_config(faults={"slow": {"rate": 1.0, "seconds": 6000, "routes": ["submit"]}})
    with EmulatorThread(config) as emu:
        with start_run(tmp_path, emu) as proc:
            wait_until(
                lambda: emu.stats()["tasks"] >= 1
            )  # a submit was received; its reply waits 10 s
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        time.sleep(0.5)  # let the emulator take in what was already on the wire
        made = emu.stats()["tasks"]
        emu.call(lambda e: setattr(e.config.faults["slow"], "rate", 0.0))
        code, _output = rerun(tmp_path, emu)
        stats = emu.stats()
    records = manifest(tmp_path / "out")
    unknown = [r for r in records if r["status"] == "unknown"]
    succeeded = [r for r in records if r["status"] == "succeeded"]
    # Every job whose submit may have reached the server is unknown (at least the tasks made);
    # none of them was sent again; all the others ran once.
    assert len(unknown) >= made >= 1
    assert len(unknown) + len(succeeded) == JOBS
    assert code == 1
    assert stats["duplicateSubmissions"] == {}
    assert stats["submissions"] == made + len(succeeded)


def test_ctrl_c_then_resume(tmp_path: Path, spec: Path) -> None:
    """Ctrl-C stops submitting, exits 130 with the command to resume; the resume finishes
    every job with no submit repeated."""
    slow = {"video": {"kind": "uniform", "low": 1000, "high": 2000}}
    with EmulatorThread(emulator_config(durations=slow)) as emu:
        with start_run(tmp_path, emu) as proc:
            wait_until(lambda: emu.stats()["submissions"] >= 10)
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=30)
        code, output = rerun(tmp_path, emu)
        stats = emu.stats()
    assert proc.returncode == 130, err
    assert "resume with: rhbatch run s.yaml --out out" in err
    assert code == 0, output
    assert stats["submissions"] == JOBS
    assert stats["duplicateSubmissions"] == {}


@pytest.mark.parametrize("failing", [False, True])
def test_a_reader_who_stops_reading_fails_no_job(tmp_path: Path, failing: bool) -> None:
    """`rhbatch run ... | head`: the output's reader is gone before the first line. Every
    job still runs to its true end and the exit code says how the jobs ended (0 when all
    succeeded, 1 when they failed), not how the printing went."""
    (tmp_path / "s.yaml").write_text(spec_text(6))
    faults = {"task_failed": {"rate": 1.0, "codes": ["1505"]}} if failing else {}
    with EmulatorThread(emulator_config(faults=faults)) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key}
        read, write = os.pipe()
        os.close(read)  # nobody will ever read what it prints
        try:
            code = subprocess.run(
                [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out"],
                cwd=tmp_path,
                env=env,
                stdout=write,
                stderr=write,
                timeout=120,
                check=False,
            ).returncode
        finally:
            os.close(write)
        stats = emu.stats()
    records = manifest(tmp_path / "out")
    assert stats["submissions"] == 6
    if failing:
        assert code == 1
        assert [(r["status"], r["errorCode"]) for r in records] == [("failed", "1505")] * 6
    else:
        assert code == 0
        assert [r["status"] for r in records] == ["succeeded"] * 6
        assert verify_files(tmp_path / "out", records) == 6
