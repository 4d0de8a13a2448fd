"""What the jobs of a run share, and how a job tells the run something.

The ``Runner`` (``loop.py``) makes one ``Crew`` and hands it to every job
(``job.py``): the store, the client, the settings and the clock; the limiter,
the watcher of task ends, the judge of lost replies, the uploader and the
spending cap; the
events that stop the run; and the calls a job makes to the run: ``halt`` (a
systemic failure), ``spawn`` (start a coroutine in the run's task group),
``fetch`` (fetch a succeeded job's files), ``durable`` (wait until every write
is committed), ``emit`` (an event for the progress display) and ``health`` (how
the API has been answering). Nothing here writes another object's fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.errors import FatalError, NoConnection, Transient, Unreachable
from rhbatch.runner.budget import Budget
from rhbatch.runner.clock import Clock
from rhbatch.runner.ends import Watcher
from rhbatch.runner.inputs import URL_MAX_AGE, Inputs
from rhbatch.runner.limiter import Limiter
from rhbatch.runner.lost import LostReplies
from rhbatch.runner.progress import Reporter
from rhbatch.runner.schedule import Schedule
from rhbatch.runner.uploads import Uploader
from rhbatch.store.state import Store

OFFLINE_TRIES = 5  # calls in a row that could not connect ...
OFFLINE_POLLS = 3.0  # ... over at least this many poll intervals: the API is unreachable
FAILING_TRIES = 30  # calls in a row that failed in any passing way ...
FAILING_POLLS = 30.0  # ... over at least this many poll intervals: the API is down


@dataclass
class Options:
    """How a run goes, as the runner uses it (from ``RunSettings`` and the command line).
    Times are RunningHub seconds, passed by the run's clock."""

    concurrency: int = 10
    queue_ahead: int = 0  # tasks kept queued on the server beyond the running slots
    poll_interval: float = 5.0  # the longest wait between two checks of one task
    timeout: float = 1800.0  # seconds from submit to a final status
    retries: int = 2
    download_concurrency: int = 8
    naming: str = "{id}/{n}.{ext}"
    download: bool = True  # False: record the result URLs, fetch nothing
    signal_interval: float = 1.0  # seconds between looks at the account's counts; 0: never
    webhook_url: str | None = None  # the receiver's address; each attempt adds its own token
    manifest_every: float = 1.0
    limits: DownloadLimits = field(default_factory=DownloadLimits)
    url_max_age: float = URL_MAX_AGE  # a used job's result URL older than this is uploaded afresh


class Health:
    """How the API has been answering. Passing failures of API calls (connections refused
    above all) that go on, in a row, for too long stop the run (``Unreachable``): every
    job stays as it is, and a plain rerun continues."""

    def __init__(
        self, base_url: str, poll_interval: float, clock: Clock, halt: Callable[[FatalError], None]
    ) -> None:
        self.base_url, self.poll_interval = base_url, poll_interval
        self.clock, self._halt = clock, halt
        self._offline = (0, 0.0)  # connection failures in a row, and when the first was
        self._failing = (0, 0.0)  # failed calls of any passing kind in a row, and since

    def answered(self) -> None:
        """An API call got an answer: the API is there."""
        self._offline = self._failing = (0, 0.0)

    def failed(self, exc: Transient) -> None:
        """An API call failed in a passing way."""
        now = self.clock.now()
        self._failing = _one_more(self._failing, now)
        if isinstance(exc, NoConnection):
            self._offline = _one_more(self._offline, now)
            if self._too_long(self._offline, OFFLINE_TRIES, OFFLINE_POLLS, now):
                self._halt(Unreachable(f"cannot reach {self.base_url}: {exc.reason}"))
        if self._too_long(self._failing, FAILING_TRIES, FAILING_POLLS, now):
            reason = str(exc).split(": ", 1)[-1]
            self._halt(Unreachable(f"{self.base_url} keeps failing: {reason}"))

    def _too_long(self, streak: tuple[int, float], tries: int, polls: float, now: float) -> bool:
        count, since = streak
        return count >= tries and now - since >= polls * self.poll_interval


def _one_more(streak: tuple[int, float], now: float) -> tuple[int, float]:
    count, since = streak
    return count + 1, since if count else now


@dataclass
class Crew:
    store: Store
    client: Client
    options: Options
    clock: Clock
    report: Reporter
    limiter: Limiter
    schedule: Schedule
    watcher: Watcher
    lost: LostReplies
    uploader: Uploader
    inputs: Inputs  # what a job takes from the jobs it uses (pipelines)
    budget: Budget
    health: Health
    stopping: asyncio.Event  # set: everything winds down now (Ctrl-C, a rejected key)
    closed: asyncio.Event  # set: no new submits; tasks in flight go on (no money lost)
    halt: Callable[[FatalError], None]
    spawn: Callable[[Coroutine[Any, Any, None]], None]
    fetch: Callable[[str], None]  # fetch the files of this (succeeded) job
    durable: Callable[[], Awaitable[None]]

    def emit(self, event: str, **fields: Any) -> None:
        self.report.emit(event, **fields)

    @property
    def cap(self) -> float:
        """The longest wait between two tries: a few polls, so it follows the time scale."""
        return 4 * self.options.poll_interval

    async def pause(
        self, seconds: float, *, or_freed: bool = False, until: asyncio.Event | None = None
    ) -> bool:
        """Wait ``seconds`` (or until one of our tasks ends, with ``or_freed``) unless the
        run stops (``until``: stops submitting); True if it did."""
        until = until or self.stopping
        freed = self.limiter.freed() if or_freed and self.limiter.in_flight > 1 else None
        await self.clock.first(until=until, also=freed, within=seconds)
        return until.is_set()

    async def take_slot(self) -> bool:
        """Take a slot of the limiter, unless submitting stops first: False (and no slot
        held) if it does. A slot granted just as the caller is cancelled is given back."""
        if self.closed.is_set():
            return False
        if self.limiter.try_acquire():
            return True  # a free slot: no waiting, nothing to race
        acquire = asyncio.ensure_future(self.limiter.acquire())
        try:
            got = await self.clock.first(acquire, until=self.closed)
        except BaseException:
            if acquire.done() and not acquire.cancelled() and acquire.exception() is None:
                self.limiter.release()
            raise
        if got and self.closed.is_set():
            self.limiter.release()
            return False
        return got

    def unknown(self, job_id: str, message: str) -> None:
        """The job's outcome cannot be known now (its task id, if any, is kept)."""
        self.store.mark_unknown(job_id, message)
        self.emit("unknown", job=job_id, reason=message)

    def failed(self, job_id: str, code: str, message: str) -> None:
        """Say that a job failed (the store already says so)."""
        self.emit("failed", job=job_id, code=code, message=message)
