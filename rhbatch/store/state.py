"""The durable state of a run: every job of every run into an output directory, and its tasks.

``DIR/.rhbatch/state.db`` (WAL) holds every job of every run into DIR, each
submit attempt with its task id, every output file, and every upload. Each
transition is written before the runner acts on it: the intent to submit is
committed before the request goes out, the task id the moment it arrives.
During a run, transitions made in the same event-loop turn share one commit
(``grouped``); the runner commits before any request that depends on them.
So a killed run leaves a store that says exactly what is known: a job caught
between intent and task id is "unknown" (a task may exist), never silently
resubmitted.

The file itself (lock, format, transactions, group commit) is ``db.py``; the
transitions are ``transitions.py``; this module adds the reads and the merge of
a spec's jobs.

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

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from rhbatch.errors import StateError
from rhbatch.models import (
    REMOTE_TERMINAL,
    JobRow,
    JobStatus,
    Outcome,
    OutputRow,
    RemoteStatus,
    SyncReport,
    canonical_json,
)
from rhbatch.store.db import STATE_DIR
from rhbatch.store.history import History
from rhbatch.store.journal import Journal
from rhbatch.store.transitions import Transitions

__all__ = ["STATE_DIR", "StateError", "Store", "chunks"]

T = TypeVar("T")

# How a task ended, or what became of it, as an attempt's row says: nothing more to ask.
_SETTLED = REMOTE_TERMINAL | {Outcome.SUPERSEDED, Outcome.NOTFOUND}


class Store(Transitions, History, Journal):
    """One output directory's jobs, tasks, files and uploads: ``Store.open(dir)``."""

    # --- jobs of the current spec -----------------------------------------------------

    def sync(self, jobs: Iterable[tuple[Any, ...]], spec: int | None = None) -> SyncReport:
        """Make the store's job list the spec's: ``(id, index, endpoint, params[, quoted
        [, uses[, vars]]])`` per job. New jobs are added pending, known ones keep their state (and
        take their new position and quote); a known id whose parameters (or the jobs it
        uses) changed starts again as pending, its version that sent something kept as an
        earlier version (``history.py``), files and all. Jobs no longer in the spec are
        kept as they are, out of the spec. ``quoted``: the price by the public list (None:
        it cannot price the job); ``uses``: {name: id} of the jobs whose results it takes;
        ``spec``: the spec version (``spec_version``) the parameters come from; ``vars``:
        {name: value} of the variables the job was made with that are not parameters
        (what the manifest and the dataset show of them; not part of its identity)."""
        self.settle_files()  # a move a killed run left half done
        new = kept = changed = kept_versions = 0
        moves: list[tuple[str, str]] = []
        with self._transaction() as db:
            db.execute("UPDATE jobs SET in_spec=0")
            for chunk in chunks(jobs, SYNC_CHUNK):  # a chunk at a time: flat memory
                n, k, resets, archived = self._sync_chunk(db, chunk, spec)
                new, kept, changed = new + n, kept + k, changed + len(resets)
                kept_versions += len(archived)
                moves += self._archive(db, archived)
                self._reset(db, resets, archived)
            gone = db.execute("SELECT COUNT(*) FROM jobs WHERE in_spec=0").fetchone()[0]
        if moves:
            self.settle_files()
        return SyncReport(new, kept, changed, kept_versions, int(gone))

    def _sync_chunk(
        self, db: Any, jobs: list[tuple[Any, ...]], spec: int | None
    ) -> tuple[int, int, list[tuple[Any, ...]], list[str]]:
        """New and kept jobs merged; the changed ones returned (rows for ``_reset``), with
        the ids of those whose current version sent something (to archive first)."""
        new = kept = 0
        marks = ",".join("?" * len(jobs))
        known = {
            r[0]: (r[1], r[2], r[3] or None, bool(r[4]))
            for r in db.execute(
                "SELECT id, params, quoted, uses, sent IS NOT NULL OR task_id IS NOT NULL "
                f"FROM jobs WHERE id IN ({marks})",
                [job[0] for job in jobs],
            )
        }
        inserts, moves, requotes, resets, archived, named = [], [], [], [], [], []
        for job_id, idx, endpoint, params, *rest in jobs:
            quoted = rest[0] if rest else None
            uses = canonical_json(rest[1]) if len(rest) > 1 and rest[1] else None
            if len(rest) > 2:
                named.append((canonical_json(rest[2]) if rest[2] else None, job_id))
            text = canonical_json(params)
            before = known.get(job_id)
            if before is None:
                row = (job_id, idx, endpoint, text, JobStatus.PENDING.value, quoted, uses, spec)
                inserts.append(row)
                new += 1
            elif before[0] != text or before[2] != uses:
                resets.append(
                    (idx, endpoint, text, JobStatus.PENDING.value, quoted, uses, spec, job_id)
                )
                if before[3]:  # this version sent something: it is kept
                    archived.append(job_id)
            else:
                if rest and before[1] != quoted:
                    requotes.append((quoted, job_id))
                moves.append((idx, spec, job_id))
                kept += 1
        db.executemany(
            "INSERT INTO jobs (id, idx, endpoint, params, status, quoted, uses, spec, "
            "quote_source) VALUES (?,?,?,?,?,?,?,?,'list')",
            inserts,
        )
        # A job not sent yet takes the spec version that will send it.
        db.executemany(
            "UPDATE jobs SET idx=?, in_spec=1, spec=CASE WHEN attempts=0 THEN ? ELSE spec END "
            "WHERE id=?",
            moves,
        )
        db.executemany("UPDATE jobs SET quoted=?, quote_source='list' WHERE id=?", requotes)
        db.executemany("UPDATE jobs SET vars=? WHERE id=?", named)
        return new, kept, resets, archived

    def _reset(self, db: Any, resets: list[tuple[Any, ...]], archived: list[str]) -> None:
        """Inside the sync: the changed jobs start again as their new version (the version
        that sent something was archived just before)."""
        db.executemany(  # every task a job id ever had stays in the attempts table
            "INSERT OR IGNORE INTO attempts (job_id, n, task_id, started_at, outcome) "
            "SELECT id, attempts, task_id, COALESCE(submitted_at, 0), 'SUPERSEDED' "
            "FROM jobs WHERE id=? AND task_id IS NOT NULL",
            [(r[-1],) for r in resets],
        )
        db.executemany(
            "UPDATE jobs SET idx=?, in_spec=1, endpoint=?, params=?, status=?, quoted=?, "
            "uses=?, spec=?, quote_source='list', task_id=NULL, remote_status=NULL, "
            "error_code=NULL, error_message=NULL, results=NULL, usage=NULL, cost=NULL, "
            "sent=NULL, sources=NULL, submitted_at=NULL, finished_at=NULL, "
            "first_attempt=attempts+1 WHERE id=?",
            resets,
        )
        db.executemany("UPDATE jobs SET version=version+1 WHERE id=?", [(i,) for i in archived])
        changed_ids = [(r[-1],) for r in resets]
        # The tasks of the old parameters belong to no job now: never adopted later (the
        # archived version keeps its task id, and what became of it).
        db.executemany(
            "UPDATE attempts SET outcome='SUPERSEDED' WHERE job_id=? "
            "AND COALESCE(outcome, '') NOT IN ('FAILED', 'CANCEL', 'SUCCESS', 'LOST')",
            changed_ids,
        )
        db.executemany("DELETE FROM outputs WHERE job_id=?", changed_ids)

    def requote(self, quotes: Iterable[tuple[str, float | None, str]]) -> None:
        """Set jobs' quotes: ``(job id, amount, source)``, the source "list" (the public
        price list) or "preview" (RunningHub's price preview)."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE jobs SET quoted=?, quote_source=? WHERE id=?",
                [(amount, source, job_id) for job_id, amount, source in quotes],
            )

    def ledger(self) -> Iterator[tuple[str, str, str, float | None, float | None]]:
        """(job id, endpoint, status, quoted, billed) of every job of the spec, in order:
        what the spend control and the reconciliation read (streamed: read it once, or
        ask again)."""
        for r in self.conn.execute(
            "SELECT id, endpoint, status, quoted, cost FROM jobs WHERE in_spec=1 ORDER BY idx"
        ):
            yield (r[0], r[1], r[2], r[3], r[4])

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

    def all_outputs(self) -> Iterator[tuple[str, OutputRow]]:
        """Every output file the store records, of every job (the spec's first, in order;
        then those it no longer names)."""
        for row in self.conn.execute(
            "SELECT o.job_id, o.n, o.url, o.path, o.bytes, o.sha256, o.type, o.mtime_ns "
            "FROM outputs o JOIN jobs j ON j.id = o.job_id ORDER BY j.in_spec DESC, j.idx, o.n"
        ):
            yield row[0], OutputRow(*row[1:])

    def outputs(self, job_id: str) -> list[OutputRow]:
        rows = self.conn.execute(
            "SELECT n, url, path, bytes, sha256, type, mtime_ns FROM outputs "
            "WHERE job_id=? ORDER BY n",
            (job_id,),
        ).fetchall()
        return [OutputRow(*r) for r in rows]

    # --- tasks of earlier attempts, and webhook tokens ---------------------------------------

    def unsettled(self, job_id: str) -> list[tuple[int, str, float | None]]:
        """(attempt, task id, Unix time of its submit) of the job's tasks whose end is not
        known to be a failure: they may still succeed (and be paid), so the job is not sent
        again before they are looked at."""
        rows = self.conn.execute(
            "SELECT n, task_id, started_at, outcome FROM attempts "
            "WHERE job_id=? AND task_id IS NOT NULL ORDER BY n",
            (job_id,),
        ).fetchall()
        found = [
            (int(n), str(t), float(at) if at else None)
            for n, t, at, outcome in rows
            if (outcome or "") not in _SETTLED
        ]
        current = self.conn.execute(
            "SELECT attempts, task_id, remote_status, submitted_at FROM jobs "
            "WHERE id=? AND task_id IS NOT NULL",
            (job_id,),
        ).fetchone()
        # The current task counts unless it ended (as the job says) or an attempt's row
        # already says how it stands.
        recorded = {str(r[1]) for r in rows}
        if current is not None and current[2] not in _SETTLED and current[1] not in recorded:
            found.append((int(current[0]), str(current[1]), current[3]))
        return found

    def settle(
        self, job_id: str, attempt: int, task_id: str, outcome: RemoteStatus | Outcome
    ) -> None:
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
        # Three cursors in spec order, merged job by job: memory stays flat however many
        # jobs (a million jobs' task ids and outputs are never held at once).
        tasks = _Grouped(
            self.conn.execute(
                "SELECT j.idx, a.task_id FROM attempts a JOIN jobs j ON j.id = a.job_id "
                "WHERE j.in_spec=1 AND a.task_id IS NOT NULL ORDER BY j.idx, a.n"
            ),
            lambda row: row[1],
        )
        outputs = _Grouped(
            self.conn.execute(
                "SELECT j.idx, o.n, o.url, o.path, o.bytes, o.sha256, o.type, o.mtime_ns "
                "FROM outputs o JOIN jobs j ON j.id = o.job_id WHERE j.in_spec=1 "
                "ORDER BY j.idx, o.n"
            ),
            lambda row: OutputRow(*row[1:]),
        )
        cursor = self.conn.execute(
            "SELECT id, idx, endpoint, params, status, attempts, task_id, sent, sources, "
            "error_code, error_message, usage, cost, submitted_at, finished_at, results, "
            "quoted, quote_source, uses, version, spec, vars "
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
                "taskIds": _with(tasks.take(r[1]), r[6]),
                "errorCode": r[9],
                "errorMessage": r[10],
                "usage": r[11] or "null",
                "cost": r[12],
                "submittedAt": r[13],
                "finishedAt": r[14],
                "outputs": outputs.take(r[1]),
                "results": r[15] or "[]",
                "quoted": r[16],
                "quoteSource": r[17],
                "uses": r[18] or "{}",
                "version": r[19],
                "spec": r[20],
                "vars": r[21] or "{}",
            }


class _Grouped:
    """Rows ordered by a job's position, handed out one job's worth at a time."""

    def __init__(self, rows: Iterator[tuple[Any, ...]], value: Callable[[tuple[Any, ...]], Any]):
        self._rows, self._value = rows, value
        self._next: tuple[Any, ...] | None = next(self._rows, None)

    def take(self, idx: int) -> list[Any]:
        """The values of the rows of the job at position ``idx`` (those before it skipped)."""
        out = []
        while self._next is not None and self._next[0] <= idx:
            if self._next[0] == idx:
                out.append(self._value(self._next))
            self._next = next(self._rows, None)
        return out


SYNC_CHUNK = 500  # jobs merged per query (under SQLite's limit of bound parameters)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter): a chunk at a time, flat memory."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _with(earlier: list[str], current: str | None) -> list[str]:
    return [*earlier, current] if current and current not in earlier else earlier


_JOB_COLUMNS = (
    "id, idx, endpoint, params, status, attempts, task_id, remote_status, error_code, "
    "error_message, results, cost, submitted_at, first_attempt, quoted, uses, finished_at"
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
        remote_status=RemoteStatus.stored(r[7]),
        error_code=r[8],
        error_message=r[9],
        results=json.loads(r[10]) if r[10] else [],
        cost=r[11],
        submitted_at=r[12],
        first_attempt=r[13],
        quoted=r[14],
        uses=json.loads(r[15]) if r[15] else {},
        finished_at=r[16],
    )
