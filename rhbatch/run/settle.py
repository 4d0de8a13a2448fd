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
from dataclasses import dataclass

from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.api.wire import NOT_FOUND_CODES
from rhbatch.errors import ApiError, ProtocolError, Rejected, StateError
from rhbatch.models import JobStatus, OutputRow, RemoteStatus, TaskState, canonical_json
from rhbatch.run.fetch import download, result_ext, result_records
from rhbatch.run.retry import retrying
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
    out = Settled()
    for version in store.unsettled_versions():
        out.asked += 1
        task_id = str(version.task_id)
        try:
            state = await retrying(
                functools.partial(client.query, task_id), tries=TRIES, sleep=asyncio.sleep
            )
        except Rejected as exc:
            if exc.code in NOT_FOUND_CODES:
                store.settle_version(
                    version.job_id,
                    version.v,
                    JobStatus.UNKNOWN,
                    message=f"RunningHub no longer knows task {version.task_id}: its bill "
                    "cannot be learned (counted at its quote)",
                )
            out.unknown += 1
            continue
        except (ApiError, ProtocolError):
            out.unknown += 1  # asked again by the next run
            continue
        await _record(client, store, limits, version, state, out)
    return out


async def _record(
    client: Client,
    store: Store,
    limits: DownloadLimits,
    version: VersionRow,
    state: TaskState,
    out: Settled,
) -> None:
    job, v = version.job_id, version.v
    if state.status in (RemoteStatus.FAILED, RemoteStatus.CANCEL):
        message = f"its task ended {state.status.value} after this version was replaced"
        store.settle_version(job, v, JobStatus.FAILED, cost=0.0, message=message)
        out.unbilled += 1
        return
    if state.status is not RemoteStatus.SUCCESS:
        store.settle_version(job, v, JobStatus.RUNNING, message="still running when last asked")
        out.running += 1
        return
    results = canonical_json(result_records(state.results))
    usage = canonical_json(state.usage)
    store.settle_version(
        job, v, JobStatus.DOWNLOADING, cost=state.cost, results=results, usage=usage
    )
    out.succeeded += 1
    out.billed = round(out.billed + state.cost, 4)
    problem = await _fetch(client, store, limits, version, state, out)
    status = JobStatus.UNFETCHED if problem else JobStatus.SUCCEEDED
    store.settle_version(job, v, status, message=problem)


async def _fetch(
    client: Client,
    store: Store,
    limits: DownloadLimits,
    version: VersionRow,
    state: TaskState,
    out: Settled,
) -> str | None:
    """Fetch a settled version's results into its history folder; why not, or None."""
    out_dir = store.path.parent.parent
    for n, result in enumerate(state.results, start=1):
        ext = result_ext(result)
        rel = history_path(version.job_id, version.v, f"{n}.{ext}")
        dest = files.safe_path(out_dir, rel, history=True)
        try:
            if result.url is None:
                saved = files.write_text(dest, result.text or "")
            else:
                fetch = functools.partial(download, client, result.url, dest, limits)
                saved = await retrying(fetch, tries=TRIES, sleep=asyncio.sleep)
            mtime = dest.stat().st_mtime_ns
        except OSError as exc:
            raise StateError(f"cannot write {dest}: {exc.strerror or exc}") from None
        except ApiError as exc:
            return f"result {n}: {exc}"
        row = OutputRow(n, result.url, rel, saved.bytes, saved.sha256, ext, mtime)
        store.record_version_output(version.job_id, version.v, row)
        out.files += 1
    return None
