"""The emulator as a running server: lifecycle, clock, webhooks and the ledger.

``Emulator`` owns one aiohttp application on a loopback port (its routes:
``api.build_app``), the board of tasks, the fault dice, uploaded files (in a
private temporary directory) and the counters that ``GET /_emulator/stats``
reports. A single background
coroutine wakes at the next task end, applies it, and delivers webhooks; no
coroutine exists per task.

    async with Emulator(profile="flaky", speed=100) as emu:
        ...  # talk to emu.base_url with emu.api_key
        emu.stats()
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import math
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from rhbatch.emulator.api import build_app
from rhbatch.emulator.config import Duration, EmulatorConfig
from rhbatch.emulator.context import Upload
from rhbatch.emulator.faults import Faults, unit_hash
from rhbatch.emulator.replies import query_body
from rhbatch.emulator.tasks import INF, Board, Task, body_hash
from rhbatch.endpoints.pricing import PriceBook
from rhbatch.endpoints.registry import Registry, registry

# body_hash is the ledger's key for a request; callers that check the ledger take it from here.
__all__ = ["Emulator", "body_hash"]


class Emulator:
    """A local RunningHub API on 127.0.0.1, for tests, benchmarks and rehearsals."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        profile: str = "clean",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
        **overrides: Any,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig.load(profile, **overrides)
        self.host, self.port = host, port
        self.board = Board(self.config)
        self.faults = Faults(self.config)
        self.prices = PriceBook.load()
        self.registry: Registry = registry()
        self.requests: Counter[str] = Counter()  # per route
        self.attempts: Counter[str] = Counter()  # per request key, for fault keys
        self.uploads: dict[str, Upload] = {}
        self.transfer: Counter[str] = Counter()  # uploads, upload_bytes, downloads, download_bytes
        self.webhooks: Counter[str] = Counter()
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._dir: Path | None = None
        self.base_url = ""

    # --- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="rhbatch-emulator-"))
        app = build_app(self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()
        self._ticker = asyncio.create_task(self._tick(), name="emulator-clock")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for task in list(self._deliveries):
            task.cancel()
        if self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def api_key(self) -> str:
        return next(iter(self.config.accounts))

    @property
    def upload_dir(self) -> Path:
        assert self._dir is not None, "the emulator is not started"
        return self._dir

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def wall(self, at: float) -> int:
        """An emulator clock time as Unix seconds (for expiry stamps in URLs)."""
        return int(self.wall_exact(at))

    def wall_exact(self, at: float) -> float:
        """An emulator clock time as Unix time, to the microsecond."""
        return time.time() + (at - self.now())

    # --- tasks ----------------------------------------------------------------------

    def duration_for(self, endpoint: str, output_type: str, key: str) -> float:
        """Emulator seconds a task will run, drawn from its configured distribution."""
        spec = next(
            (
                d
                for pat, d in self.config.durations_by_endpoint.items()
                if fnmatch.fnmatch(endpoint, pat)
            ),
            self.config.durations.get(output_type, Duration()),
        )
        u = unit_hash(self.config.seed, "duration", key)
        if spec.kind == "fixed":
            seconds = spec.value
        elif spec.kind == "lognormal":
            z = statistics.NormalDist().inv_cdf(min(max(u, 1e-9), 1 - 1e-9))
            seconds = spec.median * math.exp(spec.sigma * z)
        else:
            seconds = spec.low + u * (spec.high - spec.low)
        return self.config.scaled(max(seconds, 0.0))

    def accept(self, task: Task) -> None:
        self.board.add(task, self.now())
        self._wake.set()

    def next_attempt(self, key: str) -> int:
        """How many times a request with this key came before (0 the first time)."""
        n = self.attempts[key]
        self.attempts[key] = n + 1
        return n

    async def _tick(self) -> None:
        while True:
            self.board.advance(self.now())
            for task in self.board.drain_finished():
                if task.webhook_url:
                    job = asyncio.create_task(self._deliver(task))
                    self._deliveries.add(job)
                    job.add_done_callback(self._deliveries.discard)
            nxt = self.board.next_event()
            self._wake.clear()
            timeout = None if nxt == INF else max(0.0, nxt - self.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _deliver(self, task: Task) -> None:
        """POST TASK_END to the task's webhook, retrying a few times on failure."""
        assert self._session is not None
        assert task.webhook_url is not None
        data = query_body(self, task)
        event = json.dumps(data) if self.config.webhook_event_data == "string" else data
        payload = {"event": "TASK_END", "taskId": task.id, "eventData": event}
        for attempt in range(self.config.webhook_retries + 1):
            self.webhooks["attempts"] += 1
            try:
                async with self._session.post(task.webhook_url, json=payload) as resp:
                    if 200 <= resp.status < 300:
                        self.webhooks["delivered"] += 1
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(self.config.scaled(2.0**attempt))
        self.webhooks["failed"] += 1

    # --- the ledger -----------------------------------------------------------------

    def stats(self, tasks: bool = False) -> dict[str, Any]:
        """Counters that prove what happened: submissions, polls, concurrency, transfers."""
        self.board.advance(self.now())
        by_status = Counter(t.status for t in self.board.tasks.values())
        paid = Counter(t.body_hash for t in self.board.tasks.values() if t.status == "SUCCESS")
        out: dict[str, Any] = {
            "tasks": len(self.board.tasks),
            "byStatus": dict(by_status),
            "submissions": sum(self.board.submissions.values()),
            "submissionsPerBody": dict(self.board.submissions),
            "duplicateSubmissions": {h: n for h, n in self.board.submissions.items() if n > 1},
            "paidTwice": {h: n for h, n in paid.items() if n > 1},  # bodies with 2+ successes
            "polls": sum(t.polls for t in self.board.tasks.values()),
            "pollsPerTask": {t.id: t.polls for t in self.board.tasks.values()},
            "peakRunning": self.board.peak_running,
            "requests": dict(self.requests),
            "uploads": self.transfer["uploads"],
            "uploadBytes": self.transfer["upload_bytes"],
            "downloads": self.transfer["downloads"],
            "downloadBytes": self.transfer["download_bytes"],
            "faults": dict(self.faults.injected),
            "webhooks": dict(self.webhooks),
            "accounts": {
                key[:4] + "…": {
                    "balance": round(s.balance, 4),
                    "charged": round(s.account.balance - s.balance, 4),
                    "reserved": round(s.reserved, 4),
                    "running": s.running,
                    "queued": s.queued,
                    "peakRunning": s.peak_running,
                }
                for key, s in self.board.accounts.items()
            },
            "charged": round(
                sum(s.account.balance - s.balance for s in self.board.accounts.values()), 4
            ),
            "config": {"seed": self.config.seed, "speed": self.config.speed},
        }
        if tasks:
            out["taskList"] = [
                {
                    "taskId": t.id,
                    "endpoint": t.endpoint,
                    "bodyHash": t.body_hash,
                    "status": t.status,
                    "submitted": t.submitted,
                    "started": t.started,
                    "ended": t.ended,
                    "duration": None if t.duration == INF else t.duration,
                    "endedWall": None if t.ended is None else self.wall_exact(t.ended),
                    "polls": t.polls,
                    "price": t.price,
                }
                for t in self.board.tasks.values()
            ]
        return out
