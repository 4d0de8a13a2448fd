"""The floors: the least a correct client does to run a batch, for the ``overhead`` scenario.

``python -m benchmarks.alternatives.floor --base-url U --jobs FILE --concurrency N
--first S --poll S [--durable DIR]``: bare aiohttp, N workers sharing one session.
Each worker takes the next job, submits it (``POST /openapi/v2/<endpoint>``,
Bearer), and unless the submit's answer is already final queries
``/openapi/v2/query`` once when the task should have ended (``--first`` seconds
after the answer), then every ``--poll`` seconds until it is SUCCESS, FAILED or
CANCEL. No retries: an error answer ends the run with a traceback, so a figure is
never taken from a batch that did not finish.

The bare floor does nothing else: no state, no manifest, no downloads. With
``--durable DIR`` it is the durable floor: it also keeps the books any client
must keep so that a paid task is never forgotten nor paid twice, in the cheapest
way that keeps that promise (``Books``): an intent row committed to SQLite (WAL,
``synchronous=NORMAL``) before each submit, the task id when it is known, the end
and one row per result, and one manifest line per job; commits are grouped, the
writes of one moment sharing one commit, as rhbatch groups them.

Prints ``{"jobs", "succeeded", "queries"}`` as JSON. Its CPU time, against
rhbatch's on the same emulator settings and bodies, is what rhbatch's
bookkeeping costs beyond talking to the API (bare) and beyond keeping its books
(durable).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.alternatives import client_parser, read_jobs

TERMINAL = frozenset({"SUCCESS", "FAILED", "CANCEL"})
COMMIT_DELAY = 0.002  # seconds a write waits for company before its commit (rhbatch's figure)


class Refused(Exception):
    """The API answered with an error: the batch cannot be measured."""


class Books:
    """The durable floor's books: SQLite in WAL mode with grouped commits, and a manifest.

    ``intent`` is committed before it returns (the submit may go out only then);
    the task id, the end and the results ride the next group commit."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(directory / "state.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, endpoint TEXT, params TEXT,"
            " task_id TEXT, status TEXT, sent REAL, ended REAL);"
            "CREATE TABLE IF NOT EXISTS results (job_id TEXT, n INTEGER, url TEXT, type TEXT,"
            " PRIMARY KEY (job_id, n));"
        )
        self.manifest = (directory / "manifest.jsonl").open("a", encoding="utf-8")
        self._due: asyncio.Future[None] | None = None

    def _write(self, sql: str, args: tuple[Any, ...]) -> asyncio.Future[None]:
        if self._due is None:
            self.db.execute("BEGIN")
            self._due = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(COMMIT_DELAY, self._commit)
        self.db.execute(sql, args)
        return self._due

    def _commit(self) -> None:
        due, self._due = self._due, None
        self.db.execute("COMMIT")
        assert due is not None
        due.set_result(None)

    async def intent(self, job: dict[str, Any]) -> None:
        params = json.dumps(job["params"], ensure_ascii=False, sort_keys=True)
        sql = "INSERT INTO jobs (id, endpoint, params, sent) VALUES (?, ?, ?, ?)"
        await asyncio.shield(self._write(sql, (job["id"], job["endpoint"], params, time.time())))

    def task(self, job: dict[str, Any], task_id: str) -> None:
        self._write("UPDATE jobs SET task_id = ? WHERE id = ?", (task_id, job["id"]))

    def end(self, job: dict[str, Any], task: dict[str, Any]) -> None:
        status, results = task["status"], task.get("results") or []
        self._write(
            "UPDATE jobs SET status = ?, ended = ? WHERE id = ?", (status, time.time(), job["id"])
        )
        for n, item in enumerate(results):
            self._write(
                "INSERT INTO results (job_id, n, url, type) VALUES (?, ?, ?, ?)",
                (job["id"], n, item.get("url"), item.get("outputType")),
            )
        line = {"id": job["id"], "task_id": task["taskId"], "status": status, "results": results}
        self.manifest.write(json.dumps(line, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._due is not None:
            self._commit()
        self.db.close()
        self.manifest.close()


async def run(
    base: str,
    key: str,
    jobs: list[dict[str, Any]],
    slots: int,
    first: float,
    poll: float,
    books: Books | None = None,
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
                if books is not None:
                    await books.intent(job)
                task = await call(f"/openapi/v2/{job['endpoint']}", job["params"])
                if books is not None:
                    books.task(job, task["taskId"])
                status, wait = task["status"], first
                while status not in TERMINAL:
                    await asyncio.sleep(wait)
                    task = await call("/openapi/v2/query", {"taskId": task["taskId"]})
                    status, wait = task["status"], poll
                    counts["queries"] += 1
                if books is not None:
                    books.end(job, task)
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
    p.add_argument("--durable", type=Path, metavar="DIR", help="keep the books in DIR")
    args = p.parse_args()
    base, key = args.base_url.rstrip("/"), os.environ[args.api_key_env]
    jobs = read_jobs(args.jobs)
    books = Books(args.durable) if args.durable else None
    try:
        counts = asyncio.run(run(base, key, jobs, args.concurrency, args.first, args.poll, books))
    finally:
        if books is not None:
            books.close()
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
