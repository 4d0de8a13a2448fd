"""One job's way through a run (runner/job.py), against a real emulator on virtual time
and a real store: a pending job is submitted once and ends succeeded with its task
recorded; an earlier task of the job that still runs is followed instead of a new
submit, while one the server no longer knows is settled NOTFOUND and the job is sent
again; a submit refused for good fails the job with the server's code and no task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rhbatch.models import JobRow, JobStatus, Outcome, RemoteStatus
from rhbatch.runner.crew import Options
from rhbatch.runner.job import JobRun, earlier_task
from rhbatch.store.state import Store
from tests.emu_helpers import V1_LITE, doc_body
from tests.wired import Pieces, run_wired

T = TypeVar("T")
TASK_SECONDS = 100.0  # every task the emulator runs here takes this long
POLL = 5.0  # the run's poll interval
UNKNOWN_TASK = "1999999999999999999"  # a task id the emulator never made
pytestmark = pytest.mark.usefixtures("virtual_clock")


def body() -> dict[str, Any]:
    return doc_body("seedance-v1-lite-reference-to-video")


class Rig(Pieces):
    def job(self, params: dict[str, Any], job_id: str = "a") -> JobRow:
        """A pending job of the spec, in the store."""
        self.store.sync([(job_id, 0, V1_LITE, params)])
        return self.store.job(job_id)

    async def run_job(self, job_id: str = "a") -> bool:
        """The job run as the run loop runs it: holding a slot of the limiter."""
        assert self.crew.slots.limiter.try_acquire()
        return await JobRun(self.crew, self.store.job(job_id)).run()

    def earlier(self, job_id: str, task_id: str) -> int:
        """An attempt of the job whose task is ``task_id``, as a run that stopped left it."""
        attempt = self.store.begin_attempt(job_id, body(), {})
        self.store.record_task(job_id, attempt, task_id, RemoteStatus.RUNNING)
        return attempt

    def submissions(self) -> int:
        """Tasks the emulator made."""
        return int(self.emu.stats()["submissions"])


def run(tmp_path: Path, work: Callable[[Rig], Awaitable[T]]) -> T:
    """``work`` with the pieces of a run (``wire``, files not fetched) over a real store
    and a client of an emulator whose tasks take TASK_SECONDS."""
    options = Options(poll_interval=POLL, signal_interval=0, download=False)
    return run_wired(tmp_path, Rig, work, options=options, task_seconds=TASK_SECONDS)


def outcomes(store: Store, job_id: str) -> dict[int, str]:
    """Each attempt's recorded outcome (the attempts table)."""
    rows = store.conn.execute(
        "SELECT n, outcome FROM attempts WHERE job_id=? ORDER BY n", (job_id,)
    ).fetchall()
    return {int(n): str(outcome) for n, outcome in rows}


# --- a job's first submit ---------------------------------------------------------------------


def test_a_pending_job_is_submitted_once_and_ends_succeeded_with_its_task(
    tmp_path: Path,
) -> None:
    async def work(r: Rig) -> tuple[Any, ...]:
        r.job(body())
        fetch = await r.run_job()
        row = r.store.job("a")
        submitted = [e.fields.get("task") for e in r.named("submitted")]
        return fetch, row, submitted, r.submissions(), r.crew.calls.clock.now()

    fetch, row, submitted, made, now = run(tmp_path, work)
    assert fetch is False  # download off: nothing to fetch, the job is done
    assert row.status is JobStatus.SUCCEEDED
    assert row.attempts == 1
    assert row.task_id is not None
    assert submitted == [row.task_id]  # the task the one submit made is the job's
    assert made == 1
    assert TASK_SECONDS <= now < TASK_SECONDS + POLL  # followed to its end, no longer


# --- earlier tasks ------------------------------------------------------------------------------


def test_an_earlier_task_still_running_is_followed_and_not_submitted_again(
    tmp_path: Path,
) -> None:
    async def work(r: Rig) -> tuple[Any, ...]:
        row = r.job(body())
        task_id = (await r.client.submit(V1_LITE, body())).task_id
        attempt = r.earlier("a", task_id)
        found = await earlier_task(r.crew.calls, r.crew.records, r.store.job("a"))
        fetch = await r.run_job()
        return row, task_id, attempt, found, fetch, r.store.job("a"), r.submissions()

    before, task_id, attempt, found, fetch, after, made = run(tmp_path, work)
    assert before.attempts == 0
    assert found is not None
    assert found[0] == attempt
    assert found[1].task_id == task_id
    assert found[1].status is RemoteStatus.RUNNING
    assert fetch is False
    assert after.status is JobStatus.SUCCEEDED
    assert (after.task_id, after.attempts) == (task_id, attempt)  # the earlier task is the job's
    assert made == 1  # no second submit


def test_an_earlier_task_the_server_does_not_know_is_settled_and_the_job_sent_again(
    tmp_path: Path,
) -> None:
    async def work(r: Rig) -> tuple[Any, ...]:
        r.job(body())
        attempt = r.earlier("a", UNKNOWN_TASK)
        found = await earlier_task(r.crew.calls, r.crew.records, r.store.job("a"))
        settled = outcomes(r.store, "a")
        unsettled = r.store.unsettled("a")
        fetch = await r.run_job()
        return attempt, found, settled, unsettled, fetch, r.store.job("a"), r.submissions()

    attempt, found, settled, unsettled, fetch, after, made = run(tmp_path, work)
    assert found is None  # nothing to follow: a new submit may go out
    assert settled[attempt] == Outcome.NOTFOUND
    assert unsettled == []
    assert fetch is False
    assert after.status is JobStatus.SUCCEEDED
    assert after.task_id not in (None, UNKNOWN_TASK)
    assert after.attempts == attempt + 1
    assert made == 1  # the new submit made the job's task


# --- a submit refused for good ------------------------------------------------------------------


def test_a_submit_refused_for_good_fails_the_job_with_the_code_and_no_task(
    tmp_path: Path,
) -> None:
    """An empty body is not valid for the endpoint: 1007, which no retry can mend."""

    async def work(r: Rig) -> tuple[Any, ...]:
        r.job({})
        fetch = await r.run_job()
        stats = r.emu.stats()
        codes = [e.fields.get("code") for e in r.named("failed")]
        return fetch, r.store.job("a"), stats["requests"].get("submit", 0), r.submissions(), codes

    fetch, row, tries, made, codes = run(tmp_path, work)
    assert fetch is False
    assert row.status is JobStatus.FAILED
    assert row.error_code == "1007"
    assert row.task_id is None
    assert tries == 1  # refused once, not sent again
    assert made == 0
    assert codes == ["1007"]
