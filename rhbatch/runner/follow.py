"""Following one task to its end, and being honest when its end cannot be learned.

A job waits for its task's end as the watcher of task ends says (``ends.py``:
webhooks, the account's counts, its own schedule), and asks when told to. A
task past the job's timeout is asked once more (it may have ended), then
cancelled, and the cancel confirmed by a query: only a task seen cancelled
fails its job. A task whose end cannot be learned (its cancel not confirmed,
answers about it that cannot be read, a task the server no longer knows)
leaves its job ``unknown`` with its task id; the next run asks again.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rhbatch.api.wire import NOT_FOUND_CODES
from rhbatch.errors import ApiError, AuthError, ProtocolError, Rejected, Transient
from rhbatch.models import JobRow, RemoteStatus, TaskState
from rhbatch.runner.crew import Calls, Ends, Records
from rhbatch.runner.ends import Wake, Watcher
from rhbatch.runner.retry import Kind, backoff, classify, retrying

UNREADABLE_TRIES = 5  # answers about a task that cannot be read, before its job is unknown
CONFIRM_TRIES = 3  # queries after a cancel, to see it take effect
ASK_TRIES = 3  # tries of a single question about a task, over passing trouble

T = TypeVar("T")


Submitted = tuple[int, TaskState, float]  # attempt, the task as last seen, clock time of submit


async def follow(
    calls: Calls, records: Records, ends: Ends, row: JobRow, task: Submitted, *, resumed: bool
) -> TaskState | None:
    """Wait for the job's task (its attempt, its state as last seen, and the clock time of
    its submit) to end: its final state, or None when the job ended otherwise (unknown,
    failed at its timeout) or the run stops."""
    _, state, started = task
    ends.watcher.add(state.task_id, row.endpoint, sent=started, resumed=resumed)
    final: TaskState | None = None
    try:
        final = await _track(calls, records, ends, row, task)
        return final
    finally:
        ends.watcher.done(state.task_id, ended=final is not None)


async def ask(calls: Calls, task_id: str, endpoint: str) -> TaskState | Rejected | None:
    """A task's state, asked a few times over passing trouble; the Rejected of a task the
    server does not know; None when no readable answer came (or the run stops)."""
    try:
        state = await _retrying(calls, functools.partial(calls.client.query, task_id, endpoint))
    except Rejected as exc:
        if classify(exc.code) is Kind.AUTH:
            raise AuthError.refused(exc) from None
        return exc if exc.code in NOT_FOUND_CODES else None
    except (Transient, ProtocolError):
        return None
    calls.health.answered()
    return state


def _retrying(calls: Calls, call: Callable[[], Awaitable[T]]) -> Awaitable[T]:
    """``call()`` tried ``ASK_TRIES`` times over passing trouble, each told to the API's
    health, the waits cut short when the run stops."""
    return retrying(
        call, tries=ASK_TRIES, sleep=calls.pause, cap=calls.cap, failed=calls.health.failed
    )


_WAITING = frozenset({RemoteStatus.QUEUED, RemoteStatus.CREATE})  # not running yet


def ended(state: TaskState) -> bool:
    """A final status, or an error code on a task that does not say FAILED (unless the
    code means "wait")."""
    early = bool(state.error_code) and classify(state.error_code) is not Kind.WAIT
    return state.status.terminal or early


async def _track(
    calls: Calls, records: Records, ends: Ends, row: JobRow, task: Submitted
) -> TaskState | None:
    attempt, state, started = task
    clock, watcher, timeout = calls.clock, ends.watcher, ends.timeout
    polls = failures = unreadable = 0
    task_id, last = state.task_id, state.status
    waiting = False
    problem: ApiError | None = None
    while not ended(state):
        # The timeout counts from when the task starts running. While it waits, from when
        # it is likely to start; once it is seen running after a wait, from that look: it
        # started at some moment since the look before, and counting from the earlier end
        # of that gap (polls can be minutes apart) would cancel a healthy, paid task.
        if state.status in _WAITING:
            started, waiting = clock.now() + watcher.queue_wait(row.endpoint), True
        elif waiting:
            started, waiting = clock.now(), False
        elapsed = clock.now() - started
        left = timeout - elapsed
        if left <= 0:
            return await _overdue(calls, records, ends, row, attempt, task_id)
        delay = watcher.fallback(row.endpoint, elapsed, polls, 60 * calls.poll_interval)
        if failures:
            delay = max(delay, backoff(min(failures, 6), cap=calls.cap))
        if unreadable:  # ask again soon: the next answer may be readable
            delay = min(delay, backoff(unreadable, cap=calls.cap))
        woke = await _wait(calls, watcher, task_id, min(delay, left))
        if woke is Wake.STOPPED:
            return None
        if isinstance(woke, TaskState):  # a webhook brought the final state
            state = woke
            continue
        if clock.now() - started >= timeout:
            continue
        try:
            state = await calls.client.query(task_id, row.endpoint)
        except Transient as exc:
            failures += 1
            calls.health.failed(exc)
            continue
        except Rejected as exc:
            if classify(exc.code) is Kind.AUTH:
                raise AuthError.refused(exc) from None
            if exc.code in NOT_FOUND_CODES:
                records.unknown(row.id, f"RunningHub no longer knows task {task_id} ({exc})")
                return None
            unreadable, problem = unreadable + 1, exc
        except ProtocolError as exc:
            unreadable, problem = unreadable + 1, exc
        else:
            calls.health.answered()
            failures = unreadable = 0
            polls += 1
            if not state.status.terminal:
                watcher.checked(task_id)
            if state.status is not last:
                last = state.status
                if not state.status.terminal:  # a final one is written with the job's end
                    records.store.record_remote(row.id, state.status)
            continue
        calls.health.answered()
        if unreadable >= UNREADABLE_TRIES:
            records.unknown(row.id, f"the answers about task {task_id} cannot be read: {problem}")
            return None
    ends.schedule.observe(row.endpoint, clock.now() - started)
    return state


async def _overdue(
    calls: Calls, records: Records, ends: Ends, row: JobRow, attempt: int, task_id: str
) -> TaskState | None:
    """A task past the job's timeout: ask once more (it may have ended), else cancel it
    and confirm the cancel. The job fails only if the task is seen cancelled."""
    state = await ask(calls, task_id, row.endpoint)
    if isinstance(state, TaskState) and ended(state):
        return state
    asked = False
    try:
        asked = await _retrying(calls, functools.partial(calls.client.cancel, task_id))
        calls.health.answered()
    except Transient:
        if calls.stopping.is_set():
            return None  # the run stops: the job stays as it is for the next run
    except (Rejected, ProtocolError):
        pass
    timeout = ends.timeout
    for tries in range(CONFIRM_TRIES):
        state = await ask(calls, task_id, row.endpoint)
        if isinstance(state, TaskState) and state.status is RemoteStatus.CANCEL:
            message = f"no final status after {timeout:g} s; the task was cancelled (confirmed)"
            records.store.end_attempt(
                row.id, attempt, RemoteStatus.CANCEL, "TIMEOUT", message, retry=False
            )
            records.failed(row.id, "TIMEOUT", message)
            return None
        if isinstance(state, TaskState) and ended(state):
            return state  # it ended meanwhile: take it as it is
        if await calls.pause(calls.poll_interval * (tries + 1) / 2):
            return None
    how = "its cancel was not confirmed" if asked else "it could not be cancelled"
    records.unknown(
        row.id,
        f"task {task_id} had no final status after {timeout:g} s and {how}; "
        "the next run asks again (`rhbatch cancel` asks to stop it)",
    )
    return None


async def _wait(
    calls: Calls, watcher: Watcher, task_id: str, seconds: float
) -> TaskState | Wake | None:
    """The watcher's word on a task (its final state, ``Wake.CHECK``, or None after
    ``seconds``), or ``Wake.STOPPED`` if the run stops first."""
    if calls.stopping.is_set():
        return Wake.STOPPED
    return await watcher.wait(task_id, seconds, until=calls.stopping)
