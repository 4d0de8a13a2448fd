"""``rhbatch attach DIR JOB TASK_ID``: give a job the task it made, found elsewhere.

A submit whose answer was lost leaves its job ``unknown``: a task may exist,
and be paid for, without rhbatch knowing its id. Whoever finds that task (in
RunningHub's web console, among the account's call records) attaches it here:
rhbatch asks RunningHub about it (it must exist for this key), records it as
the job's, and, if it has ended, takes its outcome: a success's files are
fetched into DIR now; a failure fails the job. A task still running is
followed by the next ``rhbatch run`` into DIR. The manifest is brought up to
date either way. A job that already has a task, or has succeeded, is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from rhbatch import logfile
from rhbatch.api import credentials
from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.api.wire import NOT_FOUND_CODES, TASK_ID
from rhbatch.commands.common import plural
from rhbatch.errors import (
    EXIT_JOB_FAILURES,
    EXIT_OK,
    AuthError,
    FatalError,
    Rejected,
    Transient,
    UsageError,
)
from rhbatch.models import JobRow, JobStatus, RemoteStatus, TaskState
from rhbatch.runner.fetch import Fetcher, result_records
from rhbatch.runner.retry import Kind, classify, retrying
from rhbatch.spec.naming import DEFAULT_NAMING
from rhbatch.store.manifest import write_manifest
from rhbatch.store.state import STATE_DIR, Store

ATTACHABLE = (JobStatus.UNKNOWN, JobStatus.PENDING, JobStatus.FAILED)
TRIES = 5


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    task_id = args.task_id.strip()
    if not TASK_ID.match(task_id):
        raise UsageError(f"{args.task_id[:80]!r} is not a task id (digits, as RunningHub shows)")
    base = credentials.base_url(args.base_url)
    with Store.open(out_dir, create=False) as store:
        logfile.use(out_dir / STATE_DIR)
        try:
            row = store.job(args.job)
        except KeyError:
            raise UsageError(
                f"{out_dir} has no job {args.job!r}; `rhbatch status {out_dir}` lists its jobs"
            ) from None
        if row.status not in ATTACHABLE or (row.task_id and row.task_id != task_id):
            has = f" and task {row.task_id}" if row.task_id else ""
            raise UsageError(
                f"job {row.id} is {row.status.value}{has}; attach gives a task to a job that "
                "lost its own (unknown), or that never ran or failed"
            )
        key = credentials.api_key(args.api_key_env, emulator=False)  # a task of RunningHub's
        code = asyncio.run(_attach(store, out_dir, row, task_id, base, key))
        write_manifest(store, out_dir)
    return code


async def _attach(
    store: Store, out_dir: Path, row: JobRow, task_id: str, base: str, key: str
) -> int:
    async with Client(base, key) as client:
        state = await _ask(client, task_id)
        attempt = store.attach(row.id, task_id, state.status.value)
        if not state.status.terminal:
            print(
                f"job {row.id}: task {task_id} is {state.status.value}; the next `rhbatch run` "
                f"into {out_dir} follows it to its end"
            )
            return EXIT_OK
        if state.status is not RemoteStatus.SUCCESS:
            code = state.error_code or state.status.value
            message = state.error_message or f"the task ended {state.status.value}"
            store.end_attempt(row.id, attempt, state.status.value, code, message, retry=False)
            print(f"job {row.id}: task {task_id} ended {state.status.value}: {code} {message}")
            return EXIT_JOB_FAILURES
        store.record_success(
            row.id, attempt, result_records(state.results), dict(state.usage), state.cost
        )
        fetched = await _fetch(store, client, out_dir, store.job(row.id))
        done = store.job(row.id)
        if done.status is JobStatus.SUCCEEDED:
            print(
                f"job {row.id}: task {task_id} succeeded; {plural(fetched, 'file')} saved "
                f"in {out_dir}"
            )
            return EXIT_OK
        print(
            f"job {row.id}: task {task_id} succeeded, but its files could not be fetched: "
            f"{done.error_message}; the next `rhbatch run` tries again"
        )
        return EXIT_JOB_FAILURES


async def _ask(client: Client, task_id: str) -> TaskState:
    try:
        return await retrying(
            lambda: client.query(task_id), tries=TRIES, sleep=asyncio.sleep, cap=8.0
        )
    except Rejected as exc:
        if classify(exc.code) is Kind.AUTH:
            raise AuthError.refused(exc) from None
        if exc.code in NOT_FOUND_CODES:
            raise UsageError(f"RunningHub knows no task {task_id} for this key ({exc})") from None
        raise FatalError(f"cannot ask about task {task_id}: {exc}") from None
    except Transient as exc:
        raise FatalError(f"cannot ask about task {task_id}: {exc}") from None


async def _fetch(store: Store, client: Client, out_dir: Path, row: JobRow) -> int:
    """Fetch the job's results the way its run would have; the number of files saved."""
    saved: list[str] = []
    known = json.loads(store.get_meta("fetch") or "{}")
    limits = DownloadLimits(
        **{k: v for k, v in known.items() if k in DownloadLimits.__dataclass_fields__}
    )

    async def pause(seconds: float) -> bool:
        await asyncio.sleep(seconds)
        return False

    def emit(event: str, **fields: object) -> None:
        if event == "downloaded":
            saved.append(str(fields.get("path")))

    fetcher = Fetcher(
        store=store,
        client=client,
        out_dir=out_dir,
        naming=str(known.get("naming") or DEFAULT_NAMING),
        limits=limits,
        concurrency=4,
        pause=pause,
        emit=emit,
        cap=8.0,
    )
    await fetcher.fetch(row)
    return len(saved)
