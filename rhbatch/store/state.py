"""The durable state of a run: one SQLite file per output directory, the only sqlite3 user.

``DIR/.rhbatch/state.db`` (WAL) holds every job of every run into DIR, each
submit attempt with its task id, every output file, and every upload. Each
transition is written before the runner acts on it: the intent to submit is
committed before the request goes out, the task id the moment it arrives.
During a run, transitions made in the same event-loop turn share one commit
(``grouped``); the runner commits before any request that depends on them.
So a killed run leaves a store that says exactly what is known: a job caught
between intent and task id is "unknown" (a task may exist), never silently
resubmitted.

A lock file (``DIR/.rhbatch/lock``, flock) refuses a second run on the same
directory. sqlite3 errors (disk full, corruption) become ``StateError``.

Job states::

    pending -> submitting -> running -> downloading -> succeeded
                   |            |             \\-> unfetched (paid; the files could not be had)
                   |            |-> failed (the task is known to have failed or been cancelled)
                   |            |-> pending (a retryable failure: submitted again)
                   |            \\-> unknown (its end could not be learned; the next run asks)
                   \\-> unknown (the submit's answer was lost: a task may exist, and be paid)

A job is ``failed`` only when nothing was sent or its task is known to have
failed. At the start of a run, ``unknown`` jobs with a task id are followed
again and ``unfetched`` ones fetched again; ``unknown`` jobs without one wait
for ``--resubmit-unknown``, ``rhbatch attach`` or a webhook that names them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from rhbatch.errors import StateError
from rhbatch.models import JobRow, JobStatus, OutputRow, SyncReport, canonical_json
from rhbatch.redact import scrub

SCHEMA_VERSION = 2
STATE_DIR = ".rhbatch"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
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
    finished_at REAL,
    first_attempt INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (in_spec, status, idx);
-- The tasks of attempts that ended without success (the current one is jobs.task_id).
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    task_id TEXT,
    started_at REAL NOT NULL,
    outcome TEXT,
    error_code TEXT,
    hook TEXT,
    PRIMARY KEY (job_id, n)
);
CREATE INDEX IF NOT EXISTS attempts_by_hook ON attempts (hook) WHERE hook IS NOT NULL;
CREATE TABLE IF NOT EXISTS outputs (
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
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    size INTEGER NOT NULL,
    uploaded_at REAL NOT NULL,
    source TEXT NOT NULL
);
"""


class Store:
    """One output directory's state. Use ``Store.open(dir)``; close it when done."""

    def __init__(self, conn: sqlite3.Connection, lock: TextIO | None, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock
        # Group commit: when set, writes join one open transaction and this is called
        # so that the owner commits soon (``commit``); see ``grouped``.
        self._on_write: Callable[[], None] | None = None
        self._open = False

    @classmethod
    def open(cls, out_dir: Path, *, lock: bool = True, create: bool = True) -> Store:
        state = out_dir / STATE_DIR
        path = state / "state.db"
        if not create and not path.exists():
            raise StateError(f"{out_dir} holds no rhbatch run (no {STATE_DIR}/state.db)")
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {state}: {exc.strerror}") from None
        handle = _lock(state / "lock") if lock else None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
            conn.execute("PRAGMA busy_timeout=5000")
            _migrate(conn)
            conn.executescript(_SCHEMA)
            found = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if found is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) != SCHEMA_VERSION:
                raise StateError(
                    f"{path} has state format {found[0]}; this rhbatch reads {SCHEMA_VERSION}"
                )
        except sqlite3.Error as exc:
            if handle is not None:
                handle.close()
            raise StateError(f"cannot open {path}: {exc}") from None
        return cls(conn, handle, path)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, StateError):
            self.commit()
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------

    def grouped(self, on_write: Callable[[], None] | None) -> None:
        """Group commit: from now on writes share one open transaction, and ``on_write``
        is called after each so its owner calls ``commit`` soon (the runner does it once
        per event-loop turn, and before any action that depends on a write). ``None``
        goes back to one transaction per transition."""
        self.commit()
        self._on_write = on_write

    def commit(self) -> None:
        if self._open:
            self._open = False
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StateError(f"cannot write {self.path}: {exc}") from None

    def _write(self, sql: str, args: Iterable[Any] = ()) -> None:
        # The last net: no secret reaches the disk, whatever a server sent.
        values = tuple(scrub(a) if isinstance(a, str) else a for a in args)
        with self._transaction() as db:
            db.execute(sql, values)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            if self._on_write is not None:
                if not self._open:
                    self.conn.execute("BEGIN IMMEDIATE")
                    self._open = True
                yield self.conn
                self._on_write()
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StateError(f"cannot write {self.path}: {exc}") from None

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- jobs of the current spec -----------------------------------------------------

    def sync(self, jobs: Iterable[tuple[str, int, str, dict[str, Any]]]) -> SyncReport:
        """Make the store's job list the spec's: new jobs are added pending, known ones
        keep their state (and take their new position); a known id whose parameters
        changed starts again as pending. Jobs no longer in the spec are kept, hidden."""
        new = kept = changed = 0
        with self._transaction() as db:
            db.execute("UPDATE jobs SET in_spec=0")
            known = dict(db.execute("SELECT id, params FROM jobs").fetchall())
            inserts, moves, resets = [], [], []
            for job_id, idx, endpoint, params in jobs:
                text = canonical_json(params)
                before = known.get(job_id)
                if before is None:
                    inserts.append((job_id, idx, endpoint, text, JobStatus.PENDING.value))
                    new += 1
                elif before != text:
                    resets.append((idx, endpoint, text, JobStatus.PENDING.value, job_id))
                    changed += 1
                else:
                    moves.append((idx, job_id))
                    kept += 1
            db.executemany(
                "INSERT INTO jobs (id, idx, endpoint, params, status) VALUES (?,?,?,?,?)", inserts
            )
            db.executemany("UPDATE jobs SET idx=?, in_spec=1 WHERE id=?", moves)
            db.executemany(
                "INSERT OR IGNORE INTO attempts (job_id, n, task_id, started_at, outcome) "
                "SELECT id, attempts, task_id, COALESCE(submitted_at, 0), 'SUPERSEDED' "
                "FROM jobs WHERE id=? AND task_id IS NOT NULL",
                [(r[-1],) for r in resets],
            )
            db.executemany(
                "UPDATE jobs SET idx=?, in_spec=1, endpoint=?, params=?, status=?, task_id=NULL, "
                "remote_status=NULL, error_code=NULL, error_message=NULL, results=NULL, "
                "usage=NULL, cost=NULL, finished_at=NULL, first_attempt=attempts+1 WHERE id=?",
                resets,
            )
            changed_ids = [(r[-1],) for r in resets]
            # The tasks of the old parameters belong to no job now: never adopted later.
            db.executemany(
                "UPDATE attempts SET outcome='SUPERSEDED' WHERE job_id=? "
                "AND COALESCE(outcome, '') NOT IN ('FAILED', 'CANCEL', 'SUCCESS')",
                changed_ids,
            )
            db.executemany("DELETE FROM outputs WHERE job_id=?", changed_ids)
        return SyncReport(new, kept, changed)

    def counts(self) -> dict[JobStatus, int]:
        rows = self.conn.execute(
            "SELECT status, COUNT(*) FROM jobs WHERE in_spec=1 GROUP BY status"
        ).fetchall()
        return {JobStatus(s): n for s, n in rows}

    def total_cost(self) -> float:
        row = self.conn.execute("SELECT SUM(cost) FROM jobs WHERE in_spec=1").fetchone()
        return float(row[0] or 0.0)

    def pending(self, after: int = -1, limit: int = 500) -> list[JobRow]:
        """The next pending jobs in spec order, after position ``after``."""
        rows = self.conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE in_spec=1 AND status='pending' AND idx>? "
            "ORDER BY idx LIMIT ?",
            (after, limit),
        ).fetchall()
        return [_job(r) for r in rows]

    def job(self, job_id: str) -> JobRow:
        row = self.conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return _job(row)

    def jobs(self, *statuses: JobStatus) -> list[JobRow]:
        marks = ",".join("?" * len(statuses))
        rows = self.conn.execute(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE in_spec=1 AND status IN ({marks}) ORDER BY idx",
            [s.value for s in statuses],
        ).fetchall()
        return [_job(r) for r in rows]

    def finished_outputs(self) -> Iterator[tuple[str, OutputRow]]:
        """Every output file of the spec's succeeded jobs, in one query."""
        for row in self.conn.execute(
            "SELECT o.job_id, o.n, o.url, o.path, o.bytes, o.sha256, o.type, o.mtime_ns "
            "FROM outputs o JOIN jobs j ON j.id = o.job_id "
            "WHERE j.in_spec=1 AND j.status='succeeded'"
        ):
            yield row[0], OutputRow(*row[1:])

    def outputs(self, job_id: str) -> list[OutputRow]:
        rows = self.conn.execute(
            "SELECT n, url, path, bytes, sha256, type, mtime_ns FROM outputs "
            "WHERE job_id=? ORDER BY n",
            (job_id,),
        ).fetchall()
        return [OutputRow(*r) for r in rows]

    # --- transitions: one transaction each ------------------------------------------

    def begin_attempt(
        self, job_id: str, sent: dict[str, Any], sources: dict[str, Any], hook: str | None = None
    ) -> int:
        """Record the intent to submit, before the request goes out; ``hook``, the attempt's
        webhook token, names the attempt should its task announce itself."""
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

    def record_task(self, job_id: str, attempt: int, task_id: str, remote_status: str) -> None:
        """The task id, the moment the submit's answer arrives (or a webhook names it)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET status='running', task_id=?, remote_status=?, error_code=NULL, "
                "error_message=NULL WHERE id=?",
                (task_id, remote_status, job_id),
            )
            db.execute(
                "UPDATE attempts SET task_id=? WHERE job_id=? AND n=? AND hook IS NOT NULL",
                (task_id, job_id, attempt),
            )

    def record_remote(self, job_id: str, remote_status: str) -> None:
        self._write("UPDATE jobs SET remote_status=? WHERE id=?", (remote_status, job_id))

    def not_submitted(self, job_id: str, attempt: int, code: str, message: str) -> None:
        """The submit was refused (or is known to have made no task): back to pending."""
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
        self._write(
            "INSERT OR REPLACE INTO outputs VALUES (?,?,?,?,?,?,?,?)",
            (job_id, out.n, out.url, out.path, out.bytes, out.sha256, out.type, out.mtime_ns),
        )

    def finish(self, job_id: str) -> None:
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
        self._write(
            "UPDATE jobs SET status='failed', error_code=?, error_message=?, finished_at=? "
            "WHERE id=?",
            (code, message, time.time(), job_id),
        )

    def mark_unknown(self, job_id: str, message: str) -> None:
        """The job's outcome cannot be known now: its submit's answer was lost (no task id),
        or its task's end could not be learned (the task id is kept, and followed again)."""
        self._write(
            "UPDATE jobs SET status='unknown', error_code='UNKNOWN', error_message=? WHERE id=?",
            (message, job_id),
        )

    def unfetched(self, job_id: str, message: str) -> None:
        """The task succeeded, but its files could not be had: the next run tries again."""
        self._write(
            "UPDATE jobs SET status='unfetched', error_code='DOWNLOAD', error_message=?, "
            "finished_at=? WHERE id=?",
            (message, time.time(), job_id),
        )

    def note(self, job_id: str, code: str, message: str) -> None:
        """Say why a job is where it is, without moving it."""
        self._write(
            "UPDATE jobs SET error_code=?, error_message=? WHERE id=?", (code, message, job_id)
        )

    def recover(self, *, resubmit_unknown: bool, retry_failed: bool) -> dict[str, int]:
        """At the start of a run: interrupted submits become unknown; unknown jobs with a
        task are followed again and unfetched ones fetched again; opt-ins reset jobs."""
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
            if resubmit_unknown:
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
        self._write("UPDATE jobs SET status='downloading' WHERE id=?", (job_id,))

    # --- tasks of earlier attempts, and webhook tokens ---------------------------------------

    def unsettled(self, job_id: str) -> list[tuple[int, str, float | None]]:
        """(attempt, task id, Unix time of its submit) of the job's tasks whose end is not
        known to be a failure: they may still succeed (and be paid), so the job is not sent
        again before they are looked at."""
        rows = self.conn.execute(
            "SELECT n, task_id, started_at FROM attempts WHERE job_id=? AND task_id IS NOT NULL "
            "AND COALESCE(outcome, '') NOT IN ('FAILED', 'CANCEL', 'SUCCESS', 'SUPERSEDED', "
            "'NOTFOUND') ORDER BY n",
            (job_id,),
        ).fetchall()
        found = [(int(n), str(t), float(at) if at else None) for n, t, at in rows]
        current = self.conn.execute(
            "SELECT attempts, task_id, remote_status, submitted_at FROM jobs "
            "WHERE id=? AND task_id IS NOT NULL",
            (job_id,),
        ).fetchone()
        unsettled = current is not None and current[2] not in ("FAILED", "CANCEL", "SUCCESS")
        if unsettled and all(t != current[1] for _, t, _ in found):
            found.append((int(current[0]), str(current[1]), current[3]))
        return found

    def settle(self, job_id: str, attempt: int, task_id: str, outcome: str) -> None:
        """Record how an earlier attempt's task ended, as learned later."""
        self._write(
            "INSERT INTO attempts (job_id, n, task_id, started_at, outcome) VALUES (?,?,?,?,?) "
            "ON CONFLICT (job_id, n) DO UPDATE SET task_id=excluded.task_id, "
            "outcome=excluded.outcome",
            (job_id, attempt, task_id, time.time(), outcome),
        )

    def attach(self, job_id: str, task_id: str, remote_status: str) -> int:
        """Give a job a task found elsewhere: the lost attempt's, if the job is unknown
        without one, else a new attempt. Returns the attempt."""
        with self._transaction() as db:
            n = db.execute(
                "UPDATE jobs SET attempts = CASE WHEN status='unknown' AND task_id IS NULL "
                "AND attempts > 0 THEN attempts ELSE attempts+1 END, status='running', "
                "task_id=?, remote_status=?, error_code=NULL, error_message=NULL, "
                "submitted_at=COALESCE(submitted_at, ?) WHERE id=? RETURNING attempts",
                (task_id, remote_status, time.time(), job_id),
            ).fetchone()[0]
        return int(n)

    def hook(self, token: str) -> tuple[str, int, str | None] | None:
        """(job id, attempt, task id) of the attempt a webhook token was made for."""
        row = self.conn.execute(
            "SELECT job_id, n, task_id FROM attempts WHERE hook=?", (token,)
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), row[2])

    # --- uploads ----------------------------------------------------------------------

    def upload(self, sha256: str) -> tuple[str, float] | None:
        row = self.conn.execute(
            "SELECT url, uploaded_at FROM uploads WHERE sha256=?", (sha256,)
        ).fetchone()
        return None if row is None else (str(row[0]), float(row[1]))

    def record_upload(self, sha256: str, url: str, size: int, source: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO uploads VALUES (?,?,?,?,?)",
            (sha256, url, size, time.time(), source),
        )

    # --- the manifest's view ------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        """Every job of the current spec in spec order, with its task ids and outputs; the
        structured fields (params, sources, usage, results) as their stored JSON text."""
        tasks: dict[str, list[str]] = {}
        for job_id, task_id in self.conn.execute(
            "SELECT job_id, task_id FROM attempts WHERE task_id IS NOT NULL ORDER BY job_id, n"
        ):
            tasks.setdefault(job_id, []).append(task_id)
        outputs: dict[str, list[OutputRow]] = {}
        for row in self.conn.execute(
            "SELECT job_id, n, url, path, bytes, sha256, type, mtime_ns FROM outputs "
            "ORDER BY job_id, n"
        ):
            outputs.setdefault(row[0], []).append(OutputRow(*row[1:]))
        cursor = self.conn.execute(
            "SELECT id, idx, endpoint, params, status, attempts, task_id, sent, sources, "
            "error_code, error_message, usage, cost, submitted_at, finished_at, results "
            "FROM jobs WHERE in_spec=1 ORDER BY idx"
        )
        for r in cursor:
            yield {
                "id": r[0],
                "index": r[1],
                "endpoint": r[2],
                # JSON texts as stored (compact, keys sorted): the manifest splices them in.
                "params": r[7] or r[3],
                "sources": r[8] or "{}",
                "status": r[4],
                "attempts": r[5],
                "taskId": r[6],
                "taskIds": _with(tasks.get(r[0], []), r[6]),
                "errorCode": r[9],
                "errorMessage": r[10],
                "usage": r[11] or "null",
                "cost": r[12],
                "submittedAt": r[13],
                "finishedAt": r[14],
                "outputs": outputs.get(r[0], []),
                "results": r[15] or "[]",
            }


def _with(earlier: list[str], current: str | None) -> list[str]:
    return [*earlier, current] if current and current not in earlier else earlier


_JOB_COLUMNS = (
    "id, idx, endpoint, params, status, attempts, task_id, remote_status, error_code, "
    "error_message, results, cost, submitted_at, first_attempt"
)


def _job(r: tuple[Any, ...]) -> JobRow:
    return JobRow(
        id=r[0],
        idx=r[1],
        endpoint=r[2],
        params=json.loads(r[3]),
        status=JobStatus(r[4]),
        attempts=r[5],
        task_id=r[6],
        remote_status=r[7],
        error_code=r[8],
        error_message=r[9],
        results=json.loads(r[10]) if r[10] else [],
        cost=r[11],
        submitted_at=r[12],
        first_attempt=r[13],
    )


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a state file of an earlier format up to this one (in place, once)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if has_meta is None:
        return  # a new file
    found = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if found is None or found[0] != "1":
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Format 1 -> 2: per-attempt webhook tokens, and where a round of retries began.
        conn.execute("ALTER TABLE attempts ADD COLUMN hook TEXT")
        conn.execute("ALTER TABLE jobs ADD COLUMN first_attempt INTEGER NOT NULL DEFAULT 1")
        # Format 1 called a job whose task could not be followed "failed"; its task may
        # still have succeeded: say "unknown", and let the next run ask.
        conn.execute(
            "UPDATE jobs SET status='unknown' WHERE status='failed' AND task_id IS NOT NULL "
            "AND remote_status IN ('TIMEOUT', 'LOST', 'PROTOCOL')"
        )
        conn.execute("UPDATE meta SET value='2' WHERE key='schema'")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _lock(path: Path) -> TextIO:
    """Hold an exclusive lock on ``path`` for as long as the returned file is open."""
    handle = path.open("a+", encoding="utf-8")
    try:
        import fcntl  # POSIX; on Windows the lock is not taken

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - not POSIX
        return handle
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StateError(
            f"{path.parent.parent} is in use by another rhbatch run ({holder}); "
            "wait for it to finish or use another --out directory"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle
