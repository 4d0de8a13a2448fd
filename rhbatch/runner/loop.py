"""The batch: jobs started under a limit, followed, fetched; and a run that stops cleanly.

``Runner.run`` works through the pending jobs of a store in spec order. A job
takes a slot of the ``Limiter`` before its submit and gives it back when its
task ends, before the download, so the next job starts the moment a task ends.
Coroutines exist only for jobs in flight and downloads, each owned by the run's
task group; the chores (the manifest keeper, the watcher of the account's
counts) live in a task group of their own around it, so a failing chore ends
the run with its error. One job's way is ``job.py``; following a task to its
end, ``follow.py``; what they are handed, ``crew.py``; how the pieces are
made, ``wiring.py`` (``Runner(wire(...))``).

What each job ends as is the truth as far as it can be known: ``failed`` only
when nothing was sent or its task is known to have failed; ``unknown`` when a
task may exist but its end could not be learned; ``unfetched`` when a paid
task's files could not be had. Systemic trouble stops the run and fails no
job: a rejected key, an empty balance (tasks in flight are finished), an API
that cannot be reached (every job kept as it was), a state store that cannot
be written (``stops.py``). Transitions share one commit per event-loop turn
(``commits.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from rhbatch.errors import FatalError, StateError
from rhbatch.models import JobRow, JobStatus, TaskState
from rhbatch.runner.crew import Options
from rhbatch.runner.heap import run_heap
from rhbatch.runner.inputs import Readiness
from rhbatch.runner.job import JobRun, adopted
from rhbatch.runner.outcomes import broken
from rhbatch.runner.wiring import Wired, wire
from rhbatch.store.manifest import write_manifest

__all__ = ["Options", "Runner", "wire"]


class Runner:
    def __init__(self, wired: Wired) -> None:
        """A run of the pieces ``wire`` made: ``Runner(wire(store=..., client=..., ...))``."""
        crew = self.crew = wired.crew
        self.fetcher, self.commits = wired.fetcher, wired.commits
        self.out_dir, self.manifest_every = wired.out_dir, wired.manifest_every
        self.store, self.report = crew.records.store, crew.records.report
        self.stops = crew.stops
        self.watcher, self.lost = crew.ends.watcher, crew.sending.lost
        # Pipelines: jobs waiting for the jobs they use, by the id of each they wait for.
        self._waiting: dict[str, set[str]] = {}
        self._held: set[str] = set()
        self._ready: asyncio.Queue[JobRow | None] = asyncio.Queue()
        self._busy = 0  # jobs and fetches under way
        self._dirty = True
        self._tg: asyncio.TaskGroup | None = None

    # --- the whole run ---------------------------------------------------------------

    async def run(self) -> None:
        """Run every pending job; resume running and downloading ones. Raises the fatal
        error that stopped the run, if one did."""
        self.commits.start()
        try:
            with run_heap():
                await self._run()
        finally:
            try:
                self.commits.end()  # may meet a full disk: the run's error then
            finally:
                self.report.emit("watched", **self.watcher.counters, **self.lost.counters)
        self.write_manifest()
        if self.stops.fatal is not None:
            raise self.stops.fatal

    async def _run(self) -> None:
        """The jobs in a task group, inside the chores' group."""
        async with asyncio.TaskGroup() as background:
            chores = [
                background.create_task(self._keep_manifest()),
                background.create_task(self.watcher.run()),
            ]
            if self.commits.ledger is not None:
                chores.append(background.create_task(self.commits.keep_ledger()))
            try:
                async with asyncio.TaskGroup() as tg:
                    self._tg = tg
                    self._resume_all()
                    await self._produce()
            finally:
                self._tg = None
                self.watcher.stop()
                for chore in chores:
                    chore.cancel()

    @property
    def fatal(self) -> FatalError | None:
        """The error that stopped the run, if one did."""
        return self.stops.fatal

    def stop(self) -> None:
        """Stop starting jobs; jobs in flight wind down at their next step."""
        self.stops.stop()

    def drain(self) -> None:
        """Submit nothing more, but see the tasks in flight through to their files."""
        self.stops.drain()

    def _resume_all(self) -> None:
        downloading = self.store.jobs(JobStatus.DOWNLOADING)
        self.fetcher.clean_parts(downloading)
        for row in self.store.jobs(JobStatus.RUNNING):
            self.crew.budget.hold(row.id, row.endpoint, row.quoted)
            self.crew.slots.limiter.take()
            self._spawn(self._job(row, resume=True))
        for row in downloading:
            self._spawn(self._fetch(row))

    async def _produce(self) -> None:
        after, closed, slots = -1, self.stops.closed, self.crew.slots
        while not closed.is_set():
            batch = self.store.pending(after)
            if not batch:
                break
            for row in batch:
                after = row.idx
                if row.uses and not self._may_start(row):
                    continue  # it waits for the jobs it uses, without a slot
                if not await slots.take():
                    return
                self._spawn(self._job(row))
        # The jobs that wait for others start as those end (the queue holds the ready ones).
        while (self._held or not self._ready.empty()) and not closed.is_set():
            if self._busy == 0 and self._ready.empty():
                return  # nothing under way can free them (the next run takes them)
            getter = asyncio.ensure_future(self._ready.get())
            if not await slots.clock.first(getter, until=closed):
                return  # the run is closing: the job stays pending for the next run
            ready = getter.result()
            if ready is None:
                continue  # a wake-up: look again whether anything can still free them
            if not await slots.take():
                return
            self._spawn(self._job(ready))

    def _may_start(self, row: JobRow) -> bool:
        """Whether a job that uses others may start now; if not, it waits for them or is
        blocked by one that did not succeed."""
        verdict = self.crew.sending.inputs.verdict(row)
        if verdict.readiness is Readiness.READY:
            return True
        if verdict.readiness is Readiness.BLOCKED:
            self._block(row.id, verdict.reason)
            return False
        self._held.add(row.id)
        for job_id in verdict.waits_for:
            self._waiting.setdefault(job_id, set()).add(row.id)
        return False

    def _block(self, job_id: str, reason: str) -> None:
        self.store.block(job_id, reason)
        self.report.emit("blocked", job=job_id, message=reason)
        self._release(job_id)  # the jobs that use it are blocked in turn

    def _release(self, job_id: str) -> None:
        """A job ended (or was blocked): the jobs waiting for it start, or are blocked."""
        for waiter in sorted(self._waiting.pop(job_id, ())):
            if waiter not in self._held:
                continue
            row = self.store.job(waiter)
            verdict = self.crew.sending.inputs.verdict(row)
            if verdict.readiness is Readiness.WAIT:  # not done yet (its files are coming)
                for other in verdict.waits_for:
                    self._waiting.setdefault(other, set()).add(waiter)
                continue
            self._held.discard(waiter)
            if verdict.readiness is Readiness.READY:
                self._ready.put_nowait(row)
            else:
                self._block(waiter, verdict.reason)
        if not self._held:
            self._ready.put_nowait(None)  # none waits any more: the producer may finish

    async def _job(self, row: JobRow, *, resume: bool = False) -> None:
        try:
            if await JobRun(self.crew, row).run(resume=resume):
                self._fetch_later(row.id)
        finally:
            self._dirty = True
            if self._waiting:
                self._release(row.id)

    def _fetch_later(self, job_id: str) -> None:
        self._spawn(self._fetch(self.store.job(job_id)))

    async def _fetch(self, row: JobRow) -> None:
        try:
            await self.fetcher.fetch(row)
        except FatalError as exc:
            self.stops.halt(exc)
        except Exception as exc:  # a fault of rhbatch: this job's alone
            broken(self.crew.records, row.id, exc)
        finally:
            self._dirty = True
            if self._waiting:
                self._release(row.id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tg is None:
            coro.close()  # the run is over: the next one takes it from the store
            return
        self._busy += 1
        self._tg.create_task(self._counted(coro))

    async def _counted(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        finally:
            self._busy -= 1
            if self._busy == 0 and self._ready.empty():
                self._ready.put_nowait(None)  # wake the producer: nothing else will

    # --- webhooks ---------------------------------------------------------------------------

    def on_webhook(self, token: str, state: TaskState) -> bool:
        """A webhook's final state, for the attempt its token names; False for a token this
        output directory never issued."""
        found = self.store.hook(token)
        if found is None:
            return False
        job_id, attempt, known = found
        if not state.status.terminal:
            return True
        if self.watcher.deliver(state) or self.lost.deliver(job_id, attempt, state):
            return True
        if known is not None and known != state.task_id:
            return True  # not the task this attempt made: ignore it
        row = self.store.job(job_id)
        if (
            row.status is JobStatus.UNKNOWN
            and row.attempts == attempt
            and (row.task_id is None or row.task_id == state.task_id)
        ):
            # A task made by a lost submit (maybe of an earlier run) announced itself: the
            # job follows it from now on (the next run, if this one is ending).
            self.store.record_task(job_id, attempt, state.task_id, state.status)
            self.report.emit("adopted", job=job_id, task=state.task_id)
            if not self.stops.stopping.is_set():
                self._spawn(self._adopted(job_id, attempt, state))
        elif known is None:
            self.store.settle(job_id, attempt, state.task_id, state.status)
        return True

    async def _adopted(self, job_id: str, attempt: int, state: TaskState) -> None:
        try:
            if await adopted(self.crew, job_id, attempt, state):
                self._fetch_later(job_id)
        finally:
            self._dirty = True

    # --- the manifest ---------------------------------------------------------------------

    async def _keep_manifest(self) -> None:
        """Rewrite the manifest within seconds of a change, spending at most ~5% of the time
        on it; a manifest that cannot be written stops the run. Each rewrite renders the
        lines of the jobs that changed since the last and copies the others."""
        every = self.manifest_every
        while True:
            await asyncio.sleep(every)  # real seconds: a person reads the manifest
            self.report.tick()
            if self._dirty:
                self._dirty = False
                began = time.monotonic()
                try:  # only the changed jobs' lines rendered again; the run's last write is whole
                    write_manifest(self.store, self.out_dir, changed_only=True)
                except StateError as exc:
                    self.stops.halt(exc)
                    return
                every = max(self.manifest_every, 20 * (time.monotonic() - began))

    def write_manifest(self) -> None:
        write_manifest(self.store, self.out_dir)  # StateError when it cannot be written
