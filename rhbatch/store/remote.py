"""``--out URL``: results in object storage through fsspec; the state stays on local disk.

``--out s3://bucket/batch`` (or ``gs://``, ``az://``, ``memory://``, any
protocol fsspec knows, with its package installed: s3fs, gcsfs, adlfs) puts the
run's files, ``manifest.jsonl``, ``metadata.jsonl``, ``run.json`` and
``report.html`` there. SQLite needs a local file, so the state store and a
local copy of each file live in the state directory (``--state DIR``, default
``~/.cache/rhbatch/<name>-<hash of the URL>``): each result is downloaded there
and checksummed as always, then put at the same relative path under the URL,
and its size read back; a file that could not be put leaves its job
``unfetched`` (paid, kept; the next run puts it again). The manifest and the
rest are put when the run ends. Credentials and endpoints are fsspec's
(``AWS_*`` variables, or ``FSSPEC_S3_ENDPOINT_URL`` for an S3-compatible
server); none is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.errors import InvalidInput, StateError, UsageError
from rhbatch.redact import keep_secret, masked_url, scrub, userinfo
from rhbatch.store.bucket import Bucket
from rhbatch.store.files import hash_stream

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
META_FILES = ("manifest.jsonl", "metadata.jsonl", "run.json", "report.html")


def is_url(out: str) -> bool:
    """Whether ``--out`` names object storage (``s3://...``) rather than a local path."""
    m = _SCHEME.match(out)
    return m is not None and m.group(1).lower() != "file"


def local_path(out: str) -> str:
    """A ``file://`` URL as a path; anything else unchanged."""
    return out[len("file://") :] if out.lower().startswith("file://") else out


class Remote:
    """One ``--out`` URL: where the files go, through an fsspec file system."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        for secret in userinfo(self.url):  # s3://KEY:SECRET@bucket: never shown, anywhere
            keep_secret(secret)
        self.shown = masked_url(self.url)  # the URL as every message names it
        try:
            import fsspec
            import fsspec.config
        except ImportError:
            raise UsageError(
                f"--out {self.shown}: object storage needs fsspec: pip install 'rhbatch[storage]'"
            ) from None
        # The environment as it is now (FSSPEC_S3_ENDPOINT_URL, ...), not as it was when
        # fsspec was first imported.
        fsspec.config.set_conf_env(fsspec.config.conf)
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url)
        except ValueError as exc:
            scheme = _SCHEME.match(url)
            raise UsageError(
                f"--out {self.shown}: {scheme.group(1) if scheme else self.shown!r} is not a "
                f"storage protocol fsspec knows ({scrub(str(exc))}); use a local path, file://, "
                "s3://, gs://, az://"
            ) from None
        except ImportError as exc:
            raise UsageError(
                f"--out {self.shown}: this protocol needs a package that is not installed "
                f"({scrub(str(exc))}); "
                "for s3:// pip install 'rhbatch[storage]'"
            ) from None
        self.root = str(root).rstrip("/")
        self.present: dict[str, int] = {}  # objects under the URL: path -> bytes
        self.put_ok = self.put_failed = 0  # result files put this run, and refused

    def state_dir(self, flag: str | None) -> Path:
        """Where the state store and the local copies live."""
        if flag:
            return Path(flag)
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rhbatch"
        shown = masked_url(self.url).split("://", 1)[-1]  # no credential in a folder name
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", shown.replace("***@", "")).strip("-")[:60]
        return base / f"{name}-{hashlib.sha256(self.url.encode()).hexdigest()[:12]}"

    def bucket(self) -> Bucket:
        """The location's objects, with the conditional writes a ledger needs."""
        return Bucket(self.fs, self.root)

    def check(self) -> None:
        """Fail before anything is sent when the location cannot be written."""
        probe = f"{self.root}/.rhbatch-probe"
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(probe, b"ok")
            self.fs.rm_file(probe)
        except Exception as exc:  # fsspec back ends raise their own kinds
            raise UsageError(f"--out {self.shown} cannot be written: {scrub(str(exc))}") from None

    def inventory(self) -> None:
        """List every object under the URL once (their sizes): what a rerun checks each
        result file against, rather than asking for each."""
        try:
            self.fs.invalidate_cache(self.root)
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            found = {}
        except Exception as exc:  # fsspec back ends raise their own kinds
            raise UsageError(f"--out {self.shown} cannot be listed: {scrub(str(exc))}") from None
        skip = len(self.root) + 1
        self.present = {
            str(path)[skip:]: int(info.get("size") or 0)
            for path, info in found.items()
            if str(path).startswith(self.root + "/")
        }

    def has(self, rel: str, size: int) -> bool:
        return self.present.get(rel) == size

    async def put(self, local: Path, rel: str) -> str | None:
        """Put one file at ``rel`` under the URL, read its size (and on S3 its MD5) back,
        then remove the local copy: the state directory needs room for the files in
        flight only. None when it is there whole, else why not."""
        problem = await asyncio.to_thread(self._put, local, rel, False)
        if problem is None:
            self.put_ok += 1
        else:
            self.put_failed += 1
        return problem

    def _put(self, local: Path, rel: str, keep: bool = True) -> str | None:
        target = f"{self.root}/{rel}"
        try:
            self.fs.put_file(str(local), target)
            self.fs.invalidate_cache(target)
            info: dict[str, Any] = self.fs.info(target)
        except Exception as exc:  # fsspec back ends raise their own kinds
            return f"cannot put {rel} to {self.shown}: {scrub(str(exc))}"
        size = local.stat().st_size
        if int(info.get("size") or 0) != size:
            return f"{self.shown}/{rel} holds {info.get('size')} bytes, not {size}"
        etag = str(info.get("ETag") or "").strip('"')
        if re.fullmatch(r"[0-9a-f]{32}", etag) and etag != _md5(local):  # one-part S3 put
            return f"{self.shown}/{rel} does not hold the bytes put (its MD5 differs)"
        self.present[rel] = size
        if not keep:
            with contextlib.suppress(OSError):
                local.unlink()
        return None

    def move(self, was: str, path: str, size: int) -> bool:
        """Keep an earlier version's file at its history path: the object at ``was``, if it
        has ``size`` bytes and nothing is at ``path`` yet, copied there and removed."""
        source, target = f"{self.root}/{was}", f"{self.root}/{path}"
        try:
            self.fs.invalidate_cache(self.root)
            if int(self.fs.info(source).get("size") or -1) != size or self.fs.exists(target):
                return False
            self.fs.copy(source, target)
            self.fs.rm_file(source)
        except FileNotFoundError:
            return False  # already moved, or gone: verify says which
        except Exception as exc:  # fsspec back ends raise their own kinds
            raise StateError(
                f"cannot keep {self.shown}/{was} as {path}: {scrub(str(exc))}"
            ) from None
        self.present.pop(was, None)
        self.present[path] = size
        return True

    def records(self) -> Iterator[dict[str, Any]]:
        """The records of the manifest put under the URL, one at a time."""
        path = f"{self.root}/manifest.jsonl"
        try:
            with self.fs.open(path, "rb") as fh:
                for n, line in enumerate(_lines(fh), start=1):
                    if len(line) > readers.MAX_LINE_BYTES:
                        raise UsageError(f"{self.shown}/manifest.jsonl line {n} is too long")
                    if line.strip():
                        yield readers.parse_json(line.decode("utf-8", errors="replace"))
        except FileNotFoundError:
            raise UsageError(
                f"{self.shown} has no manifest.jsonl: is it the --out of a run?"
            ) from None
        except (UsageError, InvalidInput):
            raise
        except Exception as exc:  # fsspec back ends raise their own kinds (no credentials...)
            raise UsageError(f"{self.shown} cannot be read: {scrub(str(exc))}") from None

    def hash(self, rel: str) -> tuple[int, str] | None:
        """The size and SHA-256 of the object at ``rel`` (read whole), or None if absent."""
        try:
            with self.fs.open(f"{self.root}/{rel}", "rb") as fh:
                return hash_stream(fh)
        except FileNotFoundError:
            return None
        except Exception as exc:  # fsspec back ends raise their own kinds
            raise UsageError(f"{self.shown}/{rel} cannot be read: {scrub(str(exc))}") from None

    def put_meta(self, out_dir: Path) -> list[str]:
        """Put the manifest, metadata, run.json and report; the problems met."""
        problems = []
        for name in META_FILES:
            if (out_dir / name).is_file():
                problem = self._put(out_dir / name, name)
                if problem is not None:
                    problems.append(problem)
        return problems


def _md5(path: Path) -> str:
    with path.open("rb") as fh:
        return hash_stream(fh, "md5")[1]


def _lines(fh: Any, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The lines of a binary file, read a chunk at a time; a line longer than
    ``readers.MAX_LINE_BYTES`` is given cut there (and refused by the caller)."""
    rest = b""
    while data := fh.read(chunk):
        rest += data
        *whole, rest = rest.split(b"\n")
        yield from whole
        if len(rest) > readers.MAX_LINE_BYTES:
            yield rest
            return
    if rest:
        yield rest
