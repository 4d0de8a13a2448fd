"""How many remote tasks may be in flight: a ceiling, and a target that yields to back-pressure.

The target starts at the ceiling. When the server pushes back (queue full, rate
limited) it drops below the number in flight, so no new task starts until one
ends; each accepted submit raises it again, so it climbs back to the ceiling
within about one round of tasks (additive increase, multiplicative decrease).
Waiters are served in order: a waiter is handed its slot as it is woken.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Limiter:
    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.target = float(self.ceiling)
        self.in_flight = 0
        self.covered = 0  # tasks in flight known ended (not yet noticed): they hold no slot
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._freed: asyncio.Future[None] | None = None

    def _allowed(self) -> int:
        return max(1, int(self.target)) + self.covered

    def cover(self, ended: int) -> None:
        """``ended`` tasks in flight are known to have ended, not yet noticed: as many more
        may start (they take the slots those freed)."""
        self.covered = max(0, ended)
        self._wake()

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits for it; False (nothing taken) if not."""
        if self.in_flight < self._allowed() and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting in line for one. A waiter is handed its slot when it is
        woken, so nobody who comes later takes it first."""
        if self.try_acquire():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def take(self) -> None:
        """Count a task already in flight (resumed from an earlier run), even over the target."""
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        if self._freed is not None and not self._freed.done():
            self._freed.set_result(None)
        self._freed = None
        self._wake()

    def freed(self) -> asyncio.Future[None]:
        """Done at the next release: when a task of ours ends, the server has room again."""
        if self._freed is None:
            self._freed = asyncio.get_running_loop().create_future()
        return self._freed

    def backpressure(self) -> None:
        """The server refused a submit for load: start nothing new until a task ends."""
        self.target = max(1.0, min(self.target * 0.8, self.in_flight - 1.0))

    def accepted(self) -> None:
        """A submit went through: let the target climb back toward the ceiling."""
        if self.target < self.ceiling:
            self.target = min(float(self.ceiling), self.target + 1.0)
            self._wake()

    def _wake(self) -> None:
        """Hand free slots to the waiters, in order."""
        while self._waiters and self.in_flight < self._allowed():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
