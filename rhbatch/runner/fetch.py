"""Fetching a succeeded task's results into the output directory, within limits.

A job whose task succeeded has been paid for; what is left is to bring its
files home. Each result is saved under ``output.naming`` (kept inside the
output directory), streamed through a part file, length-checked, hashed and
renamed into place (``downloads.py``). Trouble that may pass (a 5xx, a file not
there yet, a connection dropped) is retried. A URL that expired (403, 410), one
whose host cannot be reached a few times in a row (a CDN host gone, an emulator
on another port) or whose file stays missing (404) is replaced by a fresh one
from a query of the task; when the fresh URL is refused too, the reason says
RunningHub no longer serves the result. What cannot be fetched (that, a URL
that is not http(s), a redirect loop, a body over the size limit, a host too
slow for the deadline) leaves the job ``unfetched`` with the reason: paid, kept,
and tried again by the next run, which sends nothing new (a succeeded task is
never submitted again). A full disk stops the run (``StateError``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.errors import (
    ApiError,
    NoConnection,
    ProtocolError,
    Rejected,
    StateError,
    TooSlow,
    Transient,
)
from rhbatch.models import JobRow, OutputRow, Result
from rhbatch.runner.retry import backoff, wait_for
from rhbatch.spec.naming import output_name
from rhbatch.store import files
from rhbatch.store.state import Store

DOWNLOAD_TRIES = 8  # tries of one file against passing trouble
UNREACHED_TRIES = 3  # connections refused in a row before the task is asked for a fresh URL
MISSING_TRIES = 4  # 404s (storage can lag) before the task is asked for a fresh URL
GONE = frozenset({403, 404, 410})  # HTTP statuses of a URL refused: expired, or not there
LAGGING = 404  # a file not there yet: storage can lag
CHUNK = 1 << 20  # most bytes per read; aiohttp hands over what it has, up to this
SLOW_TRIES = 2  # tries of a file too slow for the limits


class Mirror(Protocol):
    """Where --out names object storage: each saved file is put there too."""

    async def put(self, local: Path, rel: str) -> str | None:
        """Put a saved file (local path, path relative to the output); why not, or None."""

    def has(self, rel: str, size: int) -> bool:
        """Whether the object is there with ``size`` bytes (as last listed or put)."""


class Stopped(Exception):
    """The run is stopping: leave the job as it is for the next run."""


@dataclass(frozen=True)
class NotFetched:
    """Why a result file could not be had: the job is left ``unfetched`` with the reason."""

    reason: str


class Fetcher:
    def __init__(
        self,
        *,
        store: Store,
        client: Client,
        out_dir: Path,
        naming: str,
        limits: DownloadLimits,
        concurrency: int,
        pause: Callable[[float], Awaitable[bool]],
        emit: Callable[..., None],
        cap: float,
        mirror: Mirror | None = None,
    ) -> None:
        self.store, self.client, self.out_dir = store, client, out_dir
        self.mirror = mirror  # --out URL: each saved file is put there too
        self.naming, self.limits = naming, limits
        self.slots = asyncio.Semaphore(concurrency)
        self._pause = pause  # waits; True when the run stops meanwhile
        self._emit = emit
        self._cap = cap

    async def fetch(self, row: JobRow) -> None:
        """Fetch every result of a succeeded job: it ends ``succeeded``, or ``unfetched``
        with the reason (or stays ``downloading`` if the run stops meanwhile)."""
        async with self.slots:
            have = {o.n: o for o in self.store.outputs(row.id)}
            try:
                for n, result in enumerate(row.results, start=1):
                    mirror = self.mirror
                    if n in have and mirror is not None and mirror.has(have[n].path, have[n].bytes):
                        problem = None  # in the bucket already (the local copy may be gone)
                    elif n in have and intact(self.out_dir, have[n]):
                        problem = None
                        if mirror is not None:  # it has not reached --out yet
                            problem = await mirror.put(self.out_dir / have[n].path, have[n].path)
                    else:
                        problem = await self._save(row, n, result)
                    if problem is not None:
                        self.store.unfetched(row.id, problem)
                        self._emit("unfetched", job=row.id, message=problem)
                        return
            except Stopped:
                return
            self.store.finish(row.id)
            self._emit("succeeded", job=row.id, cost=row.cost or 0.0)

    def destination(self, row: JobRow, n: int, result: Result) -> tuple[str, str]:
        """(path relative to the output directory, extension) of a job's result ``n``."""
        ext = result_ext(result)
        rel = output_name(
            self.naming,
            job_id=row.id,
            n=n,
            ext=ext,
            endpoint=row.endpoint,
            index=row.idx,
            params=row.params,
        )
        if n > 1 and "{n}" not in self.naming:  # a second result must not overwrite the first
            stem, dot, suffix = rel.rpartition(".")
            rel = f"{stem}-{n}.{suffix}" if dot and "/" not in suffix else f"{rel}-{n}"
        return rel, ext

    def clean_parts(self, rows: list[JobRow]) -> int:
        """Remove part files a killed run left beside the results of these jobs."""
        removed = 0
        for row in rows:
            for n, result in enumerate(row.results, start=1):
                rel, _ = self.destination(row, n, result)
                try:
                    part = files.part_of(files.safe_path(self.out_dir, rel))
                except ValueError:
                    continue
                with contextlib.suppress(OSError):
                    part.unlink()
                    removed += 1
        return removed

    async def _save(self, row: JobRow, n: int, result: Result) -> str | None:
        """Save one result; None when saved, else why it cannot be."""
        rel, ext = self.destination(row, n, result)
        try:
            dest = files.safe_path(self.out_dir, rel)
        except ValueError as exc:
            return str(exc)
        try:
            if result.text is not None and (result.url is None or ext == "txt"):
                saved = files.write_text(dest, result.text)
            else:
                outcome = await self._fetch(row, n, result, dest)
                if isinstance(outcome, NotFetched):
                    return outcome.reason
                saved = outcome
            mtime = dest.stat().st_mtime_ns
        except OSError as exc:
            raise StateError(f"cannot write {dest}: {exc.strerror or exc}") from None
        out = OutputRow(n, result.url, rel, saved.bytes, saved.sha256, ext, mtime)
        self.store.record_output(row.id, out)
        if self.mirror is not None:
            problem = await self.mirror.put(dest, rel)
            if problem is not None:
                return problem
        self._emit("downloaded", job=row.id, path=rel, bytes=saved.bytes)
        return None

    async def _fetch(
        self, row: JobRow, n: int, result: Result, dest: Path
    ) -> files.Saved | NotFetched:
        # Not ``retrying``: between tries this loop changes what it asks for (a fresh URL
        # from the task), counts three kinds of trouble apart, waits on a 404 that is not
        # passing trouble, and ends with a reason, not an error.
        url, slow, unreached, missing = result.url or "", 0, 0, 0
        asked = False  # whether the task was asked for a fresh URL
        last: ApiError | None = None
        for attempt in range(DOWNLOAD_TRIES):
            try:
                return await download(self.client, url, dest, self.limits)
            except TooSlow as exc:
                slow += 1
                if slow >= SLOW_TRIES:
                    return NotFetched(f"result {n}: {exc}")
                last, wait = exc, backoff(attempt, cap=self._cap)
            except NoConnection as exc:
                # The URL's host is gone (a CDN host, an emulator's old port): after a few
                # tries in a row, the task may name another.
                unreached += 1
                if unreached % UNREACHED_TRIES == 0 and row.task_id:
                    asked = True
                    fresh = await self._fresh_url(row.task_id, n, row.endpoint)
                    if fresh and fresh != url:
                        url, unreached = fresh, 0
                        continue
                last, wait = exc, wait_for(exc.retry_after, attempt, cap=self._cap)
            except Transient as exc:
                unreached = 0
                last, wait = exc, wait_for(exc.retry_after, attempt, cap=self._cap)
            except Rejected as exc:
                unreached = 0
                if exc.http_status not in GONE:
                    return NotFetched(f"result {n}: {exc}")
                # 403 and 410: the URL expired; ask for a fresh one at once. 404: storage can
                # lag, so wait, and ask only after a few.
                lagging = exc.http_status == LAGGING
                missing += lagging
                if asked:
                    if not lagging or attempt == DOWNLOAD_TRIES - 1:
                        return gone(n, exc.http_status)
                elif row.task_id and (not lagging or missing >= MISSING_TRIES):
                    asked = True
                    fresh = await self._fresh_url(row.task_id, n, row.endpoint)
                    if fresh and fresh != url:
                        url = fresh
                        continue
                    if not lagging:
                        return gone(n, exc.http_status, fresh=fresh is not None)
                elif not lagging or attempt == DOWNLOAD_TRIES - 1:
                    return NotFetched(f"result {n}: {exc}")
                last, wait = exc, backoff(attempt, cap=self._cap)
            except ProtocolError as exc:
                return NotFetched(f"result {n}: {exc}")
            if await self._pause(wait):
                raise Stopped
        tail = f"; the last: {last}" if last is not None else ""
        return NotFetched(f"result {n} could not be downloaded in {DOWNLOAD_TRIES} tries{tail}")

    async def _fresh_url(self, task_id: str, n: int, endpoint: str) -> str | None:
        with contextlib.suppress(ApiError):
            state = await self.client.query(task_id, endpoint)
            if len(state.results) >= n:
                return state.results[n - 1].url
        return None


def gone(n: int, http_status: int | None, *, fresh: bool = True) -> NotFetched:
    """Why a result is not fetched: its URL refused (``http_status``) after a fresh one was
    asked for (and refused too, or ``fresh`` False: the task gave none)."""
    status = f"HTTP {http_status}"
    how = f"{status} on a fresh URL too" if fresh else f"{status}; the task gave no fresh URL"
    return NotFetched(f"result {n}: RunningHub no longer serves it ({how}); result URLs expire")


async def download(client: Client, url: str, dest: Path, limits: DownloadLimits) -> files.Saved:
    """Download ``url`` into ``dest`` once (the caller retries). A body shorter or longer
    than its Content-Length raises Transient; nothing is left at ``dest`` unless complete."""
    with files.PartFile(dest) as out:
        async with client.download(url, limits) as body:
            async with contextlib.aclosing(body.chunks(CHUNK)) as chunks:
                async for chunk in chunks:
                    out.write(chunk)
            expected = body.content_length
            if expected is not None and out.bytes != expected:
                raise Transient(f"short read: got {out.bytes:,} of {expected:,} bytes")
        return await asyncio.to_thread(out.finish)  # fsync and rename off the loop


def intact(out_dir: Path, out: OutputRow) -> bool:
    try:
        info = (out_dir / out.path).stat()
    except OSError:
        return False
    return info.st_size == out.bytes and info.st_mtime_ns == out.mtime_ns


def result_ext(result: Result) -> str:
    """The extension a result's file is saved with: its type, else its URL's, else txt
    for a text and bin for anything else."""
    return result.output_type or _ext_of(result.url) or ("txt" if result.text else "bin")


def _ext_of(url: str | None) -> str:
    if not url:
        return ""
    tail = url.split("?")[0].rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[-1].lower() if "." in tail else ""


def result_records(state_results: tuple[Result, ...]) -> list[dict[str, Any]]:
    """A task's results as the store keeps them."""
    return [r.record() for r in state_results]
