"""A small receiver for RunningHub's webhooks, so completions arrive without polling.

RunningHub posts ``{event: "TASK_END", taskId, eventData}`` to the ``webhookUrl``
a task was submitted with (RunningHub's documentation, *Task Query & webhook*;
for the model API this is not documented, so polling stays on as the safety net).
``eventData`` is the task object as JSON text (or an object); a final state in it
is handed to the runner with the URL's token. Every submit attempt gets its own token
(recorded in the state store before the submit), so that a task made by a
submit whose answer was lost still names its job when it ends. A post with a
token rhbatch never issued is refused (404); one that is not a task object is
acknowledged and ignored. Replies are immediate, as the docs ask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from rhbatch.api.wire import legacy_failure, legacy_outputs, parse_task, task_id_of
from rhbatch.errors import ProtocolError, UsageError
from rhbatch.models import TaskState

PATH = "/rhbatch/webhook/"


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_EVENT = 8 << 20  # bytes of a webhook body read at most


class Receiver:
    def __init__(
        self, listen: str, public_url: str | None, deliver: Callable[[str, TaskState], bool]
    ) -> None:
        host, _, port = listen.rpartition(":")
        if not port.isdigit():
            raise UsageError(f"--webhook-listen wants HOST:PORT or PORT, not {listen!r}")
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.deliver = deliver
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where RunningHub should post, less the attempt's token: the public URL (or the
        listening address)."""
        base = self.public_url or f"http://{self.host}:{self.port}"
        return f"{base}{PATH}"

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_EVENT)
        app.router.add_post(PATH + "{token}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            raise UsageError(
                f"cannot listen for webhooks on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not _TOKEN.match(token):
            return web.Response(status=404)
        try:
            payload: Any = json.loads(await request.read())
            data = payload.get("eventData") if isinstance(payload, dict) else None
            if isinstance(data, str):
                data = json.loads(data)
            state = _state_of(payload, data) if isinstance(data, dict) else None
        except (ValueError, RecursionError, ProtocolError, web.HTTPException):
            state = None  # not a task we can read: polling finds out
        if state is not None and not self.deliver(token, state):
            return web.Response(status=404)
        return web.Response(text="ok")


def _state_of(payload: dict[str, Any], data: dict[str, Any]) -> TaskState | None:
    """A webhook's task: a v2 task object, or (a task started by the legacy calls) the
    ``/task/openapi/outputs`` envelope, whose task id is the event's."""
    if "code" not in data or "taskId" in data:
        return parse_task(data)
    task_id = task_id_of(payload)
    if task_id is None:
        return None
    code = str(data.get("code"))
    if code == "0":
        return legacy_outputs(task_id, data.get("data"))
    if code == "805":
        return legacy_failure(task_id, data, code, str(data.get("msg") or ""))
    return None
