"""The server's queue kept primed: a few tasks wait queued beyond the account's slots, so a
slot that frees starts the next task at once; timeouts count from a task's start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.runner.limiter import Limiter
from tests.helpers import Result
from tests.run_helpers import emulator, manifest
from tests.virtual_clock import VirtualClock

Cli = Callable[..., Result]
SPEED = 1.0  # the emulator's and the runner's clocks alike: virtual seconds


def test_covered_ends_let_as_many_more_start() -> None:
    async def go() -> list[int]:
        limiter = Limiter(2)
        await limiter.acquire()
        await limiter.acquire()
        third = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        seen = [int(third.done())]
        limiter.cover(1)  # one of the two ended, not yet noticed: its slot is free
        await asyncio.sleep(0)
        seen.append(int(third.done()))
        limiter.cover(0)
        seen.append(limiter.in_flight)
        return seen

    assert asyncio.run(go()) == [0, 1, 3]


def spec(write: Callable[[str, str], Path], jobs: int, run: str) -> None:
    takes = ", ".join(str(i) for i in range(jobs))
    write(
        "s.yaml",
        "version: 1\nendpoint: seedance-2.0/multimodal-video\n"
        "defaults: {resolution: 480p, duration: '4'}\n"
        f"matrix:\n  take: [{takes}]\njobs:\n  - id: 'shot-{{take}}'\n    prompt: 'boat {{take}}'\n"
        f"run:\n  poll_interval: 5\n  signal_interval: 1\n{run}",
    )


def tasks(emu: Any) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = emu.stats(tasks=True)["taskList"]
    return listed


@pytest.fixture
def same_clock(virtual_clock: VirtualClock) -> VirtualClock:
    """The runner and the emulator on one virtual clock: times in either are exact."""
    return virtual_clock


def account(slots: int) -> dict[str, Any]:
    return {"rhemu000000000000000000000000000": {"concurrency": slots, "balance": 1e9}}


@pytest.mark.usefixtures("same_clock")
def test_tasks_wait_queued_on_the_server_and_slots_never_exceed_the_account(
    cli: Cli, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 slots, 15 jobs, no concurrency given: the account's limit binds, two tasks are
    kept queued ahead (the default: a fifth of the slots, at least 2); the server never
    runs more than 3; every job is paid once."""
    spec(write, 15, "")
    durations = {"video": {"kind": "uniform", "low": 40, "high": 80}}
    with emulator(monkeypatch, speed=SPEED, accounts=account(3), durations=durations) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        listed = tasks(emu)
        stats = emu.stats()
    assert result.code == 0, result.err
    assert stats["peakRunning"] == 3
    assert stats["submissions"] == 15
    assert stats["duplicateSubmissions"] == {}
    queued = [t for t in listed if t["started"] - t["submitted"] > 0.01]
    assert len(queued) >= 5  # submitted before a slot was free: it waited in the queue


@pytest.mark.usefixtures("same_clock")
def test_queue_ahead_zero_submits_only_into_free_slots(
    cli: Cli, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec(write, 8, "  queue_ahead: 0\n")
    durations = {"video": {"kind": "uniform", "low": 40, "high": 80}}
    with emulator(monkeypatch, speed=SPEED, accounts=account(3), durations=durations) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        listed = tasks(emu)
    assert result.code == 0, result.err
    assert all(t["started"] - t["submitted"] < 0.005 for t in listed)


@pytest.mark.usefixtures("same_clock")
def test_the_timeout_counts_from_the_start_not_the_submit(
    cli: Cli, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks of 80 s behind a queue: submitted 160 s before they end, against a 120 s
    timeout. Counted from the submit they would be cancelled; counted from their start
    they all succeed."""
    spec(write, 6, "  queue_ahead: 2\n  timeout: 120\n")
    durations = {"video": {"kind": "fixed", "value": 80}}
    with emulator(monkeypatch, speed=SPEED, accounts=account(2), durations=durations) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        listed = tasks(emu)
    assert result.code == 0, result.err
    assert {r["status"] for r in manifest(Path("out"))} == {"succeeded"}
    longest = max((t["ended"] - t["submitted"]) * SPEED for t in listed)
    assert longest == 160.0  # queued behind two tasks of 80 s: 40 s past the timeout
