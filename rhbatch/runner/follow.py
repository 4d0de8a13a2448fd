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

from rhbatch.api.wire import NOT_FOUND_CODES
from rhbatch.errors import ApiError, AuthError, ProtocolError, Rejected, Transient
from rhbatch.models import JobRow, RemoteStatus, TaskState
from rhbatch.runner.crew import Crew
from rhbatch.runner.ends import Wake
from rhbatch.runner.retry import Kind, backoff, classify, wait_for

UNREADABLE_TRIES = 5  # answers about a task that cannot be read, before its job is unknown
CONFIRM_TRIES = 3  # queries after a cancel, to see it take effect
ASK_TRIES = 3  # tries of a single question about a task, over passing trouble


async def follow(
    crew: Crew, row: JobRow, attempt: int, state: TaskState, started: float, *, resumed: bool
) -> TaskState | None:
    """Wait for the task (submitted at clock time ``started``) to end: its final state, or
    None when the job ended otherwise (unknown, failed at its timeout) or the run stops."""
    crew.watcher.add(state.task_id, row.endpoint, sent=started, resumed=resumed)
    final: TaskState | None = None
    try:
        final = await _track(crew, row, attempt, state, started)
        return final
    finally:
        crew.watcher.done(state.task_id, ended=final is not None)


async def ask(crew: Crew, task_id: str, endpoint: str) -> TaskState | Rejected | None:
    """A task's state, asked a few times over passing trouble; the Rejected of a task the
    server does not know; None when no readable answer came (or the run stops)."""
    for tries in range(ASK_TRIES):
        try:
            state = await crew.client.query(task_id, endpoint)
        except Rejected as exc:
            if classify(exc.code) is Kind.AUTH:
                raise AuthError.refused(exc) from None
            return exc if exc.code in NOT_FOUND_CODES else None
        except Transient as exc:
            crew.health.failed(exc)
            if await crew.pause(wait_for(exc.retry_after, tries, cap=crew.cap)):
                return None
            continue
        except ProtocolError:
            return None
        crew.health.answered()
        return state
    return None


_WAITING = frozenset({RemoteStatus.QUEUED, RemoteStatus.CREATE})  # not running yet


def ended(state: TaskState) -> bool:
    """A final status, or an error code on a task that does not say FAILED (unless the
    code means "wait")."""
    early = bool(state.error_code) and classify(state.error_code) is not Kind.WAIT
    return state.status.terminal or early


async def _track(
    crew: Crew, row: JobRow, attempt: int, state: TaskState, started: float
) -> TaskState | None:
    options, clock = crew.options, crew.clock
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
            started, waiting = clock.now() + crew.watcher.queue_wait(row.endpoint), True
        elif waiting:
            started, waiting = clock.now(), False
        elapsed = clock.now() - started
        left = options.timeout - elapsed
        if left <= 0:
            return await _overdue(crew, row, attempt, task_id)
        delay = crew.watcher.fallback(row.endpoint, elapsed, polls, 60 * options.poll_interval)
        if failures:
            delay = max(delay, backoff(min(failures, 6), cap=crew.cap))
        if unreadable:  # ask again soon: the next answer may be readable
            delay = min(delay, backoff(unreadable, cap=crew.cap))
        woke = await _wait(crew, task_id, min(delay, left))
        if woke is Wake.STOPPED:
            return None
        if isinstance(woke, TaskState):  # a webhook brought the final state
            state = woke
            continue
        if clock.now() - started >= options.timeout:
            continue
        try:
            state = await crew.client.query(task_id, row.endpoint)
        except Transient as exc:
            failures += 1
            crew.health.failed(exc)
            continue
        except Rejected as exc:
            if classify(exc.code) is Kind.AUTH:
                raise AuthError.refused(exc) from None
            if exc.code in NOT_FOUND_CODES:
                crew.unknown(row.id, f"RunningHub no longer knows task {task_id} ({exc})")
                return None
            unreadable, problem = unreadable + 1, exc
        except ProtocolError as exc:
            unreadable, problem = unreadable + 1, exc
        else:
            crew.health.answered()
            failures = unreadable = 0
            polls += 1
            if not state.status.terminal:
                crew.watcher.checked(task_id)
            if state.status is not last:
                last = state.status
                crew.store.record_remote(row.id, state.status.value)
            continue
        crew.health.answered()
        if unreadable >= UNREADABLE_TRIES:
            crew.unknown(row.id, f"the answers about task {task_id} cannot be read: {problem}")
            return None
    crew.schedule.observe(row.endpoint, clock.now() - started)
    return state


async def _overdue(crew: Crew, row: JobRow, attempt: int, task_id: str) -> TaskState | None:
    """A task past the job's timeout: ask once more (it may have ended), else cancel it
    and confirm the cancel. The job fails only if the task is seen cancelled."""
    state = await ask(crew, task_id, row.endpoint)
    if isinstance(state, TaskState) and ended(state):
        return state
    asked = False
    for tries in range(ASK_TRIES):
        try:
            asked = await crew.client.cancel(task_id)
            crew.health.answered()
            break
        except Transient as exc:
            crew.health.failed(exc)
            if await crew.pause(wait_for(exc.retry_after, tries, cap=crew.cap)):
                return None
        except (Rejected, ProtocolError):
            break
    timeout = crew.options.timeout
    for tries in range(CONFIRM_TRIES):
        state = await ask(crew, task_id, row.endpoint)
        if isinstance(state, TaskState) and state.status is RemoteStatus.CANCEL:
            message = f"no final status after {timeout:g} s; the task was cancelled (confirmed)"
            crew.store.end_attempt(row.id, attempt, "CANCEL", "TIMEOUT", message, retry=False)
            crew.failed(row.id, "TIMEOUT", message)
            return None
        if isinstance(state, TaskState) and ended(state):
            return state  # it ended meanwhile: take it as it is
        if await crew.pause(crew.options.poll_interval * (tries + 1) / 2):
            return None
    how = "its cancel was not confirmed" if asked else "it could not be cancelled"
    crew.unknown(
        row.id,
        f"task {task_id} had no final status after {timeout:g} s and {how}; "
        "the next run asks again (`rhbatch cancel` asks to stop it)",
    )
    return None


async def _wait(crew: Crew, task_id: str, seconds: float) -> TaskState | Wake | None:
    """The watcher's word on a task (its final state, ``Wake.CHECK``, or None after
    ``seconds``), or ``Wake.STOPPED`` if the run stops first."""
    if crew.stopping.is_set():
        return Wake.STOPPED
    return await crew.watcher.wait(task_id, seconds, until=crew.stopping)
