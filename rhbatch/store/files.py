"""Files on disk: result paths kept inside the output directory, and whole-or-nothing writes.

A result path must stay inside the output directory (``path_problem`` holds the
rules; validation applies them before anything is paid, ``safe_path`` again
when a file is written). Every file rhbatch writes goes through ``PartFile``:
it is written to ``.<name>.part`` beside its destination, hashed as it goes,
flushed to disk, and only then renamed over the destination (and the directory
flushed), so a destination is either absent, its old version, or complete.
Leaving a ``PartFile`` unfinished (an error, a cancellation) removes its part
file. Disk trouble (``OSError``, such as a full disk) propagates unchanged.

Speed (measured with ``python -m benchmarks downloads``): every ``WRITE_BACK``
bytes the kernel is asked to start writing what has arrived, so the fsync that
ends each file has little left to do. Hashing and writing stay on the event
loop's thread: in a worker thread they cost about a quarter more CPU, and
memory that grew with the file size, for a gain seen only on an idle machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

WRITE_BACK = 8 << 20  # start writing to disk every this many bytes
_FADVISE = getattr(os, "posix_fadvise", None)  # not on macOS or Windows
MAX_COMPONENT = 200
# File systems allow 255 bytes per name; the ".<name>.part" a file is written to first takes 6.
MAX_COMPONENT_BYTES = 240
# What rhbatch itself keeps in an output directory; no result may land there.
RESERVED_DIR = ".rhbatch"
HISTORY_DIR = "history"  # the files of earlier versions of changed jobs (history.py)
RESERVED_FILES = frozenset({"manifest.jsonl", "run.json", "metadata.jsonl", "report.html"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = re.compile(r"[/\\]")


@dataclass(frozen=True)
class Saved:
    """A file as written: where, how many bytes, and their sha256 (hex)."""

    path: Path
    bytes: int
    sha256: str


def path_problem(relative: str) -> str | None:
    """Why ``relative`` cannot be a result path inside the output directory, or None.

    Both "/" and "\\" separate components.
    """
    if not relative:
        return "it is empty"
    if _CONTROL.search(relative):
        return "it contains a control character"
    if relative[0] in "/\\":
        return "it is absolute"
    if _DRIVE.match(relative):
        return "it names a drive"
    parts = _SEPARATORS.split(relative)
    for part in parts:
        if part in ("", ".", ".."):
            return "it has an empty, '.' or '..' component"
        if len(part) > MAX_COMPONENT:
            return f"a component is longer than {MAX_COMPONENT} characters"
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            return f"a component is longer than {MAX_COMPONENT_BYTES} bytes in UTF-8"
    first = parts[0].casefold()
    if first in (RESERVED_DIR, HISTORY_DIR) or (len(parts) == 1 and parts[0] in RESERVED_FILES):
        return (
            "it is one of rhbatch's own files (.rhbatch/, history/, manifest.jsonl, run.json, "
            "metadata.jsonl, report.html)"
        )
    return None


def path_key(relative: str) -> str:
    """The same key for two paths that name one file on any common file system
    (either separator; letters compared without case, as macOS and Windows do)."""
    return ("/".join(_SEPARATORS.split(relative)) if "\\" in relative else relative).casefold()


def safe_path(root: Path, relative: str, *, history: bool = False) -> Path:
    """``root / relative``, refusing anything that could land outside ``root``.

    Both "/" and "\\" separate components; absolute paths, drive letters, "." and
    "..", empty components, control characters and components over 200
    characters are refused with ValueError, as is a path that resolves (through
    symlinks) outside ``root``. ``history``: a path in ``history/``, where only
    the files of earlier versions go (any other result path there is refused).
    """
    if history:
        head, _, rest = relative.partition("/")
        if head != HISTORY_DIR or not rest:
            raise ValueError(f"unsafe history path {relative!r}: not inside {HISTORY_DIR}/")
        safe_path(root / HISTORY_DIR, rest)
    problem = None if history else path_problem(relative)
    if problem:
        raise ValueError(f"unsafe output path {relative!r}: {problem}")
    path = root.joinpath(*_SEPARATORS.split(relative))
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"unsafe output path {relative!r}: it resolves outside {root}")
    return path


class PartFile:
    """``dest`` being written: ``with PartFile(dest) as f: f.write(...); f.finish()``.
    Bytes go to the part file, hashed as they come (unless ``hashed`` is False);
    ``finish`` makes them ``dest``, durably. Leaving unfinished removes the part file.
    ``parents``: make the missing directories above ``dest`` (else a missing one is
    the OSError of opening the part file). A writer that takes a file object (pyarrow's)
    may be given the PartFile itself: it has ``write`` and ``closed``."""

    def __init__(self, dest: Path, *, hashed: bool = True, parents: bool = True) -> None:
        self.dest, self.part, self.parents = dest, part_of(dest), parents
        self.bytes = 0
        self._digest = hashlib.sha256() if hashed else None
        self._fh: BinaryIO | None = None
        self._started = 0  # where the write-back not yet asked for begins
        self._done = False

    def __enter__(self) -> PartFile:
        if self.parents:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.part.open("wb")
        return self

    @property
    def closed(self) -> bool:
        """Whether no more bytes can be written (as a file object says)."""
        return self._fh is None or self._fh.closed

    def write(self, data: bytes) -> None:
        assert self._fh is not None, "use PartFile in a with statement"
        self._fh.write(data)
        if self._digest is not None:
            self._digest.update(data)
        self.bytes += len(data)
        if self.bytes - self._started >= WRITE_BACK:
            start_write_back(self._fh, self._started, self.bytes - self._started)
            self._started = self.bytes

    def finish(self) -> Saved:
        """Flush, sync, and rename over ``dest``; the file as saved."""
        assert self._fh is not None, "use PartFile in a with statement"
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.part, self.dest)
        _sync_dir(self.dest.parent)
        self._done = True
        digest = self._digest.hexdigest() if self._digest is not None else ""
        return Saved(self.dest, self.bytes, digest)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fh is not None and not self._fh.closed:
            with contextlib.suppress(OSError):  # a full disk fails the flush of the close too
                self._fh.close()
        if not self._done:
            with contextlib.suppress(OSError):
                self.part.unlink(missing_ok=True)


def write_text(dest: Path, text: str, *, parents: bool = True) -> Saved:
    """Write ``text`` as UTF-8 to ``dest``, whole or not at all (``parents``: as PartFile)."""
    with PartFile(dest, parents=parents) as out:
        out.write(text.encode("utf-8"))
        return out.finish()


LINES_PER_WRITE = 1024  # text lines joined into one write (a manifest line is about 1 KB)


def write_lines(dest: Path, lines: Iterable[str | bytes]) -> None:
    """Write ``lines`` (text as UTF-8; bytes as they are) to ``dest``, whole or not at all
    (a manifest, run.json)."""
    with PartFile(dest, hashed=False) as out:
        batch: list[str] = []
        for line in lines:
            if isinstance(line, bytes):
                if batch:
                    out.write("".join(batch).encode("utf-8"))
                    batch.clear()
                out.write(line)
                continue
            batch.append(line)
            if len(batch) >= LINES_PER_WRITE:  # one write per batch, not per line
                out.write("".join(batch).encode("utf-8"))
                batch.clear()
        if batch:
            out.write("".join(batch).encode("utf-8"))
        out.finish()


def hash_file(path: Path) -> Saved:
    """The size and sha256 of an existing file, read in blocks."""
    with path.open("rb") as fh:
        count, digest = hash_stream(fh)
    return Saved(path, count, digest)


def hash_stream(fh: BinaryIO, algorithm: str = "sha256") -> tuple[int, str]:
    """The number of bytes left in an open binary file (a local one, or an object in a
    bucket), and their digest (hex), read in blocks."""
    # md5 only compares a file with an S3 ETag: nothing rests on it for security.
    digest, count = hashlib.new(algorithm, usedforsecurity=algorithm != "md5"), 0
    while block := fh.read(1 << 20):
        digest.update(block)
        count += len(block)
    return count, digest.hexdigest()


def start_write_back(fh: BinaryIO, offset: int, length: int) -> None:
    """Flush ``fh`` and ask the kernel to start writing ``length`` bytes at ``offset`` to
    disk, without waiting for it. A hint: where it is not supported nothing happens."""
    fh.flush()
    if _FADVISE is not None:
        # On Linux, DONTNEED starts write-back of the range's dirty pages (and drops its
        # pages already clean); it never discards data.
        with contextlib.suppress(OSError):
            _FADVISE(fh.fileno(), offset, length, os.POSIX_FADV_DONTNEED)


def part_of(dest: Path) -> Path:
    """Where ``dest`` is written before it is complete."""
    return dest.parent / f".{dest.name}.part"


def _sync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    if os.name == "posix":  # directories cannot be opened for fsync elsewhere
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
