"""Keys seen before, with what was noted of the first: in memory, then on disk past a size.

Checking a spec means remembering every job's id and result path, to tell the
second of a pair where the first was. A million jobs' keys in Python dicts cost
hundreds of MB; past ``limit`` entries they move to a scratch SQLite file in
the temporary directory (deleted on close), so a spec of any size is checked in
flat memory, and a small one never touches the disk.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from types import TracebackType
from typing import Any

LIMIT = 50_000


class FirstSeen:
    """``add(key, note)``: None the first time a key is added, else the first's note.
    A note is a tuple of text and whole numbers."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._memory: dict[str, tuple[Any, ...]] | None = {}
        self._db: sqlite3.Connection | None = None
        self._path: str | None = None

    def __enter__(self) -> FirstSeen:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add(self, key: str, note: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self._memory is not None:
            found = self._memory.get(key)
            if found is not None:
                return found
            self._memory[key] = note
            if len(self._memory) > self.limit:
                self._spill()
            return None
        assert self._db is not None
        row = self._db.execute("SELECT note FROM seen WHERE key=?", (key,)).fetchone()
        if row is not None:
            return tuple(_decode(row[0]))
        self._db.execute("INSERT INTO seen VALUES (?, ?)", (key, _encode(note)))
        return None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)
            self._path = None
        self._memory = {}

    def _spill(self) -> None:
        fd, self._path = tempfile.mkstemp(prefix="rhbatch-seen-", suffix=".db")
        os.close(fd)
        db = sqlite3.connect(self._path, isolation_level=None)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-2048")  # 2 MB of pages at most
        db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, note TEXT NOT NULL) WITHOUT ROWID")
        db.execute("BEGIN")  # one transaction for all: nothing here needs to survive
        assert self._memory is not None
        db.executemany(
            "INSERT INTO seen VALUES (?, ?)", ((k, _encode(v)) for k, v in self._memory.items())
        )
        self._db, self._memory = db, None


def _encode(note: tuple[Any, ...]) -> str:
    return "\x1f".join(
        "n" if v is None else ("i" + str(v)) if isinstance(v, int) else ("s" + str(v)) for v in note
    )


def _decode(text: str) -> list[Any]:
    out: list[Any] = []
    for part in text.split("\x1f"):
        kind = part[:1]
        out.append(None if kind == "n" else int(part[1:]) if kind == "i" else part[1:])
    return out
