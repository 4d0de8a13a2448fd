"""The floor: the least a correct client does to run a batch, for the ``overhead`` scenario.

``python -m benchmarks.alternatives.floor --base-url U --jobs FILE --concurrency N
--first S --poll S``: bare aiohttp, N workers sharing one session. Each worker
takes the next job, submits it (``POST /openapi/v2/<endpoint>``, Bearer), and
unless the submit's answer is already final queries ``/openapi/v2/query`` once
when the task should have ended (``--first`` seconds after the answer), then
every ``--poll`` seconds until it is SUCCESS, FAILED or CANCEL. Nothing else: no
state, no manifest, no downloads, no retries (an error answer ends the run with a
traceback, so a figure is never taken from a batch that did not finish).

Prints ``{"jobs", "succeeded", "queries"}`` as JSON. Its CPU time, against
rhbatch's on the same emulator settings and bodies, is what rhbatch's
bookkeeping costs beyond talking to the API.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp

from benchmarks.alternatives import client_parser, read_jobs

TERMINAL = frozenset({"SUCCESS", "FAILED", "CANCEL"})


class Refused(Exception):
    """The API answered with an error: the batch cannot be measured."""


async def run(
    base: str, key: str, jobs: list[dict[str, Any]], slots: int, first: float, poll: float
) -> dict[str, int]:
    counts = {"jobs": len(jobs), "succeeded": 0, "queries": 0}
    todo: Iterator[dict[str, Any]] = iter(jobs)
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=slots)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
            async with session.post(base + path, json=body) as response:
                answer: dict[str, Any] = await response.json()
            if response.status != 200 or answer.get("errorCode"):
                raise Refused(f"{path}: HTTP {response.status} {answer}")
            return answer

        async def worker() -> None:
            for job in todo:
                task = await call(f"/openapi/v2/{job['endpoint']}", job["params"])
                status, wait = task["status"], first
                while status not in TERMINAL:
                    await asyncio.sleep(wait)
                    task = await call("/openapi/v2/query", {"taskId": task["taskId"]})
                    status, wait = task["status"], poll
                    counts["queries"] += 1
                counts["succeeded"] += status == "SUCCESS"

        async with asyncio.TaskGroup() as group:
            for _ in range(slots):
                group.create_task(worker())
    return counts


def main() -> int:
    p = client_parser("floor", __doc__.splitlines()[0])
    p.add_argument("--concurrency", type=int, required=True, help="tasks in flight at once")
    p.add_argument("--first", type=float, required=True, help="seconds to the first query")
    p.add_argument("--poll", type=float, required=True, help="seconds between later queries")
    args = p.parse_args()
    base, key = args.base_url.rstrip("/"), os.environ[args.api_key_env]
    jobs = read_jobs(args.jobs)
    counts = asyncio.run(run(base, key, jobs, args.concurrency, args.first, args.poll))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
