"""Following one task to its end (runner/follow.py), against a real emulator on virtual
time: asking about a task gives its state, or the refusal of a task the server does not
know; a running task is followed to its final state, seen within one poll of its end; a
task that outlives the job's timeout is cancelled, and its job fails with TIMEOUT once
the cancel is seen to have taken effect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rhbatch.errors import Rejected
from rhbatch.models import JobRow, JobStatus, RemoteStatus, TaskState
from rhbatch.runner.crew import Options
from rhbatch.runner.follow import ask, follow
from tests.emu_helpers import V1_LITE, doc_body
from tests.wired import Pieces, run_wired

T = TypeVar("T")
TASK_SECONDS = 100.0  # every task the emulator runs here takes this long
POLL = 5.0  # the run's poll interval: the longest wait between two checks of a task
pytestmark = pytest.mark.usefixtures("virtual_clock")


class Rig(Pieces):
    async def sent(self, job_id: str = "a") -> tuple[JobRow, int, TaskState, float]:
        """The job ``job_id`` submitted to the emulator, as the store and the run have it:
        its row, the attempt, the task as the submit answered, the clock time of the submit."""
        body = doc_body("seedance-v1-lite-reference-to-video")
        self.store.sync([(job_id, 0, V1_LITE, body)])
        attempt = self.store.begin_attempt(job_id, body, {})
        began = self.crew.calls.clock.now()
        state = await self.client.submit(V1_LITE, body)
        self.store.record_task(job_id, attempt, state.task_id, state.status)
        return self.store.job(job_id), attempt, state, began

    async def follow(self, job_id: str = "a") -> tuple[TaskState | None, float]:
        """The job submitted and followed: what ``follow`` returned, and the seconds it took
        from the submit."""
        row, attempt, state, began = await self.sent(job_id)
        crew = self.crew
        final = await follow(
            crew.calls, crew.records, crew.ends, row, (attempt, state, began), resumed=False
        )
        return final, crew.calls.clock.now() - began


def run(
    tmp_path: Path,
    work: Callable[[Rig], Awaitable[T]],
    *,
    timeout: float = 600.0,
    **emulator: Any,
) -> T:
    """``work`` with the pieces of a run (``wire``) over a real store and a client of an
    emulator whose tasks take TASK_SECONDS."""
    options = Options(poll_interval=POLL, timeout=timeout, signal_interval=0)
    return run_wired(tmp_path, Rig, work, options=options, task_seconds=TASK_SECONDS, **emulator)


# --- asking about a task ----------------------------------------------------------------------


def test_ask_gives_the_state_of_a_known_task_and_the_refusal_of_an_unknown_one(
    tmp_path: Path,
) -> None:
    async def work(r: Rig) -> tuple[Any, ...]:
        _, _, state, _ = await r.sent()
        calls = r.crew.calls
        known = await ask(calls, state.task_id, V1_LITE)
        unknown = await ask(calls, "1999999999999999999", V1_LITE)
        return state.task_id, known, unknown

    task_id, known, unknown = run(tmp_path, work)
    assert isinstance(known, TaskState)
    assert known.task_id == task_id
    assert known.status is RemoteStatus.RUNNING  # 0 s into a 100 s task
    assert isinstance(unknown, Rejected)


# --- following a task to its end --------------------------------------------------------------


def test_a_running_task_is_followed_to_its_success_within_one_poll_of_its_end(
    tmp_path: Path,
) -> None:
    async def work(r: Rig) -> tuple[Any, ...]:
        final, took = await r.follow()
        row = r.store.job("a")
        return final, took, row.remote_status, r.emu.stats()["byStatus"]

    final, took, remote, by_status = run(tmp_path, work)
    assert final is not None
    assert final.status is RemoteStatus.SUCCESS
    assert TASK_SECONDS <= took < TASK_SECONDS + POLL
    # The final status is written by the job's end (record_success, end_attempt) in the
    # same step: follow does not write it a moment before, one statement fewer per job.
    assert remote == RemoteStatus.RUNNING
    assert by_status == {"SUCCESS": 1}


def test_a_task_past_the_timeout_is_cancelled_and_its_job_failed_once_the_cancel_is_seen(
    tmp_path: Path,
) -> None:
    """A stuck task never ends: at the job's timeout it is asked once more, cancelled,
    and asked again; seen CANCEL, the job fails with TIMEOUT and follow returns None."""
    timeout = 300.0

    async def work(r: Rig) -> tuple[Any, ...]:
        final, took = await r.follow()
        row = r.store.job("a")
        stats = r.emu.stats()
        return final, took, row, stats, [e.fields.get("code") for e in r.named("failed")]

    final, took, row, stats, failed = run(
        tmp_path, work, timeout=timeout, faults={"stuck": {"rate": 1.0}}
    )
    assert final is None
    assert timeout <= took < timeout + 2 * POLL
    assert (row.status, row.error_code) == (JobStatus.FAILED, "TIMEOUT")
    assert "cancelled (confirmed)" in (row.error_message or "")
    assert stats["byStatus"] == {"CANCEL": 1}  # the server did cancel it
    assert stats["requests"].get("other", 0) >= 1  # the cancel went out
    assert failed == ["TIMEOUT"]  # said once, after the cancel took effect
