"""Conditional writes to object storage: create only if absent, replace only if unchanged.

A ledger in a bucket is safe with two writers only if the bucket refuses the
second one's write. S3 does (``If-None-Match: *`` on a put creates only if no
object is there, ``If-Match: ETAG`` replaces only the version read; AWS since
2024, and S3-compatible servers that follow it), and so does the way Delta Lake
and Iceberg commit to object storage. ``Bucket`` gives the ledger those two
writes on any fsspec file system: through s3fs on S3, and elsewhere by reading
before writing (``conditional`` is then False: two writers that start within the
same moment may both write; docs/scale.md says so).
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any


class Conflict(Exception):
    """The object was created or changed by someone else since it was read."""


class Bucket:
    """Objects under ``root`` of the file system ``fs``, with conditional writes."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs, self.root = fs, root.rstrip("/")
        # s3fs passes put_object's arguments through: IfNoneMatch and IfMatch.
        self.conditional = type(fs).__name__ == "S3FileSystem"
        self.requests = 0  # every request this object made: the benchmark's figure

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def read(self, name: str) -> tuple[bytes, str] | None:
        """The object's bytes and its version tag (ETag on S3), or None if there is none."""
        self.requests += 1
        path = self.path(name)
        self.fs.invalidate_cache(path)  # a listing cached before must not hide it
        try:
            if self.conditional:
                with self.fs.open(path, "rb", cache_type="none") as fh:
                    data = fh.read()
                    tag = str(fh.details.get("ETag") or "")
                return data, tag
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        return data, hashlib.sha256(data).hexdigest()

    def create(self, name: str, data: bytes) -> str:
        """Write a new object; ``Conflict`` if one is there already. Its version tag."""
        self.requests += 1
        path = self.path(name)
        if self.conditional:
            try:
                out = self.fs.pipe_file(path, data, mode="create")
            except (FileExistsError, PermissionError) as exc:
                raise Conflict(name) from exc
            except OSError as exc:
                if _precondition(exc):
                    raise Conflict(name) from exc
                raise
            self.fs.invalidate_cache(path)
            return _etag(out)
        if self.fs.exists(path):
            raise Conflict(name)
        self.fs.pipe_file(path, data)
        return hashlib.sha256(data).hexdigest()

    def replace(self, name: str, data: bytes, tag: str) -> str:
        """Replace the object read with version ``tag``; ``Conflict`` if it changed."""
        self.requests += 1
        path = self.path(name)
        if self.conditional:
            try:
                out = self.fs.pipe_file(path, data, IfMatch=tag)
            except OSError as exc:
                if _precondition(exc) or isinstance(exc, FileNotFoundError):
                    raise Conflict(name) from exc
                raise
            self.fs.invalidate_cache(path)
            return _etag(out)
        found = self.read(name)
        if found is None or found[1] != tag:
            raise Conflict(name)
        self.fs.pipe_file(path, data)
        return hashlib.sha256(data).hexdigest()

    def names(self, prefix: str) -> list[str]:
        """The names of the objects under ``prefix/`` (one listing)."""
        self.requests += 1
        try:
            self.fs.invalidate_cache(self.path(prefix))
            found = self.fs.ls(self.path(prefix), detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in found)

    def remove(self, name: str) -> None:
        self.requests += 1
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(name))


def _precondition(exc: BaseException) -> bool:
    """Whether an s3fs error is S3's 412 (a condition not met) or 409 (a concurrent write)."""
    text = f"{exc} {exc.__cause__ or ''} {getattr(exc, 'args', '')}"
    words = ("PreconditionFailed", "pre-conditions", "412", "ConditionalRequestConflict")
    return any(word in text for word in words)


def _etag(out: Any) -> str:
    if isinstance(out, dict):
        return str(out.get("ETag") or "")
    return ""
