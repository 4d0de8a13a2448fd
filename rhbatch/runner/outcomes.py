"""How a job's way ends, written down: a task that succeeded or failed, a job failed, a fault.

Each function takes what it writes to (``Records``: the store and the events),
the spending cap where money is settled, and the rule it applies. A
succeeded task is recorded (paid) before anything else; whether its files are
fetched is what ``succeeded`` returns, and the run does the fetching. A fault
of rhbatch in a job is that job's alone: logged, and the job left in the state
that tells the truth about its money.
"""

from __future__ import annotations

from rhbatch import logfile
from rhbatch.errors import AuthError
from rhbatch.models import JobRow, JobStatus, TaskState
from rhbatch.redact import clean
from rhbatch.runner.budget import Budget
from rhbatch.runner.crew import Records
from rhbatch.runner.fetch import result_records
from rhbatch.runner.retry import Kind, classify


def succeeded(
    records: Records, budget: Budget, job_id: str, attempt: int, state: TaskState, *, download: bool
) -> bool:
    """The task succeeded (paid): record it; True when its files are to be fetched now
    (URLs expire), False when the job is done (``download`` off)."""
    done = not download
    results = result_records(state.results)
    records.store.record_success(job_id, attempt, results, dict(state.usage), state.cost, done=done)
    budget.settle(job_id, state.cost)
    records.emit("task_succeeded", job=job_id, task=state.task_id, cost=state.cost)
    if done:
        records.emit("succeeded", job=job_id, cost=state.cost)
    return not done


def task_failed(
    records: Records, budget: Budget, row: JobRow, attempt: int, state: TaskState, *, retries: int
) -> bool:
    """Record a task that ended without success; True if the job is to be resubmitted (its
    round of tries has used fewer than ``retries`` retries)."""
    code = state.error_code or state.status.value
    message = state.error_message or f"the task ended {state.status.value}"
    kind = classify(code)
    if kind is Kind.AUTH:
        raise AuthError.refused(f"{code}: {message}")
    retry = kind is Kind.RETRY and attempt - row.first_attempt < retries
    records.store.end_attempt(row.id, attempt, state.status, code, message, retry=retry)
    budget.settle(row.id, 0.0)  # a task that did not succeed is not billed
    records.emit("task_failed", job=row.id, task=state.task_id, code=code)
    if retry:
        records.emit("retry", job=row.id, code=code, attempt=attempt)
    else:
        records.failed(row.id, code, message)
    return retry


def fail(records: Records, job_id: str, code: str, message: str) -> None:
    """Fail the job: nothing was sent (or nothing of it was made)."""
    records.store.fail(job_id, code, message)
    records.failed(job_id, code, message)


def broken(records: Records, job_id: str, exc: Exception) -> None:
    """A fault of rhbatch in this job: log it, and leave the job in the state that tells
    the truth about its money; the run goes on."""
    where = logfile.record(f"job {job_id}", exc)
    text = clean(f"internal error: {type(exc).__name__}: {exc}", 300)
    if where is not None:
        text += f" (details in {where})"
    store = records.store
    status = store.job(job_id).status
    if status in (JobStatus.RUNNING, JobStatus.SUBMITTING):
        records.unknown(job_id, text)
    elif status is JobStatus.DOWNLOADING:
        store.unfetched(job_id, text)
        records.emit("unfetched", job=job_id, message=text)
    elif status is JobStatus.PENDING:
        fail(records, job_id, "INTERNAL", text)
    else:
        store.note(job_id, "INTERNAL", text)
