"""The state store on its own: each transition on a real SQLite file, recovery at the start
of a run, the manifest's view, group commit, the lock, and reading a format-1 file."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rhbatch.errors import StateError
from rhbatch.models import JobStatus, OutputRow, Result
from rhbatch.redact import keep_secret
from rhbatch.store.db import SCHEMA_VERSION
from rhbatch.store.state import Store

ENDPOINT = "seedance-2.0/multimodal-video"


def spec(*ids: str, **changed: str) -> list[tuple[str, int, str, dict[str, Any]]]:
    """Jobs as ``sync`` takes them, in this order; ``changed`` gives a job another prompt."""
    return [
        (job_id, i, ENDPOINT, {"prompt": changed.get(job_id, f"a paper boat ({job_id})")})
        for i, job_id in enumerate(ids)
    ]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def store(out: Path) -> Iterator[Store]:
    with Store.open(out) as opened:
        yield opened


def submitted(store: Store, job_id: str, task_id: str, hook: str | None = None) -> int:
    """Begin an attempt and record the task its submit made; the attempt's number."""
    attempt = store.begin_attempt(job_id, {"prompt": "sent"}, {}, hook=hook)
    store.record_task(job_id, attempt, task_id, "RUNNING")
    return attempt


def failed_attempt(store: Store, job_id: str, task_id: str, outcome: str = "FAILED") -> int:
    """An attempt whose task ended without success; the job goes back to pending."""
    attempt = submitted(store, job_id, task_id)
    store.end_attempt(job_id, attempt, outcome, "1015", "it broke", retry=True)
    return attempt


def record(store: Store, job_id: str) -> dict[str, Any]:
    """The job's record as the manifest sees it."""
    return next(r for r in store.records() if r["id"] == job_id)


def attempts(store: Store, job_id: str) -> list[tuple[int, str | None, str | None]]:
    """(attempt, task id, outcome) of each row the attempts table holds for the job."""
    rows = store.conn.execute(
        "SELECT n, task_id, outcome FROM attempts WHERE job_id=? ORDER BY n", (job_id,)
    ).fetchall()
    return [(int(n), t, o) for n, t, o in rows]


@contextlib.contextmanager
def reader(path: Path) -> Iterator[sqlite3.Connection]:
    """A second connection to the same file, as another process would have."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        yield conn


# --- sync ------------------------------------------------------------------------------


def test_sync_adds_new_jobs_as_pending(store: Store) -> None:
    """A first sync adds every job, pending, in spec order, with its parameters."""
    report = store.sync(spec("a", "b"))
    assert (report.new, report.kept, report.changed) == (2, 0, 0)
    assert [(j.id, j.idx, j.status) for j in store.pending()] == [
        ("a", 0, JobStatus.PENDING),
        ("b", 1, JobStatus.PENDING),
    ]
    assert store.job("b").params == {"prompt": "a paper boat (b)"}


def test_sync_keeps_a_known_job_and_its_state(store: Store) -> None:
    """A job whose parameters did not change keeps its state and takes its new position."""
    store.sync(spec("a", "b"))
    submitted(store, "a", "T1")
    store.record_success("a", 1, [], {}, 0.5, done=True)
    report = store.sync(spec("b", "a"))
    assert (report.new, report.kept, report.changed) == (0, 2, 0)
    a = store.job("a")
    assert (a.idx, a.status, a.task_id, a.cost) == (1, JobStatus.SUCCEEDED, "T1", 0.5)


def test_sync_restarts_a_job_whose_parameters_changed(store: Store) -> None:
    """Same id, new parameters: pending again, results and files gone, retries counted anew."""
    store.sync(spec("a"))
    submitted(store, "a", "T1")
    store.record_success("a", 1, [{"url": "u"}], {}, 0.5)
    store.record_output("a", OutputRow(1, "u", "a.mp4", 3, "00", "mp4", 1))
    report = store.sync(spec("a", "b", a="a different prompt"))
    assert (report.new, report.kept, report.changed) == (1, 0, 1)
    a = store.job("a")
    assert (a.status, a.task_id, a.results, a.cost) == (JobStatus.PENDING, None, (), None)
    assert (a.attempts, a.first_attempt) == (1, 2)
    assert a.params == {"prompt": "a different prompt"}
    assert store.outputs("a") == []


def test_sync_supersedes_the_earlier_tasks_of_a_changed_job(store: Store) -> None:
    """A changed job's unfailed tasks are SUPERSEDED, not waited for, still in the manifest."""
    store.sync(spec("a"))
    failed_attempt(store, "a", "T1")
    failed_attempt(store, "a", "T2", outcome="TIMEOUT")
    submitted(store, "a", "T3")
    store.sync(spec("a", a="a different prompt"))
    assert attempts(store, "a") == [
        (1, "T1", "FAILED"),
        (2, "T2", "SUPERSEDED"),
        (3, "T3", "SUPERSEDED"),
    ]
    assert store.unsettled("a") == []
    assert record(store, "a")["taskIds"] == ["T1", "T2", "T3"]


def test_sync_hides_jobs_no_longer_in_the_spec(store: Store) -> None:
    """A job dropped from the spec is kept but not counted; back in the spec, it is kept."""
    store.sync(spec("a", "b"))
    submitted(store, "b", "T1")
    store.sync(spec("a"))
    assert store.counts() == {JobStatus.PENDING: 1}
    assert [r["id"] for r in store.records()] == ["a"]
    report = store.sync(spec("a", "b"))
    assert report.kept == 2
    assert store.job("b").status is JobStatus.RUNNING


# --- one attempt ------------------------------------------------------------------------


def test_begin_attempt_records_the_intent(store: Store) -> None:
    """Before the request goes out the job is submitting, with the body it is sent."""
    store.sync(spec("a"))
    attempt = store.begin_attempt("a", {"prompt": "as sent"}, {"imageUrls": ["x.png"]})
    job = store.job("a")
    assert (attempt, job.status, job.attempts, job.task_id) == (1, JobStatus.SUBMITTING, 1, None)
    rec = record(store, "a")
    assert json.loads(rec["params"]) == {"prompt": "as sent"}
    assert json.loads(rec["sources"]) == {"imageUrls": ["x.png"]}
    assert attempts(store, "a") == []  # no token: nothing for a webhook to find


def test_begin_attempt_with_a_token_lets_its_webhook_find_it(store: Store) -> None:
    """An attempt's webhook token names the job and attempt, and its task once known."""
    store.sync(spec("a"))
    store.begin_attempt("a", {}, {}, hook="tok-1")
    assert store.hook("tok-1") == ("a", 1, None)
    store.record_task("a", 1, "T1", "QUEUED")
    assert store.hook("tok-1") == ("a", 1, "T1")
    assert store.hook("never-issued") is None


def test_record_task_starts_following(store: Store) -> None:
    """The task id is kept the moment it is known, and the job is running."""
    store.sync(spec("a"))
    attempt = store.begin_attempt("a", {}, {})
    store.record_task("a", attempt, "T1", "QUEUED")
    job = store.job("a")
    assert (job.status, job.task_id, job.remote_status) == (JobStatus.RUNNING, "T1", "QUEUED")


def test_not_submitted_gives_the_attempt_back(store: Store) -> None:
    """A refused submit: pending with the reason, attempt number reused, token forgotten."""
    store.sync(spec("a"))
    store.begin_attempt("a", {}, {}, hook="tok-1")
    store.not_submitted("a", 1, "1003", "queue full")
    job = store.job("a")
    assert (job.status, job.attempts, job.error_code, job.error_message) == (
        JobStatus.PENDING,
        0,
        "1003",
        "queue full",
    )
    assert store.hook("tok-1") is None
    assert store.begin_attempt("a", {}, {}, hook="tok-2") == 1


def test_success_is_downloaded_then_finished(store: Store) -> None:
    """A succeeded task's results wait to be fetched; once its files are saved, it is done."""
    store.sync(spec("a"))
    submitted(store, "a", "T1")
    store.record_success("a", 1, [{"url": "u", "outputType": "mp4"}], {"credits": "6"}, 6.0)
    job = store.job("a")
    assert (job.status, job.remote_status, job.cost) == (JobStatus.DOWNLOADING, "SUCCESS", 6.0)
    assert job.results == (Result("u", "mp4", None),)
    out = OutputRow(1, "u", "a.mp4", 10, "ab" * 32, "mp4", 7)
    store.record_output("a", out)
    assert record(store, "a")["finishedAt"] is None
    store.finish("a")
    assert store.job("a").status is JobStatus.SUCCEEDED
    assert list(store.finished_outputs()) == [("a", out)]
    assert record(store, "a")["finishedAt"] is not None


def test_success_without_files_to_fetch_is_done_at_once(store: Store) -> None:
    """record_success(done=True) finishes the job in one step."""
    store.sync(spec("a"))
    submitted(store, "a", "T1")
    store.record_success("a", 1, [], {}, 1.0, done=True)
    assert store.job("a").status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("retry", "status"), [(True, JobStatus.PENDING), (False, JobStatus.FAILED)]
)
def test_end_attempt_retries_or_fails_the_job(store: Store, retry: bool, status: JobStatus) -> None:
    """An unsuccessful end: pending (unfinished) or failed (finished), its task kept either way."""
    store.sync(spec("a"))
    submitted(store, "a", "T1")
    store.end_attempt("a", 1, "FAILED", "1505", "refused", retry=retry)
    job = store.job("a")
    assert (job.status, job.remote_status, job.error_code, job.error_message) == (
        status,
        "FAILED",
        "1505",
        "refused",
    )
    assert (record(store, "a")["finishedAt"] is None) is retry
    assert attempts(store, "a") == [(1, "T1", "FAILED")]


def test_the_attempts_table_keeps_every_task(store: Store) -> None:
    """Every attempt's task is kept with its outcome; a token still finds its task after the end."""
    store.sync(spec("a"))
    failed_attempt(store, "a", "T1")
    attempt = submitted(store, "a", "T2", hook="tok-2")
    store.end_attempt("a", attempt, "CANCEL", "CANCEL", "cancelled", retry=True)
    submitted(store, "a", "T3")
    store.end_attempt("a", 3, "FAILED", "1505", "refused", retry=False)
    assert attempts(store, "a") == [(1, "T1", "FAILED"), (2, "T2", "CANCEL"), (3, "T3", "FAILED")]
    assert store.hook("tok-2") == ("a", 2, "T2")
    assert record(store, "a")["taskIds"] == ["T1", "T2", "T3"]


def test_mark_unknown_keeps_the_task_id(store: Store) -> None:
    """A task whose end could not be learned: unknown, and its id kept to ask again."""
    store.sync(spec("a"))
    submitted(store, "a", "T1")
    store.mark_unknown("a", "the query kept failing")
    job = store.job("a")
    assert (job.status, job.task_id, job.error_code) == (JobStatus.UNKNOWN, "T1", "UNKNOWN")


def test_unfetched_keeps_the_paid_task(store: Store) -> None:
    """A success whose files could not be had: unfetched, with the task and its results."""
    store.sync(spec("a"))
    submitted(store, "a", "T1")
    store.record_success("a", 1, [{"url": "u"}], {}, 2.0)
    store.unfetched("a", "the CDN answered 403")
    job = store.job("a")
    assert (job.status, job.task_id, job.error_code) == (JobStatus.UNFETCHED, "T1", "DOWNLOAD")
    assert job.results == (Result("u", "", None),)


def test_no_registered_secret_reaches_the_file(store: Store, out: Path) -> None:
    """A message holding the API key is stored with the key blanked out."""
    secret = "sk-state-test-7c1f0e9d"
    keep_secret(secret)
    store.sync(spec("a"))
    store.mark_unknown("a", f"server echoed Bearer {secret}")
    assert store.job("a").error_message == "server echoed Bearer ***"
    store.close()
    for path in (out / ".rhbatch").iterdir():
        assert secret.encode() not in path.read_bytes(), path


# --- the start of a run -----------------------------------------------------------------


def every_state(store: Store) -> None:
    """One job in each state recovery cares about."""
    store.sync(spec("submitting", "lost", "following", "unfetched", "failed", "done"))
    store.begin_attempt("submitting", {}, {})  # the run stopped here
    store.begin_attempt("lost", {}, {})
    store.mark_unknown("lost", "the submit's answer was lost")
    submitted(store, "following", "T1")
    store.mark_unknown("following", "the query kept failing")
    submitted(store, "unfetched", "T2")
    store.record_success("unfetched", 1, [{"url": "u"}], {}, 1.0)
    store.unfetched("unfetched", "403")
    submitted(store, "failed", "T3")
    store.end_attempt("failed", 1, "FAILED", "1505", "refused", retry=False)
    submitted(store, "done", "T4")
    store.record_success("done", 1, [], {}, 1.0, done=True)


def statuses(store: Store) -> dict[str, JobStatus]:
    return {r["id"]: JobStatus(r["status"]) for r in store.records()}


def test_recover_asks_again_about_what_may_be_paid(store: Store) -> None:
    """Recovery: cut submits unknown, known tasks followed, unfetched fetched, nothing resent."""
    every_state(store)
    found = store.recover(resubmit_unknown=False, retry_failed=False)
    assert found == {"interrupted_submits": 1, "followed_again": 1, "fetched_again": 1}
    assert statuses(store) == {
        "submitting": JobStatus.UNKNOWN,
        "lost": JobStatus.UNKNOWN,
        "following": JobStatus.RUNNING,
        "unfetched": JobStatus.DOWNLOADING,
        "failed": JobStatus.FAILED,
        "done": JobStatus.SUCCEEDED,
    }
    assert store.job("following").task_id == "T1"


def test_recover_opt_ins_start_a_new_round_of_tries(store: Store) -> None:
    """The opt-ins resend unknown jobs without a task and failed jobs, counting retries anew."""
    every_state(store)
    found = store.recover(resubmit_unknown=True, retry_failed=True)
    assert (found["resubmitted_unknown"], found["retried_failed"]) == (2, 1)
    assert statuses(store) == {
        "submitting": JobStatus.PENDING,
        "lost": JobStatus.PENDING,
        "following": JobStatus.RUNNING,
        "unfetched": JobStatus.DOWNLOADING,
        "failed": JobStatus.PENDING,
        "done": JobStatus.SUCCEEDED,
    }
    assert [store.job(j).first_attempt for j in ("submitting", "lost", "failed")] == [2, 2, 2]


# --- tasks of earlier attempts ------------------------------------------------------------


def test_unsettled_lists_the_tasks_that_may_still_succeed(store: Store) -> None:
    """A known failure is settled; a task that timed out and the current one are not."""
    store.sync(spec("a"))
    failed_attempt(store, "a", "T1")
    failed_attempt(store, "a", "T2", outcome="TIMEOUT")
    submitted(store, "a", "T3")
    assert [(n, t) for n, t, _ in store.unsettled("a")] == [(2, "T2"), (3, "T3")]
    assert all(at is not None and at > 0 for _, _, at in store.unsettled("a"))


@pytest.mark.parametrize("outcome", ["FAILED", "CANCEL", "SUCCESS", "SUPERSEDED", "NOTFOUND"])
def test_settle_records_how_an_earlier_task_ended(store: Store, outcome: str) -> None:
    """Once an earlier task's end is learned, it is no longer waited for."""
    store.sync(spec("a"))
    failed_attempt(store, "a", "T1", outcome="TIMEOUT")
    submitted(store, "a", "T2")
    store.settle("a", 1, "T1", outcome)
    assert [(n, t) for n, t, _ in store.unsettled("a")] == [(2, "T2")]
    assert attempts(store, "a")[0] == (1, "T1", outcome)


def test_a_settled_task_is_not_listed_while_it_is_the_last_one(store: Store) -> None:
    """A timed-out task later found failed is settled, even before the job is sent again."""
    store.sync(spec("a"))
    failed_attempt(store, "a", "T1", outcome="TIMEOUT")
    store.settle("a", 1, "T1", "FAILED")
    assert store.unsettled("a") == []


def test_settle_of_an_attempt_never_recorded_adds_it(store: Store) -> None:
    """A task learned of later (a lost submit's, found by a webhook) gets its attempt row."""
    store.sync(spec("a"))
    store.settle("a", 1, "T9", "FAILED")
    assert attempts(store, "a") == [(1, "T9", "FAILED")]
    assert record(store, "a")["taskIds"] == ["T9"]


def test_a_current_task_that_succeeded_is_settled(store: Store) -> None:
    """The job's own task, once SUCCESS, is not listed as unsettled."""
    store.sync(spec("a"))
    submitted(store, "a", "T1")
    store.record_success("a", 1, [], {}, 1.0)
    assert store.unsettled("a") == []


def test_attach_gives_a_lost_submit_its_task(store: Store) -> None:
    """An unknown job without a task takes the found task as the lost attempt's."""
    store.sync(spec("a"))
    store.begin_attempt("a", {}, {})
    store.mark_unknown("a", "the submit's answer was lost")
    assert store.attach("a", "T1", "RUNNING") == 1
    job = store.job("a")
    assert (job.status, job.attempts, job.task_id, job.error_code) == (
        JobStatus.RUNNING,
        1,
        "T1",
        None,
    )
    assert job.submitted_at is not None


def test_attach_to_a_job_with_a_task_is_a_new_attempt(store: Store) -> None:
    """A task attached to a job that lost no submit is a new attempt; earlier tasks stay listed."""
    store.sync(spec("a", "b"))
    failed_attempt(store, "a", "T1")
    assert store.attach("a", "T2", "SUCCESS") == 2
    assert store.attach("b", "T3", "RUNNING") == 1
    assert record(store, "a")["taskIds"] == ["T1", "T2"]


# --- the manifest's view ------------------------------------------------------------------


def test_records_list_jobs_in_spec_order_with_all_their_tasks(store: Store) -> None:
    """Each record has the job's tasks across attempts (the current one once) and its files."""
    store.sync(spec("b", "a"))
    failed_attempt(store, "a", "T1")
    submitted(store, "a", "T2", hook="tok")
    store.record_success("a", 2, [], {"credits": "6"}, 6.0)
    out = OutputRow(1, "u", "a.mp4", 10, "cd" * 32, "mp4", 7)
    store.record_output("a", out)
    store.finish("a")
    b, a = store.records()
    assert (b["id"], b["taskIds"], b["attempts"], b["outputs"]) == ("b", [], 0, [])
    assert (a["id"], a["index"], a["status"], a["attempts"]) == ("a", 1, "succeeded", 2)
    assert (a["taskId"], a["taskIds"], a["cost"]) == ("T2", ["T1", "T2"], 6.0)
    assert a["outputs"] == [out]
    assert json.loads(a["usage"]) == {"credits": "6"}


# --- group commit, the lock, the file's format ----------------------------------------------


def test_grouped_writes_are_invisible_to_others_until_commit(store: Store) -> None:
    """Grouped writes stay invisible to another connection until commit; each one is announced."""
    store.sync(spec("a"))
    told: list[int] = []
    store.grouped(lambda: told.append(1))
    store.begin_attempt("a", {}, {})
    store.record_task("a", 1, "T1", "RUNNING")
    with reader(store.path) as other:
        query = "SELECT status, task_id FROM jobs WHERE id='a'"
        assert other.execute(query).fetchone() == ("pending", None)
        assert len(told) == 2
        store.commit()
        assert other.execute(query).fetchone() == ("running", "T1")


def test_ungrouped_writes_are_committed_one_by_one(store: Store) -> None:
    """Out of a group (and after grouped(None)), each transition is visible at once."""
    store.sync(spec("a"))
    store.grouped(lambda: None)
    store.begin_attempt("a", {}, {})
    store.grouped(None)  # commits what the group held
    with reader(store.path) as other:
        query = "SELECT status FROM jobs WHERE id='a'"
        assert other.execute(query).fetchone() == ("submitting",)
        store.record_task("a", 1, "T1", "RUNNING")
        assert other.execute(query).fetchone() == ("running",)


def test_close_commits_what_a_group_left_open(out: Path) -> None:
    """Closing the store commits the open group: nothing written is lost."""
    with Store.open(out) as store:
        store.sync(spec("a"))
        store.grouped(lambda: None)
        store.mark_unknown("a", "left in the group")
    with Store.open(out) as again:
        assert again.job("a").status is JobStatus.UNKNOWN


def test_a_second_open_of_the_same_directory_is_refused(out: Path) -> None:
    """A second open of a directory is refused, naming the holder, until the first closes."""
    with Store.open(out):
        with pytest.raises(StateError) as caught:
            Store.open(out)
        assert str(caught.value) == (
            f"{out} is in use by another rhbatch run (pid {os.getpid()}); "
            "wait for it to finish or use another --out directory"
        )
    with Store.open(out) as again:
        assert again.counts() == {}


def test_open_without_create_wants_an_existing_run(out: Path) -> None:
    """Commands that read a run (status, verify) refuse a directory that holds none."""
    with pytest.raises(StateError, match=r"holds no rhbatch run \(no \.rhbatch/state\.db\)"):
        Store.open(out, create=False)
    assert not out.exists()


NEWER = SCHEMA_VERSION + 1  # a format only a later rhbatch reads


def newer_format(out: Path) -> Path:
    """A state file marked as written by a later rhbatch; its path."""
    with Store.open(out) as store:
        store.conn.execute("UPDATE meta SET value=? WHERE key='schema'", (str(NEWER),))
    return store.path


def test_a_newer_format_is_refused(out: Path) -> None:
    """A state file written by a later rhbatch is not read, and not changed."""
    path = newer_format(out)
    message = f"has state format {NEWER}; this rhbatch reads {SCHEMA_VERSION}"
    with pytest.raises(StateError, match=message):
        Store.open(out)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (str(NEWER),)


def test_a_refused_format_leaves_nothing_open(out: Path) -> None:
    """Refusing a file's format closes the lock file and the connection it opened."""
    newer_format(out)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(StateError, match=f"has state format {NEWER}"):
            Store.open(out)
        gc.collect()
    assert [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)] == []


# Format 1, as rhbatch wrote it before per-attempt webhook tokens (commit b47f38d).
FORMAT_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    in_spec INTEGER NOT NULL DEFAULT 1,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    task_id TEXT,
    remote_status TEXT,
    sent TEXT,
    sources TEXT,
    error_code TEXT,
    error_message TEXT,
    results TEXT,
    usage TEXT,
    cost REAL,
    submitted_at REAL,
    finished_at REAL
);
CREATE INDEX jobs_by_status ON jobs (in_spec, status, idx);
CREATE TABLE attempts (
    job_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    task_id TEXT,
    started_at REAL NOT NULL,
    outcome TEXT,
    error_code TEXT,
    PRIMARY KEY (job_id, n)
);
CREATE TABLE outputs (
    job_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    url TEXT,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    type TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (job_id, n)
);
CREATE TABLE uploads (
    sha256 TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploaded_at REAL NOT NULL,
    source TEXT NOT NULL
);
INSERT INTO meta VALUES ('schema', '1');
"""


def format_1(out: Path, remote_status: str) -> None:
    """A format-1 state file: a job failed by a lost task (``remote_status``) that had
    retried once, a job whose task truly failed, and one that succeeded."""
    path = out / ".rhbatch" / "state.db"
    path.parent.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(FORMAT_1)
        rows = [
            ("lost", 0, "failed", 2, "T2", remote_status, None),
            ("broke", 1, "failed", 1, "T3", "FAILED", None),
            ("done", 2, "succeeded", 1, "T4", "SUCCESS", 6.0),
        ]
        conn.executemany(
            "INSERT INTO jobs (id, idx, endpoint, params, status, attempts, task_id, "
            "remote_status, cost, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1.0)",
            [(job, i, ENDPOINT, json.dumps({"prompt": job}), *rest) for job, i, *rest in rows],
        )
        conn.execute(
            "INSERT INTO attempts VALUES ('lost', 1, 'T1', 1.0, 'FAILED', '1015')",
        )


@pytest.mark.parametrize("remote_status", ["TIMEOUT", "LOST", "PROTOCOL"])
def test_a_format_1_file_is_brought_to_the_current_format(out: Path, remote_status: str) -> None:
    """A format-1 file gains the new columns, keeps its rows, and its lost tasks become unknown."""
    format_1(out, remote_status)
    with Store.open(out) as store:
        assert store.get_meta("schema") == str(SCHEMA_VERSION)
        columns = {r[1] for r in store.conn.execute("PRAGMA table_info(jobs)")}
        assert "first_attempt" in columns
        assert "hook" in {r[1] for r in store.conn.execute("PRAGMA table_info(attempts)")}
        lost = store.job("lost")
        assert (lost.status, lost.task_id, lost.attempts, lost.first_attempt) == (
            JobStatus.UNKNOWN,
            "T2",
            2,
            1,
        )
        assert lost.params == {"prompt": "lost"}
        assert store.job("broke").status is JobStatus.FAILED
        assert (store.job("done").status, store.job("done").cost) == (JobStatus.SUCCEEDED, 6.0)
        assert record(store, "lost")["taskIds"] == ["T1", "T2"]
        assert [(n, t) for n, t, _ in store.unsettled("lost")] == [(2, "T2")]
        assert store.recover(resubmit_unknown=False, retry_failed=False)["followed_again"] == 1
    with Store.open(out) as again:  # the migration happens once
        assert again.job("lost").status is JobStatus.RUNNING


def test_a_format_2_file_gains_the_quote_columns(out: Path) -> None:
    """A format-2 file (before spend control) gains each job's quote, empty, and keeps the
    rest; the jobs can then be quoted."""
    format_1(out, "TIMEOUT")
    with contextlib.closing(sqlite3.connect(out / ".rhbatch" / "state.db")) as conn, conn:
        for sql in (
            "ALTER TABLE attempts ADD COLUMN hook TEXT",
            "ALTER TABLE jobs ADD COLUMN first_attempt INTEGER NOT NULL DEFAULT 1",
        ):
            conn.execute(sql)
        conn.execute("UPDATE meta SET value='2' WHERE key='schema'")
    with Store.open(out) as store:
        assert store.get_meta("schema") == str(SCHEMA_VERSION)
        assert store.job("done").quoted is None
        assert (store.job("done").status, store.job("done").cost) == (JobStatus.SUCCEEDED, 6.0)
        store.requote([("done", 5.5, "preview")])
        assert store.job("done").quoted == 5.5
        assert ("done", ENDPOINT, "succeeded", 5.5, 6.0) in store.ledger()


def test_a_format_3_file_gains_the_uses_column(out: Path) -> None:
    """A format-3 file (before pipelines) gains each job's `uses`, empty; a job synced with
    one then keeps it, and changing it starts the job again."""
    format_1(out, "TIMEOUT")
    with contextlib.closing(sqlite3.connect(out / ".rhbatch" / "state.db")) as conn, conn:
        for sql in (
            "ALTER TABLE attempts ADD COLUMN hook TEXT",
            "ALTER TABLE jobs ADD COLUMN first_attempt INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE jobs ADD COLUMN quoted REAL",
            "ALTER TABLE jobs ADD COLUMN quote_source TEXT",
        ):
            conn.execute(sql)
        conn.execute("UPDATE meta SET value='3' WHERE key='schema'")
    with Store.open(out) as store:
        assert store.get_meta("schema") == str(SCHEMA_VERSION)
        assert store.job("done").uses == {}
        assert store.job("done").status is JobStatus.SUCCEEDED
        job = ("clip", 9, ENDPOINT, {"prompt": "{f.url}"}, None, {"f": "done"})
        store.sync([job])
        assert store.job("clip").uses == {"f": "done"}
        assert store.sync([job]).kept == 1
        assert store.sync([(*job[:5], {"f": "lost"})]).changed == 1


def test_a_format_5_file_gains_the_vars_column(out: Path) -> None:
    """A format-5 file (before jobs kept their variables) gains each job's `vars`, empty
    ({} in the manifest) until a sync gives them; a bucket's journal, whose triggers were
    made for the columns of before, is made again with it."""
    from rhbatch.store.journal import install

    with Store.open(out) as store:
        store.sync(spec("fox"))
    with contextlib.closing(sqlite3.connect(out / ".rhbatch" / "state.db")) as conn, conn:
        conn.execute("ALTER TABLE jobs DROP COLUMN vars")
        conn.execute("UPDATE meta SET value='5' WHERE key='schema'")
    with contextlib.closing(sqlite3.connect(out / ".rhbatch" / "state.db")) as conn:
        conn.isolation_level = None
        install(conn)  # a run into a bucket journaled it as format 5
    with Store.open(out) as store:
        assert store.get_meta("schema") == str(SCHEMA_VERSION)
        assert record(store, "fox")["vars"] == "{}"
        store.journaled()
        after = store.journal_last()
        (job,) = spec("fox")
        store.sync([(*job, None, None, {"look": "dark", "take": 2})])
        assert json.loads(record(store, "fox")["vars"]) == {"look": "dark", "take": 2}
        assert store.sync([job]).kept == 1  # vars are no part of a job's identity
        _, changes = store.journal_changes(after)
    shipped = [row for table, _, row in changes if table == "jobs" and row]
    assert shipped
    assert json.loads(shipped[0]["vars"]) == {"look": "dark", "take": 2}
