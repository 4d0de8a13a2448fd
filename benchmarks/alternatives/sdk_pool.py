"""runninghub-sdk 1.1.9 in a thread pool: what a Python user would write with the SDK.

One ``RunningHubClient`` shared by a ``ThreadPoolExecutor(max_workers=10)``;
each worker call runs one job: ``run_model_api`` (submit),
``wait_for_query_v2_completion`` (query every ``--poll`` seconds; the SDK's
default is 2 s), then ``download_file`` for each result. The SDK is used as
shipped; only its constructor arguments and call parameters are chosen here.

    python -m benchmarks.alternatives.sdk_pool --base-url U --jobs FILE --out DIR --poll S
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from runninghub_sdk import RunningHubClient
from runninghub_sdk.exceptions import RunningHubError
from runninghub_sdk.typedefs.task import TaskStatus

from benchmarks.alternatives import parser, read_jobs, record, result_path, summary

WORKERS = 10


def run_job(
    client: RunningHubClient, job: dict[str, Any], out: Path, poll: float, max_wait: float
) -> dict[str, Any]:
    """Submit, wait for and download one job; the manifest row."""
    row: dict[str, Any] = {
        "id": job["id"],
        "taskId": None,
        "status": None,
        "results": 0,
        "files": 0,
    }
    try:
        task = client.run_model_api(job["endpoint"], job["params"])
        row["taskId"] = task.task_id
        if task.status != TaskStatus.SUCCESS:
            task = client.wait_for_query_v2_completion(
                task.task_id, poll_interval=poll, timeout=max_wait
            )
        results = task.results or []
        row.update(status="SUCCESS", results=len(results))
        for n, item in enumerate(results, 1):
            client.download_file(item["url"], result_path(out, job["id"], n, item))
            row["files"] += 1
    # ValueError: the SDK's status enum lacks CREATE and CANCEL, and parsing one raises.
    except (RunningHubError, ValueError, httpx.HTTPError, OSError) as exc:
        row.update(status="ERROR", error=f"{type(exc).__name__}: {exc}")
    return row


def main(argv: list[str] | None = None) -> int:
    args = parser(
        "python -m benchmarks.alternatives.sdk_pool",
        f"Run jobs on runninghub-sdk with {WORKERS} worker threads.",
        poll_default=RunningHubClient.DEFAULT_POLL_INTERVAL,
        wait_default=RunningHubClient.DEFAULT_WAIT_TIMEOUT,
    ).parse_args(argv)
    jobs = read_jobs(args.jobs)
    client = RunningHubClient(api_key=os.environ[args.api_key_env], base_url=args.base_url)
    # The SDK creates its httpx client lazily without a lock; make it before the threads start.
    _ = client.sync_client
    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            rows = list(
                pool.map(lambda job: run_job(client, job, args.out, args.poll, args.max_wait), jobs)
            )
    finally:
        client.close()
    record(args.out, rows)
    print(summary(rows))
    return 0 if all(row["status"] == "SUCCESS" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
