"""The RunningHub API's calls: submit, query, upload, cancel, queue, account, download.

Each call says what its failure means for a batch by the error it raises
(``http.py`` has the table: NoConnection, Transient, OutcomeUnknown for a
submit that may have made a task, Rejected, ProtocolError). How a call travels,
its reply read within caps and its pools, is ``transport.py``'s.

Workflows and AI apps start by the legacy calls when the client is made with
``legacy`` (run.api: legacy); their tasks are then followed by the legacy
``status`` and ``outputs``. The client keeps no record of which tasks those
are: a caller asking about a task names the endpoint it was started at.

The API key travels in the Authorization header (and in the body of the
legacy calls that need it), never to download hosts, and never into an error:
messages are built here, and every call is ``scrubbed`` of it (``http.py``),
so any text that came from the server is too.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from rhbatch.api.http import MAX_REPLY, Download, DownloadLimits, scrubbed, status_error
from rhbatch.api.transport import Transport
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
from rhbatch.errors import OutcomeUnknown, ProtocolError, Rejected
from rhbatch.models import QueueStatus, RemoteStatus, TaskState, pinned_kind
from rhbatch.redact import clean, keep_secret, scrub_value
from rhbatch.version import __version__


class Client(AbstractAsyncContextManager["Client"]):
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
        self._http = Transport(
            base_url,
            api_key,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_reply_bytes=max_reply_bytes,
            user_agent=user_agent,
        )
        self.base_url = self._http.base_url
        self._key = api_key
        keep_secret(api_key)
        # Workflows and apps start by the legacy calls (run.api: legacy), and their tasks
        # are followed by status and outputs.
        self.legacy = legacy

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    def _by_legacy(self, endpoint: str) -> bool:
        """Whether a task of ``endpoint`` is started and followed by the legacy calls: a
        workflow's or app's, when this client starts them so."""
        return self.legacy and pinned_kind(endpoint) is not None

    # --- the calls ----------------------------------------------------------------------

    @scrubbed
    async def submit(self, endpoint: str, body: Mapping[str, Any]) -> TaskState:
        """Start a task: a model's (``endpoint`` is its path), a workflow's or an AI app's
        (``workflow:<id>``, ``app:<id>``, the body their ``<node>.<field>`` inputs and
        options). Raises OutcomeUnknown whenever a task may exist without our knowing."""
        pinned = pinned_kind(endpoint)
        if pinned is not None:
            kind, ident = pinned
            if self._by_legacy(endpoint):
                return await self._start_legacy(kind, ident, node_info_body(body))
            route = "workflow" if kind == "workflow" else "ai-app"
            path = f"/openapi/v2/run/{route}/{quote(ident, safe='')}"
            return await self._submit(path, f"run {kind} {ident}", node_info_body(body))
        endpoint = endpoint.strip("/")
        return await self._submit(f"/openapi/v2/{endpoint}", f"submit {endpoint}", dict(body))

    async def _submit(self, path: str, what: str, body: dict[str, Any]) -> TaskState:
        reply = await self._http.call("POST", path, what, body, fresh=True)
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
                f"{what}: HTTP {reply.status} without a taskId or an errorCode; a task may exist",
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
        reply = await self._http.call("POST", path, what, {"apiKey": self._key, **body}, fresh=True)
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
        refused = node_errors(data["data"])
        if refused is not None:
            state = replace(
                state,
                status=RemoteStatus.FAILED,
                error_code="NODE_ERRORS",
                error_message=refused,
            )
        return state

    async def _query_legacy(self, task_id: str) -> TaskState:
        what = f"status {task_id}"
        body = {"apiKey": self._key, "taskId": task_id}
        reply = await self._http.call("POST", "/task/openapi/status", what, body)
        status = RemoteStatus.parse(reply.envelope(what))
        if status not in (RemoteStatus.SUCCESS, RemoteStatus.FAILED):
            return TaskState(task_id, status, "", "", (), {}, 0.0, {})
        what = f"outputs {task_id}"
        reply = await self._http.call("POST", "/task/openapi/outputs", what, body)
        data = reply.expect_json(what)
        code, message = error_of(data)
        if code in WAIT_CODES:  # 804 running, 813 queued: the status was a moment early
            return TaskState(task_id, RemoteStatus.RUNNING, "", "", (), {}, 0.0, {})
        if code == "805" or status is RemoteStatus.FAILED:
            return legacy_failure(task_id, data, code or "805", message)
        with reading(what):
            return legacy_outputs(task_id, envelope_data(data, what, reply.snippet(), reply.status))

    @scrubbed
    async def workflow_json(self, workflow_id: str) -> dict[str, Any]:
        """A workflow's API-format graph (``getJsonApiFormat``); nothing is run."""
        what = f"workflow {workflow_id}"
        body = {"apiKey": self._key, "workflowId": workflow_id}
        reply = await self._http.call("POST", "/api/openapi/getJsonApiFormat", what, body)
        data = reply.envelope(what)
        prompt = data.get("prompt") if isinstance(data, dict) else None
        try:
            graph = json.loads(prompt) if isinstance(prompt, str) else prompt
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"{what}: data.prompt is not JSON ({exc.msg})") from None
        if not isinstance(graph, dict) or not graph:
            raise ProtocolError(f"{what}: no workflow graph in {reply.snippet()}")
        return graph

    @scrubbed
    async def app_inputs(self, app_id: str) -> tuple[str, list[dict[str, Any]]]:
        """An AI app's name and editable inputs (``apiCallDemo``'s nodeInfoList)."""
        what = f"app {app_id}"
        query = urlencode({"apiKey": self._key, "webappId": app_id})
        reply = await self._http.call("GET", f"/api/webapp/apiCallDemo?{query}", what)
        data = reply.envelope(what)
        nodes = data.get("nodeInfoList") if isinstance(data, dict) else None
        if not isinstance(nodes, list):
            raise ProtocolError(f"{what}: no nodeInfoList in {reply.snippet()}")
        name = clean(str(data.get("webappName") or ""), 200) if isinstance(data, dict) else ""
        return name, [scrub_value(n) for n in nodes]

    async def upload_input(self, path: Path) -> str:
        """Upload a local file for a workflow's or app's input (the legacy upload); returns
        the ``fileName`` (``api/<sha256>.<ext>``) the input takes."""
        fields = {"apiKey": self._key, "fileType": "input"}
        return await self._upload(
            path,
            "/task/openapi/upload",
            fields,
            "fileName",
            lambda n: ".." not in n and len(n) <= 300,
        )

    @scrubbed
    async def price_preview(self, endpoint: str, body: Mapping[str, Any]) -> tuple[float, str]:
        """RunningHub's estimate of what a request would cost, (amount, currency); nothing
        is run or paid. The body is the request's own (RunningHub's documentation of the
        price preview)."""
        endpoint = endpoint.strip("/")
        what = f"price preview {endpoint}"
        reply = await self._http.call(
            "POST", f"/openapi/v2/price-preview/{endpoint}", what, dict(body)
        )
        data = reply.expect_json(what)
        if isinstance(data, dict) and "estimatedPrice" not in data and "data" in data:
            data = reply.envelope(what)  # the {code, data} wrapper some servers use
        code, message = error_of(data)
        if code:
            raise Rejected(code, message, http_status=reply.status)
        return price_of(data, what)

    @scrubbed
    async def query(self, task_id: str, endpoint: str = "") -> TaskState:
        """The task's state; a FAILED task is returned, not raised. Unknown task: Rejected.
        ``endpoint`` is the one the task was started at: a workflow's or app's task, when
        this client starts them by the legacy calls, is followed by them (whichever run
        started it); any other by the query call."""
        if self._by_legacy(endpoint):
            return await self._query_legacy(task_id)
        what = f"query {task_id}"
        reply = await self._http.call("POST", "/openapi/v2/query", what, {"taskId": task_id})
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
        return await self._upload(path, "/openapi/v2/media/upload/binary", {}, "download_url")

    @scrubbed
    async def _upload(
        self,
        path: Path,
        route: str,
        fields: dict[str, str],
        answer: str,
        fits: Callable[[str], bool] = bool,
    ) -> str:
        """Send a local file as a form (``fields`` before it); the ``data.<answer>`` of the
        reply, a text ``fits`` accepts. Its timeout widens with its size."""
        what = f"upload {path.name}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as fh:
            form = aiohttp.FormData()
            for name, text in fields.items():
                form.add_field(name, text)
            form.add_field("file", fh, filename=path.name, content_type=content_type)
            timeouts = self._http.upload_timeouts(os.fstat(fh.fileno()).st_size)
            reply = await self._http.call("POST", route, what, form=form, timeouts=timeouts)
        data = reply.envelope(what)
        value = data.get(answer) if isinstance(data, dict) else None
        if not isinstance(value, str) or not value or not fits(value):
            raise ProtocolError(f"{what}: no data.{answer} in {reply.snippet()}")
        return value

    @scrubbed
    async def cancel(self, task_id: str) -> bool:
        """Cancel a task: True if the server took the request, False if it knows no such
        task. Whether the task did stop, only a query tells."""
        what = f"cancel {task_id}"
        body = {"apiKey": self._key, "taskId": task_id}
        reply = await self._http.call("POST", "/task/openapi/cancel", what, body)
        try:
            reply.envelope(what)
        except Rejected as exc:
            if exc.code in NOT_FOUND_CODES:
                return False
            raise
        return True

    @scrubbed
    async def queue_status(self) -> QueueStatus:
        """The account's concurrency limit and its running and queued tasks."""
        what = "queue status"
        reply = await self._http.call("GET", "/openapi/v2/queue/status", what)
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

    @scrubbed
    async def account_status(self) -> dict[str, Any]:
        """The account's ``data``: remainMoney, remainCoins, currentTaskCounts, ... (strings)."""
        what = "account status"
        reply = await self._http.call(
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
        return self._http.download(url, limits or DownloadLimits())
