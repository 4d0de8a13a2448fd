"""Attacks on what spend control, workflows, pipelines and results added, each against the
fault that once broke it. Money is judged by the emulator's ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rhbatch.emulator.config import Fault
from rhbatch.emulator.thread import EmulatorThread
from tests.helpers import Result
from tests.run_helpers import emulator, emulator_config, manifest

pytestmark = pytest.mark.usefixtures("fast_clock")

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]
HEAD = (
    "version: 1\nendpoint: seedance-2.0/multimodal-video\n"
    "defaults: {resolution: 480p, duration: '4'}\nrun: {poll_interval: 2, signal_interval: 0.5}\n"
)  # 2.40 CNY a job


def jobs(*ids: str) -> str:
    return HEAD + "jobs:\n" + "".join(f"  - {{id: {i}, prompt: 'a {i}'}}\n" for i in ids)


def test_the_cap_holds_a_lost_submit_sent_again(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose submit lost its answer may have been paid (its task exists: the ledger
    charged it). --resubmit-unknown under a cap that has no room for a second payment
    sends nothing and stops at the cap; with room for it, it sends it once."""
    with emulator(monkeypatch) as emu:
        emu.emulator.config.faults = {"lost_submit": Fault(rate=1.0)}
        write("s.yaml", jobs("eel"))
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 1  # eel: unknown
        emu.emulator.config.faults = {}
        write("s.yaml", jobs("eel", "fox", "owl", "cat"))
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 1  # eel still unknown
        before = emu.stats()
        assert before["charged"] == pytest.approx(9.6)  # eel's task was made, and paid
        capped = cli("run", "s.yaml", "--out", "out", "--resubmit-unknown", "--max-spend", "9.61")
        after_cap = emu.stats()
        room = cli("run", "s.yaml", "--out", "out", "--resubmit-unknown", "--max-spend", "12")
        after = emu.stats()
    assert capped.code == 4, capped.err
    assert after_cap["submissions"] == before["submissions"]  # nothing was sent
    assert "--max-spend 12.00" in capped.err  # the cap that has room for it
    assert room.code == 0, room.err
    assert after["submissions"] == before["submissions"] + 1
    assert after["charged"] == pytest.approx(12.0)  # at the cap, never past it
    assert {r["status"] for r in manifest(Path("out"))} == {"succeeded"}


def test_lost_first_replies_under_a_cap_do_not_hang(tmp_path: Path) -> None:
    """Every submit's answer lost, under a cap: until an endpoint's first bill one task at
    a time may be in flight; each that goes unknown lets the next go. The run ends (every
    job unknown, exit 1) instead of waiting forever."""
    (tmp_path / "s.yaml").write_text(jobs("a", "b", "c", "d", "e"))
    config = emulator_config(faults={"lost_submit": {"rate": 1.0}})
    with EmulatorThread(config) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url}
        env["RUNNINGHUB_API_KEY"] = emu.api_key
        argv = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out"]
        done = subprocess.run(
            [*argv, "--max-spend", "100", "-q"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,  # before the fix it never ended
        )
    assert done.returncode == 1, done.stderr
    assert [r["status"] for r in manifest(tmp_path / "out")] == ["unknown"] * 5
