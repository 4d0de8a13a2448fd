"""Noticing when tasks end, with few requests: webhooks, the account's counts, then polls.

Asking about every task every second finds completions quickly and costs a
query per task per second. Three signals cover all tasks in flight at once:

- Webhooks (when a receiver is configured): RunningHub posts TASK_END with the
  task's final state; the waiting job is handed that state, no query needed.
- The account's counts: ``GET /openapi/v2/queue/status`` says how many of the
  account's tasks are running or queued, in one request. When that is fewer
  than the tasks rhbatch has in flight, the difference has ended unnoticed;
  the tasks most likely to be among them (by the durations seen so far) are
  woken to check, one per missing task.
- Each job's own schedule (``schedule.py``): the fallback when the counts
  cannot be trusted (the call fails, or another client shares the account), and
  a slow safety net when they can.

Jobs wait with ``Watcher.wait``; the watcher wakes them with a final state
(webhook), a request to check now (counts), or not at all (their own timer).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum

from rhbatch.api.client import Client
from rhbatch.errors import ApiError
from rhbatch.models import TaskState
from rhbatch.runner.clock import Clock
from rhbatch.runner.schedule import Schedule


class Wake(Enum):
    """Why a waiting job was woken without a final state."""

    CHECK = "check"  # the account's counts say this task may have ended: ask about it
    STOPPED = "stopped"  # the run is stopping


# Tasks woken per unnoticed end. Which task ended is a guess (the counts say how many,
# not which): each wrong guess wakes the next likeliest at once, and waking a few at
# a time finds it sooner for a few more queries (docs/performance.md has the figures).
FANOUT = 2


@dataclass
class _Watch:
    task_id: str
    endpoint: str
    since: float  # clock time of the submit
    checked: float  # clock time the task was last known to be unfinished
    wake: asyncio.Future[TaskState | Wake] | None = None
    state: TaskState | None = None  # delivered by a webhook before anyone waited


class Watcher:
    """The watcher of a run's task ends. Jobs tell it what they submit and see (``add``,
    ``checked``, ``done``); it wakes them; what it learns is read through its methods."""

    def __init__(
        self,
        client: Client,
        schedule: Schedule,
        interval: float,
        *,
        clock: Clock | None = None,
        webhooks: bool = False,
        cover: Callable[[int], None] | None = None,
    ) -> None:
        self.client, self.schedule = client, schedule
        self.interval = interval  # seconds between two looks at the account's counts; 0: never
        self.clock = clock or Clock()
        self.webhooks = webhooks
        # The queue is primed (tasks wait queued on the server beyond the running slots):
        # ``cover(n)`` lets n more tasks in flight for the n ends the counts show unnoticed,
        # so the queue stays primed without a query per end.
        self.cover = cover
        self.watches: dict[str, _Watch] = {}
        self.healthy = False  # the last counts were read and account for every task of ours
        self.submitting = 0  # submits on the wire: the server may count them already
        # The shortest life seen per endpoint: from a task's submit to the last moment it was
        # known unfinished, over every task that ended (what "a task cannot end sooner" rests on).
        self.floors: dict[str, float] = {}
        self.quiet = asyncio.Event()  # set: no submit of ours is on the wire
        self.quiet.set()
        self.probing: set[str] = set()  # woken to check, answer not back yet
        self.counters = {"samples": 0, "unhealthy": 0, "probes": 0, "webhooks": 0}
        self.counts = (0, 0)  # the account's running and queued tasks, last read
        self._stopped = False
        self._streak = 0  # samples in a row that found ends unnoticed
        self._owed = 0  # ends the last counts showed that no probe has found yet

    # --- what it knows ----------------------------------------------------------------

    def floor(self, endpoint: str) -> float | None:
        """The shortest life of a task of ``endpoint`` seen so far (None: none ended yet)."""
        return self.floors.get(endpoint)

    def unfinished(self, since: float) -> tuple[int, dict[str, str]]:
        """How many of our tasks have no final state yet, and those among them not seen
        unfinished since clock time ``since`` (task id -> the endpoint it was started at)."""
        ours = [w for w in self.watches.values() if w.state is None]
        return len(ours), {w.task_id: w.endpoint for w in ours if w.checked < since}

    async def no_submits(self) -> None:
        """Until no submit of ours is on the wire."""
        await self.quiet.wait()

    # --- jobs ------------------------------------------------------------------------

    def add(
        self, task_id: str, endpoint: str, sent: float | None = None, *, resumed: bool = False
    ) -> None:
        """Watch a task submitted at clock time ``sent`` (default: now) and just reported
        unfinished (unless ``resumed``: known only from an earlier run)."""
        now = self.clock.now()
        since = now if sent is None else sent
        self.watches.setdefault(
            task_id, _Watch(task_id, endpoint, since, since if resumed else now)
        )

    def done(self, task_id: str, ended: bool = True) -> None:
        """The task's end was noticed (``ended``), or rhbatch stopped watching it."""
        watch = self.watches.pop(task_id, None)
        if watch is not None and ended:
            life = watch.checked - watch.since
            self.floors[watch.endpoint] = min(self.floors.get(watch.endpoint, life), life)
        if task_id in self.probing:
            self.probing.discard(task_id)
            self._owed = max(0, self._owed - 1)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Count a submit on the wire for as long as it is there."""
        self.submitting += 1
        self.quiet.clear()
        try:
            yield
        finally:
            self.submitting -= 1
            if self.submitting == 0:
                self.quiet.set()

    def oldest(self) -> float | None:
        """Seconds since the oldest task in flight was submitted (None: none in flight)."""
        if not self.watches:
            return None
        return self.clock.now() - min(w.since for w in self.watches.values())

    def checked(self, task_id: str) -> None:
        """The task was just seen unfinished: if it was a guess, guess again at once."""
        watch = self.watches.get(task_id)
        if watch is not None:
            watch.checked = self.clock.now()
        if task_id in self.probing:
            self.probing.discard(task_id)
            if self._owed > 0:
                self._wake(1, self.clock.now())

    async def wait(
        self, task_id: str, seconds: float, until: asyncio.Event | None = None
    ) -> TaskState | Wake | None:
        """Until the task's final state arrives (returned), the counts say it may have ended
        (``Wake.CHECK``), or ``seconds`` pass (None); ``Wake.STOPPED`` if ``until`` is set
        first."""
        watch = self.watches.get(task_id)
        if watch is not None and watch.state is not None:
            return watch.state
        if watch is None:
            passed = await self.clock.first(until=until, within=seconds)
            return None if passed or until is None or not until.is_set() else Wake.STOPPED
        wake: asyncio.Future[TaskState | Wake] = asyncio.get_running_loop().create_future()
        watch.wake = wake
        try:
            if await self.clock.first(wake, until=until, within=seconds):
                return wake.result()
            return Wake.STOPPED if until is not None and until.is_set() else None
        finally:
            watch.wake = None

    def deliver(self, state: TaskState) -> bool:
        """A webhook's final state for a task; False if the task is not one of ours."""
        watch = self.watches.get(state.task_id)
        if watch is None:
            return False
        watch.state = state
        self.counters["webhooks"] += 1
        if watch.wake is not None and not watch.wake.done():
            watch.wake.set_result(state)
        return True

    def queue_wait(self, endpoint: str) -> float:
        """About how long a task queued now waits for a slot: the tasks queued ahead of it
        over the rate slots free (by the last counts and the typical duration); 0 unknown."""
        typical = self.schedule.typical(endpoint)
        running, queued = self.counts
        if typical is None or running <= 0 or queued <= 0:
            return 0.0
        return typical * queued / running

    def fallback(self, endpoint: str, elapsed: float, polls: int, longest: float) -> float:
        """How long a job waits before checking on its own."""
        delay = self.schedule.next_delay(endpoint, elapsed, polls)
        if self.cover is not None and not self.webhooks:
            return delay  # primed: each task's own few checks find its end (see _sample)
        if self.healthy or (self.webhooks and self.counters["samples"] == 0):
            # The counts (or webhooks) will say when to look: this is only a safety net.
            typical = self.schedule.typical(endpoint) or longest
            return max(delay, min(longest, 2 * typical))
        return delay

    # --- the account's counts ---------------------------------------------------------------

    async def run(self) -> None:
        """Look at the account's counts until stopped: every ``interval``, or less often
        while no task is likely to end (and five times less with webhooks: then the counts
        only catch a webhook that never came)."""
        if self.interval <= 0:
            return
        scale = 5 if self.webhooks else 1
        while not self._stopped:
            await self.clock.sleep(self.interval * scale * self._quiet_steps())
            if self.watches:
                await self._sample()
            else:
                self.healthy = False

    def _quiet_steps(self, likely: float = 0.5, most: int = 8) -> int:
        """How many intervals to wait until about ``likely`` ends are expected among the
        tasks in flight (by the durations seen so far), between 1 and ``most``."""
        now = self.clock.now()
        tasks: list[tuple[list[float], float, int, int]] = []  # durations, age, gone, left
        for watch in self.watches.values():
            seen = self.schedule.durations(watch.endpoint)
            if len(seen) < 8 or watch.state is not None:
                return 1  # too little known to wait: look every interval
            age = now - watch.since
            gone = bisect.bisect_right(seen, age)
            if gone >= len(seen):
                return 1  # older than anything seen: it may end any moment
            tasks.append((seen, age, gone, len(seen) - gone))

        # The ends expected grow with the wait: the first step where they reach ``likely`` is
        # found by doubling, then halving (a busy run, the usual case, stops at the first sum).
        def expected(step: int) -> float:
            later = step * self.interval
            return sum(
                [
                    (bisect.bisect_right(seen, age + later) - gone) / left
                    for seen, age, gone, left in tasks
                ]
            )

        low, high = 1, 1  # the answer lies in [low, high] once expected(high) reaches likely
        while high < most and expected(high) < likely:
            low, high = high + 1, min(most, 2 * high)
        while low < high:
            middle = (low + high) // 2
            if expected(middle) >= likely:
                high = middle
            else:
                low = middle + 1
        return low

    def stop(self) -> None:
        self._stopped = True

    async def _sample(self) -> None:
        asked = self.clock.now()
        counted = [w for w in self.watches.values() if w.since < asked and w.state is None]
        on_the_wire = self.submitting
        try:
            status = await self.client.queue_status()
        except ApiError:
            self.healthy = False
            self.counters["unhealthy"] += 1
            return
        self.counters["samples"] += 1
        self.counts = (status.running, status.queued)
        gone = sum(1 for w in counted if w.task_id not in self.watches)  # noticed meanwhile
        # Ours that the account no longer counts have ended unnoticed (submits on the wire
        # may already be counted by the server, so this is a lower bound).
        unnoticed = len(counted) - (status.running + status.queued)
        self.healthy = unnoticed >= -(on_the_wire + gone)
        if not self.healthy:
            self.counters["unhealthy"] += 1
        if self.cover is not None:  # ended but unnoticed: they hold no slot on the server
            self.cover(max(0, unnoticed - gone) if self.healthy else 0)
        if unnoticed <= 0:
            self._streak = 0
            for watch in counted:  # every one of them was still going when counted
                watch.checked = max(watch.checked, asked)
            return
        self._streak += 1
        if self.webhooks and self._streak < 2:
            return  # its webhook is probably on its way: give it one more look
        self._owed = unnoticed - gone
        if self.cover is not None:
            # Tasks of ours wait queued on the server: the slot an end frees is filled at
            # once, cover() keeps the queue primed, each task's checks find its end.
            return
        # The longer an end stays unnoticed, the wider the net: the guesses were wrong.
        self._wake(self._owed * FANOUT * 2 ** min(self._streak - 1, 4) - len(self.probing), asked)

    def _wake(self, n: int, now: float) -> None:
        """Wake the ``n`` likeliest tasks that wait and are not already being checked."""
        if n <= 0:
            return
        waiting = [
            w
            for w in self.watches.values()
            if w.task_id not in self.probing
            and w.state is None
            and w.wake is not None
            and not w.wake.done()
        ]
        for watch in sorted(waiting, key=lambda w: self._chance(w, now), reverse=True)[:n]:
            assert watch.wake is not None
            self.probing.add(watch.task_id)
            self.counters["probes"] += 1
            watch.wake.set_result(Wake.CHECK)

    def _chance(self, watch: _Watch, now: float) -> float:
        """How likely the task is to have ended since it was last seen going (a score)."""
        seen = self.schedule.durations(watch.endpoint)
        age, known = now - watch.since, watch.checked - watch.since
        unseen = now - watch.checked  # how long it has gone unchecked
        if not seen:
            return unseen  # nothing learned yet: the one unchecked longest first
        before = bisect.bisect_right(seen, known) / len(seen)
        by_now = bisect.bisect_right(seen, age) / len(seen)
        if before >= 1.0:
            return 1.0 + unseen  # older than anything seen: likely, more so the longer unchecked
        return (by_now - before) / (1.0 - before)
