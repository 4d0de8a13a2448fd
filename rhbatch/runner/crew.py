"""What the jobs of a run are handed, in small groups, and how a job tells the run something.

The ``Runner`` (``loop.py``, wired by ``wiring.py``) hands every job (``job.py``)
a ``Crew``: a few groups, each with a plain purpose, and each function of a job
takes only the groups it uses. ``Calls``: asking RunningHub (the client, the
run's clock, the API's ``Health``, waits cut short when the run stops).
``Records``: writing a job's way down (the store, the events for the display).
``Slots``: the limit on tasks in flight and the end of submitting. ``Ends``:
following tasks to their ends (the watcher, the durations learned, the
timeout). ``Sending``: what a submit takes beyond the calls (inputs, uploads,
the judge of lost replies, the wait for a durable intent, the webhook). A job
tells the run of a systemic failure through ``Stops.halt`` (``stops.py``); a
job whose files are to be fetched says so by what it returns. Nothing here
writes another object's fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.errors import FatalError, NoConnection, Transient, Unreachable
from rhbatch.models import RunSettings
from rhbatch.runner.budget import Budget
from rhbatch.runner.clock import Clock
from rhbatch.runner.ends import Watcher
from rhbatch.runner.inputs import Inputs
from rhbatch.runner.limiter import Limiter
from rhbatch.runner.lost import LostReplies
from rhbatch.runner.progress import Reporter
from rhbatch.runner.schedule import Schedule
from rhbatch.runner.stops import Stops
from rhbatch.runner.uploads import Uploader
from rhbatch.spec.naming import DEFAULT_NAMING
from rhbatch.store.state import Store

OFFLINE_TRIES = 5  # calls in a row that could not connect ...
OFFLINE_POLLS = 3.0  # ... over at least this many poll intervals: the API is unreachable
FAILING_TRIES = 30  # calls in a row that failed in any passing way ...
FAILING_POLLS = 30.0  # ... over at least this many poll intervals: the API is down


_RUN = RunSettings()  # the defaults of every run setting, said once (models.py)
DEFAULT_CONCURRENCY = 10  # tasks in flight when neither the spec nor the account says


@dataclass
class Options:
    """How a run goes, as the runner uses it (from ``RunSettings`` and the command line;
    every default is ``RunSettings``'s). Times are RunningHub seconds, passed by the
    run's clock."""

    concurrency: int = DEFAULT_CONCURRENCY
    queue_ahead: int = 0  # tasks kept queued on the server beyond the running slots
    poll_interval: float = _RUN.poll_interval  # the longest wait between two checks of one task
    timeout: float = _RUN.timeout  # seconds from submit to a final status
    retries: int = _RUN.retries
    download_concurrency: int = _RUN.download_concurrency
    naming: str = DEFAULT_NAMING
    download: bool = _RUN.download  # False: record the result URLs, fetch nothing
    signal_interval: float = _RUN.signal_interval  # between looks at the account's counts; 0: never
    webhook_url: str | None = None  # the receiver's address; each attempt adds its own token
    manifest_every: float = 1.0
    limits: DownloadLimits = field(default_factory=lambda: download_limits(_RUN))
    url_max_age: float = (
        _RUN.url_max_age
    )  # a used job's result URL older than this is uploaded afresh


def download_limits(run: RunSettings) -> DownloadLimits:
    """The spec's limits on each result download (real seconds, not the run's clock)."""
    size, rate = int(float(run.max_download_mb) * (1 << 20)), float(run.download_min_rate) * 1024
    return DownloadLimits(max_bytes=size, deadline=float(run.download_timeout), min_rate=rate)


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


@dataclass(frozen=True)
class Calls:
    """Asking RunningHub: the client, the run's clock, how the API has been answering, and
    the event that cuts every wait short (the run stops)."""

    client: Client
    clock: Clock
    health: Health
    stopping: asyncio.Event
    poll_interval: float

    @property
    def cap(self) -> float:
        """The longest wait between two tries: a few polls, so it follows the time scale."""
        return 4 * self.poll_interval

    async def pause(
        self,
        seconds: float,
        *,
        until: asyncio.Event | None = None,
        also: asyncio.Future[None] | None = None,
    ) -> bool:
        """Wait ``seconds`` (or until ``also`` is done) unless the run stops (``until``:
        stops submitting); True if it did."""
        until = until or self.stopping
        await self.clock.first(until=until, also=also, within=seconds)
        return until.is_set()


@dataclass(frozen=True)
class Records:
    """Writing a job's way down: its transitions in the store, its events for the display."""

    store: Store
    report: Reporter

    def emit(self, event: str, **fields: Any) -> None:
        self.report.emit(event, **fields)

    def unknown(self, job_id: str, message: str) -> None:
        """The job's outcome cannot be known now (its task id, if any, is kept)."""
        self.store.mark_unknown(job_id, message)
        self.emit("unknown", job=job_id, reason=message)

    def failed(self, job_id: str, code: str, message: str) -> None:
        """Say that a job failed (the store already says so)."""
        self.emit("failed", job=job_id, code=code, message=message)


@dataclass(frozen=True)
class Slots:
    """The limit on tasks in flight, and the event that ends submitting."""

    limiter: Limiter
    closed: asyncio.Event  # set: no new submits; tasks in flight go on (no money lost)
    clock: Clock

    def freed(self) -> asyncio.Future[None] | None:
        """Done when one of our tasks ends (None with one task in flight or none)."""
        return self.limiter.freed() if self.limiter.in_flight > 1 else None

    async def take(self) -> bool:
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


@dataclass(frozen=True)
class Ends:
    """Following tasks to their ends: the watcher of task ends, the durations learned, and
    the time a task may take from its start to a final status."""

    watcher: Watcher
    schedule: Schedule
    timeout: float


@dataclass(frozen=True)
class Sending:
    """What a submit takes beyond the calls: the inputs from other jobs, the uploads of local
    files, the judge of lost replies, the wait until the intent is durable, and the
    receiver's webhook address (each attempt adds its own token)."""

    inputs: Inputs
    uploader: Uploader
    lost: LostReplies
    durable: Callable[[], Awaitable[None]]
    webhook_url: str | None


@dataclass(frozen=True)
class Crew:
    """What a job is handed: the groups above, the spending cap, how the run stops, and
    the two rules of a job's end (retries of a failed task; fetch the files or not)."""

    calls: Calls
    records: Records
    slots: Slots
    ends: Ends
    sending: Sending
    budget: Budget
    stops: Stops
    retries: int
    download: bool
