"""Every file rhbatch reads that it did not write in the same breath, read within bounds.

Spec files, row files, reference files, pins, shards' manifests and ``run.json``,
a store's exported documents: each is looked at with ``os.stat`` before it is
opened (opening a FIFO blocks; a symlink to ``/dev/zero`` never ends), must be a
regular file of at most a size, and is decoded as UTF-8; a JSON document is held
to a depth (``MAX_DEPTH`` lists and objects inside each other: 200,000 brackets
would exhaust Python's stack). Each refusal is a ``FileProblem`` saying why, with
the line where it can; callers name the file and exit 2 (invalid input).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rhbatch.errors import EXIT_INVALID, RhbatchError

MiB = 1024 * 1024
MAX_FILE_BYTES = 256 * MiB  # the largest spec or row file read
MAX_JSON_BYTES = 16 * MiB  # a pin, a run.json: documents of their size, not of a batch's
MAX_LINE_BYTES = 16 * MiB  # one line of a manifest
MAX_DEPTH = 64  # lists and objects inside each other, in JSON and YAML alike

_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


class FileProblem(RhbatchError):
    """Why an input file cannot be read. Without a ``line``, ``reason`` completes
    "<file> ..."; with one, it stands after "<file>:<line>: ". Callers usually say it
    in their own words; one that reaches the command line is invalid input (exit 2),
    said with the file's path."""

    exit_code = EXIT_INVALID

    def __init__(self, reason: str, line: int | None = None, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.missing = missing
        self.path: Path | None = None

    def __str__(self) -> str:
        where = "" if self.path is None else f"{self.path}{f':{self.line}' if self.line else ''} "
        return f"{where}{self.reason}"


def _named(path: Path, problem: FileProblem) -> FileProblem:
    if problem.path is None:
        problem.path = path
    return problem


def stat_regular(path: Path) -> os.stat_result:
    """``os.stat`` of a path that must be a regular file; raises FileProblem."""
    try:
        return _stat_regular(path)
    except FileProblem as exc:
        raise _named(path, exc) from None


def read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes; raises FileProblem.

    A UTF-8 byte order mark is dropped; UTF-16 and UTF-32 (by their mark, or NUL
    bytes) and bytes that are not UTF-8 are refused with their line.
    """
    try:
        return _read_text(path, limit)
    except FileProblem as exc:
        raise _named(path, exc) from None


def lines(
    path: Path, limit: int = MAX_LINE_BYTES, *, errors: str = "strict"
) -> Iterator[tuple[int, str]]:
    """(number, text) of each line of a regular UTF-8 file of any length, each line at
    most ``limit`` bytes (a manifest of a million jobs is read a line at a time);
    ``errors="replace"`` keeps a line whose bytes are not UTF-8, marked."""
    try:
        yield from _lines(path, limit, errors=errors)
    except FileProblem as exc:
        raise _named(path, exc) from None


def not_regular(mode: int) -> str | None:
    """What a file is when it is not a regular file ("a directory", ...), else None."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _stat_regular(path: Path) -> os.stat_result:
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise FileProblem(f"does not exist (looked at {path})", missing=True) from None
    except ValueError:  # an embedded NUL
        raise FileProblem("is not a usable path: it contains a NUL character") from None
    except OSError as exc:
        raise FileProblem(f"cannot be read: {_reason(exc)}") from None
    kind = not_regular(found.st_mode)
    if kind is not None:
        raise FileProblem(f"is {kind}, not a regular file")
    return found


def _read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str:
    found = _stat_regular(path)
    if found.st_size > limit:
        raise FileProblem(
            f"is {found.st_size / MiB:,.1f} MiB; rhbatch reads files of at most "
            f"{limit / MiB:,.0f} MiB"
        )
    blocks: list[bytes] = []
    total, want = 0, found.st_size + 1  # read(n) sets n bytes aside: ask for what is there
    try:
        with open(path, "rb") as fh:
            while block := fh.read(want):
                blocks.append(block)
                total += len(block)
                if total > limit:  # it grew after the stat
                    raise FileProblem(
                        f"is over {limit / MiB:,.0f} MiB; rhbatch reads files of at most that"
                    )
                want = min(MiB, limit + 1 - total)
    except OSError as exc:
        raise FileProblem(f"cannot be read: {_reason(exc)}") from None
    data = b"".join(blocks)
    for mark, name in _BOMS:
        if data.startswith(mark):
            raise FileProblem(f"{name} text, not UTF-8; save the file as UTF-8", 1)
    skip = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    nul = data.find(b"\0")
    if nul >= 0:
        line, column = _position(data, nul)
        raise FileProblem(
            f"a NUL byte at column {column} (UTF-16 text?); save the file as UTF-8", line
        )
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start + skip
        line, column = _position(data, at)
        raise FileProblem(
            f"not UTF-8 text (byte 0x{data[at]:02x} at column {column}); save the file as UTF-8",
            line,
        ) from None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of a byte offset."""
    return data.count(b"\n", 0, offset) + 1, offset - (data.rfind(b"\n", 0, offset) + 1) + 1


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def read_json(path: Path, limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON document in a regular file of at most ``limit`` bytes, nested at most
    ``MAX_DEPTH`` deep; raises FileProblem."""
    try:
        return parse_json(_read_text(path, limit))
    except FileProblem as exc:
        raise _named(path, exc) from None


def parse_json(text: str) -> Any:
    """A JSON text, nested at most ``MAX_DEPTH`` deep; raises FileProblem."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileProblem(f"is not JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    except RecursionError:
        value = None
        deep = True
    else:
        deep = depth(value) > MAX_DEPTH
    if deep:
        raise FileProblem(f"nests lists and objects more than {MAX_DEPTH} deep")
    return value


READ_BUFFER = 1 << 20  # bytes read at a time from a file read by lines (a manifest is MBs)


def _lines(
    path: Path, limit: int = MAX_LINE_BYTES, *, errors: str = "strict"
) -> Iterator[tuple[int, str]]:
    _stat_regular(path)
    try:
        with open(path, "rb", buffering=READ_BUFFER) as fh:
            number = 0
            while True:
                raw = fh.readline(limit + 1)
                if not raw:
                    return
                number += 1
                if len(raw) > limit and not raw.endswith(b"\n"):
                    raise FileProblem(f"has a line over {limit / MiB:,.0f} MiB", number)
                try:
                    yield number, raw.decode("utf-8", errors)
                except UnicodeDecodeError:
                    raise FileProblem("is not UTF-8 text", number) from None
    except OSError as exc:
        raise FileProblem(f"cannot be read: {_reason(exc)}") from None


def depth(value: Any) -> int:
    """How deeply lists and objects nest in a value (a scalar is 0)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            stack.extend(
                (c, level + 1) for c in (node.values() if isinstance(node, dict) else node)
            )
    return deepest
