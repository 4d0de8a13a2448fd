"""Every change to the state store, as rows to ship: what a bucket's ledger is made of.

With ``--out s3://...`` the machine (and its disk) may vanish; what stops a
second payment must then live in the bucket. ``install`` adds triggers that
copy each inserted, updated or deleted row of the state's tables into the
``journal`` table, in the same transaction as the change itself. ``changes``
reads what is not yet shipped, the last value of each row only; ``trim`` forgets
what was shipped. ``dump`` reads every row (a snapshot) and ``apply`` writes rows
shipped by a run into a store (a restore). Rows travel as ``(table, key,
row)``: ``key`` the primary key as a list, ``row`` a dict of every column, or
None for a row deleted.

Local runs do not install the triggers and pay nothing for this.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from rhbatch.store.db import Database

# The tables a run's ledger holds, with their primary keys. Keys of ``meta`` starting with
# "ledger" describe this copy of the store (what it shipped), not the run: never shipped.
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key",),
    "specs": ("n",),
    "jobs": ("id",),
    "attempts": ("job_id", "n"),
    "outputs": ("job_id", "n"),
    "versions": ("job_id", "v"),
    "version_outputs": ("job_id", "v", "n"),
    "uploads": ("sha256",),
}
LOCAL_META = "ledger"  # meta keys with this prefix stay in this store

Entry = tuple[str, list[Any], dict[str, Any] | None]

_DDL = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    k TEXT NOT NULL,
    row TEXT
)
"""


def columns(conn: Any, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def install(conn: Any) -> None:
    """Create the journal and its triggers (once; idempotent), in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_DDL)
        for table, key in TABLES.items():
            cols = columns(conn, table)
            for when, ref in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
                keyed = f"json_array({', '.join(f'{ref}.{c}' for c in key)})"
                pairs = ", ".join(f"'{c}', NEW.{c}" for c in cols)
                row = "NULL" if when == "DELETE" else f"json_object({pairs})"
                local = f" WHEN {ref}.key NOT LIKE '{LOCAL_META}%'" if table == "meta" else ""
                moved = ""
                if when == "UPDATE":  # a key changed: the row under the old key is gone
                    old = f"json_array({', '.join(f'OLD.{c}' for c in key)})"
                    moved = (
                        f"INSERT INTO journal (tbl, k, row) SELECT '{table}', {old}, NULL "
                        f"WHERE {old} != {keyed}; "
                    )
                conn.execute(
                    f"CREATE TRIGGER IF NOT EXISTS journal_{table}_{when.lower()} "
                    f"AFTER {when} ON {table}{local} BEGIN {moved}"
                    f"INSERT INTO journal (tbl, k, row) VALUES ('{table}', {keyed}, {row}); END"
                )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def changes(conn: Any, after: int = 0) -> tuple[int, list[Entry]]:
    """The rows changed since journal entry ``after``, each once with its last value, in
    the order of their last change; and the last entry's number (``after`` if none)."""
    last = after
    latest: dict[tuple[str, str], str | None] = {}
    for seq, table, key, row in conn.execute(
        "SELECT seq, tbl, k, row FROM journal WHERE seq > ? ORDER BY seq", (after,)
    ):
        latest.pop((table, key), None)  # keep the order of the last change
        latest[(table, key)] = row
        last = seq
    return last, [
        (table, json.loads(key), None if row is None else json.loads(row))
        for (table, key), row in latest.items()
    ]


def trim(conn: Any, upto: int) -> None:
    """Forget the entries up to ``upto``: shipped (call inside a transaction)."""
    conn.execute("DELETE FROM journal WHERE seq <= ?", (upto,))


def dump(conn: Any) -> Iterator[Entry]:
    """Every row of the ledger's tables, as entries: a snapshot."""
    for table, key in TABLES.items():
        cols = columns(conn, table)
        where = f" WHERE key NOT LIKE '{LOCAL_META}%'" if table == "meta" else ""
        for values in conn.execute(f"SELECT {', '.join(cols)} FROM {table}{where}"):
            row = dict(zip(cols, values, strict=True))
            yield table, [row[c] for c in key], row


def apply(conn: Any, entries: Iterable[Entry]) -> int:
    """Write shipped entries into a store (call inside a transaction); how many. Columns
    the store does not have are an error (a ledger of a newer rhbatch): ``ValueError``."""
    known = {table: set(columns(conn, table)) for table in TABLES}
    n = 0
    for table, key, row in entries:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        names = TABLES[table]
        if len(key) != len(names):
            raise ValueError(f"{table}: a key of {len(key)} values, not {len(names)}")
        if row is None:
            where = " AND ".join(f"{c} = ?" for c in names)
            conn.execute(f"DELETE FROM {table} WHERE {where}", key)
        else:
            extra = set(row) - known[table]
            if extra:
                raise ValueError(f"{table}: unknown columns {sorted(extra)}")
            cols = list(row)
            conn.execute(
                f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})",
                [row[c] for c in cols],
            )
        n += 1
    return n


class Journal(Database):
    """The journal's side of a store: ``Store.open(dir).journaled()`` for object storage."""

    def journaled(self) -> None:
        """Record every change from now on (a run whose ledger is in a bucket)."""
        self.commit()
        install(self.conn)

    def journal_changes(self, after: int = 0) -> tuple[int, list[Entry]]:
        return changes(self.conn, after)

    def journal_last(self) -> int:
        found = self.conn.execute("SELECT MAX(seq) FROM journal").fetchone()
        return int(found[0] or 0)

    def journal_trim(self, upto: int) -> None:
        with self._transaction() as db:
            trim(db, upto)

    def snapshot(self) -> list[Entry]:
        return list(dump(self.conn))

    def restore(self, entries: Iterable[Entry], *, fresh: bool) -> int:
        """Write a ledger's entries into this store; ``fresh``: empty it first (a store
        rebuilt from the bucket). The journal keeps none of it (it came from the bucket);
        without ``fresh``, what it held before is kept (not yet shipped)."""
        self.changed.everything()  # any job's rows may come back otherwise
        with self._transaction() as db:
            before = 0 if fresh else self.journal_last()
            if fresh:
                for table in TABLES:
                    where = f" WHERE key NOT LIKE '{LOCAL_META}%'" if table == "meta" else ""
                    db.execute(f"DELETE FROM {table}{where}")
            n = apply(db, entries)
            db.execute("DELETE FROM journal WHERE seq > ?", (before,))
        return n
