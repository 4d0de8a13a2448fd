"""The sequential loop: one job at a time, the way runninghub-cli's batch mode works.

For each job in order: submit it (``POST /openapi/v2/<endpoint>``, Bearer),
query ``/openapi/v2/query`` every ``--poll`` seconds until the task is SUCCESS,
FAILED or CANCEL, download each result URL, then go on to the next job. Only the
standard library: ``urllib`` with one connection per request, like a short
script would. Queries tolerate five consecutive failures (runninghub-cli's
limit); nothing else is retried.

    python -m benchmarks.alternatives.sequential --base-url U --jobs FILE --out DIR --poll S
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.alternatives import parser, read_jobs, record, result_path, summary

TERMINAL = frozenset({"SUCCESS", "FAILED", "CANCEL"})
MAX_QUERY_FAILURES = 5


class Api:
    """The three calls the loop makes, over ``urllib``."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                data: dict[str, Any] = json.load(resp)
        except urllib.error.HTTPError as exc:
            # An error status may still carry a v2 body with errorCode/errorMessage.
            try:
                data = json.load(exc)
            except ValueError:
                raise exc from None
        return data

    def submit(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        return self.post(f"/openapi/v2/{endpoint}", params)

    def query(self, task_id: str) -> dict[str, Any]:
        return self.post("/openapi/v2/query", {"taskId": task_id})

    def download(self, url: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        with urllib.request.urlopen(url, timeout=60) as resp, partial.open("wb") as f:
            shutil.copyfileobj(resp, f, 1 << 20)
        partial.replace(path)


def run_job(
    api: Api, job: dict[str, Any], out: Path, poll: float, max_wait: float
) -> dict[str, Any]:
    """Submit, wait for and download one job; the manifest row."""
    row: dict[str, Any] = {
        "id": job["id"],
        "taskId": None,
        "status": None,
        "results": 0,
        "files": 0,
    }
    task = api.submit(job["endpoint"], job["params"])
    task_id = task.get("taskId") or task.get("task_id")
    if not task_id:
        row.update(status="REJECTED", error=f"{task.get('errorCode')}: {task.get('errorMessage')}")
        return row
    row["taskId"] = str(task_id)
    deadline = time.monotonic() + max_wait
    failures = 0
    while task.get("status") not in TERMINAL:
        if time.monotonic() > deadline:
            row.update(status="TIMEOUT")
            return row
        time.sleep(poll)
        try:
            task = api.query(row["taskId"])
        except OSError:
            failures += 1
            if failures >= MAX_QUERY_FAILURES:
                raise
            continue
        failures = 0
    row["status"] = task["status"]
    if task["status"] != "SUCCESS":
        row["error"] = f"{task.get('errorCode')}: {task.get('errorMessage')}"
        return row
    results = task.get("results") or []
    row["results"] = len(results)
    for n, item in enumerate(results, 1):
        api.download(item["url"], result_path(out, job["id"], n, item))
        row["files"] += 1
    return row


def main(argv: list[str] | None = None) -> int:
    args = parser(
        "python -m benchmarks.alternatives.sequential",
        "Run jobs one at a time: submit, poll, download, next.",
        poll_default=5.0,
        wait_default=1200.0,
    ).parse_args(argv)
    api = Api(args.base_url, os.environ[args.api_key_env])
    rows = []
    for job in read_jobs(args.jobs):
        try:
            rows.append(run_job(api, job, args.out, args.poll, args.max_wait))
        except (OSError, ValueError, KeyError) as exc:
            rows.append(
                {"id": job["id"], "status": "ERROR", "error": repr(exc), "results": 0, "files": 0}
            )
    record(args.out, rows)
    print(summary(rows))
    return 0 if all(row["status"] == "SUCCESS" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
