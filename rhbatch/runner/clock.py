"""Time for a run, as a parameter: every wait of the runner goes through a ``Clock``.

A run's times (poll intervals, timeouts, backoffs) are RunningHub seconds.
``Clock(speed)`` passes them ``speed`` times faster than real time: a run
against the built-in emulator at 60x runs on a clock at 60x, and the tests run
the same code on a fast clock instead of real seconds. Network timeouts and
download limits are real seconds and do not go through it. A clock reads the time
from ``monotonic``, which tests swap for a virtual clock (tests/virtual_clock.py).

``first`` is the one way rhbatch waits for something "unless the run stops
first": it races a piece of work (or just time) against events, cancels what
is left, and never swallows a cancellation of its caller. A ``Flag`` is an event
that many such waits share without a task each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

SPEED = 1.0  # the speed of a ``Clock()`` made without one (tests raise it)
monotonic: Callable[[], float] = time.monotonic  # where clocks read the time (tests swap it)


class Flag(asyncio.Event):
    """An event whose setting is also one future that every waiter shares: racing work
    against it (``Clock.first``) costs no task per wait."""

    _set_future: asyncio.Future[None] | None = None

    def future(self) -> asyncio.Future[None]:
        """Done once the flag is set (never cancelled by ``first``)."""
        if self._set_future is None:
            self._set_future = asyncio.get_running_loop().create_future()
            if self.is_set():
                self._set_future.set_result(None)
        return self._set_future

    def set(self) -> None:
        super().set()
        if self._set_future is not None and not self._set_future.done():
            self._set_future.set_result(None)

    def clear(self) -> None:
        super().clear()
        if self._set_future is not None and self._set_future.done():
            self._set_future = None


class Clock:
    def __init__(self, speed: float | None = None) -> None:
        self.speed = float(speed if speed is not None else SPEED)
        if self.speed <= 0:
            raise ValueError(f"a clock's speed must be positive, not {self.speed}")
        self._origin = monotonic()

    def __repr__(self) -> str:
        return f"Clock(speed={self.speed:g})"

    def now(self) -> float:
        """Run seconds since the clock was made."""
        return (monotonic() - self._origin) * self.speed

    def real(self, seconds: float) -> float:
        """The real seconds that ``seconds`` of the run's time take."""
        return max(0.0, seconds) / self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.real(seconds))

    async def first(
        self,
        work: Awaitable[Any] | None = None,
        *,
        until: asyncio.Event | None = None,
        also: asyncio.Future[Any] | None = None,
        within: float | None = None,
    ) -> bool:
        """Await ``work`` unless ``until`` is set, ``also`` is done or ``within`` (run
        seconds) passes first. True if ``work`` finished (what it raised is raised); with
        no work, True if the time passed. What is left of ``work`` is cancelled."""
        if until is not None and until.is_set():
            if asyncio.iscoroutine(work):
                work.close()  # never started: nothing to cancel, nothing left un-awaited
            elif work is not None and asyncio.isfuture(work) and not work.done():
                work.cancel()
            return False
        job = asyncio.ensure_future(work) if work is not None else None
        shared = until.future() if isinstance(until, Flag) else None
        stop = None if until is None or shared is not None else asyncio.ensure_future(until.wait())
        waits = [f for f in (job, stop, shared, also) if f is not None]
        limit = None if within is None else self.real(within)
        try:
            if waits:
                await _first_done(waits, limit)
            elif limit is not None:
                await asyncio.sleep(limit)
        finally:
            if stop is not None:  # its own waiter on a plain event; a Flag's is shared
                stop.cancel()
            if job is not None and not job.done():
                job.cancel()
        if job is None:
            return not (until is not None and until.is_set()) and not (also and also.done())
        if not job.done() or job.cancelled():
            return False
        job.result()  # raises what ``work`` raised
        return True


async def _first_done(waits: list[asyncio.Future[Any]], limit: float | None) -> None:
    """Until one of ``waits`` is done or ``limit`` real seconds pass: one future woken by a
    callback on each and a timer (what asyncio.wait does, without its sets, its waiter per
    call and its copies: every job waits through here once per look at its task)."""
    if any(future.done() for future in waits):
        return  # as asyncio.wait: at once, without a turn of the loop
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not woken.done():
            woken.set_result(None)

    for future in waits:
        future.add_done_callback(wake)
    timer = None if limit is None else loop.call_later(limit, wake)
    try:
        await woken
    finally:
        if timer is not None:
            timer.cancel()
        for future in waits:
            future.remove_done_callback(wake)
