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

Job states:  pending -> submitting -> running -> downloading -> succeeded
                                 \\-> unknown        \\-> failed (or back to pending to retry)
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from rhbatch.errors import StateError

SCHEMA_VERSION = 1
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
    finished_at REAL
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
    PRIMARY KEY (job_id, n)
);
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


class JobStatus(StrEnum):
    PENDING = "pending"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class JobRow:
    """A job as the store knows it."""

    id: str
    idx: int
    endpoint: str
    params: dict[str, Any]
    status: JobStatus
    attempts: int
    task_id: str | None
    remote_status: str | None
    error_code: str | None
    error_message: str | None
    results: list[dict[str, Any]]
    cost: float | None


@dataclass(frozen=True)
class OutputRow:
    n: int
    url: str | None
    path: str
    bytes: int
    sha256: str
    type: str
    mtime_ns: int


@dataclass(frozen=True)
class SyncReport:
    new: int
    kept: int
    changed: int  # same id, different parameters: will run again


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


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
        with self._transaction() as db:
            db.execute(sql, tuple(args))

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
                text = dumps(params)
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
                "UPDATE jobs SET idx=?, in_spec=1, endpoint=?, params=?, status=?, task_id=NULL, "
                "remote_status=NULL, error_code=NULL, error_message=NULL, results=NULL, "
                "usage=NULL, cost=NULL, finished_at=NULL WHERE id=?",
                resets,
            )
            db.executemany("DELETE FROM outputs WHERE job_id=?", [(r[-1],) for r in resets])
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

    def begin_attempt(self, job_id: str, sent: dict[str, Any], sources: dict[str, Any]) -> int:
        """Record the intent to submit, before the request goes out."""
        with self._transaction() as db:
            n = db.execute(
                "UPDATE jobs SET status='submitting', attempts=attempts+1, task_id=NULL, "
                "remote_status=NULL, sent=?, sources=?, error_code=NULL, error_message=NULL "
                "WHERE id=? RETURNING attempts",
                (dumps(sent), dumps(sources), job_id),
            ).fetchone()[0]
        return int(n)

    def record_task(self, job_id: str, attempt: int, task_id: str, remote_status: str) -> None:
        """The task id, the moment the submit's answer arrives."""
        self._write(
            "UPDATE jobs SET status='running', task_id=?, remote_status=?, submitted_at=? "
            "WHERE id=?",
            (task_id, remote_status, time.time(), job_id),
        )

    def record_remote(self, job_id: str, remote_status: str) -> None:
        self._write("UPDATE jobs SET remote_status=? WHERE id=?", (remote_status, job_id))

    def not_submitted(self, job_id: str, attempt: int, code: str, message: str) -> None:
        """The submit was refused before any task existed: back to pending."""
        self._write(
            "UPDATE jobs SET status='pending', attempts=attempts-1, error_code=?, "
            "error_message=? WHERE id=?",
            (code, message, job_id),
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
                dumps(results),
                dumps(usage),
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
            "UPDATE jobs SET status='succeeded', finished_at=? WHERE id=?", (time.time(), job_id)
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
                "error_code) SELECT id, ?, task_id, COALESCE(submitted_at, 0), ?, ? "
                "FROM jobs WHERE id=?",
                (attempt, outcome, code, job_id),
            )
            db.execute(
                "UPDATE jobs SET status=?, remote_status=?, error_code=?, error_message=?, "
                "finished_at=? WHERE id=?",
                (status.value, outcome, code, message, None if retry else time.time(), job_id),
            )

    def fail(self, job_id: str, code: str, message: str) -> None:
        """Fail a job outside any task outcome (a file that cannot be uploaded, a timeout...)."""
        self._write(
            "UPDATE jobs SET status='failed', error_code=?, error_message=?, finished_at=? "
            "WHERE id=?",
            (code, message, time.time(), job_id),
        )

    def mark_unknown(self, job_id: str, message: str) -> None:
        self._write(
            "UPDATE jobs SET status='unknown', error_code='UNKNOWN', error_message=? WHERE id=?",
            (message, job_id),
        )

    def recover(self, *, resubmit_unknown: bool, retry_failed: bool) -> dict[str, int]:
        """At the start of a run: interrupted submits become unknown; opt-ins reset jobs."""
        out = {}
        with self._transaction() as db:
            out["interrupted_submits"] = db.execute(
                "UPDATE jobs SET status='unknown', error_code='UNKNOWN', error_message="
                "'the run stopped while this job was being submitted' WHERE status='submitting'"
            ).rowcount
            if resubmit_unknown:
                out["resubmitted_unknown"] = db.execute(
                    "UPDATE jobs SET status='pending' WHERE status='unknown' AND in_spec=1"
                ).rowcount
            if retry_failed:
                out["retried_failed"] = db.execute(
                    "UPDATE jobs SET status='pending', attempts=0 "
                    "WHERE status='failed' AND in_spec=1"
                ).rowcount
        return out

    def reopen(self, job_id: str) -> None:
        """A finished job whose files are gone: fetch its results again."""
        self._write("UPDATE jobs SET status='downloading' WHERE id=?", (job_id,))

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
    "error_message, results, cost"
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
    )


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
