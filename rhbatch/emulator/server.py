"""The emulator as a running server: lifecycle, clock, webhooks and the ledger.

``Emulator`` owns one aiohttp application on a loopback port (its routes:
``api.build_app``), the board of tasks, the fault dice, the workflows and apps
it knows (``catalog.py``), uploaded files (in a private temporary directory),
each key's resources and assets, webhook records, and the counters that
``GET /_emulator/stats`` reports. A single background coroutine wakes at the
next task end, applies it, and starts its webhook's delivery; no coroutine
exists per task.

With a ``state_dir`` its tasks outlive it, as RunningHub's outlive a client: the
tasks it accepts, the cancels and the uploaded files are kept there as they
happen (``journal.py``) and taken up again by the next emulator started on that
directory, which listens on the same port when it is free.

    async with Emulator(profile="flaky", speed=100) as emu:
        ...  # talk to emu.base_url with emu.api_key
        emu.stats()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fnmatch
import itertools
import math
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from rhbatch.emulator import hooks
from rhbatch.emulator.api import build_app
from rhbatch.emulator.catalog import Catalog
from rhbatch.emulator.config import Duration, EmulatorConfig
from rhbatch.emulator.context import Asset, Hook, Resource, Upload, Uploaded
from rhbatch.emulator.faults import Faults, unit_hash
from rhbatch.emulator.journal import UPLOADS, Journal, replay, task_record
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
        state_dir: str | Path | None = None,
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
        self.catalog = Catalog.load(self.config)
        self.issued: set[str] = set()  # fileNames an upload answered
        self.resources: dict[str, list[Resource]] = {}  # per key, oldest first
        self.assets: dict[str, Asset] = {}
        self.lora_tickets: dict[str, tuple[str, str, str, float]] = {}  # (key, md5, name, expiry)
        self.hooks: dict[str, Hook] = {}  # by task id
        self.hooks_by_id: dict[str, Hook] = {}
        self.hook_ids: Iterator[int] = itertools.count(1950000000000000001)
        self._resource_ids = itertools.count(1960000000000000001)
        self.app_runs: Counter[str] = Counter()
        self.started_at = hooks.stamp(time.time())
        self._clock = clock
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._dir: Path | None = None
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.journal: Journal | None = None
        self.restored: Counter[str] = Counter()  # what the state directory gave back
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
        try:
            self._take_state()
            await self._listen()
            assert self._runner is not None
            host, port = self._runner.addresses[0][:2]
            self.port = port
            self.base_url = f"http://{host}:{port}"
            self._note({"event": "listen", "wall": time.time(), "port": port})
        except BaseException:
            await self.stop()
            raise
        timeout = aiohttp.ClientTimeout(total=self.config.webhook_timeout)
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._ticker = asyncio.create_task(self._tick(), name="emulator-clock")

    def _take_state(self) -> None:
        """The directory of uploads; with a state directory, what it holds replayed."""
        if self.state_dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="rhbatch-emulator-"))
            return
        self.journal, records = Journal.open(self.state_dir)
        self._dir = self.state_dir / UPLOADS
        for stale in self._dir.glob("incoming-*"):  # uploads a kill cut short
            stale.unlink(missing_ok=True)
        self.started_at = hooks.stamp(self.journal.created)
        self.restored = replay(self, self.journal, records)

    async def _listen(self) -> None:
        """Listen on the port asked for; with none asked, on the state directory's last
        port when it is free (its URLs keep working), else on any free port."""
        self._runner = web.AppRunner(build_app(self), access_log=None, handle_signals=False)
        await self._runner.setup()
        last = self.journal.port if self.journal is not None else None
        site = web.TCPSite(self._runner, self.host, self.port or last or 0)
        try:
            await site.start()
        except OSError:
            if self.port or not last:
                raise
            await site.stop()  # the last port is taken: any free one
            await web.TCPSite(self._runner, self.host, 0).start()

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
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self._dir is not None and self.state_dir is None:  # a state directory stays
            shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def api_key(self) -> str:
        return next(iter(self.config.accounts))

    @property
    def session(self) -> aiohttp.ClientSession:
        """The emulator's own HTTP client (webhook deliveries)."""
        assert self._session is not None, "the emulator is not started"
        return self._session

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; it is cancelled when the emulator stops."""
        job = asyncio.create_task(work)
        self._deliveries.add(job)
        job.add_done_callback(self._deliveries.discard)

    def add_resource(self, item: Uploaded, created: float | None = None) -> None:
        """Note something the key uploaded, for ``/openapi/v2/resource/list``."""
        when = time.time() if created is None else created
        number = str(next(self._resource_ids))
        entry = Resource(number, item.resource_type, item.name, item.file_name, item.size, when)
        self.resources.setdefault(item.api_key, []).append(entry)

    def note_upload(self, item: Uploaded, served: Upload | None) -> None:
        """An input file was uploaded (either call): kept in the state directory, then
        taken (``take_upload``)."""
        wall = time.time()
        self._note(
            {"event": "upload", "wall": wall}
            | dataclasses.asdict(item)
            | {
                "stored": None if served is None else served.path.name,
                "content_type": None if served is None else served.content_type,
                "expires": None if served is None else self.wall_exact(served.expires),
            }
        )
        self.take_upload(item, served, created=wall)

    def take_upload(self, item: Uploaded, served: Upload | None, *, created: float) -> None:
        """An upload's ``fileName`` issued, its file served until it expires (a v2 upload;
        ``served`` None for a legacy one, whose file is not kept) and listed as the key's."""
        if served is not None:
            self.uploads[served.path.name] = served
        self.issued.add(item.file_name)
        self.add_resource(item, created)
        self.transfer["uploads"] += 1
        self.transfer["upload_bytes"] += item.size

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
        """A task on the board at the moment it was submitted (``task.submitted``): its
        start, or its place in the queue, is judged at that same moment, however long
        the request took to handle on a busy machine. Journaled first (state_dir)."""
        self._note(task_record(task, "accepted", self.wall_exact(task.submitted)))
        self.board.add(task, task.submitted)
        self._wake.set()

    def record_failed(self, task: Task) -> None:
        """A task that failed before it could start: on the board, its webhook sent."""
        self._note(task_record(task, "failed", self.wall_exact(task.submitted)))
        self.board.add_failed(task, task.submitted)
        self._wake.set()

    def cancel(self, task: Task) -> None:
        """Cancel a task (one that has ended stays as it ended)."""
        now = self.now()
        self.board.advance(now)
        if not task.terminal:
            self._note({"event": "cancel", "wall": time.time(), "task": task.id})
        self.board.cancel(task, now)
        self._wake.set()

    def _note(self, record: dict[str, Any]) -> None:
        """Keep a record in the state directory's journal, before anyone hears of it."""
        if self.journal is not None:
            self.journal.write(record)

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
                    hooks.task_ended(self, task)
            nxt = self.board.next_event()
            self._wake.clear()
            timeout = None if nxt == INF else max(0.0, nxt - self.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

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
        if self.state_dir is not None:
            out["state"] = {"dir": str(self.state_dir), "restored": dict(self.restored)}
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
                    "origin": t.origin,
                    "api": t.api,
                }
                for t in self.board.tasks.values()
            ]
        return out
