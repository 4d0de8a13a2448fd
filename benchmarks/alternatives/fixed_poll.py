"""The reference for polling: every task asked about every S seconds, N tasks at a time.

``python -m benchmarks.alternatives.fixed_poll --base-url U --jobs FILE --out DIR --poll S
--concurrency N``: submits the jobs N at a time; each task is queried every S seconds
until it ends; its results are not downloaded (polling is what is measured).
``DIR/detections.jsonl`` records when each task's end was noticed (wall clock).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.alternatives import parser, read_jobs


async def main_async(
    base: str, key: str, jobs: list[dict[str, Any]], poll: float, slots: int
) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    seen: list[dict[str, Any]] = []
    limit = asyncio.Semaphore(slots)
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one(job: dict[str, Any]) -> None:
            async with limit:
                async with session.post(
                    f"{base}/openapi/v2/{job['endpoint']}", json=job["params"]
                ) as r:
                    task = (await r.json())["taskId"]
                while True:
                    await asyncio.sleep(poll)
                    async with session.post(f"{base}/openapi/v2/query", json={"taskId": task}) as r:
                        state = await r.json()
                    if state["status"] in ("SUCCESS", "FAILED", "CANCEL"):
                        seen.append({"task": task, "ts": time.time(), "status": state["status"]})
                        return

        await asyncio.gather(*(one(job) for job in jobs))
    return seen


def main() -> None:
    p = parser("fixed_poll", __doc__.splitlines()[0], 1.0, 1800.0)
    p.add_argument("--concurrency", type=int, default=10)
    args = p.parse_args()
    key = os.environ[args.api_key_env]
    jobs = read_jobs(args.jobs)
    seen = asyncio.run(
        main_async(args.base_url.rstrip("/"), key, jobs, args.poll, args.concurrency)
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "detections.jsonl").write_text("".join(json.dumps(s) + "\n" for s in seen))


if __name__ == "__main__":
    main()
