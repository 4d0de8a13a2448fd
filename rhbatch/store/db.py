"""The SQLite file of an output directory: opened under a lock, migrated, written in transactions.

``DIR/.rhbatch/state.db`` (WAL) is opened by one run at a time: a lock file
(``DIR/.rhbatch/lock``, flock) refuses a second. A file of an earlier format is
brought up to this one in place (``_migrate``, tested). Every write is one
transaction, or, during a run, joins the one open transaction of the current
event-loop turn (``grouped``): the runner commits once per turn, and before any
request that depends on a write. sqlite3 errors (disk full, corruption) become
``StateError``; no secret reaches the file (the last net: ``_write`` scrubs).
This is the only module that imports sqlite3.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Self, TextIO

from rhbatch import readers
from rhbatch.errors import NotARun, StateError
from rhbatch.redact import scrub
from rhbatch.store.changes import Changes
from rhbatch.store.schema import SCHEMA as _SCHEMA
from rhbatch.store.schema import VERSIONS_DDL as _VERSIONS_DDL

SCHEMA_VERSION = 6
CACHE_KIB = 8192  # SQLite's page cache per connection (the default is 2,000 KiB)
STATE_DIR = ".rhbatch"


class Database:
    """One output directory's state file. Open it with ``open(dir)``; close it when done."""

    def __init__(self, conn: sqlite3.Connection, lock: TextIO | None, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock
        # Group commit: when set, writes join one open transaction and this is called
        # so that the owner commits soon (``commit``); see ``grouped``.
        self._on_write: Callable[[], None] | None = None
        self._open = False
        self.changed = Changes()  # the jobs the manifest shows differently since its last write

    @classmethod
    def open(cls, out_dir: Path, *, lock: bool = True, create: bool = True) -> Self:
        state = out_dir / STATE_DIR
        path = state / "state.db"
        if not create and not path.exists():
            raise NotARun(f"{out_dir} holds no rhbatch run (no {STATE_DIR}/state.db)")
        with contextlib.suppress(OSError):  # a FIFO or a device in its place: never opened
            odd = readers.not_regular(os.stat(path).st_mode)
            if odd is not None:
                raise StateError(f"{path} is {odd}, not a regular file: not an rhbatch state")
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {state}: {exc.strerror}") from None
        handle = _lock(state / "lock") if lock else None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
            conn.execute("PRAGMA busy_timeout=5000")
            # The pages a run touches stay in memory: with the default 2 MB, SQLite read about
            # two pages per job back from the file (a job's row, the status index).
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            _migrate(conn)
            conn.executescript(_SCHEMA)
            found = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if found is None:
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(found[0]) != SCHEMA_VERSION:
                raise StateError(
                    f"{path} has state format {found[0]}; this rhbatch reads {SCHEMA_VERSION}"
                )
        except BaseException as exc:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            if handle is not None:
                handle.close()
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"cannot open {path}: {exc}") from None
            raise
        return cls(conn, handle, path)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, StateError):
            self.commit()
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------

    def grouped(self, on_write: Callable[[], None] | None) -> None:
        """Group commit: from now on writes share one open transaction, and ``on_write``
        is called after each so its owner calls ``commit`` soon (the runner does it once
        per event-loop turn, and before any action that depends on a write). ``None``
        goes back to one transaction per transition. The mode changes even when the commit
        of what was pending fails (a full disk): its owner's loop may be gone by then."""
        try:
            self.commit()
        finally:
            self._on_write = on_write

    def commit(self) -> None:
        if self._open:
            self._open = False
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._abandon()
                raise StateError(f"cannot write {self.path}: {exc}") from None

    def _abandon(self) -> None:
        """After a failed write or commit: drop the transaction, whose writes never reached
        the disk, so that the next write (once there is room) starts clean. SQLite may or
        may not have rolled it back itself (a full disk, an I/O error)."""
        self._open = False
        self.changed.everything()  # writes the manifest may show are undone
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def _write(self, sql: str, args: Iterable[Any] = ()) -> None:
        # The last net: no secret reaches the disk, whatever a server sent.
        values = tuple([scrub(a) if isinstance(a, str) else a for a in args])
        if self._on_write is None or not self._open:
            with self._transaction() as db:
                db.execute(sql, values)
            return
        try:  # a group is open (most writes of a run): the statement alone
            self.conn.execute(sql, values)
        except sqlite3.Error as exc:
            raise StateError(f"cannot write {self.path}: {exc}") from None
        self._on_write()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            if self._on_write is not None:
                # A failed statement leaves the group to its commit: if SQLite dropped the
                # transaction, that commit fails, and whoever waits on it learns it.
                if not self._open:
                    self.conn.execute("BEGIN IMMEDIATE")
                    self._open = True
                yield self.conn
                self._on_write()
                return
        except sqlite3.Error as exc:
            raise StateError(f"cannot write {self.path}: {exc}") from None
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon()
            raise StateError(f"cannot write {self.path}: {exc}") from None

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a state file of an earlier format up to this one (in place, step by step)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
    ).fetchone()
    if has_meta is None:
        return  # a new file
    found = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    version = int(found[0]) if found is not None and str(found[0]).isdigit() else SCHEMA_VERSION
    for step in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql in _STEPS[step]:
                conn.execute(sql)
            conn.execute("UPDATE meta SET value=? WHERE key='schema'", (str(step + 1),))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


# What turns format N into format N + 1.
_STEPS: dict[int, tuple[str, ...]] = {
    1: (
        # Per-attempt webhook tokens, and where a round of retries began.
        "ALTER TABLE attempts ADD COLUMN hook TEXT",
        "ALTER TABLE jobs ADD COLUMN first_attempt INTEGER NOT NULL DEFAULT 1",
        # Format 1 called a job whose task could not be followed "failed"; its task may
        # still have succeeded: say "unknown", and let the next run ask.
        "UPDATE jobs SET status='unknown' WHERE status='failed' AND task_id IS NOT NULL "
        "AND remote_status IN ('TIMEOUT', 'LOST', 'PROTOCOL')",
    ),
    2: (
        # Each job's quoted price, and where the quote came from.
        "ALTER TABLE jobs ADD COLUMN quoted REAL",
        "ALTER TABLE jobs ADD COLUMN quote_source TEXT",
    ),
    3: (
        # The jobs whose results a job takes (pipelines): {name: job id}, JSON.
        "ALTER TABLE jobs ADD COLUMN uses TEXT",
    ),
    4: (
        # Versions: a job's number of parameter changes, and the spec version it is from.
        "ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE jobs ADD COLUMN spec INTEGER",
        # What a lost submit's task may have been billed, once its job is sent again.
        "ALTER TABLE attempts ADD COLUMN held REAL",
        _VERSIONS_DDL,
        # Format 4 dropped the version a changed job replaced, keeping only its task id
        # (an attempt marked SUPERSEDED); its cost and files were forgotten. Each such task
        # becomes an earlier version whose outcome is not known: the next run asks about it
        # (its cost, and its files into the job's history folder, if RunningHub has them).
        # Until its bill is learned it is held at the job's quote (the same endpoint).
        "INSERT INTO versions (job_id, v, endpoint, status, first_attempt, last_attempt, "
        "task_id, quoted, superseded_at) SELECT a.job_id, ROW_NUMBER() OVER (PARTITION BY "
        "a.job_id ORDER BY a.n), j.endpoint, 'unknown', a.n, a.n, a.task_id, j.quoted, "
        "a.started_at "
        "FROM attempts a JOIN jobs j ON j.id = a.job_id "
        "WHERE a.outcome = 'SUPERSEDED' AND a.task_id IS NOT NULL",
        "UPDATE jobs SET version = 1 + (SELECT COUNT(*) FROM versions v WHERE v.job_id = jobs.id)",
    ),
    5: (
        # The variables each job was made with that are not parameters of its endpoint
        # (matrix values, row columns, the job's vars): {name: value}, JSON; NULL until
        # the next run of the spec fills it.
        "ALTER TABLE jobs ADD COLUMN vars TEXT",
        # A ledger's triggers copy the columns the table had when they were made: made
        # again (journal.install) with the new one at the next run into a bucket.
        "DROP TRIGGER IF EXISTS journal_jobs_insert",
        "DROP TRIGGER IF EXISTS journal_jobs_update",
        "DROP TRIGGER IF EXISTS journal_jobs_delete",
    ),
}


def _lock(path: Path) -> TextIO:
    """Hold an exclusive lock on ``path`` for as long as the returned file is open."""
    try:
        handle = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise StateError(f"cannot open {path}: {exc.strerror or exc}") from None
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
    # Who holds the lock, for the message another run gives; a courtesy that a full disk
    # may refuse (written past the buffer, so that closing the file cannot fail on it).
    with contextlib.suppress(OSError):
        os.write(handle.fileno(), f"pid {os.getpid()}\n".encode())
    return handle
