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
merge of a spec's jobs is ``sync.py``; the transitions are ``transitions.py``;
this module adds the reads.

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
from typing import Any

from rhbatch.errors import StateError
from rhbatch.models import (
    REMOTE_TERMINAL,
    JobRow,
    JobStatus,
    Outcome,
    OutputRow,
    RemoteStatus,
    Result,
)
from rhbatch.store.db import STATE_DIR
from rhbatch.store.history import History
from rhbatch.store.journal import Journal
from rhbatch.store.sync import SYNC_CHUNK, Sync, chunks
from rhbatch.store.transitions import Transitions

__all__ = ["STATE_DIR", "StateError", "Store", "chunks"]

# How a task ended, or what became of it, as an attempt's row says: nothing more to ask.
_SETTLED = REMOTE_TERMINAL | {Outcome.SUPERSEDED, Outcome.NOTFOUND}


class Store(Sync, Transitions, History, Journal):
    """One output directory's jobs, tasks, files and uploads: ``Store.open(dir)``."""

    # --- jobs of the current spec -----------------------------------------------------

    def requote(self, quotes: Iterable[tuple[str, float | None, str]]) -> None:
        """Set jobs' quotes: ``(job id, amount, source)``, the source "list" (the public
        price list) or "preview" (RunningHub's price preview)."""
        self.changed.everything()  # the whole batch's quotes, at its start
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
        self.changed.job(job_id)  # its task ids
        self._write(
            "INSERT INTO attempts (job_id, n, task_id, started_at, outcome) VALUES (?,?,?,?,?) "
            "ON CONFLICT (job_id, n) DO UPDATE SET task_id=excluded.task_id, "
            "outcome=excluded.outcome",
            (job_id, attempt, task_id, time.time(), outcome),
        )

    def attach(self, job_id: str, task_id: str, remote_status: str) -> int:
        """Give a job a task found elsewhere: the lost attempt's, if the job is unknown
        without one, else a new attempt. Returns the attempt."""
        self.changed.job(job_id)
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

    def records(self, ids: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every job of the current spec in spec order (``ids``: only these, those of them
        in the spec), with its task ids and outputs; the structured fields (params,
        sources, usage, results) as their stored JSON text."""
        if ids is None:
            yield from self._records("j.in_spec=1", [])
            return
        # Their positions first: read a chunk at a time, they still come in spec order.
        # ("+in_spec": looked up by id, never by scanning the spec's jobs by status.)
        found: list[tuple[int, str]] = []
        for chunk in chunks(ids, SYNC_CHUNK):
            marks = ",".join("?" * len(chunk))
            found += self.conn.execute(
                f"SELECT idx, id FROM jobs WHERE +in_spec=1 AND id IN ({marks})", chunk
            ).fetchall()
        found.sort()
        for part in chunks(found, SYNC_CHUNK):
            marks = ",".join("?" * len(part))
            only = f"+j.in_spec=1 AND j.id IN ({marks})"
            yield from self._records(only, [job_id for _, job_id in part])

    def _records(self, where: str, args: list[str]) -> Iterator[dict[str, Any]]:
        # Three cursors in spec order, merged job by job: memory stays flat however many
        # jobs (a million jobs' task ids and outputs are never held at once).
        tasks = _Grouped(
            self.conn.execute(
                "SELECT j.idx, a.task_id FROM attempts a JOIN jobs j ON j.id = a.job_id "
                f"WHERE {where} AND a.task_id IS NOT NULL ORDER BY j.idx, a.n",
                args,
            ),
            lambda row: row[1],
        )
        outputs = _Grouped(
            self.conn.execute(
                "SELECT j.idx, o.n, o.url, o.path, o.bytes, o.sha256, o.type, o.mtime_ns "
                f"FROM outputs o JOIN jobs j ON j.id = o.job_id WHERE {where} "
                "ORDER BY j.idx, o.n",
                args,
            ),
            lambda row: OutputRow(*row[1:]),
        )
        cursor = self.conn.execute(
            "SELECT id, idx, endpoint, params, status, attempts, task_id, sent, sources, "
            "error_code, error_message, usage, cost, submitted_at, finished_at, results, "
            "quoted, quote_source, uses, version, spec, vars "
            f"FROM jobs j WHERE {where} ORDER BY idx",
            args,
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
        results=tuple(Result.of(item) for item in json.loads(r[10])) if r[10] else (),
        cost=r[11],
        submitted_at=r[12],
        first_attempt=r[13],
        quoted=r[14],
        uses=json.loads(r[15]) if r[15] else {},
        finished_at=r[16],
    )
