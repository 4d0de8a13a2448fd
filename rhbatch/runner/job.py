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
job left in the state that is true about its money (``outcomes.py``). A job
tells the run that its files are to be fetched by what ``run`` returns.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

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
from rhbatch.models import (
    JobRow,
    JobStatus,
    Outcome,
    RemoteStatus,
    TaskState,
    running_state,
)
from rhbatch.runner.budget import Admit, Budget
from rhbatch.runner.clock import Clock
from rhbatch.runner.crew import Calls, Crew, Records, Slots
from rhbatch.runner.follow import Submitted, ask, follow
from rhbatch.runner.outcomes import broken, fail, succeeded, task_failed
from rhbatch.runner.retry import Kind, backoff, classify, wait_for
from rhbatch.runner.uploads import UploadFailed
from rhbatch.store.ledger import LedgerRefused

SUBMIT_TRIES = 12  # refusals with a server-error code before a job is given up (nothing paid)


class JobRun:
    def __init__(self, crew: Crew, row: JobRow) -> None:
        self.crew, self.row = crew, row
        self._sent: tuple[dict[str, Any], dict[str, Any]] | None = None  # body, local sources

    async def run(self, *, resume: bool = False) -> bool:
        """The job, holding a slot: follow its task (``resume``), or verify its earlier
        tasks and submit; then retry as its failures allow. True when its task succeeded
        and its files are to be fetched (the run fetches them)."""
        crew = self.crew
        calls, records, limiter = crew.calls, crew.records, crew.slots.limiter
        closed = crew.slots.closed
        slot = True
        try:
            row = self.row
            current: Submitted | None = None
            if resume and row.task_id:
                started = since(calls.clock, row.submitted_at)
                current = (row.attempts, running_state(row.task_id), started)
            while not closed.is_set() or current is not None:
                if current is None and row.attempts:
                    current = await earlier_task(calls, records, row)
                if current is None:
                    current = await self._submit()
                    if current is None:
                        return False
                attempt = current[0]
                final = await follow(calls, records, crew.ends, row, current, resumed=resume)
                current, resume = None, False
                if final is None:
                    return False
                if final.status is RemoteStatus.SUCCESS:
                    limiter.release()
                    slot = False
                    return succeeded(
                        records, crew.budget, row.id, attempt, final, download=crew.download
                    )
                if not task_failed(records, crew.budget, row, attempt, final, retries=crew.retries):
                    return False
                row = self.row = records.store.job(row.id)
                wait = backoff(attempt - row.first_attempt, cap=calls.cap)
                if await calls.pause(wait, until=closed):
                    return False
        except FatalError as exc:
            crew.stops.halt(exc)
        except Exception as exc:  # a fault of rhbatch: this job's alone
            broken(records, self.row.id, exc)
        finally:
            if slot:
                limiter.release()
            budget_done(records, crew.budget, self.row.id)
        return False

    # --- before a submit -----------------------------------------------------------------

    async def _body(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The body to send (local files uploaded) and its sources; None when the job
        cannot be sent (it failed) or the run stops."""
        calls, sending, tries = self.crew.calls, self.crew.sending, 0
        while self._sent is None:
            try:
                params, taken = self.row.params, dict[str, Any]()
                if self.row.uses:  # the results of the jobs it uses, filled in now
                    params, taken = await sending.inputs.resolve(self.row)
                sent, sources = await sending.uploader.resolve(self.row.endpoint, params)
                self._sent = sent, {**sources, **taken}
            except UploadFailed as exc:
                fail(self.crew.records, self.row.id, exc.code, str(exc))
                return None
            except NoConnection as exc:
                calls.health.failed(exc)
                wait = backoff(tries, cap=calls.cap)
                if await calls.pause(wait, until=self.crew.slots.closed):
                    return None
                tries += 1
        return self._sent

    # --- the submit ------------------------------------------------------------------------

    async def _submit(self) -> Submitted | None:
        """Submit until a task exists. None when the job ended (failed, unknown) or the run
        is stopping; the store then says which."""
        crew, row = self.crew, self.row
        calls, records, sending, slots = crew.calls, crew.records, crew.sending, crew.slots
        store, closed, lost = records.store, slots.closed, sending.lost
        body = await self._body()
        if body is None:
            return None
        sent, sources = body
        # Not ``retrying``: each try is a new attempt written down before it is sent, and
        # the money rule holds here: a submit whose answer is lost is never sent again
        # unless it is proven to have made no task (else its task is adopted, or the job
        # left unknown). Refusals, back-pressure and passing trouble each wait their way.
        tries = 0
        while True:
            if closed.is_set() or not await within_budget(crew.budget, crew.stops.halt, slots, row):
                return None  # the job stays pending for the next run
            hook = sending.webhook_url
            token = secrets.token_urlsafe(12) if hook else None
            attempt = store.begin_attempt(row.id, sent, sources, hook=token)
            try:  # the intent is on disk (and in the bucket's ledger) before the request
                await sending.durable()
            except LedgerRefused:  # the run stops (told by the loop); nothing was sent
                store.not_submitted(row.id, attempt, "STOPPED", "the run stopped")
                return None
            if not lost.open:  # the account's counts are being read: hold the submit
                await calls.clock.first(lost.gate(), until=closed)
                if closed.is_set():
                    store.not_submitted(row.id, attempt, "STOPPED", "the run stopped")
                    return None
            mine = hook and "webhookUrl" not in sent  # a job's own webhookUrl is left alone
            request = {**sent, "webhookUrl": f"{hook}{token}"} if mine else sent  # never stored
            began = calls.clock.now()
            try:
                with crew.ends.watcher.sending():
                    state = await calls.client.submit(row.endpoint, request)
            except Rejected as exc:
                calls.health.answered()
                store.not_submitted(row.id, attempt, exc.code, exc.text)
                wait = self._refused(exc, tries)
                if wait is None:
                    return None
                if classify(exc.code) is Kind.BACKPRESSURE:
                    if await calls.pause(wait, until=closed, also=slots.freed()):
                        return None
                    tries = min(tries + 1, 8)
                    continue
            except Transient as exc:  # nothing was made: the job waits, and is never failed
                store.not_submitted(row.id, attempt, "NETWORK", str(exc))
                if exc.retry_after is not None:  # a 429 or 503: the server is pushing back
                    calls.health.answered()
                    slots.limiter.backpressure()
                else:
                    calls.health.failed(exc)
                wait = wait_for(exc.retry_after, min(tries, 8), cap=calls.cap)
            except OutcomeUnknown as exc:
                found = await self._judge_lost(attempt, exc, began)
                if found is not None:
                    return found
                if store.job(row.id).status is not JobStatus.PENDING:
                    return None  # left unknown
                if tries >= SUBMIT_TRIES:  # every answer lost, and no task made each time
                    message = f"{SUBMIT_TRIES} submits lost their answer: {exc}"
                    fail(records, row.id, "LOST", message)
                    return None
                wait = backoff(tries, cap=calls.cap)  # it made no task: send it again
            else:
                calls.health.answered()
                # A plain submit's attempt has no row of its own (begin_attempt makes one
                # only for a webhook token): one statement fewer per job.
                store.record_task(
                    row.id, attempt, state.task_id, state.status, own_row=token is not None
                )
                slots.limiter.accepted()
                records.emit("submitted", job=row.id, task=state.task_id)
                return attempt, state, began
            tries += 1
            if await calls.pause(wait, until=closed):
                return None

    def _refused(self, exc: Rejected, tries: int) -> float | None:
        """What a refused submit means: how long to wait before the next try, or None when
        the job failed (or the run must stop: raised)."""
        crew, kind = self.crew, classify(exc.code)
        cap = crew.calls.cap
        if kind is Kind.AUTH:
            raise AuthError.refused(exc)
        if kind is Kind.FUNDS:
            raise FundsError(f"the account cannot pay for more tasks ({exc})")
        if kind is Kind.BACKPRESSURE:
            crew.slots.limiter.backpressure()
            wait = wait_for(exc.retry_after, tries, cap=cap)
            crew.records.emit("backpressure", job=self.row.id, code=exc.code, wait=round(wait, 3))
            return wait
        if kind is Kind.RETRY and tries < SUBMIT_TRIES:
            return backoff(tries, cap=cap)
        fail(crew.records, self.row.id, exc.code, exc.text or str(exc))
        return None

    async def _judge_lost(
        self, attempt: int, exc: OutcomeUnknown, began: float
    ) -> Submitted | None:
        """A submit whose answer was lost: adopt its task, send again, or leave it unknown."""
        crew, row = self.crew, self.row
        records, store = crew.records, crew.records.store
        records.emit("lost_reply", job=row.id, reason=str(exc))
        left = crew.ends.timeout - (crew.calls.clock.now() - began)
        verdict = await crew.sending.lost.judge(row.id, attempt, row.endpoint, exc, began, left)
        if verdict.made is False:
            store.not_submitted(row.id, attempt, "LOST", f"{exc}; {verdict.reason}")
            records.emit("resend", job=row.id, reason=verdict.reason)
            return None
        if verdict.made and verdict.state is not None:
            state = verdict.state
            store.record_task(row.id, attempt, state.task_id, state.status)
            records.emit("adopted", job=row.id, task=state.task_id)
            return attempt, state, began
        records.unknown(row.id, f"the submit's answer was lost ({exc}); {verdict.reason}")
        return None


def since(clock: Clock, submitted_at: float | None) -> float:
    """The clock time of a submit made at Unix time ``submitted_at`` (maybe by an earlier
    run), so that its timeout counts from then."""
    now = clock.now()
    if submitted_at is None:
        return now
    return now - max(0.0, time.time() - submitted_at) * clock.speed


async def earlier_task(calls: Calls, records: Records, row: JobRow) -> Submitted | None:
    """An earlier task of the job that may still succeed (or has): it is followed
    instead of a new submit. Tasks found failed meanwhile are settled."""
    store = records.store
    for attempt, task_id, started_at in store.unsettled(row.id):
        state = await ask(calls, task_id, row.endpoint)
        if isinstance(state, Rejected):  # the server knows no such task now
            store.settle(row.id, attempt, task_id, Outcome.NOTFOUND)
            continue
        if state is not None and state.status in (RemoteStatus.FAILED, RemoteStatus.CANCEL):
            store.settle(row.id, attempt, task_id, state.status)
            continue
        status = state.status if state is not None else RemoteStatus.RUNNING
        store.record_task(row.id, attempt, task_id, status)
        records.emit("followed", job=row.id, task=task_id, attempt=attempt)
        return attempt, state or running_state(task_id), since(calls.clock, started_at)
    return None


async def within_budget(
    budget: Budget, halt: Callable[[FatalError], None], slots: Slots, row: JobRow
) -> bool:
    """Hold the job's price against the spending cap: False (and the run stops
    submitting) when it would cross it."""
    while True:
        verdict = budget.admit(row.id, row.endpoint, row.quoted)
        if verdict is Admit.GO:
            return True
        if verdict is Admit.FULL:
            halt(SpendCapReached(at_cap(budget, row)))
            return False
        await slots.clock.first(budget.changed.wait(), until=slots.closed)
        if slots.closed.is_set():
            return False


def at_cap(budget: Budget, row: JobRow) -> str:
    return (
        f"the next job ({row.id}, quoted {row.quoted or 0:,.2f} CNY) would take "
        f"the batch past its spending cap of {budget.cap or 0:,.2f} CNY "
        f"({budget.billed:,.2f} billed, {budget.held:,.2f} held by tasks in flight)"
    )


def budget_done(records: Records, budget: Budget, job_id: str) -> None:
    """What the job's task holds against the spending cap, once the job stops here: kept
    if the task may still be billed (its outcome unknown, or still running), else let go."""
    if not budget.holding(job_id):
        return
    status = records.store.job(job_id).status
    if status in (JobStatus.UNKNOWN, JobStatus.RUNNING, JobStatus.SUBMITTING):
        budget.keep(job_id)
    else:
        budget.release(job_id)


async def adopted(crew: Crew, job_id: str, attempt: int, state: TaskState) -> bool:
    """A task made by a lost submit announced its end by webhook: take it as the job's.
    True when its files are to be fetched."""
    records, store = crew.records, crew.records.store
    row = store.job(job_id)
    try:
        if state.status is RemoteStatus.SUCCESS:
            return succeeded(records, crew.budget, job_id, attempt, state, download=crew.download)
        again = task_failed(records, crew.budget, row, attempt, state, retries=crew.retries)
        if again and await crew.slots.take():
            return await JobRun(crew, store.job(job_id)).run()
    except FatalError as exc:
        crew.stops.halt(exc)
    except Exception as exc:  # a fault of rhbatch: this job's alone
        broken(records, job_id, exc)
    return False
