"""``rhbatch cancel DIR``: cancel the tasks of a run that are still in flight remotely.

Passing trouble (a dropped connection, a 5xx, a 429) is retried with backoff;
a task the server no longer knows is reported as such. The next ``rhbatch run``
records each task's final status.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from rhbatch.api import credentials
from rhbatch.api.client import Client
from rhbatch.errors import EXIT_JOB_FAILURES, EXIT_OK, ApiError
from rhbatch.models import JobStatus
from rhbatch.runner.retry import retrying
from rhbatch.store.state import Store

TRIES = 6


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    with Store.open(out_dir, lock=False, create=False) as store:
        tasks = [
            (r.id, r.task_id) for r in store.jobs(JobStatus.RUNNING, JobStatus.UNKNOWN) if r.task_id
        ]
    if not tasks:
        print(f"{out_dir}: no task in flight")
        return EXIT_OK
    base = credentials.base_url(args.base_url)
    key = credentials.api_key(args.api_key_env, emulator=False)  # its tasks are remote

    async def cancel_all() -> list[tuple[str, str, str]]:
        async with Client(base, key) as client:

            async def one(job: str, task: str) -> tuple[str, str, str]:
                try:
                    ok = await retrying(
                        lambda: client.cancel(task), tries=TRIES, sleep=asyncio.sleep, cap=8.0
                    )
                except ApiError as exc:
                    return job, task, f"error: {exc}"
                return job, task, "cancelled" if ok else "not found"

            return await asyncio.gather(*(one(j, t) for j, t in tasks))

    results = asyncio.run(cancel_all())
    failures = 0
    for job, task, outcome in results:
        print(f"{job}  task {task}: {outcome}")
        failures += outcome.startswith("error")
    print(
        f"{out_dir}: asked to cancel {len(results)} tasks; "
        "the next `rhbatch run` records their final status",
        file=sys.stderr,
    )
    return EXIT_JOB_FAILURES if failures else EXIT_OK
