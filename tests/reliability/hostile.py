"""A deliberately hostile RunningHub: just enough of the v2 API for ``rhbatch run``, where
each job misbehaves the way a marker in its prompt says.

A prompt holding ``case:<name>`` picks one behaviour from ``CASES``; a prompt holding
``run:<tag>`` files every submit and reply about that job under the tag, so parallel
runs against one server can be counted apart. Each run should use a key of its own
(``new_key``): an account's counts (queue/status) then hold only that run's tasks,
and tell the truth about them. A task runs ``TASK_SECONDS`` (queries say RUNNING
until then), or ``LOST_TASK_SECONDS`` when its submit was answered with garbage, as
a real video task would. A prompt without a marker, or any prompt once ``hostile``
is switched off, behaves well: SUCCESS with one small MP4 whose bytes the server
remembers (``Task.body``).

Routes: ``GET /openapi/v2/queue/status``, ``POST /openapi/v2/query``,
``POST /openapi/v2/<endpoint>`` (submit), ``POST /task/openapi/cancel``, and result
files on any other GET path (the file is named by the ``f`` query parameter, so a
URL with path tricks still reaches it). The ``Ledger`` keeps requests per route,
submits per case, every reply (``Served``) and the body bytes sent, counted as they
go out.

Endless bodies stop after ``STREAM_CAP`` bytes and then stall (the client still sees
a body that never ends), so a client without limits fails its test without filling
the machine's memory or disk; stalls end when the client goes, the server stops, or
``STREAM_DEADLINE`` passes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

STREAM_CAP = 300 << 20  # bytes an endless body sends before it stalls
STREAM_DEADLINE = 90.0  # seconds an endless body or a stall may last at most
CHUNK = b"\0" * (64 << 10)
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
TASK_SECONDS = 0.3  # a task runs this long, then its first query tells its end
LOST_TASK_SECONDS = 600.0  # a task whose submit answer was garbage runs on, like a real one
CASE = re.compile(r"\bcase:([a-z0-9-]+)")
TAG = re.compile(r"\brun:([A-Za-z0-9_-]+)")

# Submit replies: a garbage taskId, a body that is not JSON or never ends, the key echoed.
GARBAGE_IDS: dict[str, Any] = {
    "taskid-dotdot": "../../etc/x",
    "taskid-long": "7" * 500,
    "taskid-object": {},
    "taskid-negative": -1234567890123456789,
    "taskid-float": 1.5e19,
}
SUBMIT_CASES = frozenset(
    {*GARBAGE_IDS, "submit-html", "submit-endless", "key-html-submit", "key-submit-error"}
)
# Query replies: a state that cannot be read, or a FAILED task with a huge or leaky error.
QUERY_CASES = frozenset(
    {
        "status-weird",
        "status-null",
        "query-html",
        "query-endless",
        "query-50mb",
        "error-1mb",
        "error-10mb",
        "reason-1mb",
        "key-error",
        "key-reason",
        "key-upper",
        "key-base64",
    }
)
# SUCCESS with a result item that lies: outputType and URL tricks.
OUTPUT_TYPES = {
    "ot-dotdot": "../../../evil",
    "ot-deep-dotdot": "../../../../../evil",
    "ot-absolute": "/etc/passwd",
    "ot-backslash": "..\\..\\x",
    "ot-nul": "mp4\x00../../evil",
    "ot-long": "a" * 300,
}
URL_PATHS = {  # outputType "": the URL is all there is to name the file by
    "url-dotdot": "/files/../../../../evil.mp4",
    "url-encoded": "/files/..%2F..%2F..%2Fevil.mp4",
    "url-backslash": "/files/..%5C..%5Cevil.mp4",
    "url-noext": "/files/evil..%2F..%2Fpasswd",
}
FOREIGN_URLS = {
    "url-file": "file:///etc/passwd",
    "url-ftp": "ftp://x/y",
    "url-javascript": "javascript:alert(1)",
    "url-data": "data:video/mp4;base64,AAAAGGZ0eXBtcDQy",
}
RESULT_CASES = frozenset({*OUTPUT_TYPES, *URL_PATHS, *FOREIGN_URLS, "key-url"})
# Result downloads that never give a usable file, or give it the key.
DOWNLOAD_CASES = frozenset(
    {
        "redirect-loop",
        "redirect-file",
        "endless-download",
        "oversized",
        "long-body",
        "trickle",
        "key-location",
        "key-html-download",
    }
)
CASES = SUBMIT_CASES | QUERY_CASES | RESULT_CASES | DOWNLOAD_CASES


@dataclass
class Task:
    """A task the server made: its id as replied, whose it is, and its good result file."""

    serial: int
    task_id: str
    key: str
    tag: str
    case: str
    prompt: str
    body: bytes
    ends: float  # time.monotonic() of the task's end
    cancelled: bool = False

    def alive(self, now: float) -> bool:
        return not self.cancelled and now < self.ends

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Served:
    """One reply: its route, the run tag and case it was for, its status, what it was."""

    route: str
    tag: str
    case: str
    status: int
    detail: str = ""
    number: int = 0  # the reply's place in ``Ledger.served``


@dataclass
class Ledger:
    """What the server saw and did: requests per (route, tag), submits per (tag, case),
    body bytes sent per (route, tag) as they go out, tasks by the id they were given,
    and every reply."""

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    submitted: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent_bytes: Counter[tuple[str, str]] = field(default_factory=Counter)
    reply_bytes: Counter[int] = field(default_factory=Counter)  # by ``Served.number``
    tasks: dict[str, Task] = field(default_factory=dict)
    served: list[Served] = field(default_factory=list)

    def copy(self) -> Ledger:
        return Ledger(
            self.requests.copy(),
            self.submitted.copy(),
            self.sent_bytes.copy(),
            self.reply_bytes.copy(),
            dict(self.tasks),
            list(self.served),
        )

    def submits(self, tag: str, case: str | None = None) -> int:
        """Submits of the jobs of run ``tag`` (only those of ``case``, if given; "" names
        the well-behaved jobs)."""
        return sum(
            n for (t, c), n in self.submitted.items() if t == tag and (case is None or c == case)
        )

    def sent(self, route: str, tag: str) -> int:
        """Body bytes sent so far on ``route`` for run ``tag``."""
        return self.sent_bytes[route, tag]

    def largest(self, route: str, tag: str) -> int:
        """The most body bytes sent in one reply on ``route`` for run ``tag``."""
        numbers = [s.number for s in self.served if s.route == route and s.tag == tag]
        return max((self.reply_bytes[n] for n in numbers), default=0)

    def tasks_of(self, tag: str) -> list[Task]:
        """The distinct tasks of run ``tag``."""
        return list({t.serial: t for t in self.tasks.values() if t.tag == tag}.values())


class HostileServer:
    """The hostile API on 127.0.0.1 (a random port), served from a background thread.
    Use as ``with HostileServer() as server``; ``server.hostile = False`` tames it."""

    def __init__(self, concurrency: int = 5) -> None:
        self.concurrency = concurrency
        self.hostile = True
        self.base_url = ""
        self._ledger = Ledger()
        self._serials = itertools.count(1)
        self._ids = itertools.count(1_900_000_000_000_000_001)
        self._files: dict[int, Task] = {}
        self._keys: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="hostile-server", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None

    # --- the thread ---------------------------------------------------------------------

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self._app(), shutdown_timeout=2.0, access_log=None)
        try:
            self._stopping = asyncio.Event()
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            host, port = runner.addresses[0][:2]
            self.base_url = f"http://{host}:{port}"
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._stopping.set()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def call(self, fn: Callable[[Ledger], T]) -> T:
        """``fn(ledger)`` on the server's loop, so it never races with a request."""

        async def on_loop() -> T:
            return fn(self._ledger)

        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result(timeout=30)

    def new_key(self) -> str:
        """A key for a new account of its own (32 characters, like a real key): its counts
        hold only its own tasks, and a leak of it is a leak by the run that used it."""
        key = uuid.uuid4().hex
        self.call(lambda _: self._keys.add(key))
        return key

    def ledger(self) -> Ledger:
        """A copy of the ledger as it is now."""
        return self.call(Ledger.copy)

    # --- routes -------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=16 << 20)
        app.router.add_get("/openapi/v2/queue/status", self._queue_status)
        app.router.add_post("/openapi/v2/query", self._query)
        app.router.add_post("/task/openapi/cancel", self._cancel)
        app.router.add_post("/openapi/v2/{endpoint:.+}", self._submit)
        app.router.add_get("/{tail:.*}", self._download)
        return app

    def _key(self, request: web.Request) -> str | None:
        """The request's Bearer key, if it is one of the server's."""
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        return key if auth.startswith("Bearer ") and key in self._keys else None

    def _case(self, task: Task) -> str:
        return task.case if self.hostile else ""

    def _reply(
        self, route: str, task: Task | None, response: web.Response, detail: str = ""
    ) -> web.Response:
        """Record a reply whose body is all there."""
        number = self._record(route, task, response.status, detail)
        size = len(response.body) if isinstance(response.body, bytes) else 0
        self._sent(route, task, size, number)
        return response

    def _record(self, route: str, task: Task | None, status: int, detail: str = "") -> int:
        """Log a reply; its number, for ``_sent``."""
        tag, case = (task.tag, task.case) if task else ("", "")
        number = len(self._ledger.served)
        self._ledger.served.append(Served(route, tag, case, status, detail, number))
        return number

    def _sent(self, route: str, task: Task | None, size: int, number: int) -> None:
        self._ledger.sent_bytes[route, task.tag if task else ""] += size
        self._ledger.reply_bytes[number] += size

    async def _queue_status(self, request: web.Request) -> web.StreamResponse:
        self._ledger.requests["queue", ""] += 1
        key = self._key(request)
        if key is None:
            return envelope(802, "APIKEY_UNAUTHORIZED")
        now = time.monotonic()
        tasks = {t.serial: t for t in self._ledger.tasks.values() if t.key == key}.values()
        running = sum(1 for t in tasks if t.alive(now))
        data = {
            "apiKeyType": "SHARED",
            "concurrentLimit": self.concurrency,
            "runningCount": str(running),
            "queuedCount": "0",
            "totalCurrentTasks": str(running),
        }
        return envelope(0, "success", data)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        task = self._ledger.tasks.get(str(body.get("taskId"))) if isinstance(body, dict) else None
        self._ledger.requests["cancel", task.tag if task else ""] += 1
        if task is not None:
            task.cancelled = True
        return self._reply("cancel", task, envelope(0, "success"))

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        prompt = str(body.get("prompt", "")) if isinstance(body, dict) else ""
        tag = m.group(1) if (m := TAG.search(prompt)) else ""
        case = m.group(1) if (m := CASE.search(prompt)) else ""
        self._ledger.requests["submit", tag] += 1
        key = self._key(request)
        if key is None:
            return v2_error("1002", "Invalid API Key")
        serial = next(self._serials)
        task_id: Any = str(next(self._ids))
        now = case if self.hostile else ""
        if now in GARBAGE_IDS:
            task_id = GARBAGE_IDS[now]
        lost = now in GARBAGE_IDS or now in ("submit-html", "submit-endless")
        digest = hashlib.sha256(f"{serial}:{prompt}".encode()).digest()
        task = Task(
            serial,
            str(task_id),
            key,
            tag,
            case,
            prompt,
            MP4_HEAD + digest * 128,
            ends=time.monotonic() + (LOST_TASK_SECONDS if lost else TASK_SECONDS),
        )
        self._ledger.submitted[tag, case] += 1
        if now == "key-submit-error":  # refused: no task is made
            refusal = v2_error("1007", f"Invalid parameters for API key {key}")
            return self._reply("submit", task, refusal, "refused")
        if now == "key-html-submit":
            page = f"<html><body><h1>400 Bad Request</h1><p>key={key}</p></body></html>"
            refusal = web.Response(status=400, text=page, content_type="text/html")
            return self._reply("submit", task, refusal, "refused")
        self._ledger.tasks[task.task_id] = task
        if isinstance(task_id, float):  # a client may read it as an integer
            self._ledger.tasks[str(int(task_id))] = task
        self._files[serial] = task
        if now == "submit-html":
            ok = web.Response(text="<html><body>OK</body></html>", content_type="text/html")
            return self._reply("submit", task, ok, task.task_id)
        if now == "submit-endless":
            return await self._endless(request, "submit", task, b'{"taskId": "1' + b"0" * 1024)
        reply = task_object(task_id, "RUNNING", clientId=digest.hex()[:32])
        return self._reply("submit", task, json_response(reply), task.task_id)

    async def _query(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        task_id = str(body.get("taskId", "")) if isinstance(body, dict) else ""
        task = self._ledger.tasks.get(task_id)
        self._ledger.requests["query", task.tag if task else ""] += 1
        key = self._key(request)
        if key is None:
            return v2_error("1002", "Invalid API Key")
        if task is None or task.key != key:
            return self._reply("query", None, v2_error("1004", "Task not found"), task_id[:40])
        if task.cancelled or task.alive(time.monotonic()):
            state = "CANCEL" if task.cancelled else "RUNNING"
            return self._reply("query", task, json_response(task_object(task.task_id, state)))
        case = self._case(task)
        mb = 1 << 20
        if case == "query-html":
            page = "<html><body><h1>Welcome</h1></body></html>"
            return self._reply("query", task, web.Response(text=page, content_type="text/html"))
        if case == "query-endless":
            start = json.dumps({"taskId": task.task_id, "status": "SUCCESS", "promptTips": ""})
            return await self._endless(request, "query", task, start[:-2].encode())
        if case == "query-50mb":
            reply = self._success(request, task)
            return await self._padded(request, task, reply, "promptTips", 50 * mb)
        if case in ("status-weird", "status-null"):
            status = "WEIRD" if case == "status-weird" else None
            reply = self._success(request, task) | {"status": status}
            return self._reply("query", task, json_response(reply), str(status))
        failed = task_object(task.task_id, "FAILED", errorCode="1501", failedReason={}, usage=USAGE)
        failed["errorMessage"] = "Content verification failed"
        if case in ("error-1mb", "error-10mb"):
            size = mb if case == "error-1mb" else 10 * mb
            return await self._padded(request, task, failed, "errorMessage", size)
        if case == "reason-1mb":
            failed["failedReason"] = {"exception_type": "RuntimeError", "node_name": "Save"}
            return await self._padded(request, task, failed, "failedReason.traceback", mb)
        if case == "key-error":
            failed["errorMessage"] = f"Content verification failed for key {task.key}"
            return self._reply("query", task, json_response(failed), "FAILED")
        if case == "key-upper":  # the key echoed in another form than it was sent
            failed["errorMessage"] = f"invalid credential {task.key.upper()}"
            return self._reply("query", task, json_response(failed), "FAILED")
        if case == "key-base64":
            echoed = base64.b64encode(task.key.encode()).decode()
            failed["errorMessage"] = f"Authorization: Basic {echoed}"
            return self._reply("query", task, json_response(failed), "FAILED")
        if case == "key-reason":
            failed["failedReason"] = {"exception_message": f"Authorization: Bearer {task.key}"}
            return self._reply("query", task, json_response(failed), "FAILED")
        return self._reply("query", task, json_response(self._success(request, task)), "SUCCESS")

    def _success(self, request: web.Request, task: Task) -> dict[str, Any]:
        """The task ended SUCCESS with one result, as this task's case has it."""
        case = self._case(task)
        base = f"http://{request.host}"
        url, kind = f"{base}/files/{task.serial}/1.mp4?f={task.serial}", "mp4"
        if case in OUTPUT_TYPES:
            kind = OUTPUT_TYPES[case]
        elif case in URL_PATHS:
            url, kind = f"{base}{URL_PATHS[case]}?f={task.serial}", ""
        elif case in FOREIGN_URLS:
            url = FOREIGN_URLS[case]
        elif case == "key-url":
            url += f"&token={task.key}"
        result = {"url": url, "outputType": kind, "text": None}
        return task_object(task.task_id, "SUCCESS", results=[result], failedReason={}, usage=USAGE)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        serial = request.query.get("f", "")
        task = self._files.get(int(serial)) if serial.isdigit() else None
        self._ledger.requests["download", task.tag if task else ""] += 1
        if task is None:
            missing = web.Response(status=404, text="not found")
            return self._reply("download", None, missing, request.path_qs[:200])
        case = self._case(task)
        here = f"http://{request.host}{request.path}?f={serial}"
        if case == "redirect-loop":
            hop = int(request.query.get("hop", "0")) + 1
            return self._redirect(task, f"{here}&hop={hop % 2}")
        if case == "redirect-file":
            return self._redirect(task, "file:///etc/passwd")
        if case == "key-location" and "final" not in request.query:
            return self._redirect(task, f"{here}&final=1&sig={task.key}")
        if case == "key-html-download":
            page = f"<html><body><h1>404 Not Found</h1><p>no file for {task.key}</p></body></html>"
            missing = web.Response(status=404, text=page, content_type="text/html")
            return self._reply("download", task, missing)
        if case in ("endless-download", "oversized"):
            length = 5 << 30 if case == "oversized" else None
            return await self._endless(request, "download", task, MP4_HEAD, length)
        if case == "trickle":
            return await self._trickle(request, task)
        if case == "long-body":
            return self._long_body(request, task)
        file = web.Response(body=task.body, content_type="video/mp4")
        return self._reply("download", task, file, task.sha256)

    def _redirect(self, task: Task, location: str) -> web.Response:
        found = web.Response(status=302, headers={"Location": location})
        return self._reply("download", task, found, location)

    # --- bodies that misbehave ------------------------------------------------------------

    async def _endless(
        self, request: web.Request, route: str, task: Task, start: bytes, length: int | None = None
    ) -> web.StreamResponse:
        """``start``, then bytes without end (chunked, or under a Content-Length never met)."""
        number = self._record(route, task, 200, "endless")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if length is not None:
            response.content_length = length
        began = time.monotonic()
        try:
            await response.prepare(request)
            await self._write(response, start, number)
            while self._ledger.reply_bytes[number] < STREAM_CAP and not self._gone(request, began):
                await self._write(response, CHUNK, number)
            await self._stall(request, began)
        except ConnectionError:
            pass
        return response

    async def _trickle(self, request: web.Request, task: Task) -> web.StreamResponse:
        """One byte every 0.2 s under a Content-Length of 100,000: done in 5.5 hours."""
        number = self._record("download", task, 200, "trickle")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = 100_000
        began = time.monotonic()
        try:
            await response.prepare(request)
            while not self._gone(request, began):
                await self._write(response, b"\0", number)
                await asyncio.sleep(0.2)
        except ConnectionError:
            pass
        return response

    def _long_body(self, request: web.Request, task: Task) -> web.Response:
        """A Content-Length of 1,000 followed by 4 KiB more, in one write (so the client reads
        them together), then close."""
        number = self._record("download", task, 200, "long body")
        declared, extra = task.body[:1000], b"\xff" * 4096
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {len(declared)}\r\n\r\n"
        ).encode()
        transport = request.transport
        if transport is not None:
            transport.write(head + declared + extra)
            self._sent("download", task, len(declared) + len(extra), number)
            transport.close()  # aiohttp's own reply below finds the connection closed
        return web.Response(status=204)

    async def _padded(
        self, request: web.Request, task: Task, reply: dict[str, Any], where: str, size: int
    ) -> web.StreamResponse:
        """``reply`` as JSON with the string at ``where`` (``a.b`` for a nested key) grown by
        ``size`` bytes, streamed under an exact Content-Length."""
        number = self._record("query", task, 200, f"{where} of {size:,} bytes")
        marker = "\x01PAD\x01"
        holder = reply
        *path, last = where.split(".")
        for key in path:
            holder = holder[key]
        holder[last] = str(holder.get(last) or "") + " " + marker
        text = json.dumps(reply, ensure_ascii=False)
        before, after = (s.encode() for s in text.split(json.dumps(marker)[1:-1], 1))
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(before) + size + len(after)
        try:
            await response.prepare(request)
            for piece in itertools.chain((before,), pad(size), (after,)):
                await self._write(response, piece, number)
        except ConnectionError:
            pass
        return response

    async def _write(self, response: web.StreamResponse, data: bytes, number: int) -> None:
        """Send ``data`` as part of reply ``number``, counting it as it goes."""
        await response.write(data)
        served = self._ledger.served[number]
        self._ledger.sent_bytes[served.route, served.tag] += len(data)
        self._ledger.reply_bytes[number] += len(data)

    def _gone(self, request: web.Request, began: float) -> bool:
        """The client left, the server is stopping, or the body has gone on long enough."""
        transport = request.transport
        stopping = self._stopping is not None and self._stopping.is_set()
        late = time.monotonic() - began > STREAM_DEADLINE
        return stopping or late or transport is None or transport.is_closing()

    async def _stall(self, request: web.Request, began: float) -> None:
        """Send nothing more, keeping the connection open, until ``_gone``."""
        # A client's departure sets no event that a handler could wait on: look for it.
        while not self._gone(request, began):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


# --- reply shapes -------------------------------------------------------------------------

USAGE = {
    "consumeMoney": "0",
    "consumeCoins": "0",
    "taskCostTime": "3",
    "thirdPartyConsumeMoney": "0.5",
}


def task_object(task_id: Any, status: str | None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "taskId": task_id,
        "status": status,
        "errorCode": "",
        "errorMessage": "",
        "results": None,
        "clientId": "",
        "promptTips": "",
    }
    return out | fields


def json_response(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def envelope(code: int, msg: str, data: Any = None) -> web.Response:
    return json_response({"code": code, "msg": msg, "data": data})


def v2_error(code: str, message: str) -> web.Response:
    reply = task_object(None, "FAILED", errorCode=code, errorMessage=message)
    return json_response(reply)


def pad(size: int) -> Iterator[bytes]:
    """``size`` bytes of "x" in pieces of at most 1 MiB."""
    piece = b"x" * (1 << 20)
    while size > 0:
        yield piece[:size]
        size -= len(piece)


async def read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
