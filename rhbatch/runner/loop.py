"""The batch: jobs started under a limit, followed, fetched; and a run that stops cleanly.

``Runner.run`` works through the pending jobs of a store in spec order. A job
takes a slot of the ``Limiter`` before its submit and gives it back when its
task ends, before the download, so the next job starts the moment a task ends.
Coroutines exist only for jobs in flight and downloads, each owned by the run's
task group; the chores (the manifest keeper, the watcher of the account's
counts) live in a task group of their own around it, so a failing chore ends
the run with its error. One job's way is ``job.py``; following a task to its
end, ``follow.py``; what they share, ``crew.py``.

What each job ends as is the truth as far as it can be known: ``failed`` only
when nothing was sent or its task is known to have failed; ``unknown`` when a
task may exist but its end could not be learned; ``unfetched`` when a paid
task's files could not be had. Systemic trouble stops the run and fails no
job: a rejected key, an empty balance (tasks in flight are finished), an API
that cannot be reached (every job kept as it was), a state store that cannot
be written.

Transitions share one commit per event-loop turn (the store's group commit);
a job waits for it (``durable``) before any request that depends on them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from rhbatch.api.client import Client
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import FatalError, FundsError, SpendCapReached, StateError
from rhbatch.models import JobRow, JobStatus, TaskState
from rhbatch.runner.budget import Budget
from rhbatch.runner.clock import Clock, Flag
from rhbatch.runner.crew import Crew, Health, Options
from rhbatch.runner.ends import Watcher
from rhbatch.runner.fetch import Fetcher, Mirror
from rhbatch.runner.inputs import Inputs
from rhbatch.runner.job import JobRun, adopted
from rhbatch.runner.limiter import Limiter
from rhbatch.runner.lost import LostReplies
from rhbatch.runner.progress import Reporter
from rhbatch.runner.schedule import Schedule
from rhbatch.runner.uploads import Uploader
from rhbatch.store.ledger import Ledger
from rhbatch.store.manifest import write_manifest
from rhbatch.store.state import Store

__all__ = ["Options", "Runner"]

# Transitions wait this long (real seconds) for company before their commit: many jobs'
# intents and task ids then share one commit (a submit waits for it before it goes out).
COMMIT_DELAY = 0.002
PRIMED_SPREAD = 60  # the longest wait between checks of a task, in poll intervals, when primed


class Runner:
    def __init__(
        self,
        *,
        store: Store,
        client: Client,
        registry: Registry,
        out_dir: Path,
        base_dir: Path,
        options: Options,
        report: Reporter,
        clock: Clock | None = None,
        budget: Budget | None = None,
        mirror: Mirror | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.store, self.out_dir, self.options, self.report = store, out_dir, options, report
        self.ledger = ledger  # --out URL: the store's changes go to the bucket too
        clock = clock or Clock()
        limiter = Limiter(options.concurrency + options.queue_ahead)
        # With the queue primed, a late notice idles no slot: checks follow the durations
        # learned, up to PRIMED_SPREAD poll intervals apart, rather than every poll interval.
        primed = options.queue_ahead > 0
        longest = options.poll_interval * (PRIMED_SPREAD if primed else 1)
        schedule = Schedule(longest, min(1.0, options.poll_interval / 5), primed=primed)
        webhooks = bool(options.webhook_url)
        watcher = Watcher(client, schedule, options.signal_interval, clock=clock, webhooks=webhooks)
        if options.queue_ahead > 0:
            watcher.cover = limiter.cover
        uploader = Uploader(
            client,
            store,
            registry,
            base_dir,
            sleep=clock.sleep,
            on_upload=lambda path, size: report.emit("uploaded", path=path, bytes=size),
        )
        inputs = Inputs(
            store, uploader, out_dir, speed=clock.speed, url_max_age=options.url_max_age
        )
        self.stopping = Flag()  # set: everything winds down now (Ctrl-C, a rejected key)
        self.closed = Flag()  # set: no new submits; tasks in flight go on (no money)
        self.crew = Crew(
            store=store,
            client=client,
            options=options,
            clock=clock,
            report=report,
            limiter=limiter,
            schedule=schedule,
            watcher=watcher,
            lost=LostReplies(client, watcher, webhooks=webhooks, clock=clock),
            uploader=uploader,
            inputs=inputs,
            budget=budget or Budget(None),
            health=Health(client.base_url, options.poll_interval, clock, self._halt),
            stopping=self.stopping,
            closed=self.closed,
            halt=self._halt,
            spawn=self._spawn,
            fetch=self._fetch_later,
            durable=self._durable,
        )
        self.fetcher = Fetcher(
            store=store,
            client=client,
            out_dir=out_dir,
            naming=options.naming,
            limits=options.limits,
            concurrency=options.download_concurrency,
            pause=self.crew.pause,
            emit=report.emit,
            cap=self.crew.cap,
            mirror=mirror,
        )
        spend = self.crew.budget
        report.sources(
            running=lambda: limiter.in_flight,
            oldest=watcher.oldest,
            spent=lambda: (spend.billed, spend.cap),
        )
        self.fatal: FatalError | None = None
        # Pipelines: jobs waiting for the jobs they use, by the id of each they wait for.
        self._waiting: dict[str, set[str]] = {}
        self._held: set[str] = set()
        self._ready: asyncio.Queue[JobRow | None] = asyncio.Queue()
        self._busy = 0  # jobs and fetches under way
        self._dirty = True
        self._tg: asyncio.TaskGroup | None = None
        self._commit_due: asyncio.Future[None] | None = None

    # --- the whole run ---------------------------------------------------------------

    async def run(self) -> None:
        """Run every pending job; resume running and downloading ones. Raises the fatal
        error that stopped the run, if one did."""
        loop = asyncio.get_running_loop()
        crew = self.crew
        self.store.grouped(lambda: self._commit_soon(loop))
        try:
            async with asyncio.TaskGroup() as background:
                chores = [
                    background.create_task(self._keep_manifest()),
                    background.create_task(crew.watcher.run()),
                ]
                if self.ledger is not None:
                    chores.append(background.create_task(self._keep_ledger(self.ledger)))
                try:
                    async with asyncio.TaskGroup() as tg:
                        self._tg = tg
                        self._resume_all()
                        await self._produce()
                finally:
                    self._tg = None
                    crew.watcher.stop()
                    for chore in chores:
                        chore.cancel()
        finally:
            try:
                self.store.grouped(None)  # may meet a full disk: the run's error then
            finally:
                self.report.emit("watched", **crew.watcher.counters, **crew.lost.counters)
        self.write_manifest()
        if self.fatal is not None:
            raise self.fatal

    def stop(self) -> None:
        """Stop starting jobs; jobs in flight wind down at their next step."""
        self.closed.set()
        self.stopping.set()

    def drain(self) -> None:
        """Submit nothing more, but see the tasks in flight through to their files."""
        self.closed.set()

    def _resume_all(self) -> None:
        downloading = self.store.jobs(JobStatus.DOWNLOADING)
        self.fetcher.clean_parts(downloading)
        for row in self.store.jobs(JobStatus.RUNNING):
            self.crew.budget.hold(row.id, row.endpoint, row.quoted)
            self.crew.limiter.take()
            self._spawn(self._job(row, resume=True))
        for row in downloading:
            self._spawn(self._fetch(row))

    async def _produce(self) -> None:
        after = -1
        while not self.closed.is_set():
            batch = self.store.pending(after)
            if not batch:
                break
            for row in batch:
                after = row.idx
                if row.uses and not self._may_start(row):
                    continue  # it waits for the jobs it uses, without a slot
                if not await self.crew.take_slot():
                    return
                self._spawn(self._job(row))
        if not self._held:
            self.crew.watcher.tail = True  # all started: the rest of the run is its tail
        # The jobs that wait for others start as those end (the queue holds the ready ones).
        while (self._held or not self._ready.empty()) and not self.closed.is_set():
            if self._busy == 0 and self._ready.empty():
                return  # nothing under way can free them (the next run takes them)
            getter = asyncio.ensure_future(self._ready.get())
            if not await self.crew.clock.first(getter, until=self.closed):
                return  # the run is closing: the job stays pending for the next run
            ready = getter.result()
            if ready is None:
                continue  # a wake-up: look again whether anything can still free them
            if not await self.crew.take_slot():
                return
            self._spawn(self._job(ready))

    def _may_start(self, row: JobRow) -> bool:
        """Whether a job that uses others may start now; if not, it waits for them or is
        blocked by one that did not succeed."""
        verdict, detail = self.crew.inputs.verdict(row)
        if verdict == "ready":
            return True
        if verdict == "blocked":
            self._block(row.id, detail[0])
            return False
        self._held.add(row.id)
        for job_id in detail:
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
            verdict, detail = self.crew.inputs.verdict(row)
            if verdict == "wait":  # not done yet (its files are coming), or others are not
                for other in detail:
                    self._waiting.setdefault(other, set()).add(waiter)
                continue
            self._held.discard(waiter)
            if verdict == "ready":
                self._ready.put_nowait(row)
            else:
                self._block(waiter, detail[0])
        if not self._held:
            self._ready.put_nowait(None)  # none waits any more: the producer may finish

    async def _job(self, row: JobRow, *, resume: bool = False) -> None:
        try:
            await JobRun(self.crew, row).run(resume=resume)
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
            self._halt(exc)
        except Exception as exc:  # a fault of rhbatch: this job's alone
            JobRun(self.crew, row).broken(exc)
        finally:
            self._dirty = True
            if self._waiting:
                self._release(row.id)

    def _halt(self, error: FatalError) -> None:
        """A systemic failure: out of money, finish what is in flight; otherwise stop now."""
        if self.fatal is None:
            self.fatal = error
            if isinstance(error, FundsError | SpendCapReached):
                self.report.message(f"rhbatch: {error}; finishing the tasks in flight")
            else:
                self.report.message(f"rhbatch: stopping: {error}")
        if isinstance(error, FundsError | SpendCapReached):
            self.drain()
        else:
            self.stop()

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

    # --- committing ---------------------------------------------------------------------

    def _commit_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._commit_due is None:
            self._commit_due = loop.create_future()
            loop.call_later(COMMIT_DELAY, self._commit_now)

    def _commit_now(self) -> None:
        due, self._commit_due = self._commit_due, None
        try:
            self.store.commit()
        except StateError as exc:
            if due is not None and not due.done():
                due.set_exception(exc)
                due.exception()  # told to the run by _halt; a submit waiting on it sees it too
            self._halt(exc)
            return
        if due is not None and not due.done():
            due.set_result(None)

    async def _durable(self) -> None:
        """Wait until every write so far is committed (before acting on it), and with
        object storage, in the bucket's ledger too."""
        if self._commit_due is not None:
            await asyncio.shield(self._commit_due)
        if self.ledger is not None:
            try:
                await self.ledger.flush(self.crew.pause)
            except StateError as exc:
                self._halt(exc)
                raise

    async def _keep_ledger(self, ledger: Ledger) -> None:
        """Ship task ids and ends to the bucket within moments; keep the lease."""
        try:
            await ledger.keep(asyncio.sleep, self.crew.pause)
        except StateError as exc:
            self._halt(exc)

    # --- webhooks ---------------------------------------------------------------------------

    def on_webhook(self, token: str, state: TaskState) -> bool:
        """A webhook's final state, for the attempt its token names; False for a token this
        output directory never issued."""
        found = self.store.hook(token)
        if found is None:
            return False
        job_id, attempt, known = found
        crew = self.crew
        if not state.status.terminal:
            return True
        if crew.watcher.deliver(state) or crew.lost.deliver(job_id, attempt, state):
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
            self.store.record_task(job_id, attempt, state.task_id, state.status.value)
            self.report.emit("adopted", job=job_id, task=state.task_id)
            if not self.stopping.is_set():
                self._spawn(self._adopted(job_id, attempt, state))
        elif known is None:
            self.store.settle(job_id, attempt, state.task_id, state.status.value)
        return True

    async def _adopted(self, job_id: str, attempt: int, state: TaskState) -> None:
        try:
            await adopted(self.crew, job_id, attempt, state)
        finally:
            self._dirty = True

    # --- the manifest ---------------------------------------------------------------------

    async def _keep_manifest(self) -> None:
        """Rewrite the manifest within seconds of a change, spending at most ~5% of the time
        on it; a manifest that cannot be written stops the run."""
        every = self.options.manifest_every
        while True:
            await asyncio.sleep(every)  # real seconds: a person reads the manifest
            self.report.tick()
            if self._dirty:
                self._dirty = False
                began = time.monotonic()
                try:
                    self.write_manifest()
                except StateError as exc:
                    self._halt(exc)
                    return
                every = max(self.options.manifest_every, 20 * (time.monotonic() - began))

    def write_manifest(self) -> None:
        write_manifest(self.store, self.out_dir)  # StateError when it cannot be written
