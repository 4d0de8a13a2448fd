"""The emulator's state on disk: a journal of what it took on, replayed when it starts again.

With a state directory (``Emulator(state_dir=DIR)``) the emulator appends to
``DIR/journal.jsonl``, as it happens, every task it accepts (those that failed at
the start too), every cancel, every uploaded input (the file itself kept under
``DIR/uploads/``) and the port it listens on: one JSON object a line, written
whole with one unbuffered write before the reply goes out, so a process killed
with ``kill -9`` loses nothing it already answered. The first line names the
format; a journal of another format is refused (``StateError``), never misread.
One emulator at a time holds the directory (a lock on the journal).

``replay`` puts the journal back on a fresh emulator: task times are rebased from
wall-clock time (a task accepted 40 real seconds ago has run for 40 real seconds,
as on RunningHub, where tasks go on while the client is away), and adds and
cancels go through the ``Board`` in the order they happened, so slots, queues,
balances and the ledger come out as they were. A last line cut short by a kill
(or not JSON) is dropped, and cut off the file so that later lines stay whole.
Not kept: assets, LoRA upload tickets, webhook deliveries, polls and request
counters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from rhbatch.emulator.context import Upload, Uploaded
from rhbatch.emulator.tasks import Output, Task
from rhbatch.errors import StateError
from rhbatch.version import __version__

if TYPE_CHECKING:
    from rhbatch.emulator.context import Context

FORMAT = 1  # the journal's format: a journal of another is refused
KIND = "rhbatch-emulator-journal"
JOURNAL = "journal.jsonl"
UPLOADS = "uploads"
# What a task is as it runs, not as it was accepted: rebuilt by the replay, never written.
RUNTIME = frozenset({"status", "started", "ended", "polls", "downloads", "submitted"})


class Journal:
    """The append-only record of a state directory, open (and locked) for one emulator:
    ``created`` (Unix time) when it was begun, ``port`` the one last listened on."""

    def __init__(self, path: Path, handle: BinaryIO, records: list[dict[str, Any]]) -> None:
        self.path = path
        created = records[0].get("created") if records else None
        self.created = float(created) if isinstance(created, int | float) else time.time()
        ports = [r.get("port") for r in records if r.get("event") == "listen"]
        self.port = ports[-1] if ports and isinstance(ports[-1], int) else None
        self._handle = handle
        self._size = handle.seek(0, os.SEEK_END)

    @classmethod
    def open(cls, directory: Path) -> tuple[Journal, list[dict[str, Any]]]:
        """Open ``directory``'s journal (made if new), with the records it holds, a torn
        last line cut off. StateError when it is another format, corrupt, or in use."""
        path = directory / JOURNAL
        try:
            (directory / UPLOADS).mkdir(parents=True, exist_ok=True)
            handle = path.open("a+b", buffering=0)
        except OSError as exc:
            raise StateError(f"cannot open {path}: {exc.strerror or exc}") from None
        try:
            _lock(handle, directory)
            records = _read(handle, path)
            journal = cls(path, handle, records)
            if not records:
                header = {"journal": KIND, "format": FORMAT, "rhbatch": __version__}
                journal.write(header | {"created": journal.created})
        except BaseException:
            handle.close()
            raise
        return journal, records

    def write(self, record: dict[str, Any]) -> None:
        """Append one record, whole: a failed write is taken back (OSError raised)."""
        data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        try:
            view = memoryview(data)
            while view:
                view = view[self._handle.write(view) or 0 :]
        except OSError:
            with contextlib.suppress(OSError):  # a torn line would spoil the lines after it
                self._handle.truncate(self._size)
            raise
        self._size += len(data)

    def close(self) -> None:
        self._handle.close()


def _lock(handle: BinaryIO, directory: Path) -> None:
    """Hold the journal for this emulator alone while it is open (POSIX)."""
    try:
        import fcntl  # POSIX; on Windows the lock is not taken
    except ImportError:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise StateError(f"{directory} is in use by another emulator") from None


def _read(handle: BinaryIO, path: Path) -> list[dict[str, Any]]:
    """The journal's records, the header checked; a torn or corrupt last line is cut off."""
    handle.seek(0)
    data = handle.read() or b""
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail: what follows the last newline
    records: list[dict[str, Any]] = []
    good = 0  # bytes of whole, readable lines
    for number, line in enumerate(complete, start=1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError:
            if number == len(complete) and not tail:
                break  # the last line: a write cut short by a kill
            raise StateError(
                f"{path}: line {number} is not a journal record; the emulator's state there "
                "cannot be read (move the directory away to start afresh)"
            ) from None
        records.append(record)
        good += len(line) + 1
    if good < len(data):
        try:
            handle.truncate(good)
        except OSError as exc:
            raise StateError(f"cannot repair {path}: {exc.strerror or exc}") from None
    if records:
        _check_header(records[0], path)
    return records


def _check_header(header: dict[str, Any], path: Path) -> None:
    if header.get("journal") != KIND:
        raise StateError(f"{path} is not an rhbatch emulator journal")
    if header.get("format") != FORMAT:
        raise StateError(
            f"{path} was written by rhbatch {header.get('rhbatch', '?')} in journal format "
            f"{header.get('format')!r}; this rhbatch ({__version__}) reads format {FORMAT}. "
            "Use that version, or move the directory away to start afresh"
        )


# --- records -----------------------------------------------------------------------------


def task_record(task: Task, kind: str, wall: float) -> dict[str, Any]:
    """A task as it was accepted (``kind`` ``accepted``, or ``failed`` at the start)."""
    fields = {
        f.name: getattr(task, f.name) for f in dataclasses.fields(Task) if f.name not in RUNTIME
    }
    fields["outputs"] = [dataclasses.asdict(o) for o in task.outputs]
    fields["duration"] = None if math.isinf(task.duration) else task.duration  # stuck: None
    return {"event": "task", "kind": kind, "wall": wall, "task": fields}


def task_of(fields: dict[str, Any], submitted: float) -> Task:
    data = dict(fields)
    data["outputs"] = [Output(**o) for o in data.get("outputs", [])]
    if data.get("duration") is None:
        data["duration"] = math.inf
    return Task(**data, submitted=submitted)


# --- the replay ----------------------------------------------------------------------------


def replay(emu: Context, journal: Journal, records: list[dict[str, Any]]) -> Counter[str]:
    """Put the journal's tasks, cancels and uploads on ``emu``, at their rebased times.
    Tasks that ended while the emulator was away send no webhook. What was restored
    (``tasks``, ``cancels``, ``uploads``) and ``skipped`` (a task of a key this emulator
    does not have, an upload whose file is gone)."""
    board, counts = emu.board, Counter[str]()
    offset = emu.now() - time.time()  # emulator clock minus wall clock
    at = -math.inf
    for record in records[1:]:
        event = record.get("event")
        wall = record.get("wall")
        if not isinstance(wall, int | float) or event not in ("task", "cancel", "upload"):
            continue  # listen records, and any other note
        at = max(at, wall + offset)  # the order they happened in, even if the wall clock went back
        try:
            if event == "task":
                counts[_task(emu, record, at)] += 1
            elif event == "cancel":
                task = board.tasks.get(str(record["task"]))
                if task is not None:
                    board.cancel(task, at)
                    counts["cancels"] += 1
            else:
                counts[_upload(emu, record, offset)] += 1
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{journal.path}: a record cannot be read ({exc!r})") from None
    board.advance(emu.now())
    board.drain_finished()  # their ends passed while no one was listening
    return counts


def _task(emu: Context, record: dict[str, Any], at: float) -> str:
    task = task_of(record["task"], at)
    if task.api_key not in emu.board.accounts:
        return "skipped"
    if record.get("kind") == "failed":
        emu.board.add_failed(task, at)
    else:
        emu.board.add(task, at)
    digest, _, attempt = task.dice.rpartition("#")
    if digest and attempt.isdigit():  # the next submit of the body casts fresh dice
        key = f"submit:{digest}"
        emu.attempts[key] = max(emu.attempts[key], int(attempt) + 1)
    return "tasks"


def _upload(emu: Context, record: dict[str, Any], offset: float) -> str:
    served = None
    stored = record.get("stored")
    if stored is not None:
        path = emu.upload_dir / str(stored)
        if path.parent != emu.upload_dir or not path.is_file():
            return "skipped"
        expires = float(record["expires"]) + offset
        served = Upload(path, int(record["size"]), str(record["content_type"]), expires)
    item = Uploaded(
        str(record["api_key"]),
        str(record["file_name"]),
        int(record["size"]),
        str(record["resource_type"]),
        str(record["name"]),
    )
    emu.take_upload(item, served, created=float(record["wall"]))
    return "uploads"
