"""When a run's writes become durable: one commit per moment, and the bucket's ledger.

Transitions share one commit per event-loop turn (the store's group commit):
the first write of a moment asks for a commit ``COMMIT_DELAY`` later, and every
write until then goes with it. A job waits for it (``durable``) before any
request that depends on them; with object storage (``--out URL``) the writes
reach the bucket's ledger too before that request. A store or ledger that
cannot be written stops the run (``Stops.halt``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from rhbatch.errors import StateError
from rhbatch.runner.stops import Stops
from rhbatch.store.ledger import Ledger
from rhbatch.store.state import Store

# Transitions wait this long (real seconds) for company before their commit: many jobs'
# intents and task ids then share one commit (a submit waits for it before it goes out).
COMMIT_DELAY = 0.002


class Commits:
    def __init__(
        self,
        store: Store,
        stops: Stops,
        pause: Callable[[float], Awaitable[bool]],
        ledger: Ledger | None = None,
    ) -> None:
        self.store, self.stops, self.ledger = store, stops, ledger
        self._pause = pause  # waits (run seconds); True when the run stops meanwhile
        self._due: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Group the store's writes from now on (within the running loop)."""
        loop = asyncio.get_running_loop()
        self.store.grouped(lambda: self._soon(loop))

    def end(self) -> None:
        """Commit what is left, and write at once from now on (a full disk raises here)."""
        self.store.grouped(None)

    def _soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._due is None:
            self._due = loop.create_future()
            loop.call_later(COMMIT_DELAY, self._now)

    def _now(self) -> None:
        due, self._due = self._due, None
        try:
            self.store.commit()
        except StateError as exc:
            if due is not None and not due.done():
                due.set_exception(exc)
                due.exception()  # told to the run by halt; a submit waiting on it sees it too
            self.stops.halt(exc)
            return
        if due is not None and not due.done():
            due.set_result(None)

    async def durable(self) -> None:
        """Wait until every write so far is committed (before acting on it), and with
        object storage, in the bucket's ledger too."""
        if self._due is not None:
            await asyncio.shield(self._due)
        if self.ledger is not None:
            try:
                await self.ledger.flush(self._pause)
            except StateError as exc:
                self.stops.halt(exc)
                raise

    async def keep_ledger(self) -> None:
        """Ship task ids and ends to the bucket within moments; keep the lease."""
        if self.ledger is None:
            return
        try:
            await self.ledger.keep(asyncio.sleep, self._pause)
        except StateError as exc:
            self.stops.halt(exc)
