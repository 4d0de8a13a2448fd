"""The books of an output directory over every version of its spec: nothing paid is forgotten.

Editing a spec and running it again into the same directory is the loop rhbatch
is used in. The directory's books are append-only: when a job keeps its id but
its parameters change, the version that ran is archived (``versions``, with its
task ids, status, cost, the spec version that made it and its files) before
the new one starts, and its files move to ``history/<job id>/v<N>/<path>``,
where nothing overwrites them. A job the spec no longer names stays in the
store as it was (``in_spec = 0``), its files where they are. What the spec
names now is the current view; what the directory has cost is the sum over
everything (``spent``), and what may still be billed without being known is
``maybe_billed``.

Each spec version that runs is recorded once (``specs``: its sha256 and, in a
git repository, the commit, whether the tree was dirty, the branch), and every
job and version names the one its parameters came from.

A file move interrupted by a kill is finished by the next ``settle_files``
(the store says where the file belongs before it is moved).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhbatch.errors import StateError
from rhbatch.models import JobStatus, OutputRow, canonical_json
from rhbatch.store.db import Database
from rhbatch.store.files import HISTORY_DIR, safe_path

_SAFE_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# A job or version whose task may exist and whose bill is not known: maybe billed.
_MAYBE = ("unknown", "running", "submitting")


@dataclass(frozen=True)
class SpecVersion:
    """A version of the spec that ran into the directory."""

    n: int
    sha256: str
    path: str
    commit: str | None = None  # None: not in a git repository (or one without commits)
    dirty: bool | None = None  # the working tree had uncommitted changes
    branch: str | None = None  # None: HEAD detached (or no git)
    repo_path: str | None = None  # the spec's path inside the repository

    def record(self) -> dict[str, Any]:
        """As run.json and the manifest show it."""
        return {
            "sha256": self.sha256,
            "path": self.path,
            "commit": self.commit,
            "dirty": self.dirty,
            "branch": self.branch,
            "repoPath": self.repo_path,
        }

    def label(self) -> str:
        """ "commit 1a2b3c4d5e6f (with uncommitted changes)", or "spec sha256 9f8e..."."""
        if self.commit:
            dirty = " (with uncommitted changes)" if self.dirty else ""
            return f"commit {self.commit[:12]}{dirty}"
        return f"spec sha256 {self.sha256[:12]}"


@dataclass(frozen=True)
class VersionRow:
    """An earlier version of a job, as archived when its parameters changed."""

    job_id: str
    v: int
    endpoint: str
    params: str | None  # JSON text (None: a format-4 directory did not keep it)
    sent: str | None
    status: str
    first_attempt: int
    last_attempt: int
    task_id: str | None
    error_code: str | None
    error_message: str | None
    results: str | None
    usage: str | None
    cost: float | None
    quoted: float | None
    submitted_at: float | None
    finished_at: float | None
    superseded_at: float
    spec: int | None
    outputs: tuple[OutputRow, ...] = ()

    @property
    def settled(self) -> bool:
        """Its bill is known (or it surely made none)."""
        return self.cost is not None or self.status not in _MAYBE


def history_path(job_id: str, v: int, relative: str) -> str:
    """Where version ``v`` of a job keeps a file it wrote at ``relative``."""
    return f"{HISTORY_DIR}/{folder(job_id)}/v{v}/{relative}"


def folder(job_id: str) -> str:
    """A job id as one safe path component (a hash of it when it is not one)."""
    if _SAFE_FOLDER.fullmatch(job_id) and job_id not in (".", ".."):
        return job_id
    return "id-" + hashlib.sha256(job_id.encode()).hexdigest()[:16]


SHOWN = 100  # characters of a changed value shown around the change


@dataclass(frozen=True)
class Change:
    """One field of a job that changed: its name and the old and new values, shortened
    around the difference."""

    field: str
    old: str
    new: str


def fields_changed(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Each parameter added, removed or changed, in the new order (removed ones last)."""
    out = []
    for name, value in new.items():
        if name not in old:
            out.append(Change(name, "(not set)", shown_value(value)))
        elif canonical_json(old[name]) != canonical_json(value):
            out.append(Change(name, *around_change(_text(old[name]), _text(value))))
    for name, value in old.items():
        if name not in new:
            out.append(Change(name, shown_value(value), "(not set)"))
    return out


def around_change(old: str, new: str, width: int = SHOWN) -> tuple[str, str]:
    """Two values, each cut to ``width`` characters around where they start to differ
    when it is longer: "…in the snow" -> "…in the snow, at dawn, under a…"."""
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    return _window(old, head, width), _window(new, head, width)


def _window(text: str, at: int, width: int) -> str:
    if len(text) <= width:
        return text
    start = max(0, min(at - width // 4, len(text) - width))
    end = start + width
    return ("…" if start > 0 else "") + text[start:end] + ("…" if end < len(text) else "")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)


def shown_value(value: Any) -> str:
    text = "(not set)" if value is None else _text(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


_VERSION_COLUMNS = (
    "job_id, v, endpoint, params, sent, status, first_attempt, last_attempt, task_id, "
    "error_code, error_message, results, usage, cost, quoted, submitted_at, finished_at, "
    "superseded_at, spec"
)


class History(Database):
    # --- spec versions -----------------------------------------------------------------

    def spec_version(self, found: SpecVersion) -> int:
        """The number of this spec version in the directory (recorded the first time)."""
        row = self.conn.execute(
            "SELECT n FROM specs WHERE sha256=? AND git_commit IS ? AND git_dirty IS ? AND path=?",
            (found.sha256, found.commit, found.dirty, found.path),
        ).fetchone()
        if row is not None:
            return int(row[0])
        self.changed.everything()  # the spec versions the manifest's lines name
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO specs (sha256, path, git_commit, git_dirty, git_branch, git_path, "
                "first_used) VALUES (?,?,?,?,?,?,?)",
                (
                    found.sha256,
                    found.path,
                    found.commit,
                    found.dirty,
                    found.branch,
                    found.repo_path,
                    time.time(),
                ),
            )
            n = cursor.lastrowid
        assert n is not None
        return int(n)

    def spec_versions(self) -> dict[int, SpecVersion]:
        rows = self.conn.execute(
            "SELECT n, sha256, path, git_commit, git_dirty, git_branch, git_path FROM specs"
        ).fetchall()
        return {
            int(r[0]): SpecVersion(
                int(r[0]), r[1], r[2], r[3], None if r[4] is None else bool(r[4]), r[5], r[6]
            )
            for r in rows
        }

    def current_specs(self) -> dict[int, int]:
        """{spec version: succeeded jobs of the current spec whose parameters it gave}."""
        rows = self.conn.execute(
            "SELECT spec, COUNT(*) FROM jobs WHERE in_spec=1 AND status='succeeded' GROUP BY spec"
        ).fetchall()
        return {int(r[0] or 0): int(r[1]) for r in rows}

    # --- money over the whole directory ------------------------------------------------

    def spent(self) -> float:
        """What every job and every earlier version ever run into the directory was billed,
        as far as it is known."""
        jobs = self.conn.execute("SELECT SUM(cost) FROM jobs").fetchone()[0] or 0.0
        older = self.conn.execute("SELECT SUM(cost) FROM versions").fetchone()[0] or 0.0
        return round(float(jobs) + float(older), 4)

    def current_cost(self) -> float:
        """What the current versions of the spec's jobs were billed."""
        row = self.conn.execute("SELECT SUM(cost) FROM jobs WHERE in_spec=1").fetchone()
        return round(float(row[0] or 0.0), 4)

    def maybe_billed(self) -> list[tuple[str, float | None, str]]:
        """(job id, quote, why) of every task that may exist and whose bill is not known,
        other than the current spec's tasks in flight (a run holds those itself): jobs left
        unknown, lost submits sent again, jobs no longer in the spec whose task was in
        flight, and earlier versions whose end was not learned."""
        out: list[tuple[str, float | None, str]] = []
        for job_id, quoted in self.conn.execute(
            "SELECT id, quoted FROM jobs WHERE cost IS NULL AND (status='unknown' "
            "OR (in_spec=0 AND status IN ('running', 'submitting')))"
        ):
            out.append((job_id, quoted, "its task's outcome is not known"))
        for job_id, held in self.conn.execute(
            "SELECT job_id, held FROM attempts WHERE outcome='LOST'"
        ):
            out.append((job_id, held, "a submit whose answer was lost, sent again since"))
        marks = ",".join("?" * len(_MAYBE))
        for job_id, v, quoted in self.conn.execute(
            f"SELECT job_id, v, quoted FROM versions WHERE cost IS NULL AND status IN ({marks})",
            _MAYBE,
        ):
            out.append((job_id, quoted, f"version {v}: its task's outcome is not known"))
        return out

    # --- earlier versions --------------------------------------------------------------

    def versions(self, job_id: str | None = None) -> list[VersionRow]:
        """The earlier versions of one job (or of every job), oldest first, with files."""
        where, args = ("WHERE job_id=?", (job_id,)) if job_id is not None else ("", ())
        rows = self.conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM versions {where} ORDER BY job_id, v", args
        ).fetchall()
        files: dict[tuple[str, int], list[OutputRow]] = {}
        for r in self.conn.execute(
            f"SELECT job_id, v, n, url, path, bytes, sha256, type, mtime_ns "
            f"FROM version_outputs {where} ORDER BY job_id, v, n",
            args,
        ):
            files.setdefault((r[0], int(r[1])), []).append(OutputRow(*r[2:]))
        names = _VERSION_COLUMNS.split(", ")
        return [
            VersionRow(
                **dict(zip(names, r, strict=True)), outputs=tuple(files.get((r[0], r[1]), ()))
            )
            for r in rows
        ]

    def unsettled_versions(self) -> list[VersionRow]:
        """The earlier versions whose task may still be billed: asked about by a run."""
        return [v for v in self.versions() if v.task_id and not v.settled]

    def settle_version(
        self,
        job_id: str,
        v: int,
        status: JobStatus,
        *,
        cost: float | None = None,
        results: str | None = None,
        usage: str | None = None,
        message: str | None = None,
    ) -> None:
        """What became of an earlier version's task, learned later."""
        self._write(
            "UPDATE versions SET status=?, cost=COALESCE(?, cost), results=COALESCE(?, results), "
            "usage=COALESCE(?, usage), error_message=?, finished_at=? WHERE job_id=? AND v=?",
            (status.value, cost, results, usage, message, time.time(), job_id, v),
        )

    def record_version_output(self, job_id: str, v: int, out: OutputRow) -> None:
        self._write(
            "INSERT OR REPLACE INTO version_outputs VALUES (?,?,?,?,?,?,?,?,?,NULL)",
            (job_id, v, out.n, out.url, out.path, out.bytes, out.sha256, out.type, out.mtime_ns),
        )

    def version_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM versions").fetchone()[0])

    def _archive(self, db: Any, job_ids: list[str]) -> list[tuple[str, str]]:
        """Inside the sync's transaction: keep the current version of each job that sent
        something as an earlier version, its files listed at their history paths. The
        moves to make once the transaction is committed: (from, to) relative paths."""
        if not job_ids:
            return []
        now = time.time()
        moves: list[tuple[str, str]] = []
        for job_id in job_ids:
            db.execute(
                "INSERT OR REPLACE INTO versions (job_id, v, endpoint, params, sent, sources, "
                "uses, status, first_attempt, last_attempt, task_id, remote_status, error_code, "
                "error_message, results, usage, cost, quoted, submitted_at, finished_at, "
                "superseded_at, spec) SELECT id, version, endpoint, params, sent, sources, uses, "
                "status, first_attempt, attempts, task_id, remote_status, error_code, "
                "error_message, results, usage, cost, quoted, submitted_at, finished_at, ?, spec "
                "FROM jobs WHERE id=?",
                (now, job_id),
            )
            (v,) = db.execute("SELECT version FROM jobs WHERE id=?", (job_id,)).fetchone()
            for n, url, path, size, sha, kind, mtime in db.execute(
                "SELECT n, url, path, bytes, sha256, type, mtime_ns FROM outputs WHERE job_id=?",
                (job_id,),
            ).fetchall():
                kept = history_path(job_id, int(v), path)
                db.execute(
                    "INSERT OR REPLACE INTO version_outputs VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (job_id, v, n, url, kept, size, sha, kind, mtime, path),
                )
                moves.append((path, kept))
        return moves

    # With object storage: moves a file of an earlier version (from, to, size) where the
    # files are; True if it did. None: the files are in the output directory.
    mover: Callable[[str, str, int], bool] | None = None

    def settle_files(self) -> int:
        """Move the files of earlier versions that are not yet at their history paths (a
        move the last run could not finish): each one whose file is still where it was,
        unchanged (size and time of the record). Returns how many were moved."""
        out_dir = self.path.parent.parent
        moved = 0
        rows = self.conn.execute(
            "SELECT was, path, bytes, mtime_ns FROM version_outputs WHERE was IS NOT NULL"
        ).fetchall()
        for was, path, size, mtime in rows:
            if self.mover is not None:  # the files are in object storage: moved there
                if self.mover(was, path, size):
                    moved += 1
            elif _move(out_dir, was, path, size, mtime):
                moved += 1
        if rows:
            self._write("UPDATE version_outputs SET was=NULL WHERE was IS NOT NULL")
        return moved


def _move(out_dir: Path, was: str, path: str, size: int, mtime: int) -> bool:
    """Move ``was`` to ``path`` (both inside ``out_dir``) if it is the recorded file and
    nothing is at ``path`` yet."""
    try:  # both were checked when recorded; a store edited by hand is not trusted
        source, target = safe_path(out_dir, was), safe_path(out_dir, path, history=True)
    except ValueError:
        return False
    try:
        info = source.stat()
    except OSError:
        return False  # already moved, or gone: verify says which
    if info.st_size != size or info.st_mtime_ns != mtime or target.exists():
        return False  # another file now (a later version's): not this version's to take
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    except OSError as exc:
        raise StateError(f"cannot keep {was} as {path}: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):  # the job's own folder, if the move emptied it
        source.parent.rmdir()
    return True
