"""The merge of a spec's jobs into the state store: ``Store.sync``, the start of every run.

New jobs are added pending; known ones keep their state (and take their new
position and quote); a known id whose parameters (or the jobs it uses) changed
starts again as pending, its version that sent something archived first as an
earlier version (``history.py``); jobs no longer in the spec stay as they are,
out of the spec. The jobs are merged a chunk at a time (``chunks``), so memory
stays flat however long the spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rhbatch.models import JobStatus, SyncReport, canonical_json
from rhbatch.store.history import History

T = TypeVar("T")


class Sync(History):
    """The spec's jobs merged into the store (a part of ``Store``)."""

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
        self.changed.everything()  # every job's position and membership of the spec
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
