"""One job's way through a run: earlier tasks, uploads, submit, its task's end, retries.

A job runs holding a slot of the limiter (taken by the run loop). Every step is
written to the store before the next: the intent before the submit (with the
attempt's webhook token), the task id when it arrives, the outcome. Before a
job is sent again, every earlier task of it that might still succeed is asked
about (one that did is taken, one still running is followed). A submit whose
answer is lost is judged (``lost.py``): its task adopted, the job sent again
when the account's counts prove no task was made, else left ``unknown``.
Back-pressure waits and lowers the number in flight; a retryable task failure
is submitted again up to ``retries`` times; what cannot be retried fails the
job. A fault of rhbatch itself in a job is that job's alone: logged, and the
job left in the state that is true about its money.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from rhbatch import logfile
from rhbatch.errors import (
    AuthError,
    FatalError,
    FundsError,
    NoConnection,
    OutcomeUnknown,
    Rejected,
    SpendCapReached,
    Transient,
)
from rhbatch.models import JobRow, JobStatus, RemoteStatus, TaskState, running_state
from rhbatch.redact import clean
from rhbatch.runner.budget import Admit
from rhbatch.runner.crew import Crew
from rhbatch.runner.fetch import result_records
from rhbatch.runner.follow import ask, follow
from rhbatch.runner.retry import Kind, backoff, classify, wait_for
from rhbatch.runner.uploads import UploadFailed
from rhbatch.store.ledger import LedgerRefused

SUBMIT_TRIES = 12  # refusals with a server-error code before a job is given up (nothing paid)

Submitted = tuple[int, TaskState, float]  # attempt, the task as last seen, clock time of submit


class JobRun:
    def __init__(self, crew: Crew, row: JobRow) -> None:
        self.crew, self.row = crew, row
        self._sent: tuple[dict[str, Any], dict[str, Any]] | None = None  # body, local sources

    async def run(self, *, resume: bool = False) -> None:
        """The job, holding a slot: follow its task (``resume``), or verify its earlier
        tasks and submit; then retry as its failures allow, and fetch its results."""
        crew = self.crew
        slot = True
        try:
            row = self.row
            current: Submitted | None = None
            if resume and row.task_id:
                current = (row.attempts, running_state(row.task_id), self.since(row.submitted_at))
            while not crew.closed.is_set() or current is not None:
                if current is None and row.attempts:
                    current = await self._earlier_task()
                if current is None:
                    current = await self._submit()
                    if current is None:
                        return
                attempt, state, started = current
                current = None
                final = await follow(crew, row, attempt, state, started, resumed=resume)
                resume = False
                if final is None:
                    return
                if final.status is RemoteStatus.SUCCESS:
                    crew.limiter.release()
                    slot = False
                    self.succeeded(attempt, final)
                    return
                if not self.task_failed(attempt, final):
                    return
                row = self.row = crew.store.job(row.id)
                wait = backoff(attempt - row.first_attempt, cap=crew.cap)
                if await crew.pause(wait, until=crew.closed):
                    return
        except FatalError as exc:
            crew.halt(exc)
        except Exception as exc:  # a fault of rhbatch: this job's alone
            self.broken(exc)
        finally:
            if slot:
                crew.limiter.release()
            self._budget_done()

    def _budget_done(self) -> None:
        """What the job's task holds against the spending cap, once the job stops here: kept
        if the task may still be billed (its outcome unknown, or still running), else let go."""
        budget = self.crew.budget
        if not budget.holding(self.row.id):
            return
        status = self.crew.store.job(self.row.id).status
        if status in (JobStatus.UNKNOWN, JobStatus.RUNNING, JobStatus.SUBMITTING):
            budget.keep(self.row.id)
        else:
            budget.release(self.row.id)

    def since(self, submitted_at: float | None) -> float:
        """The clock time of a submit made at Unix time ``submitted_at`` (maybe by an earlier
        run), so that its timeout counts from then."""
        now = self.crew.clock.now()
        if submitted_at is None:
            return now
        return now - max(0.0, time.time() - submitted_at) * self.crew.clock.speed

    # --- before a submit -----------------------------------------------------------------

    async def _earlier_task(self) -> Submitted | None:
        """An earlier task of the job that may still succeed (or has): it is followed
        instead of a new submit. Tasks found failed meanwhile are settled."""
        crew, row = self.crew, self.row
        for attempt, task_id, started_at in crew.store.unsettled(row.id):
            state = await ask(crew, task_id, row.endpoint)
            if isinstance(state, Rejected):  # the server knows no such task now
                crew.store.settle(row.id, attempt, task_id, "NOTFOUND")
                continue
            if state is not None and state.status in (RemoteStatus.FAILED, RemoteStatus.CANCEL):
                crew.store.settle(row.id, attempt, task_id, state.status.value)
                continue
            status = state.status.value if state is not None else "RUNNING"
            crew.store.record_task(row.id, attempt, task_id, status)
            crew.emit("followed", job=row.id, task=task_id, attempt=attempt)
            return attempt, state or running_state(task_id), self.since(started_at)
        return None

    async def _body(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The body to send (local files uploaded) and its sources; None when the job
        cannot be sent (it failed) or the run stops."""
        crew, tries = self.crew, 0
        while self._sent is None:
            try:
                params, taken = self.row.params, dict[str, Any]()
                if self.row.uses:  # the results of the jobs it uses, filled in now
                    params, taken = await crew.inputs.resolve(self.row)
                sent, sources = await crew.uploader.resolve(self.row.endpoint, params)
                self._sent = sent, {**sources, **taken}
            except UploadFailed as exc:
                self.fail(exc.code, str(exc))
                return None
            except NoConnection as exc:
                crew.health.failed(exc)
                if await crew.pause(backoff(tries, cap=crew.cap), until=crew.closed):
                    return None
                tries += 1
        return self._sent

    # --- the submit ------------------------------------------------------------------------

    async def _submit(self) -> Submitted | None:
        """Submit until a task exists. None when the job ended (failed, unknown) or the run
        is stopping; the store then says which."""
        crew, row = self.crew, self.row
        body = await self._body()
        if body is None:
            return None
        sent, sources = body
        tries = 0
        while True:
            if crew.closed.is_set() or not await self._within_budget():
                return None  # the job stays pending for the next run
            hook = crew.options.webhook_url
            token = secrets.token_urlsafe(12) if hook else None
            attempt = crew.store.begin_attempt(row.id, sent, sources, hook=token)
            try:  # the intent is on disk (and in the bucket's ledger) before the request
                await crew.durable()
            except LedgerRefused:  # the run stops (told by the loop); nothing was sent
                crew.store.not_submitted(row.id, attempt, "STOPPED", "the run stopped")
                return None
            if not crew.lost.open:  # the account's counts are being read: hold the submit
                await crew.clock.first(crew.lost.gate(), until=crew.closed)
                if crew.closed.is_set():
                    crew.store.not_submitted(row.id, attempt, "STOPPED", "the run stopped")
                    return None
            mine = hook and "webhookUrl" not in sent  # a job's own webhookUrl is left alone
            request = {**sent, "webhookUrl": f"{hook}{token}"} if mine else sent  # never stored
            began = crew.clock.now()
            try:
                with crew.watcher.sending():
                    state = await crew.client.submit(row.endpoint, request)
            except Rejected as exc:
                crew.health.answered()
                crew.store.not_submitted(row.id, attempt, exc.code, exc.text)
                wait = self._refused(exc, tries)
                if wait is None:
                    return None
                if classify(exc.code) is Kind.BACKPRESSURE:
                    if await crew.pause(wait, or_freed=True, until=crew.closed):
                        return None
                    tries = min(tries + 1, 8)
                    continue
            except Transient as exc:  # nothing was made: the job waits, and is never failed
                crew.store.not_submitted(row.id, attempt, "NETWORK", str(exc))
                if exc.retry_after is not None:  # a 429 or 503: the server is pushing back
                    crew.health.answered()
                    crew.limiter.backpressure()
                else:
                    crew.health.failed(exc)
                wait = wait_for(exc.retry_after, min(tries, 8), cap=crew.cap)
            except OutcomeUnknown as exc:
                found = await self._judge_lost(attempt, exc, began)
                if found is not None:
                    return found
                if crew.store.job(row.id).status is not JobStatus.PENDING:
                    return None  # left unknown
                if tries >= SUBMIT_TRIES:  # every answer lost, and no task made each time
                    self.fail("LOST", f"{SUBMIT_TRIES} submits lost their answer: {exc}")
                    return None
                wait = backoff(tries, cap=crew.cap)  # it made no task: send it again
            else:
                crew.health.answered()
                crew.store.record_task(row.id, attempt, state.task_id, state.status.value)
                crew.limiter.accepted()
                crew.emit("submitted", job=row.id, task=state.task_id)
                return attempt, state, began
            tries += 1
            if await crew.pause(wait, until=crew.closed):
                return None

    async def _within_budget(self) -> bool:
        """Hold the job's price against the spending cap: False (and the run stops
        submitting) when it would cross it."""
        crew, row = self.crew, self.row
        while True:
            verdict = crew.budget.admit(row.id, row.endpoint, row.quoted)
            if verdict is Admit.GO:
                return True
            if verdict is Admit.FULL:
                crew.halt(SpendCapReached(self._at_cap()))
                return False
            await crew.clock.first(crew.budget.changed.wait(), until=crew.closed)
            if crew.closed.is_set():
                return False

    def _at_cap(self) -> str:
        budget = self.crew.budget
        return (
            f"the next job ({self.row.id}, quoted {self.row.quoted or 0:,.2f} CNY) would take "
            f"the batch past its spending cap of {budget.cap or 0:,.2f} CNY "
            f"({budget.billed:,.2f} billed, {budget.held:,.2f} held by tasks in flight)"
        )

    def _refused(self, exc: Rejected, tries: int) -> float | None:
        """What a refused submit means: how long to wait before the next try, or None when
        the job failed (or the run must stop: raised)."""
        crew, kind = self.crew, classify(exc.code)
        if kind is Kind.AUTH:
            raise AuthError.refused(exc)
        if kind is Kind.FUNDS:
            raise FundsError(f"the account cannot pay for more tasks ({exc})")
        if kind is Kind.BACKPRESSURE:
            crew.limiter.backpressure()
            wait = wait_for(exc.retry_after, tries, cap=crew.cap)
            crew.emit("backpressure", job=self.row.id, code=exc.code, wait=round(wait, 3))
            return wait
        if kind is Kind.RETRY and tries < SUBMIT_TRIES:
            return backoff(tries, cap=crew.cap)
        self.fail(exc.code, exc.text or str(exc))
        return None

    async def _judge_lost(
        self, attempt: int, exc: OutcomeUnknown, began: float
    ) -> Submitted | None:
        """A submit whose answer was lost: adopt its task, send again, or leave it unknown."""
        crew, row = self.crew, self.row
        crew.emit("lost_reply", job=row.id, reason=str(exc))
        left = crew.options.timeout - (crew.clock.now() - began)
        verdict = await crew.lost.judge(row.id, attempt, row.endpoint, exc, began, left)
        if verdict.made is False:
            crew.store.not_submitted(row.id, attempt, "LOST", f"{exc}; {verdict.reason}")
            crew.emit("resend", job=row.id, reason=verdict.reason)
            return None
        if verdict.made and verdict.state is not None:
            state = verdict.state
            crew.store.record_task(row.id, attempt, state.task_id, state.status.value)
            crew.emit("adopted", job=row.id, task=state.task_id)
            return attempt, state, began
        crew.unknown(row.id, f"the submit's answer was lost ({exc}); {verdict.reason}")
        return None

    # --- outcomes ------------------------------------------------------------------------------

    def succeeded(self, attempt: int, state: TaskState) -> None:
        """The task succeeded (paid): record it, then fetch the results now (URLs expire)."""
        crew = self.crew
        done = not crew.options.download
        results = result_records(state.results)
        crew.store.record_success(
            self.row.id, attempt, results, dict(state.usage), state.cost, done=done
        )
        crew.budget.settle(self.row.id, state.cost)
        crew.emit("task_succeeded", job=self.row.id, task=state.task_id, cost=state.cost)
        if done:
            crew.emit("succeeded", job=self.row.id, cost=state.cost)
        else:
            crew.fetch(self.row.id)

    def task_failed(self, attempt: int, state: TaskState) -> bool:
        """Record a task that ended without success; True if the job is to be resubmitted."""
        crew, row = self.crew, self.row
        code = state.error_code or state.status.value
        message = state.error_message or f"the task ended {state.status.value}"
        kind = classify(code)
        if kind is Kind.AUTH:
            raise AuthError.refused(f"{code}: {message}")
        retry = kind is Kind.RETRY and attempt - row.first_attempt < crew.options.retries
        crew.store.end_attempt(row.id, attempt, state.status.value, code, message, retry=retry)
        crew.budget.settle(row.id, 0.0)  # a task that did not succeed is not billed
        crew.emit("task_failed", job=row.id, task=state.task_id, code=code)
        if retry:
            crew.emit("retry", job=row.id, code=code, attempt=attempt)
        else:
            crew.failed(row.id, code, message)
        return retry

    def fail(self, code: str, message: str) -> None:
        """Fail the job: nothing was sent (or nothing of it was made)."""
        self.crew.store.fail(self.row.id, code, message)
        self.crew.failed(self.row.id, code, message)

    def broken(self, exc: Exception) -> None:
        """A fault of rhbatch in this job: log it, and leave the job in the state that tells
        the truth about its money; the run goes on."""
        crew, job_id = self.crew, self.row.id
        where = logfile.record(f"job {job_id}", exc)
        text = clean(f"internal error: {type(exc).__name__}: {exc}", 300)
        if where is not None:
            text += f" (details in {where})"
        status = crew.store.job(job_id).status
        if status in (JobStatus.RUNNING, JobStatus.SUBMITTING):
            crew.unknown(job_id, text)
        elif status is JobStatus.DOWNLOADING:
            crew.store.unfetched(job_id, text)
            crew.emit("unfetched", job=job_id, message=text)
        elif status is JobStatus.PENDING:
            self.fail("INTERNAL", text)
        else:
            crew.store.note(job_id, "INTERNAL", text)


async def adopted(crew: Crew, job_id: str, attempt: int, state: TaskState) -> None:
    """A task made by a lost submit announced its end by webhook: take it as the job's."""
    job = JobRun(crew, crew.store.job(job_id))
    try:
        if state.status is RemoteStatus.SUCCESS:
            job.succeeded(attempt, state)
        elif job.task_failed(attempt, state) and await crew.take_slot():
            await JobRun(crew, crew.store.job(job_id)).run()
    except FatalError as exc:
        crew.halt(exc)
    except Exception as exc:  # a fault of rhbatch: this job's alone
        job.broken(exc)
