"""Local reference files become URLs: each distinct file uploaded once, ever, per output directory.

A job's media parameters may name local files (relative to the spec). Before
the job is submitted, each is hashed; a file whose content was uploaded before
(by this run or an earlier one into the same directory, recorded in the
store) reuses that URL while it is fresh, and concurrent jobs that need the
same new file wait for one upload. The job is sent with URLs; the manifest
keeps the local paths as its sources.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rhbatch.api.client import Client
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import NoConnection, Rejected, Transient
from rhbatch.models import pinned_kind
from rhbatch.runner.retry import retrying
from rhbatch.spec.refs import kind_of, uploaded_name
from rhbatch.store.files import hash_file
from rhbatch.store.state import Store

URL_LIFETIME = 20 * 3600.0  # upload URLs last about 24 h; reupload a little before that
TRIES = 6


class UploadFailed(Exception):
    """A local file could not be uploaded; the job fails with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Uploader:
    def __init__(
        self,
        client: Client,
        store: Store,
        registry: Registry,
        base_dir: Path,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_upload: Callable[[str, int], None] = lambda path, size: None,
    ) -> None:
        self.client, self.store, self.registry = client, store, registry
        self.base_dir = base_dir
        self._sleep = sleep
        self._on_upload = on_upload
        self._hashes: dict[Path, tuple[str, int]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def resolve(
        self, endpoint: str, params: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The body to send (local files replaced by URLs) and the local sources by field."""
        sent = dict(params)
        sources: dict[str, Any] = {}
        # A workflow's or app's inputs take the legacy upload's file name, not a URL.
        pinned = pinned_kind(endpoint) is not None

        media = self.registry.schema(endpoint).media

        def local(value: Any, name: str) -> bool:
            if pinned and value is not None and value == media[name].empty:
                return False  # an app's image slot left empty: "None" is sent as it is
            return _local(value) and not (pinned and uploaded_name(value))

        for name, rule in media.items():
            value = params.get(name)
            by_name = pinned and not rule.url  # a loader that takes an uploaded file's name
            if isinstance(value, list):
                if any(local(v, name) for v in value):
                    sent[name] = [
                        await self.upload_path(v, by_name) if local(v, name) else v for v in value
                    ]
                    sources[name] = list(value)
            elif local(value, name):
                sent[name] = await self.upload_path(str(value), by_name)
                sources[name] = value
        return sent, sources

    async def upload_path(self, value: str, pinned: bool = False) -> str:
        """A local file's URL (or, ``pinned``, the file name a workflow's input takes),
        uploaded once per content."""
        digest, size = self._hash(self._path(value))
        key = f"input:{digest}" if pinned else digest  # the two uploads name a file apart
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            known = self.store.upload(key)
            if known is not None and time.time() - known[1] < URL_LIFETIME:
                return known[0]
            url = await self._upload(self._path(value), value, pinned)
            self.store.record_upload(key, url, size, value)
            self._on_upload(value, size)
            return url

    async def _upload(self, path: Path, shown: str, pinned: bool = False) -> str:
        call = self.client.upload_input if pinned else self.client.upload
        try:
            return await retrying(
                lambda: call(path),
                tries=TRIES,
                sleep=self._sleep,
                unless=(NoConnection,),  # the API is out of reach: the runner decides
            )
        except NoConnection:
            raise
        except Transient as exc:
            raise UploadFailed("UPLOAD", f"uploading {shown} failed: {exc}") from None
        except Rejected as exc:
            raise UploadFailed(exc.code, f"uploading {shown} was refused: {exc}") from None
        except OSError as exc:
            raise UploadFailed("UPLOAD", f"cannot read {shown}: {exc.strerror}") from None

    def _path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def _hash(self, path: Path) -> tuple[str, int]:
        found = self._hashes.get(path)
        if found is None:
            try:
                saved = hash_file(path)
            except OSError as exc:
                raise UploadFailed("FILE", f"cannot read {path}: {exc.strerror}") from None
            found = self._hashes[path] = (saved.sha256, saved.bytes)
        return found


def _local(value: Any) -> bool:
    return isinstance(value, str) and kind_of(value) == "local"
