"""Submits whose answer was lost: did they make a task, and if so, which?

A submit's answer can be lost after RunningHub made the task (a connection
reset, a gateway error, a reply that cannot be read). Sending the job again
might pay twice; never sending it leaves a task that may be paid for and never
fetched. Two signals settle it:

- **Webhooks.** With a receiver listening, every attempt is sent with its own
  webhook URL (a token recorded before the submit). A task made by a lost
  submit announces itself when it ends, naming its attempt: the job adopts it
  (its results are fetched, it is charged once). ``deliver`` hands such an
  announcement to the job that waits for it.
- **The account's counts.** When the server was done with the request (it
  answered or closed the connection, rather than rhbatch giving up waiting),
  rhbatch holds its own submits, reads the account's running and queued counts
  and confirms each of its own tasks in flight still unfinished after that
  read (tasks of its own found ended meanwhile are left out). If the count holds
  no task beyond them, no task of the lost submit was alive at that moment; if,
  moreover, every task of that endpoint seen so far
  lived longer than the time since the send, the lost submit made no task and
  the job may be sent again. This rests on two assumptions, which the docs
  state: the counts include a task from the moment it is made, and a task of an
  endpoint does not end sooner than every task of it seen before.

Anything else stays ``unknown``: with webhooks until the task announces itself
or the job's timeout passes; without, until a person attaches the task id
(``rhbatch attach``) or resubmits on purpose (``--resubmit-unknown``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from rhbatch.api.client import Client
from rhbatch.errors import ApiError, OutcomeUnknown
from rhbatch.models import TaskState
from rhbatch.runner.clock import Clock
from rhbatch.runner.ends import Watcher

CHECKS_AT_ONCE = 16  # queries in parallel when confirming our own tasks after a count


@dataclass(frozen=True)
class Verdict:
    """What became of a lost submit: ``made`` False (no task: send again), True with the
    task's final ``state`` (adopted), or None (not known)."""

    made: bool | None
    state: TaskState | None = None
    reason: str = ""


class LostReplies:
    def __init__(
        self,
        client: Client,
        watcher: Watcher,
        *,
        webhooks: bool,
        clock: Clock | None = None,
    ) -> None:
        self.client, self.watcher = client, watcher
        self.webhooks = webhooks
        self.clock = clock or watcher.clock
        self.counters: Counter[str] = Counter()
        self._open = asyncio.Event()
        self._open.set()
        self._counting = asyncio.Lock()
        self._waiting: dict[tuple[str, int], asyncio.Future[TaskState]] = {}

    @property
    def open(self) -> bool:
        """True unless submits must wait (``gate``) while the counts are read."""
        return self._open.is_set()

    async def gate(self) -> None:
        """Submits wait here while the counts are being read for a lost reply."""
        await self._open.wait()

    def deliver(self, job_id: str, attempt: int, state: TaskState) -> bool:
        """A webhook's final state for an attempt whose submit lost its answer; False when
        no job waits for it."""
        waiter = self._waiting.get((job_id, attempt))
        if waiter is None or waiter.done():
            return False
        waiter.set_result(state)
        return True

    async def judge(
        self,
        job_id: str,
        attempt: int,
        endpoint: str,
        error: OutcomeUnknown,
        sent: float,
        wait: float,
    ) -> Verdict:
        """Find out what a lost submit (sent at clock time ``sent``) made, waiting at most
        ``wait`` seconds for its webhook."""
        self.counters["lost"] += 1
        key = (job_id, attempt)
        waiter: asyncio.Future[TaskState] | None = None
        if self.webhooks:  # listen before asking anything: the task may end any moment
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[key] = waiter
        try:
            if error.settled and await self._none_made(endpoint, sent):
                self.counters["none_made"] += 1
                return Verdict(False, reason="the account's counts show that it made no task")
            if waiter is not None and await self.clock.first(waiter, within=wait):
                self.counters["adopted"] += 1
                return Verdict(True, waiter.result(), "its task announced itself by webhook")
            self.counters["unknown"] += 1
            return Verdict(None, reason=self._why_unknown(error))
        finally:
            self._waiting.pop(key, None)
            if waiter is not None and not waiter.done():
                waiter.cancel()

    def _why_unknown(self, error: OutcomeUnknown) -> str:
        if not error.settled:
            return "rhbatch gave up waiting for the answer, so the server may still make the task"
        if self.webhooks:
            return "no webhook named it before the job's timeout"
        return "the account's counts could not rule out a task"

    async def _none_made(self, endpoint: str, sent: float) -> bool:
        """True when the account's counts prove that a submit sent at ``sent`` left no task."""
        async with self._counting:
            self._open.clear()  # no submit of ours may be counted or not, unbeknown to us
            try:
                await self.watcher.no_submits()
                return await self._count(endpoint, sent)
            except ApiError:
                return self._unproven("count_failed")
            finally:
                self._open.set()

    async def _count(self, endpoint: str, sent: float) -> bool:
        floor = self.watcher.floor(endpoint)
        if floor is None:  # no task of this endpoint has ended yet: how fast they end is unknown
            return self._unproven("no_lifetime")
        status = await self.client.queue_status()
        read = self.clock.now()
        if read - sent >= floor:  # a task made by the submit might have ended already
            return self._unproven("too_late")
        counted = status.running + status.queued
        ours, stale = self.watcher.unfinished(since=read)
        if counted > ours:  # more than ours: maybe the lost task, maybe another client's
            return self._unproven("more_counted")
        # Which of ours were alive when the count was read? Those seen unfinished since;
        # the others are asked now. One found ended may or may not have been counted, so
        # the count proves nothing unless it equals the tasks of ours alive after it.
        limit = asyncio.Semaphore(CHECKS_AT_ONCE)
        ended: list[TaskState] = []

        async def ask(task_id: str) -> None:
            async with limit:
                state = await self.client.query(task_id, stale[task_id])
            if state.status.terminal:
                ended.append(state)
            else:
                self.watcher.checked(task_id)

        failed = False
        try:
            async with asyncio.TaskGroup() as group:
                for task_id in stale:
                    group.create_task(ask(task_id))
        except* ApiError:
            failed = True
        for state in ended:  # their jobs need not ask again
            self.watcher.deliver(state)
        if failed:
            return self._unproven("check_failed")
        if counted != ours - len(ended):
            return self._unproven("more_counted" if counted > ours - len(ended) else "fewer")
        return True

    def _unproven(self, why: str) -> bool:
        self.counters[f"unproven_{why}"] += 1
        return False
