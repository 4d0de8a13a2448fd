"""Ctrl-C and SIGTERM during ``rhbatch run``, from its start to its last line.

Before the run's loop starts (validation, the store's sync) a signal stops at
once: nothing has been sent. While the loop runs, each signal is handed to the
loop (the runner's reaction: the first stops starting jobs, the second stops at
once, cleanly). After the loop, while the manifest, ``run.json``, metadata and
report are written and the way to resume is printed, a signal is noted, not
raised: those writes are brief, and breaking into them would lose the resume
line; a second one there stops at once. One handler holds the whole command,
so no moment falls between the loop's handlers and Python's default one; for
the command line it stays until the process exits (``linger``): a signal that
comes once the run has said how to resume is ignored, not a kill by SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """``with Interrupts() as interrupts:`` for the whole run command."""

    def __init__(self, *, linger: bool = False) -> None:
        self._linger = linger  # the command line: the handler stays until the exit
        self._done = False  # the command is over: signals are ignored
        self._loop: asyncio.AbstractEventLoop | None = None
        self._react: Callable[[], None] | None = None
        self._after = False  # the loop has ended: the run is winding down
        self._late = 0  # signals while winding down
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        for sig in SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: left as it is
                self._saved[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._linger and kind is None:  # what remains is the exit itself
            self._done = True
            return
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)

    def during(self, react: Callable[[], None]) -> None:
        """From now on each signal calls ``react`` on the running loop (call it there)."""
        self._loop, self._react = asyncio.get_running_loop(), react

    def winding_down(self) -> None:
        """The loop has ended: signals are noted, a second one stops at once."""
        self._loop = self._react = None
        self._after = True

    def interrupt(self) -> None:
        """From another thread (rhbatch.run in Jupyter, whose kernel was interrupted): as
        a signal during the run. Before and after it, the brief work goes to its end."""
        loop, react = self._loop, self._react
        if loop is not None and react is not None and not loop.is_closed():
            loop.call_soon_threadsafe(react)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._done:
            return
        loop, react = self._loop, self._react
        if loop is not None and react is not None and not loop.is_closed():
            loop.call_soon_threadsafe(react)
            return
        if self._after:
            self._late += 1
            if self._late == 1:
                return  # the last writes are brief: they finish, and say how to resume
        raise KeyboardInterrupt
