"""The batch: submit under a limit, follow each task to its end, fetch, and stop cleanly.

``Runner.run`` works through the pending jobs of a store in spec order. A job
takes a slot of the ``Limiter`` before its submit and gives it back when its
task ends, before the download, so the next job starts the moment a task ends.
Coroutines exist only for jobs in flight and downloads.

Every step is written to the store before the next: the intent before the
submit, the task id when it arrives, the outcome, each file. What each job
ends as is the truth as far as it can be known:

- ``failed`` only when nothing was sent, or its task is known to have failed
  (or was cancelled, and a query confirmed it). Before giving up on a task for
  any reason (its timeout, answers that cannot be read) it is asked once more,
  and cancelled; a task whose end is still not known leaves its job
  ``unknown``, and the next run follows it again.
- A submit whose answer was lost is never sent again on a guess (``lost.py``
  decides, by webhook or by the account's counts, whether it made a task).
- Before a job is sent again (a retry, ``--retry-failed``), every earlier task
  of it that might still succeed is asked about first.

Back-pressure waits and lowers the number in flight; retryable task failures
are resubmitted up to ``retries`` times. Systemic trouble stops the run and
fails no job: a rejected key, an empty balance (tasks in flight are finished),
an API that cannot be reached (every job kept as it was), a state store that
cannot be written. One job's own fault (a bug) is that job's, logged to
``.rhbatch/log``; the others go on.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhbatch import logfile
from rhbatch.api.client import Client, DownloadLimits
from rhbatch.api.wire import NOT_FOUND_CODES
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import (
    ApiError,
    AuthError,
    FatalError,
    FundsError,
    NoConnection,
    OutcomeUnknown,
    ProtocolError,
    Rejected,
    StateError,
    Transient,
    Unreachable,
)
from rhbatch.models import JobRow, JobStatus, RemoteStatus, TaskState, running_state
from rhbatch.redact import clean
from rhbatch.run.ends import Watcher
from rhbatch.run.fetch import Fetcher, result_records
from rhbatch.run.limiter import Limiter
from rhbatch.run.lost import LostReplies
from rhbatch.run.progress import Reporter
from rhbatch.run.retry import Kind, backoff, classify, wait_for
from rhbatch.run.schedule import Schedule
from rhbatch.run.uploads import Uploader, UploadFailed
from rhbatch.store.manifest import write_manifest
from rhbatch.store.state import Store

SUBMIT_TRIES = 12  # refusals with a server-error code before a job is given up (nothing paid)
UNREADABLE_TRIES = 5  # answers about a task that cannot be read, before its job is unknown
CONFIRM_TRIES = 3  # queries after a cancel, to see it take effect
OFFLINE_TRIES = 5  # calls in a row that could not connect ...
OFFLINE_POLLS = 3.0  # ... over at least this many poll intervals: the API is unreachable
FAILING_TRIES = 30  # calls in a row that failed in any passing way ...
FAILING_POLLS = 30.0  # ... over at least this many poll intervals: the API is down


@dataclass
class Options:
    concurrency: int = 10
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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.client, self.registry = store, client, registry
        self.out_dir = out_dir
        self.options = options
        self.report = report
        self._sleep = sleep
        self._clock = clock
        self.limiter = Limiter(options.concurrency)
        self.schedule = Schedule(options.poll_interval)
        self.watcher = Watcher(
            client,
            self.schedule,
            options.signal_interval,
            clock=clock,
            webhooks=bool(options.webhook_url),
        )
        self.lost = LostReplies(
            client, self.watcher, webhooks=bool(options.webhook_url), clock=clock
        )
        self.fetcher = Fetcher(
            store=store,
            client=client,
            out_dir=out_dir,
            naming=options.naming,
            limits=options.limits,
            concurrency=options.download_concurrency,
            pause=self._pause,
            emit=self._emit,
            cap=self._cap,
        )
        self.uploader = Uploader(
            client,
            store,
            registry,
            base_dir,
            sleep=sleep,
            on_upload=lambda path, size: self._emit("uploaded", path=path, bytes=size),
        )
        report.oldest = self.watcher.oldest
        self.stopping = asyncio.Event()  # set: everything winds down now (Ctrl-C, a rejected key)
        self.closed = asyncio.Event()  # set: no new submits; tasks in flight go on (no money)
        self.fatal: FatalError | None = None
        self._dirty = True
        self._tg: asyncio.TaskGroup | None = None
        self._commit_due: asyncio.Future[None] | None = None
        self._offline = (0, 0.0)  # connection failures in a row, and when the first was
        self._failing = (0, 0.0)  # failed API calls of any passing kind in a row, and since

    # --- the whole run ---------------------------------------------------------------

    async def run(self) -> None:
        """Run every pending job; resume running and downloading ones. Raises the fatal
        error that stopped the run, if one did."""
        loop = asyncio.get_running_loop()
        self.store.grouped(lambda: self._commit_soon(loop))
        try:
            async with asyncio.TaskGroup() as background:
                chores = [
                    background.create_task(self._keep_manifest()),
                    background.create_task(self.watcher.run()),
                ]
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
        finally:
            self.store.grouped(None)
            self._emit("watched", **self.watcher.counters, **self.lost.counters)
        self.write_manifest()
        if self.fatal is not None:
            raise self.fatal

    def _resume_all(self) -> None:
        downloading = self.store.jobs(JobStatus.DOWNLOADING)
        self.fetcher.clean_parts(downloading)
        for row in self.store.jobs(JobStatus.RUNNING):
            self.limiter.take()
            self._spawn(self._job(row, resume=True))
        for row in downloading:
            self._spawn(self._fetch(row))

    def _commit_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._commit_due is None:
            self._commit_due = loop.create_future()
            loop.call_soon(self._commit_now)

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
        """Wait until every write so far is committed (before acting on it)."""
        if self._commit_due is not None:
            await asyncio.shield(self._commit_due)

    def stop(self) -> None:
        """Stop starting jobs; jobs in flight wind down at their next step."""
        self.closed.set()
        self.stopping.set()

    def drain(self) -> None:
        """Submit nothing more, but see the tasks in flight through to their files."""
        self.closed.set()

    async def _produce(self) -> None:
        after = -1
        while not self.closed.is_set():
            batch = self.store.pending(after)
            if not batch:
                return
            for row in batch:
                if not await self._acquire():
                    return
                after = row.idx
                self._spawn(self._job(row))

    async def _acquire(self) -> bool:
        """Take a slot, unless submitting stops first; False (and no slot held) if it does."""
        if self.closed.is_set():
            return False
        acquire = asyncio.ensure_future(self.limiter.acquire())
        try:
            got = await _first(acquire, self.closed)
        except BaseException:
            if acquire.done() and not acquire.cancelled() and acquire.exception() is None:
                self.limiter.release()  # granted just as we were cancelled: give it back
            raise
        if got and self.closed.is_set():
            self.limiter.release()
            return False
        return got

    @property
    def _cap(self) -> float:
        """The longest wait between two tries: a few polls, so it follows the time scale."""
        return 4 * self.options.poll_interval

    async def _pause(
        self, seconds: float, *, or_freed: bool = False, until: asyncio.Event | None = None
    ) -> bool:
        """Wait ``seconds`` (or until one of our tasks ends, with ``or_freed``) unless the
        run stops (``until``: stops submitting); True if it did."""
        until = until or self.stopping
        if until.is_set():
            return True
        freed = self.limiter.freed() if or_freed and self.limiter.in_flight > 1 else None
        await _first(self._sleep(max(0.0, seconds)), until, freed)
        return until.is_set()

    def _halt(self, error: FatalError) -> None:
        """A systemic failure: out of money, finish what is in flight; otherwise stop now."""
        if self.fatal is None:
            self.fatal = error
            if isinstance(error, FundsError):
                self.report.message(f"rhbatch: {error}; finishing the tasks in flight")
            else:
                self.report.message(f"rhbatch: stopping: {error}")
        if isinstance(error, FundsError):
            self.drain()
        else:
            self.stop()

    # --- the health of the API -----------------------------------------------------------

    def _answered(self) -> None:
        """An API call got an answer: the API is there."""
        self._offline = self._failing = (0, 0.0)

    def _call_failed(self, exc: Transient) -> None:
        """An API call failed in a passing way; too many in a row for too long stop the run."""
        now = self._clock()
        polls = self.options.poll_interval
        count, since = self._failing
        self._failing = (count + 1, since if count else now)
        if isinstance(exc, NoConnection):
            count, since = self._offline
            self._offline = (count + 1, since if count else now)
            n, first = self._offline
            if n >= OFFLINE_TRIES and now - first >= OFFLINE_POLLS * polls:
                self._halt(Unreachable(f"cannot reach {self.client.base_url}: {exc.reason}"))
        n, first = self._failing
        if n >= FAILING_TRIES and now - first >= FAILING_POLLS * polls:
            self._halt(Unreachable(f"{self.client.base_url} keeps failing: {_reason(exc)}"))

    # --- one job -----------------------------------------------------------------------

    async def _job(self, row: JobRow, *, resume: bool = False) -> None:
        """One job, holding a slot: follow its task (``resume``), or verify its earlier
        tasks and submit; then retry as its failures allow, and fetch its results."""
        slot = True
        try:
            follow: tuple[int, TaskState, float] | None = None
            if resume and row.task_id:
                follow = (row.attempts, running_state(row.task_id), self._since(row.submitted_at))
            sent: dict[str, Any] | None = None
            sources: dict[str, Any] = {}
            while not self.closed.is_set() or follow is not None:
                if follow is None and row.attempts:
                    follow = await self._earlier_task(row)
                if follow is None:
                    if sent is None:
                        resolved = await self._resolve(row)
                        if resolved is None:
                            return
                        sent, sources = resolved
                    submitted = await self._submit(row, sent, sources)
                    if submitted is None:
                        return
                    follow = (submitted[0], submitted[1], submitted[2])
                attempt, state, started = follow
                follow = None
                final = await self._follow(row, attempt, state, started, resumed=resume)
                resume = False
                if final is None:
                    return
                if final.status is RemoteStatus.SUCCESS:
                    self.limiter.release()
                    slot = False
                    self._succeeded(row, attempt, final)
                    return
                if not self._task_failed(row, attempt, final):
                    return
                row = self.store.job(row.id)
                wait = backoff(attempt - row.first_attempt, cap=self._cap)
                if await self._pause(wait, until=self.closed):
                    return
        except FatalError as exc:
            self._halt(exc)
        except Exception as exc:  # a fault of rhbatch: this job's alone
            self._broken(row.id, exc)
        finally:
            if slot:
                self.limiter.release()
            self._dirty = True

    def _since(self, submitted_at: float | None) -> float:
        """The clock time of a submit made at Unix time ``submitted_at`` (maybe by an earlier
        run), so that its timeout counts from then."""
        if submitted_at is None:
            return self._clock()
        return self._clock() - max(0.0, time.time() - submitted_at)

    async def _job_again(self, job_id: str) -> None:
        if await self._acquire():
            await self._job(self.store.job(job_id))

    async def _resolve(self, row: JobRow) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The body to send (local files uploaded); None when the job cannot be sent."""
        tries = 0
        while True:
            try:
                return await self.uploader.resolve(row.endpoint, row.params)
            except UploadFailed as exc:
                self._fail(row, exc.code, str(exc))
                return None
            except NoConnection as exc:
                self._call_failed(exc)
                if await self._pause(backoff(tries, cap=self._cap), until=self.closed):
                    return None
                tries += 1

    async def _earlier_task(self, row: JobRow) -> tuple[int, TaskState, float] | None:
        """An earlier task of the job that may still succeed (or has): it is followed
        instead of a new submit. Tasks found failed meanwhile are settled."""
        for attempt, task_id, started_at in self.store.unsettled(row.id):
            state = await self._ask(task_id)
            if isinstance(state, Rejected):  # the server knows no such task now
                self.store.settle(row.id, attempt, task_id, "NOTFOUND")
                continue
            if state is not None and state.status in (RemoteStatus.FAILED, RemoteStatus.CANCEL):
                self.store.settle(row.id, attempt, task_id, state.status.value)
                continue
            status = state.status.value if state is not None else "RUNNING"
            self.store.record_task(row.id, attempt, task_id, status)
            self._emit("followed", job=row.id, task=task_id, attempt=attempt)
            return attempt, state or running_state(task_id), self._since(started_at)
        return None

    async def _ask(self, task_id: str) -> TaskState | Rejected | None:
        """A task's state, asked a few times over passing trouble; the Rejected of a task the
        server does not know; None when no readable answer came."""
        for tries in range(3):
            try:
                state = await self.client.query(task_id)
            except Rejected as exc:
                if classify(exc.code) is Kind.AUTH:
                    raise AuthError(f"the API key was refused ({exc})") from None
                if exc.code in NOT_FOUND_CODES:
                    return exc
                return None
            except Transient as exc:
                self._call_failed(exc)
                if await self._pause(backoff(tries, cap=self._cap)):
                    return None
                continue
            except ProtocolError:
                return None
            self._answered()
            return state
        return None

    async def _submit(
        self, row: JobRow, sent: dict[str, Any], sources: dict[str, Any]
    ) -> tuple[int, TaskState, float] | None:
        """Submit until a task exists: (attempt, its state, the clock time it was sent).
        None when the job ended (failed, unknown) or the run is stopping; the store then
        says which."""
        tries = 0
        while True:
            if self.closed.is_set():
                return None  # the job stays pending for the next run
            hook = self.options.webhook_url
            token = secrets.token_urlsafe(12) if hook else None
            attempt = self.store.begin_attempt(row.id, sent, sources, hook=token)
            await self._durable()  # the intent is on disk before the request goes out
            if not self.lost.open:  # the account's counts are being read: hold the submit
                await _first(self.lost.gate(), self.closed)
                if self.closed.is_set():
                    self.store.not_submitted(row.id, attempt, "STOPPED", "the run stopped")
                    return None
            body = {**sent, "webhookUrl": f"{hook}{token}"} if hook else sent  # never stored
            began = self._clock()
            try:
                with self.watcher.sending():
                    state = await self.client.submit(row.endpoint, body)
            except Rejected as exc:
                self._answered()
                self.store.not_submitted(row.id, attempt, exc.code, exc.text)
                kind = classify(exc.code)
                if kind is Kind.AUTH:
                    raise AuthError(f"the API key was refused ({exc})") from None
                if kind is Kind.FUNDS:
                    raise FundsError(f"the account cannot pay for more tasks ({exc})") from None
                if kind is Kind.BACKPRESSURE:
                    self.limiter.backpressure()
                    wait = wait_for(exc.retry_after, tries, cap=self._cap)
                    self._emit("backpressure", job=row.id, code=exc.code, wait=round(wait, 3))
                    if await self._pause(wait, or_freed=True, until=self.closed):
                        return None
                    tries = min(tries + 1, 8)
                    continue
                if kind is Kind.RETRY and tries < SUBMIT_TRIES:
                    wait = backoff(tries, cap=self._cap)
                else:
                    self._fail(row, exc.code, exc.text or str(exc))
                    return None
            except Transient as exc:  # nothing was made: the job waits, and is never failed
                self.store.not_submitted(row.id, attempt, "NETWORK", str(exc))
                if exc.retry_after is not None:  # a 429 or 503: the server is pushing back
                    self._answered()
                    self.limiter.backpressure()
                else:
                    self._call_failed(exc)
                wait = wait_for(exc.retry_after, min(tries, 8), cap=self._cap)
            except OutcomeUnknown as exc:
                found = await self._judge_lost(row, attempt, exc, began)
                if found is not None:
                    return found
                if self.store.job(row.id).status is not JobStatus.PENDING:
                    return None  # left unknown
                if tries >= SUBMIT_TRIES:  # every answer lost, and no task made each time
                    self._fail(row, "LOST", f"{SUBMIT_TRIES} submits lost their answer: {exc}")
                    return None
                wait = backoff(tries, cap=self._cap)  # it made no task: send it again
            else:
                self._answered()
                self.store.record_task(row.id, attempt, state.task_id, state.status.value)
                self.limiter.accepted()
                self._emit("submitted", job=row.id, task=state.task_id)
                return attempt, state, began
            tries += 1
            if await self._pause(wait, until=self.closed):
                return None

    async def _judge_lost(
        self, row: JobRow, attempt: int, exc: OutcomeUnknown, began: float
    ) -> tuple[int, TaskState, float] | None:
        """A submit whose answer was lost: adopt its task, send again, or leave it unknown."""
        self._emit("lost_reply", job=row.id, reason=str(exc))
        left = self.options.timeout - (self._clock() - began)
        verdict = await self.lost.judge(row.id, attempt, row.endpoint, exc, began, left)
        if verdict.made is False:
            self.store.not_submitted(row.id, attempt, "LOST", f"{exc}; {verdict.reason}")
            self._emit("resend", job=row.id, reason=verdict.reason)
            return None
        if verdict.made and verdict.state is not None:
            state = verdict.state
            self.store.record_task(row.id, attempt, state.task_id, state.status.value)
            self._emit("adopted", job=row.id, task=state.task_id)
            return attempt, state, began
        self.store.mark_unknown(row.id, f"the submit's answer was lost ({exc}); {verdict.reason}")
        self._emit("unknown", job=row.id, reason=str(exc))
        return None

    async def _follow(
        self, row: JobRow, attempt: int, state: TaskState, started: float, *, resumed: bool
    ) -> TaskState | None:
        """Wait for the task to end (``watch.py`` says when to look). None when the job
        ended otherwise (unknown, failed at its timeout) or the run is stopping."""
        self.watcher.add(state.task_id, row.endpoint, sent=started, resumed=resumed)
        final: TaskState | None = None
        try:
            final = await self._track(row, attempt, state, started)
            return final
        finally:
            self.watcher.done(state.task_id, ended=final is not None)

    async def _track(
        self, row: JobRow, attempt: int, state: TaskState, started: float
    ) -> TaskState | None:
        polls = failures = unreadable = 0
        task_id, last = state.task_id, state.status
        while not state.status.terminal and not _failed_early(state):
            elapsed = self._clock() - started
            left = self.options.timeout - elapsed
            if left <= 0:
                return await self._overdue(row, attempt, task_id)
            delay = self.watcher.fallback(row.endpoint, elapsed, polls, self._safety_net)
            if failures:
                delay = max(delay, backoff(min(failures, 6), cap=self._cap))
            if unreadable:  # ask again soon: the next answer may be readable
                delay = min(delay, backoff(unreadable, cap=self._cap))
            woke = await self._wait(task_id, min(delay, left))
            if woke is _STOPPED:
                return None
            if isinstance(woke, TaskState):  # a webhook brought the final state
                state = woke
                continue
            if self._clock() - started >= self.options.timeout:
                continue
            try:
                state = await self.client.query(task_id)
            except Transient as exc:
                failures += 1
                self._call_failed(exc)
                continue
            except Rejected as exc:
                if classify(exc.code) is Kind.AUTH:
                    raise AuthError(f"the API key was refused ({exc})") from None
                if exc.code in NOT_FOUND_CODES:
                    self._unknown(row, f"RunningHub no longer knows task {task_id} ({exc})")
                    return None
                unreadable += 1
                problem: ApiError = exc
            except ProtocolError as exc:
                unreadable += 1
                problem = exc
            else:
                self._answered()
                failures = unreadable = 0
                polls += 1
                if not state.status.terminal:
                    self.watcher.checked(task_id)
                if state.status is not last:
                    last = state.status
                    self.store.record_remote(row.id, state.status.value)
                continue
            self._answered()
            if unreadable >= UNREADABLE_TRIES:
                self._unknown(row, f"the answers about task {task_id} cannot be read: {problem}")
                return None
        self.schedule.observe(row.endpoint, self._clock() - started)
        return state

    async def _overdue(self, row: JobRow, attempt: int, task_id: str) -> TaskState | None:
        """A task past the job's timeout: ask once more (it may have ended), else cancel it
        and confirm the cancel. The job fails only if the task is seen cancelled."""
        state = await self._ask(task_id)
        if isinstance(state, TaskState) and (state.status.terminal or _failed_early(state)):
            return state
        asked = False
        for tries in range(3):
            try:
                asked = await self.client.cancel(task_id)
                self._answered()
                break
            except Transient as exc:
                self._call_failed(exc)
                if await self._pause(backoff(tries, cap=self._cap)):
                    return None
            except (Rejected, ProtocolError):
                break
        for tries in range(CONFIRM_TRIES):
            state = await self._ask(task_id)
            if isinstance(state, TaskState) and state.status is RemoteStatus.CANCEL:
                message = (
                    f"no final status after {self.options.timeout:g} s; "
                    "the task was cancelled (confirmed)"
                )
                self.store.end_attempt(row.id, attempt, "CANCEL", "TIMEOUT", message, retry=False)
                self._report_failed(row.id, "TIMEOUT", message)
                return None
            if isinstance(state, TaskState) and (state.status.terminal or _failed_early(state)):
                return state  # it ended meanwhile: take it as it is
            if await self._pause(self.options.poll_interval * (tries + 1) / 2):
                return None
        how = "its cancel was not confirmed" if asked else "it could not be cancelled"
        self._unknown(
            row,
            f"task {task_id} had no final status after {self.options.timeout:g} s and {how}; "
            "the next run asks again (`rhbatch cancel` asks to stop it)",
        )
        return None

    async def _wait(self, task_id: str, seconds: float) -> TaskState | str | object | None:
        """The watcher's word on a task (final state, CHECK, or None after ``seconds``), or
        _STOPPED if the run stops first."""
        if self.stopping.is_set():
            return _STOPPED
        watch = asyncio.ensure_future(self.watcher.wait(task_id, seconds))
        if not await _first(watch, self.stopping):
            return _STOPPED
        return watch.result()

    @property
    def _safety_net(self) -> float:
        """The longest a task goes unchecked while the counts or webhooks watch over it."""
        return 60 * self.options.poll_interval

    def _succeeded(self, row: JobRow, attempt: int, state: TaskState) -> None:
        """The task succeeded (paid): record it, then fetch the results now (URLs expire)."""
        done = not self.options.download
        self.store.record_success(
            row.id, attempt, result_records(state.results), dict(state.usage), state.cost, done=done
        )
        self._emit("task_succeeded", job=row.id, task=state.task_id, cost=state.cost)
        if done:
            self._emit("succeeded", job=row.id, cost=state.cost)
        else:
            self._spawn(self._fetch(self.store.job(row.id)))

    def _task_failed(self, row: JobRow, attempt: int, state: TaskState) -> bool:
        """Record a task that ended without success; True if the job is to be resubmitted."""
        code = state.error_code or state.status.value
        message = state.error_message or f"the task ended {state.status.value}"
        kind = classify(code)
        if kind is Kind.AUTH:
            raise AuthError(f"the API key was refused ({code}: {message})")
        retry = kind is Kind.RETRY and attempt - row.first_attempt < self.options.retries
        self.store.end_attempt(row.id, attempt, state.status.value, code, message, retry=retry)
        self._emit("task_failed", job=row.id, task=state.task_id, code=code)
        if retry:
            self._emit("retry", job=row.id, code=code, attempt=attempt)
        else:
            self._report_failed(row.id, code, message)
        return retry

    def _unknown(self, row: JobRow, message: str) -> None:
        self.store.mark_unknown(row.id, message)
        self._emit("unknown", job=row.id, reason=message)

    def _fail(self, row: JobRow, code: str, message: str) -> None:
        self.store.fail(row.id, code, message)
        self._report_failed(row.id, code, message)

    def _report_failed(self, job_id: str, code: str, message: str) -> None:
        self._emit("failed", job=job_id, code=code, message=message)

    def _broken(self, job_id: str, exc: Exception) -> None:
        """A fault of rhbatch in one job: log it, and leave the job in the state that tells
        the truth about its money; the run goes on."""
        where = logfile.record(f"job {job_id}", exc)
        text = clean(f"internal error: {type(exc).__name__}: {exc}", 300)
        if where is not None:
            text += f" (details in {where})"
        row = self.store.job(job_id)
        if row.status in (JobStatus.RUNNING, JobStatus.SUBMITTING):
            self._unknown(row, text)
        elif row.status is JobStatus.DOWNLOADING:
            self.store.unfetched(job_id, text)
            self._emit("unfetched", job=job_id, message=text)
        elif row.status is JobStatus.PENDING:
            self._fail(row, "INTERNAL", text)
        else:
            self.store.note(job_id, "INTERNAL", text)

    async def _fetch(self, row: JobRow) -> None:
        try:
            await self.fetcher.fetch(row)
        except FatalError as exc:
            self._halt(exc)
        except Exception as exc:  # a fault of rhbatch: this job's alone
            self._broken(row.id, exc)
        finally:
            self._dirty = True

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
            self.store.record_task(job_id, attempt, state.task_id, state.status.value)
            self._emit("adopted", job=job_id, task=state.task_id)
            if self._tg is not None and not self.stopping.is_set():
                self._spawn(self._adopted(job_id, attempt, state))
        elif known is None:
            self.store.settle(job_id, attempt, state.task_id, state.status.value)
        return True

    async def _adopted(self, job_id: str, attempt: int, state: TaskState) -> None:
        row = self.store.job(job_id)
        try:
            if state.status is RemoteStatus.SUCCESS:
                self._succeeded(row, attempt, state)
            elif self._task_failed(row, attempt, state):
                await self._job_again(job_id)
        except FatalError as exc:
            self._halt(exc)
        except Exception as exc:  # a fault of rhbatch: this job's alone
            self._broken(job_id, exc)
        finally:
            self._dirty = True

    # --- bookkeeping ----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._tg is not None
        self._tg.create_task(coro)

    def _emit(self, event: str, **fields: Any) -> None:
        self.report.running = self.limiter.in_flight
        self.report.emit(event, **fields)

    async def _keep_manifest(self) -> None:
        """Rewrite the manifest within seconds of a change, spending at most ~5% of the time
        on it; a manifest that cannot be written stops the run."""
        every = self.options.manifest_every
        while True:
            await self._sleep(every)
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
        try:
            write_manifest(self.store, self.out_dir)
        except OSError as exc:
            raise StateError(
                f"cannot write the manifest in {self.out_dir}: {exc.strerror}"
            ) from None


_STOPPED = object()


async def _first(
    work: Awaitable[Any], event: asyncio.Event, other: asyncio.Future[None] | None = None
) -> bool:
    """Await ``work`` unless ``event`` is set (or ``other`` is done) first: True if ``work``
    finished (its exception, if any, is raised). What is left is cancelled; a
    cancellation of the caller propagates."""
    job = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(event.wait())
    waits: set[asyncio.Future[Any]] = {job, stop}
    if other is not None:
        waits.add(other)
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not job.done():
            job.cancel()
    if not job.done() or job.cancelled():
        return False
    job.result()  # raises what ``work`` raised
    return True


def _failed_early(state: TaskState) -> bool:
    """An error code on a task that does not say FAILED still ends it (unless it means wait)."""
    return bool(state.error_code) and classify(state.error_code) is not Kind.WAIT


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[-1] if ": " in text else text
