"""Ctrl-C and SIGTERM during a run, from its first line to its last (commands/signals.py)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from rhbatch.commands.signals import Interrupts


def deliver(sig: int = signal.SIGINT) -> None:
    """Send ``sig`` to this process (its Python handler runs at the next bytecode)."""
    os.kill(os.getpid(), sig)


def test_before_the_loop_a_signal_stops_at_once() -> None:
    with Interrupts(), pytest.raises(KeyboardInterrupt):
        deliver(signal.SIGTERM)


def test_during_the_loop_each_signal_reaches_the_runner() -> None:
    """Both signals are handed to the loop, in order; none is raised."""
    seen: list[int] = []

    async def run(interrupts: Interrupts) -> None:
        interrupts.during(lambda: seen.append(len(seen) + 1))
        deliver()
        deliver(signal.SIGTERM)
        for _ in range(20):
            await asyncio.sleep(0)

    with Interrupts() as interrupts:
        asyncio.run(run(interrupts))
    assert seen == [1, 2]


def test_winding_down_a_signal_is_noted_and_a_second_stops() -> None:
    """After the loop (the last writes and the resume line), the first signal lets them
    finish; a second one stops at once. Python's handlers come back afterwards."""
    before = signal.getsignal(signal.SIGINT)
    with Interrupts() as interrupts:
        asyncio.run(asyncio.sleep(0))  # a loop came and went: no moment falls between
        interrupts.winding_down()
        deliver()  # noted
        with pytest.raises(KeyboardInterrupt):
            deliver()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_after_the_command_has_ended_is_not_a_kill() -> None:
    """The command line's handler stays to the exit: a SIGTERM that lands once the run has
    printed how to resume (a second SIGTERM on a busy machine) no longer kills the
    process with -15; a caller in Python gets its handlers back."""
    import subprocess
    import sys

    script = (
        "import os, signal\n"
        "from rhbatch.commands.signals import Interrupts\n"
        "before = signal.getsignal(signal.SIGTERM)\n"
        "with Interrupts():\n    pass\n"
        "assert signal.getsignal(signal.SIGTERM) is before\n"
        "with Interrupts(linger=True):\n    pass\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "print('alive')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "alive\n"


def test_the_exit_ignores_late_signals_so_none_kills_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the command has ended, ``main_exit`` ignores SIGINT and SIGTERM. A handled
    signal will not do: Python's exit puts back the default action of each signal it
    handles (for SIGTERM, a kill: a run that had said how to resume ended as -15 when a
    second SIGTERM landed in that moment), but leaves an ignored one ignored."""
    from rhbatch import cli

    monkeypatch.setattr(cli, "main", lambda: 130)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as done:
            cli.main_exit()
        assert done.value.code == 130
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
