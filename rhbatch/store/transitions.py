"""The job transitions of the state store: each one transaction, written before it is acted on.

The intent to submit is committed before the request goes out (with the
attempt's webhook token), the task id the moment it arrives, every outcome as
it is known. ``state.py`` documents the job states these move between. Each marks
the job it changes for the manifest's next rewrite (``changes.py``).
"""

from __future__ import annotations

import time
from typing import Any

from rhbatch.models import JobStatus, OutputRow, RemoteStatus, canonical_json
from rhbatch.redact import scrub
from rhbatch.store.db import Database


class Transitions(Database):
    # --- transitions: one transaction each ------------------------------------------

    def begin_attempt(
        self, job_id: str, sent: dict[str, Any], sources: dict[str, Any], hook: str | None = None
    ) -> int:
        """Record the intent to submit, before the request goes out; ``hook``, the attempt's
        webhook token, names the attempt should its task announce itself."""
        self.changed.job(job_id)
        with self._transaction() as db:
            n = db.execute(
                "UPDATE jobs SET status='submitting', attempts=attempts+1, task_id=NULL, "
                "remote_status=NULL, sent=?, sources=?, error_code=NULL, error_message=NULL, "
                "submitted_at=? WHERE id=? RETURNING attempts",
                (canonical_json(sent), canonical_json(sources), time.time(), job_id),
            ).fetchone()[0]
            if hook is not None:
                db.execute(
                    "INSERT OR REPLACE INTO attempts (job_id, n, started_at, hook) "
                    "VALUES (?,?,?,?)",
                    (job_id, n, time.time(), hook),
                )
        return int(n)

    def record_task(
        self,
        job_id: str,
        attempt: int,
        task_id: str,
        remote_status: RemoteStatus,
        *,
        own_row: bool = True,
    ) -> None:
        """The task id, the moment the submit's answer arrives (or a webhook names it).
        ``own_row``: the attempt may have a row of its own (a webhook token, a lost
        submit's); a plain submit's answer (False) has none to update."""
        self.changed.job(job_id)
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status='running', task_id=?, remote_status=?, error_code=NULL, "
                "error_message=NULL WHERE id=?",
                (task_id, remote_status, job_id),
            )
            if not own_row:
                return
            db.execute(  # a lost submit's task found: what it is billed is now known
                "UPDATE attempts SET task_id=?, outcome=CASE WHEN outcome='LOST' THEN NULL "
                "ELSE outcome END WHERE job_id=? AND n=? AND (hook IS NOT NULL OR outcome='LOST')",
                (task_id, job_id, attempt),
            )

    def record_remote(self, job_id: str, remote_status: RemoteStatus) -> None:
        self.changed.job(job_id)
        self._write("UPDATE jobs SET remote_status=? WHERE id=?", (remote_status, job_id))

    def not_submitted(self, job_id: str, attempt: int, code: str, message: str) -> None:
        """The submit was refused (or is known to have made no task): back to pending."""
        self.changed.job(job_id)
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status='pending', attempts=attempts-1, error_code=?, "
                "error_message=?, submitted_at=NULL WHERE id=?",
                (code, scrub(message), job_id),
            )
            db.execute(
                "DELETE FROM attempts WHERE job_id=? AND n=? AND task_id IS NULL", (job_id, attempt)
            )

    def record_success(
        self,
        job_id: str,
        attempt: int,
        results: list[dict[str, Any]],
        usage: dict[str, Any],
        cost: float,
        *,
        done: bool = False,
    ) -> None:
        """The task succeeded: its results are to be fetched (or, ``done``, only recorded)."""
        self.changed.job(job_id)
        status = JobStatus.SUCCEEDED if done else JobStatus.DOWNLOADING
        self._write(
            "UPDATE jobs SET status=?, remote_status='SUCCESS', results=?, usage=?, cost=?, "
            "error_code=NULL, error_message=NULL, finished_at=? WHERE id=?",
            (
                status.value,
                canonical_json(results),
                canonical_json(usage),
                cost,
                time.time() if done else None,
                job_id,
            ),
        )

    def record_output(self, job_id: str, out: OutputRow) -> None:
        self.changed.job(job_id)
        self._write(
            "INSERT OR REPLACE INTO outputs VALUES (?,?,?,?,?,?,?,?)",
            (job_id, out.n, out.url, out.path, out.bytes, out.sha256, out.type, out.mtime_ns),
        )

    def retime_output(self, job_id: str, n: int, mtime_ns: int) -> None:
        """A result file found with its recorded bytes but another time (copied, restored):
        the time it has now, so it is known intact without hashing it again."""
        self.changed.job(job_id)
        self._write("UPDATE outputs SET mtime_ns=? WHERE job_id=? AND n=?", (mtime_ns, job_id, n))

    def finish(self, job_id: str) -> None:
        self.changed.job(job_id)
        self._write(
            "UPDATE jobs SET status='succeeded', error_code=NULL, error_message=NULL, "
            "finished_at=? WHERE id=?",
            (time.time(), job_id),
        )

    def end_attempt(
        self, job_id: str, attempt: int, outcome: str, code: str, message: str, *, retry: bool
    ) -> None:
        """A task ended without success: retry (back to pending) or fail the job. Its task
        id goes to the attempts table, where every task a job ever had is kept."""
        self.changed.job(job_id)
        status = JobStatus.PENDING if retry else JobStatus.FAILED
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO attempts (job_id, n, task_id, started_at, outcome, "
                "error_code, hook) SELECT id, ?, task_id, COALESCE(submitted_at, 0), ?, ?, "
                "(SELECT hook FROM attempts WHERE job_id=? AND n=?) FROM jobs WHERE id=?",
                (attempt, outcome, code, job_id, attempt, job_id),
            )
            db.execute(
                "UPDATE jobs SET status=?, remote_status=?, error_code=?, error_message=?, "
                "finished_at=? WHERE id=?",
                (
                    status.value,
                    outcome,
                    code,
                    scrub(message),
                    None if retry else time.time(),
                    job_id,
                ),
            )

    def fail(self, job_id: str, code: str, message: str) -> None:
        """Fail a job that sent nothing (a file that cannot be uploaded, a refused submit)."""
        self.changed.job(job_id)
        self._write(
            "UPDATE jobs SET status='failed', error_code=?, error_message=?, finished_at=? "
            "WHERE id=?",
            (code, message, time.time(), job_id),
        )

    def mark_unknown(self, job_id: str, message: str) -> None:
        """The job's outcome cannot be known now: its submit's answer was lost (no task id),
        or its task's end could not be learned (the task id is kept, and followed again)."""
        self.changed.job(job_id)
        self._write(
            "UPDATE jobs SET status='unknown', error_code='UNKNOWN', error_message=? WHERE id=?",
            (message, job_id),
        )

    def unfetched(self, job_id: str, message: str) -> None:
        """The task succeeded, but its files could not be had: the next run tries again."""
        self.changed.job(job_id)
        self._write(
            "UPDATE jobs SET status='unfetched', error_code='DOWNLOAD', error_message=?, "
            "finished_at=? WHERE id=?",
            (message, time.time(), job_id),
        )

    def block(self, job_id: str, message: str) -> None:
        """A job it uses did not succeed: this one is not sent (a later run looks again)."""
        self.changed.job(job_id)
        self._write(
            "UPDATE jobs SET status='blocked', error_code='BLOCKED', error_message=? WHERE id=?",
            (message, job_id),
        )

    def note(self, job_id: str, code: str, message: str) -> None:
        """Say why a job is where it is, without moving it."""
        self.changed.job(job_id)
        self._write(
            "UPDATE jobs SET error_code=?, error_message=? WHERE id=?", (code, message, job_id)
        )

    def recover(self, *, resubmit_unknown: bool, retry_failed: bool) -> dict[str, int]:
        """At the start of a run: interrupted submits become unknown; unknown jobs with a
        task are followed again and unfetched ones fetched again; opt-ins reset jobs."""
        self.changed.everything()  # jobs by their status, many at once
        out = {}
        with self._transaction() as db:
            out["interrupted_submits"] = db.execute(
                "UPDATE jobs SET status='unknown', error_code='UNKNOWN', error_message="
                "'the run stopped while this job was being submitted' WHERE status='submitting'"
            ).rowcount
            out["followed_again"] = db.execute(
                "UPDATE jobs SET status='running' "
                "WHERE status='unknown' AND task_id IS NOT NULL AND in_spec=1"
            ).rowcount
            out["fetched_again"] = db.execute(
                "UPDATE jobs SET status='downloading' WHERE status='unfetched' AND in_spec=1"
            ).rowcount
            # A blocked job waits for the jobs it uses again: they may succeed this time.
            db.execute(
                "UPDATE jobs SET status='pending', error_code=NULL, error_message=NULL "
                "WHERE status='blocked' AND in_spec=1"
            )
            if resubmit_unknown:
                # The lost submit may have made a task, and be billed: the attempt is kept
                # as LOST, holding the job's quote, whatever sends the job again.
                db.execute(
                    "INSERT INTO attempts (job_id, n, task_id, started_at, outcome, held) "
                    "SELECT id, attempts, NULL, COALESCE(submitted_at, 0), 'LOST', quoted "
                    "FROM jobs WHERE status='unknown' AND in_spec=1 AND attempts > 0 "
                    "ON CONFLICT (job_id, n) DO UPDATE SET outcome='LOST', held=excluded.held"
                )
                out["resubmitted_unknown"] = db.execute(
                    "UPDATE jobs SET status='pending', first_attempt=attempts+1 "
                    "WHERE status='unknown' AND in_spec=1"
                ).rowcount
            if retry_failed:
                out["retried_failed"] = db.execute(
                    "UPDATE jobs SET status='pending', first_attempt=attempts+1 "
                    "WHERE status='failed' AND in_spec=1"
                ).rowcount
        return out

    def reopen(self, job_id: str) -> None:
        """A finished job whose files are gone: fetch its results again."""
        self.changed.job(job_id)
        self._write("UPDATE jobs SET status='downloading' WHERE id=?", (job_id,))
