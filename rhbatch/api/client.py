"""The RunningHub API over aiohttp: submit, query, upload, cancel, queue, account, download.

Each call says what its failure means for a batch by the error it raises
(``http.py`` has the table: NoConnection, Transient, OutcomeUnknown for a
submit that may have made a task, Rejected, ProtocolError). Every read is
bounded: an API reply may not exceed ``max_reply_bytes`` nor take longer than
``timeout``; a download may not exceed its ``DownloadLimits`` (size, overall
deadline, lowest rate) nor follow more than ``MAX_REDIRECTS`` redirects.

Submits have their own pool whose idle connections are dropped after
``SUBMIT_KEEPALIVE`` seconds, well before any server closes them (60-75 s is
usual): a pooled connection closed by the server while idle would fail exactly
like a reply lost after the task was made. Under load the pool is reused, so a
batch does not pay a new connection (and TLS handshake) per submit.
The API key travels in the Authorization header (and in the body of the two
legacy calls that need it), never to download hosts, and never into an error:
messages are built here, and any text that came from the server is scrubbed of it.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from rhbatch import __version__
from rhbatch.api.http import (
    MAX_REDIRECTS,
    MAX_REPLY,
    Download,
    DownloadLimits,
    Reply,
    TooLarge,
    cause,
    head_of,
    lost,
    read_capped,
    scrub_error,
    secret_kept,
    status_error,
)
from rhbatch.api.wire import (
    NOT_FOUND_CODES,
    WAIT_CODES,
    count_of,
    envelope_data,
    error_of,
    legacy_failure,
    legacy_outputs,
    legacy_task,
    node_errors,
    node_info_body,
    parse_task,
    price_of,
    reading,
    task_id_of,
)
from rhbatch.errors import (
    OutcomeUnknown,
    ProtocolError,
    Rejected,
)
from rhbatch.models import QueueStatus, RemoteStatus, TaskState, pinned_kind
from rhbatch.redact import clean, keep_secret, scrub_value

SUBMIT_KEEPALIVE = 4.0  # seconds an idle submit connection may be reused
UPLOAD_MIN_RATE = 256 * 1024  # bytes/s an upload may not fall below (it widens the timeout)


class Client:
    """The RunningHub API for one key, over one pooled session (and fresh connections
    for submits). Use as ``async with Client(base, key) as client``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 15.0,
        max_reply_bytes: int = MAX_REPLY,
        user_agent: str = f"rhbatch/{__version__}",
        legacy: bool = False,
    ) -> None:
        base = base_url.strip().rstrip("/")
        base = base.removesuffix("/openapi/v2")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise ValueError("the base URL must be http:// or https:// with a host and no user")
        self.base_url = base
        self._key = api_key
        keep_secret(api_key)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._timeouts = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._max_reply = max_reply_bytes
        self._user_agent = user_agent
        self._pool: aiohttp.ClientSession | None = None
        self._submits: aiohttp.ClientSession | None = None
        # Workflows and apps start by the legacy calls (run.api: legacy), and the tasks
        # started so are followed by status and outputs.
        self.legacy = legacy
        self._legacy: set[str] = set()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    async def __aenter__(self) -> Client:
        self._sessions()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for session in (self._pool, self._submits):
            if session is not None:
                await session.close()
        self._pool = self._submits = None

    # --- the calls ----------------------------------------------------------------------

    async def submit(self, endpoint: str, body: Mapping[str, Any]) -> TaskState:
        """Start a task: a model's (``endpoint`` is its path), a workflow's or an AI app's
        (``workflow:<id>``, ``app:<id>``, the body their ``<node>.<field>`` inputs and
        options). Raises OutcomeUnknown whenever a task may exist without our knowing."""
        pinned = pinned_kind(endpoint)
        if pinned is not None:
            kind, ident = pinned
            if self.legacy:
                return await self._start_legacy(kind, ident, node_info_body(body))
            route = "workflow" if kind == "workflow" else "ai-app"
            path = f"/openapi/v2/run/{route}/{quote(ident, safe='')}"
            return await self._submit(path, f"run {kind} {ident}", node_info_body(body))
        endpoint = endpoint.strip("/")
        return await self._submit(f"/openapi/v2/{endpoint}", f"submit {endpoint}", dict(body))

    async def _submit(self, path: str, what: str, body: dict[str, Any]) -> TaskState:
        with secret_kept():
            reply = await self._call("POST", path, what, body, fresh=True)
            data = reply.json()
            if 200 <= reply.status < 300:
                if not isinstance(data, dict):
                    raise OutcomeUnknown(
                        f"{what}: HTTP {reply.status} with a body that is not a JSON object "
                        f"({reply.snippet()}); a task may exist",
                        settled=True,
                    )
                with reading(what, submit=True):
                    if task_id_of(data) is not None:
                        return parse_task(data, lenient=True)
                code, message = error_of(data)
                if code:
                    raise Rejected(code, message, http_status=reply.status)
                raise OutcomeUnknown(
                    f"{what}: HTTP {reply.status} without a taskId or an errorCode; "
                    "a task may exist",
                    settled=True,
                )
            code, message = error_of(data)
            failure = status_error(reply, what, submit=True, code=code, message=message)
            raise failure or ProtocolError(f"{what}: unexpected {reply.line()}")

    async def _start_legacy(self, kind: str, ident: str, body: dict[str, Any]) -> TaskState:
        """Start a workflow (``/task/openapi/create``) or an AI app (``ai-app/run``) by the
        legacy calls; its task is then followed by ``status`` and ``outputs``."""
        what = f"start {kind} {ident} (legacy)"
        if kind == "workflow":
            path, body = "/task/openapi/create", {"workflowId": ident, **body}
        else:
            path, body = "/task/openapi/ai-app/run", {"webappId": ident, **body}
        with secret_kept():
            reply = await self._call("POST", path, what, {"apiKey": self._key, **body}, fresh=True)
            data = reply.json()
            if not 200 <= reply.status < 300:
                code, message = error_of(data)
                failure = status_error(reply, what, submit=True, code=code, message=message)
                raise failure or ProtocolError(f"{what}: unexpected {reply.line()}")
            if not isinstance(data, dict) or "code" not in data:
                raise OutcomeUnknown(
                    f"{what}: HTTP {reply.status} with no {{code, data}} envelope "
                    f"({reply.snippet()}); a task may exist",
                    settled=True,
                )
            code, message = error_of(data)
            if code:
                raise Rejected(code, message, http_status=reply.status)
            with reading(what, submit=True):
                state = legacy_task(data.get("data"), what)
            self._legacy.add(state.task_id)
            refused = node_errors(data["data"])
            if refused is not None:
                state = replace(
                    state,
                    status=RemoteStatus.FAILED,
                    error_code="NODE_ERRORS",
                    error_message=refused,
                )
            return state

    def follow_legacy(self, task_id: str) -> None:
        """Follow this task by the legacy ``status`` and ``outputs`` calls (a workflow or app
        task started by the legacy calls, in this run or an earlier one)."""
        self._legacy.add(task_id)

    async def _query_legacy(self, task_id: str) -> TaskState:
        what = f"status {task_id}"
        body = {"apiKey": self._key, "taskId": task_id}
        with secret_kept():
            reply = await self._call("POST", "/task/openapi/status", what, body)
            status = RemoteStatus.parse(reply.envelope(what))
            if status not in (RemoteStatus.SUCCESS, RemoteStatus.FAILED):
                return TaskState(task_id, status, "", "", (), {}, 0.0, {})
            what = f"outputs {task_id}"
            reply = await self._call("POST", "/task/openapi/outputs", what, body)
            data = reply.expect_json(what)
            code, message = error_of(data)
            if code in WAIT_CODES:  # 804 running, 813 queued: the status was a moment early
                return TaskState(task_id, RemoteStatus.RUNNING, "", "", (), {}, 0.0, {})
            if code == "805" or status is RemoteStatus.FAILED:
                return legacy_failure(task_id, data, code or "805", message)
            with reading(what):
                return legacy_outputs(
                    task_id, envelope_data(data, what, reply.snippet(), reply.status)
                )

    async def workflow_json(self, workflow_id: str) -> dict[str, Any]:
        """A workflow's API-format graph (``getJsonApiFormat``); nothing is run."""
        what = f"workflow {workflow_id}"
        body = {"apiKey": self._key, "workflowId": workflow_id}
        with secret_kept():
            reply = await self._call("POST", "/api/openapi/getJsonApiFormat", what, body)
            data = reply.envelope(what)
            prompt = data.get("prompt") if isinstance(data, dict) else None
            try:
                graph = json.loads(prompt) if isinstance(prompt, str) else prompt
            except json.JSONDecodeError as exc:
                raise ProtocolError(f"{what}: data.prompt is not JSON ({exc.msg})") from None
            if not isinstance(graph, dict) or not graph:
                raise ProtocolError(f"{what}: no workflow graph in {reply.snippet()}")
            return graph

    async def app_inputs(self, app_id: str) -> tuple[str, list[dict[str, Any]]]:
        """An AI app's name and editable inputs (``apiCallDemo``'s nodeInfoList)."""
        what = f"app {app_id}"
        query = urlencode({"apiKey": self._key, "webappId": app_id})
        with secret_kept():
            reply = await self._call("GET", f"/api/webapp/apiCallDemo?{query}", what)
            data = reply.envelope(what)
            nodes = data.get("nodeInfoList") if isinstance(data, dict) else None
            if not isinstance(nodes, list):
                raise ProtocolError(f"{what}: no nodeInfoList in {reply.snippet()}")
            name = clean(str(data.get("webappName") or ""), 200) if isinstance(data, dict) else ""
            return name, [scrub_value(n) for n in nodes]

    async def upload_input(self, path: Path) -> str:
        """Upload a local file for a workflow's or app's input (the legacy upload); returns
        the ``fileName`` (``api/<sha256>.<ext>``) the input takes."""
        what = f"upload {path.name}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with secret_kept(), path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            timeouts = aiohttp.ClientTimeout(
                total=self._timeout + size / UPLOAD_MIN_RATE, connect=self._connect_timeout
            )
            form = aiohttp.FormData()
            form.add_field("apiKey", self._key)
            form.add_field("fileType", "input")
            form.add_field("file", fh, filename=path.name, content_type=content_type)
            reply = await self._call(
                "POST", "/task/openapi/upload", what, form=form, timeouts=timeouts
            )
            data = reply.envelope(what)
            name = data.get("fileName") if isinstance(data, dict) else None
            if not isinstance(name, str) or not name or ".." in name or len(name) > 300:
                raise ProtocolError(f"{what}: no data.fileName in {reply.snippet()}")
            return name

    async def price_preview(self, endpoint: str, body: Mapping[str, Any]) -> tuple[float, str]:
        """RunningHub's estimate of what a request would cost, (amount, currency); nothing
        is run or paid. The body is the request's own (RunningHub's documentation of the
        price preview)."""
        endpoint = endpoint.strip("/")
        what = f"price preview {endpoint}"
        with secret_kept():
            reply = await self._call(
                "POST", f"/openapi/v2/price-preview/{endpoint}", what, dict(body)
            )
            data = reply.expect_json(what)
            if isinstance(data, dict) and "estimatedPrice" not in data and "data" in data:
                data = reply.envelope(what)  # the {code, data} wrapper some servers use
            code, message = error_of(data)
            if code:
                raise Rejected(code, message, http_status=reply.status)
            return price_of(data, what)

    async def query(self, task_id: str) -> TaskState:
        """The task's state; a FAILED task is returned, not raised. Unknown task: Rejected."""
        if task_id in self._legacy:
            return await self._query_legacy(task_id)
        what = f"query {task_id}"
        with secret_kept():
            reply = await self._call("POST", "/openapi/v2/query", what, {"taskId": task_id})
            data = reply.expect_json(what)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: the reply is not a JSON object ({reply.snippet()})")
            code, message = error_of(data)
            with reading(what):
                if code and (code in NOT_FOUND_CODES or task_id_of(data) is None):
                    raise Rejected(code, message, http_status=reply.status)
                state = parse_task(data)
            if state.task_id != task_id:
                raise ProtocolError(f"{what}: the reply is about task {state.task_id}")
            return state

    async def upload(self, path: Path) -> str:
        """Upload a local file; returns its ``download_url``. OSError from the file propagates."""
        what = f"upload {path.name}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with secret_kept(), path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            timeouts = aiohttp.ClientTimeout(
                total=self._timeout + size / UPLOAD_MIN_RATE, connect=self._connect_timeout
            )
            form = aiohttp.FormData()
            form.add_field("file", fh, filename=path.name, content_type=content_type)
            reply = await self._call(
                "POST", "/openapi/v2/media/upload/binary", what, form=form, timeouts=timeouts
            )
            data = reply.envelope(what)
            url = data.get("download_url") if isinstance(data, dict) else None
            if not isinstance(url, str) or not url:
                raise ProtocolError(f"{what}: no data.download_url in {reply.snippet()}")
            return url

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task: True if the server took the request, False if it knows no such
        task. Whether the task did stop, only a query tells."""
        what = f"cancel {task_id}"
        body = {"apiKey": self._key, "taskId": task_id}
        with secret_kept():
            reply = await self._call("POST", "/task/openapi/cancel", what, body)
            try:
                reply.envelope(what)
            except Rejected as exc:
                if exc.code in NOT_FOUND_CODES:
                    return False
                raise
            return True

    async def queue_status(self) -> QueueStatus:
        """The account's concurrency limit and its running and queued tasks."""
        what = "queue status"
        with secret_kept():
            reply = await self._call("GET", "/openapi/v2/queue/status", what)
            data = reply.envelope(what)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: no data object in {reply.snippet()}")
            limit = data.get("concurrentLimit")
            return QueueStatus(
                limit=None if limit in (None, "") else count_of(limit, what),
                running=count_of(data.get("runningCount"), what),
                queued=count_of(data.get("queuedCount"), what),
                key_type=clean(str(data.get("apiKeyType") or ""), 40),
            )

    async def account_status(self) -> dict[str, Any]:
        """The account's ``data``: remainMoney, remainCoins, currentTaskCounts, ... (strings)."""
        what = "account status"
        with secret_kept():
            reply = await self._call(
                "POST", "/uc/openapi/accountStatus", what, {"apikey": self._key}
            )
            data = reply.envelope(what)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: no data object in {reply.snippet()}")
            return {clean(str(k), 60): clean(str(v), 200) for k, v in data.items()}

    def download(
        self, url: str, limits: DownloadLimits | None = None
    ) -> AbstractAsyncContextManager[Download]:
        """``async with client.download(url) as dl``: a result file, without the API key."""
        return self._download(url, limits or DownloadLimits())

    # --- the boundary -------------------------------------------------------------------

    def _sessions(self) -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        if self._pool is None or self._submits is None:
            headers = {"User-Agent": self._user_agent}
            # limit=0: the runner's limiter bounds the calls in flight, not the pool.
            self._pool = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), headers=headers
            )
            self._submits = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=SUBMIT_KEEPALIVE),
                headers=headers,
            )
        return self._pool, self._submits

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        body: dict[str, Any] | None = None,
        *,
        form: aiohttp.FormData | None = None,
        fresh: bool = False,
        timeouts: aiohttp.ClientTimeout | None = None,
    ) -> Reply:
        pool, fresh_session = self._sessions()
        session = fresh_session if fresh else pool
        headers = {"Authorization": f"Bearer {self._key}"}
        data: Any = form
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=data,
                headers=headers,
                timeout=timeouts or self._timeouts,
                allow_redirects=False,
            ) as response:
                raw = await read_capped(response, self._max_reply)
                return head_of(response, raw)
        except TooLarge as exc:
            message = f"{what}: the reply is larger than {self._max_reply:,} bytes ({exc})"
            if fresh:
                raise OutcomeUnknown(f"{message}; a task may exist", settled=True) from None
            raise ProtocolError(message) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise lost(exc, what, submit=fresh) from cause(exc)

    @contextlib.asynccontextmanager
    async def _download(self, url: str, limits: DownloadLimits) -> AsyncIterator[Download]:
        parts = urlsplit(url)
        what = f"download {clean(f'{parts.scheme}://{parts.netloc}{parts.path}', 300)}"
        with secret_kept():
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                raise Rejected("BADURL", f"not an http(s) URL: {clean(repr(url), 200)}")
            timeout = aiohttp.ClientTimeout(
                total=limits.deadline + self._connect_timeout,
                connect=self._connect_timeout,
                sock_read=min(self._timeout, limits.deadline),
            )
            try:
                response = await self._sessions()[0].get(
                    url,
                    headers={"Accept-Encoding": "identity"},
                    timeout=timeout,
                    max_redirects=MAX_REDIRECTS,
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise lost(exc, what, submit=False) from cause(exc)
        try:
            if response.status != 200:
                raise scrub_error(
                    status_error(head_of(response), what)
                    or ProtocolError(f"{what}: unexpected HTTP {response.status}")
                )
            yield Download(response, what, limits)
        finally:
            response.release()
