"""Earlier versions whose task may still be billed: asked about once at the start of a run.

A job whose parameters change while its task is in flight (a run stopped,
the spec edited, run again) leaves a task nobody follows: it may succeed, and
be billed, after its version was archived. A directory written by an older
rhbatch kept only such tasks' ids. Before a run sends anything, each earlier
version whose bill is not known is asked about once: one that succeeded gets
its bill recorded and its files fetched into ``history/<job id>/v<N>/``
(``<n>.<ext>``), one that failed or was cancelled is settled as unbilled, one
still running is asked again by the next run, and one the server no longer
knows stays counted as maybe billed (its quote) for good. Nothing is sent.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.api.wire import NOT_FOUND_CODES
from rhbatch.errors import ApiError, ProtocolError, Rejected, StateError
from rhbatch.models import JobStatus, OutputRow, RemoteStatus, TaskState, canonical_json
from rhbatch.runner.fetch import download, result_ext, result_records
from rhbatch.runner.retry import retrying
from rhbatch.store import files
from rhbatch.store.history import VersionRow, history_path
from rhbatch.store.state import Store

TRIES = 3  # tries of each question and each download, over passing trouble


@dataclass
class Settled:
    asked: int = 0
    succeeded: int = 0
    billed: float = 0.0
    unbilled: int = 0
    running: int = 0
    unknown: int = 0  # not answered, or no longer known: still maybe billed
    files: int = 0


async def settle_earlier(client: Client, store: Store, limits: DownloadLimits) -> Settled:
    """Ask about every earlier version whose bill is not known; record what is learned."""
    return await _Settler(client, store, limits).all()


@dataclass
class _Settler:
    client: Client
    store: Store
    limits: DownloadLimits
    out: Settled = field(default_factory=Settled)

    async def all(self) -> Settled:
        for version in self.store.unsettled_versions():
            self.out.asked += 1
            state = await self._ask(version)
            if state is not None:
                await self._record(version, state)
        return self.out

    async def _ask(self, version: VersionRow) -> TaskState | None:
        """The task's state; None when it cannot be had (counted, asked again next run)."""
        task_id = str(version.task_id)
        try:
            return await retrying(
                functools.partial(self.client.query, task_id), tries=TRIES, sleep=asyncio.sleep
            )
        except Rejected as exc:
            if exc.code in NOT_FOUND_CODES:
                self.store.settle_version(
                    version.job_id,
                    version.v,
                    JobStatus.UNKNOWN,
                    message=f"RunningHub no longer knows task {task_id}: its bill cannot be "
                    "learned (counted at its quote)",
                )
        except (ApiError, ProtocolError):
            pass
        self.out.unknown += 1
        return None

    async def _record(self, version: VersionRow, state: TaskState) -> None:
        job, v, store = version.job_id, version.v, self.store
        if state.status in (RemoteStatus.FAILED, RemoteStatus.CANCEL):
            message = f"its task ended {state.status.value} after this version was replaced"
            store.settle_version(job, v, JobStatus.FAILED, cost=0.0, message=message)
            self.out.unbilled += 1
            return
        if state.status is not RemoteStatus.SUCCESS:
            store.settle_version(job, v, JobStatus.RUNNING, message="still running when asked")
            self.out.running += 1
            return
        results = canonical_json(result_records(state.results))
        usage = canonical_json(state.usage)
        store.settle_version(
            job, v, JobStatus.DOWNLOADING, cost=state.cost, results=results, usage=usage
        )
        self.out.succeeded += 1
        self.out.billed = round(self.out.billed + state.cost, 4)
        problem = await self._fetch(version, state)
        status = JobStatus.UNFETCHED if problem else JobStatus.SUCCEEDED
        store.settle_version(job, v, status, message=problem)

    async def _fetch(self, version: VersionRow, state: TaskState) -> str | None:
        """Fetch a settled version's results into its history folder; why not, or None."""
        out_dir = self.store.path.parent.parent
        for n, result in enumerate(state.results, start=1):
            ext = result_ext(result)
            rel = history_path(version.job_id, version.v, f"{n}.{ext}")
            dest = files.safe_path(out_dir, rel, history=True)
            try:
                if result.url is None:
                    saved = files.write_text(dest, result.text or "")
                else:
                    fetch = functools.partial(download, self.client, result.url, dest, self.limits)
                    saved = await retrying(fetch, tries=TRIES, sleep=asyncio.sleep)
                mtime = dest.stat().st_mtime_ns
            except OSError as exc:
                raise StateError(f"cannot write {dest}: {exc.strerror or exc}") from None
            except ApiError as exc:
                return f"result {n}: {exc}"
            row = OutputRow(n, result.url, rel, saved.bytes, saved.sha256, ext, mtime)
            self.store.record_version_output(version.job_id, version.v, row)
            self.out.files += 1
        return None
