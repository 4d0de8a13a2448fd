"""The batch: submit under a limit, poll, retry by class, download, and stop cleanly.

``Runner.run`` works through the pending jobs of a store in spec order. A job
takes a slot of the ``Limiter`` before its submit and gives it back when its
task ends, before the download, so the next job starts the moment a task ends.
Coroutines exist only for jobs in flight and downloads: memory does not grow
with the number of pending jobs.

Every step is written to the store before the next: the intent before the
submit, the task id when it arrives, the outcome, each file. A submit whose
answer is lost is never sent again on a guess: the job becomes ``unknown``.
Back-pressure waits and lowers the number in flight; retryable task failures
are resubmitted up to ``retries`` times; auth and funds errors stop the run,
keeping everything done. Stopping (Ctrl-C, or a fatal error) lets submits that
are on the wire finish, so their task ids are recorded, and leaves tasks
running remotely for the next run to pick up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhbatch import downloads
from rhbatch.client import Client, RemoteStatus, Result, TaskState
from rhbatch.errors import (
    AuthError,
    FatalError,
    FundsError,
    OutcomeUnknown,
    ProtocolError,
    Rejected,
    StateError,
    Transient,
)
from rhbatch.limiter import Limiter
from rhbatch.manifest import write_manifest
from rhbatch.naming import output_name
from rhbatch.progress import Reporter
from rhbatch.retry import Kind, backoff, classify, wait_for
from rhbatch.schedule import Schedule
from rhbatch.schemas import Registry
from rhbatch.state import JobRow, JobStatus, OutputRow, Store
from rhbatch.uploads import Uploader, UploadFailed
from rhbatch.watch import Watcher

SUBMIT_TRIES = 12  # transient troubles before a job is given up as not submitted
DOWNLOAD_TRIES = 8
QUERY_FAILURES = 30  # consecutive failed queries before the job is reported failed


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
    webhook_url: str | None = None  # sent with each submit when a receiver listens
    manifest_every: float = 2.0


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
        self.downloads = asyncio.Semaphore(options.download_concurrency)
        self.uploader = Uploader(
            client,
            store,
            registry,
            base_dir,
            sleep=sleep,
            on_upload=lambda path, size: self._emit("uploaded", path=path, bytes=size),
        )
        self.stopping = asyncio.Event()  # set: everything winds down now (Ctrl-C, a rejected key)
        self.closed = asyncio.Event()  # set: no new submits; tasks in flight go on (no money)
        self.fatal: FatalError | None = None
        self._dirty = True
        self._tg: asyncio.TaskGroup | None = None
        self._commit_due: asyncio.Future[None] | None = None

    # --- the whole run ---------------------------------------------------------------

    async def run(self) -> None:
        """Run every pending job; resume running and downloading ones. Raises the fatal
        error that stopped the run, if one did."""
        keeper = asyncio.create_task(self._keep_manifest())
        counts = asyncio.create_task(self.watcher.run())
        loop = asyncio.get_running_loop()
        self.store.grouped(lambda: self._commit_soon(loop))
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for row in self.store.jobs(JobStatus.RUNNING):
                    self.limiter.take()
                    self._spawn(self._resume(row))
                for row in self.store.jobs(JobStatus.DOWNLOADING):
                    self._spawn(self._download(row))
                await self._produce()
        finally:
            self.watcher.stop()
            self._emit("watched", **self.watcher.counters)
            for task in (keeper, counts):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.store.grouped(None)
        self.write_manifest()
        if self.fatal is not None:
            raise self.fatal

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
        get = asyncio.ensure_future(self.limiter.acquire())
        stop = asyncio.ensure_future(self.closed.wait())
        await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not get.done():
            get.cancel()
        try:
            await get
        except asyncio.CancelledError:
            return False
        if self.closed.is_set():
            self.limiter.release()
            return False
        return True

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
        stop = asyncio.ensure_future(until.wait())
        waits: set[asyncio.Future[Any]] = {stop}
        if or_freed and self.limiter.in_flight > 1:  # another task of ours will end, making room
            waits.add(self.limiter.freed())
        await asyncio.wait(waits, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
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

    # --- one job -----------------------------------------------------------------------

    async def _job(self, row: JobRow) -> None:
        released = False
        try:
            try:
                sent, sources = await self.uploader.resolve(row.endpoint, row.params)
            except UploadFailed as exc:
                self._fail(row, exc.code, str(exc))
                return
            while not self.closed.is_set():
                submitted = await self._submit(row, sent, sources)
                if submitted is None:
                    return
                attempt, first = submitted
                final = await self._poll(row, attempt, first, self._clock())
                if final is None:
                    return
                if final.status is RemoteStatus.SUCCESS:
                    self._succeeded_task(row, attempt, final)
                    self.limiter.release()
                    released = True
                    self._after_success(row.id, final.cost)
                    return
                if not self._task_failed(row, attempt, final):
                    return
                if await self._pause(backoff(attempt - 1, cap=self._cap), until=self.closed):
                    return
        except FatalError as exc:
            self._halt(exc)
        except Exception as exc:  # a bug: keep the job's recorded state for the next run, stop
            self._halt(FatalError(f"internal error in job {row.id}: {exc!r}"))
        finally:
            if not released:
                self.limiter.release()
            self._dirty = True

    async def _resume(self, row: JobRow) -> None:
        """A task that was running when an earlier run stopped: poll it, never resubmit."""
        try:
            assert row.task_id is not None
            state = running_state(row.task_id)
            final = await self._poll(row, row.attempts, state, self._clock())
            if final is None:
                return
            if final.status is RemoteStatus.SUCCESS:
                self._succeeded_task(row, row.attempts, final)
                self._after_success(row.id, final.cost)
            elif self._task_failed(row, row.attempts, final):
                self._emit("retry", job=row.id, code=final.error_code)
                # Back to pending: the producer may already be past it, so run it here.
                self._spawn(self._job_again(row.id))
        except FatalError as exc:
            self._halt(exc)
        finally:
            self.limiter.release()
            self._dirty = True

    async def _job_again(self, job_id: str) -> None:
        if await self._acquire():
            await self._job(self.store.job(job_id))

    def _after_success(self, job_id: str, cost: float) -> None:
        """Fetch the results now (their URLs expire); without downloads the job is done."""
        if self.options.download:
            self._spawn(self._download(self.store.job(job_id)))
        else:
            self._emit("succeeded", job=job_id, cost=cost)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._tg is not None
        self._tg.create_task(coro)

    def _emit(self, event: str, **fields: Any) -> None:
        self.report.running = self.limiter.in_flight
        self.report.emit(event, **fields)

    async def _submit(
        self, row: JobRow, sent: dict[str, Any], sources: dict[str, Any]
    ) -> tuple[int, TaskState] | None:
        """Submit until a task exists. None when the job ended (failed, unknown) or the
        run is stopping; the store then says which."""
        tries = 0
        while True:
            if self.closed.is_set():
                return None  # the job stays pending for the next run
            attempt = self.store.begin_attempt(row.id, sent, sources)
            await self._durable()  # the intent is on disk before the request goes out
            try:
                hook = self.options.webhook_url
                body = {**sent, "webhookUrl": hook} if hook else sent  # never stored: a secret
                self.watcher.submitting += 1
                try:
                    state = await self.client.submit(row.endpoint, body)
                finally:
                    self.watcher.submitting -= 1
            except Rejected as exc:
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
                elif kind is Kind.RETRY and tries < SUBMIT_TRIES:
                    wait = backoff(tries, cap=self._cap)
                else:
                    self._fail(row, exc.code, exc.text or str(exc))
                    return None
            except Transient as exc:
                self.store.not_submitted(row.id, attempt, "NETWORK", str(exc))
                if tries >= SUBMIT_TRIES:
                    self._fail(row, "NETWORK", f"could not submit: {exc}")
                    return None
                if exc.retry_after is not None:  # a 429 or 503: the server is pushing back
                    self.limiter.backpressure()
                wait = wait_for(exc.retry_after, tries, cap=self._cap)
            except (OutcomeUnknown, ProtocolError) as exc:
                self.store.mark_unknown(row.id, f"the submit's answer was lost: {exc}")
                self._emit("unknown", job=row.id, reason=str(exc))
                return None
            else:
                self.store.record_task(row.id, attempt, state.task_id, state.status.value)
                self.limiter.accepted()
                self._emit("submitted", job=row.id, task=state.task_id)
                return attempt, state
            tries += 1
            if await self._pause(wait, until=self.closed):
                return None

    async def _poll(
        self, row: JobRow, attempt: int, state: TaskState, started: float
    ) -> TaskState | None:
        """Wait for the task to end (``watch.py`` says when to look). None if the job ended
        otherwise (timeout, unreadable answers) or the run is stopping."""
        self.watcher.add(state.task_id, row.endpoint)
        try:
            return await self._follow(row, attempt, state, started)
        finally:
            self.watcher.done(state.task_id)

    async def _follow(
        self, row: JobRow, attempt: int, state: TaskState, started: float
    ) -> TaskState | None:
        polls = failures = 0
        last = state.status
        while not state.status.terminal and not _failed_early(state):
            elapsed = self._clock() - started
            left = self.options.timeout - elapsed
            if left <= 0:
                await self._give_up(row, attempt, state.task_id)
                return None
            delay = self.watcher.fallback(row.endpoint, elapsed, polls, self._safety_net)
            if failures:
                delay = max(delay, backoff(min(failures, 6), cap=self._cap))
            woke = await self._wait(state.task_id, min(delay, left))
            if woke is _STOPPED:
                return None
            if isinstance(woke, TaskState):  # a webhook brought the final state
                state = woke
                continue
            if self._clock() - started >= self.options.timeout:
                continue
            try:
                state = await self.client.query(state.task_id)
                failures = 0
            except Transient:
                failures += 1
                if failures >= QUERY_FAILURES:
                    message = "the task could not be queried"
                    self.store.end_attempt(row.id, attempt, "LOST", "QUERY", message, retry=False)
                    self._report_failed(row.id, "QUERY", message)
                    return None
                continue
            except Rejected as exc:
                if classify(exc.code) is Kind.AUTH:
                    raise AuthError(f"the API key was refused ({exc})") from None
                self.store.end_attempt(row.id, attempt, "LOST", exc.code, exc.text, retry=False)
                self._report_failed(row.id, exc.code, exc.text)
                return None
            except ProtocolError as exc:
                self.store.end_attempt(
                    row.id, attempt, "PROTOCOL", "PROTOCOL", str(exc), retry=False
                )
                self._report_failed(row.id, "PROTOCOL", str(exc))
                return None
            polls += 1
            if not state.status.terminal:
                self.watcher.checked(state.task_id)
            if state.status is not last:
                last = state.status
                self.store.record_remote(row.id, state.status.value)
        self.schedule.observe(row.endpoint, self._clock() - started)
        return state

    async def _wait(self, task_id: str, seconds: float) -> TaskState | str | object | None:
        """The watcher's word on a task (final state, CHECK, or None after ``seconds``), or
        _STOPPED if the run stops first."""
        if self.stopping.is_set():
            return _STOPPED
        watch = asyncio.ensure_future(self.watcher.wait(task_id, seconds))
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({watch, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not watch.done():
            watch.cancel()
            stop.cancel()
            return _STOPPED
        stop.cancel()
        return watch.result()

    @property
    def _safety_net(self) -> float:
        """The longest a task goes unchecked while the counts or webhooks watch over it."""
        return 60 * self.options.poll_interval

    async def _give_up(self, row: JobRow, attempt: int, task_id: str) -> None:
        """A task past the job's timeout: cancel it (best effort) and fail the job."""
        with contextlib.suppress(Transient, Rejected, ProtocolError):
            await self.client.cancel(task_id)
        message = f"no final status after {self.options.timeout:g} s; the task was cancelled"
        self.store.end_attempt(row.id, attempt, "TIMEOUT", "TIMEOUT", message, retry=False)
        self._report_failed(row.id, "TIMEOUT", message)

    def _succeeded_task(self, row: JobRow, attempt: int, state: TaskState) -> None:
        results = [
            {"url": r.url, "outputType": r.output_type, "text": r.text} for r in state.results
        ]
        self.store.record_success(
            row.id, attempt, results, dict(state.usage), state.cost, done=not self.options.download
        )
        self._emit("task_succeeded", job=row.id, task=state.task_id, cost=state.cost)

    def _task_failed(self, row: JobRow, attempt: int, state: TaskState) -> bool:
        """Record a task that ended without success; True if the job is to be resubmitted."""
        code = state.error_code or state.status.value
        message = state.error_message or f"the task ended {state.status.value}"
        kind = classify(code)
        if kind is Kind.AUTH:
            raise AuthError(f"the API key was refused ({code}: {message})")
        retry = kind is Kind.RETRY and attempt <= self.options.retries
        self.store.end_attempt(row.id, attempt, state.status.value, code, message, retry=retry)
        self._emit("task_failed", job=row.id, task=state.task_id, code=code)
        if retry:
            self._emit("retry", job=row.id, code=code, attempt=attempt)
        else:
            self._report_failed(row.id, code, message)
        return retry

    def _fail(self, row: JobRow, code: str, message: str) -> None:
        self.store.fail(row.id, code, message)
        self._report_failed(row.id, code, message)

    def _report_failed(self, job_id: str, code: str, message: str) -> None:
        self._emit("failed", job=job_id, code=code, message=message)

    # --- results ------------------------------------------------------------------------

    async def _download(self, row: JobRow) -> None:
        try:
            async with self.downloads:
                have = {o.n: o for o in self.store.outputs(row.id)}
                for n, item in enumerate(row.results, start=1):
                    if self.stopping.is_set():
                        return
                    result = Result(item.get("url"), item.get("outputType") or "", item.get("text"))
                    if n in have and intact(self.out_dir, have[n]):
                        continue
                    saved = await self._save(row, n, result)
                    if saved is None:
                        return
                self.store.finish(row.id)
                self._emit("succeeded", job=row.id, cost=row.cost or 0.0)
        except FatalError as exc:
            self._halt(exc)
        finally:
            self._dirty = True

    async def _save(self, row: JobRow, n: int, result: Result) -> OutputRow | None:
        ext = (
            result.output_type
            or _ext_of(result.url)
            or ("txt" if result.text is not None else "bin")
        )
        rel = output_name(
            self.options.naming,
            job_id=row.id,
            n=n,
            ext=ext,
            endpoint=row.endpoint,
            index=row.idx,
            params=row.params,
        )
        try:
            dest = downloads.safe_path(self.out_dir, rel)
        except ValueError as exc:
            self._fail(row, "PATH", str(exc))
            return None
        try:
            if result.text is not None and (result.url is None or ext == "txt"):
                saved: downloads.Saved | None = downloads.write_text(dest, result.text)
            else:
                saved = await self._fetch(row, n, result, dest)
            if saved is None:
                return None
        except OSError as exc:
            raise StateError(f"cannot write {dest}: {exc.strerror or exc}") from None
        out = OutputRow(n, result.url, rel, saved.bytes, saved.sha256, ext, dest.stat().st_mtime_ns)
        self.store.record_output(row.id, out)
        self._emit("downloaded", job=row.id, path=rel, bytes=saved.bytes)
        return out

    async def _fetch(
        self, row: JobRow, n: int, result: Result, dest: Path
    ) -> downloads.Saved | None:
        url = result.url or ""
        for attempt in range(DOWNLOAD_TRIES):
            try:
                return await downloads.fetch(self.client, url, dest)
            except Transient as exc:
                wait = wait_for(exc.retry_after, attempt, cap=self._cap)
            except Rejected as exc:
                if exc.code in ("HTTP403", "HTTP410") and row.task_id:
                    fresh = await self._fresh_url(row.task_id, n)
                    if fresh and fresh != url:
                        url = fresh
                        continue
                if exc.code != "HTTP404" or attempt == DOWNLOAD_TRIES - 1:
                    self._fail(row, "DOWNLOAD", f"result {n}: {exc}")
                    return None
                wait = backoff(attempt, cap=self._cap)  # not there yet: storage can lag
            if await self._pause(wait):
                return None
        self._fail(row, "DOWNLOAD", f"result {n} could not be downloaded")
        return None

    async def _fresh_url(self, task_id: str, n: int) -> str | None:
        with contextlib.suppress(Transient, Rejected, ProtocolError):
            state = await self.client.query(task_id)
            if len(state.results) >= n:
                return state.results[n - 1].url
        return None

    # --- the manifest ---------------------------------------------------------------------

    async def _keep_manifest(self) -> None:
        """Rewrite the manifest while jobs finish, spending at most ~5% of the time on it."""
        every = self.options.manifest_every
        while True:
            await asyncio.sleep(every)
            if self._dirty:
                self._dirty = False
                began = time.monotonic()
                self.write_manifest()
                every = max(self.options.manifest_every, 20 * (time.monotonic() - began))

    def write_manifest(self) -> None:
        try:
            write_manifest(self.store, self.out_dir)
        except OSError as exc:
            raise StateError(
                f"cannot write the manifest in {self.out_dir}: {exc.strerror}"
            ) from None


_STOPPED = object()


def running_state(task_id: str) -> TaskState:
    """What is known of a task resumed from the store before it is queried again."""
    return TaskState(
        task_id=task_id,
        status=RemoteStatus.RUNNING,
        error_code="",
        error_message="",
        results=(),
        usage={},
        cost=0.0,
        failed_reason={},
    )


def _failed_early(state: TaskState) -> bool:
    """An error code on a task that does not say FAILED still ends it (unless it means wait)."""
    return bool(state.error_code) and classify(state.error_code) is not Kind.WAIT


def intact(out_dir: Path, out: OutputRow) -> bool:
    try:
        info = (out_dir / out.path).stat()
    except OSError:
        return False
    return info.st_size == out.bytes and info.st_mtime_ns == out.mtime_ns


def _ext_of(url: str | None) -> str:
    if not url:
        return ""
    tail = url.split("?")[0].rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[-1].lower() if "." in tail else ""
