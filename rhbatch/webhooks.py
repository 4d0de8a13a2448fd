"""A small receiver for RunningHub's webhooks, so completions arrive without polling.

RunningHub posts ``{event: "TASK_END", taskId, eventData}`` to the ``webhookUrl``
a task was submitted with (runninghub-api.md §9; for the model API this is not
documented, so polling stays on as the safety net). ``eventData`` is the task
object as JSON text (or an object); a final state in it is handed to the
watcher, which wakes the job without a query. The URL carries a random token
per run: a post without it is refused, one for an unknown task is acknowledged
and ignored. Replies are immediate, as the docs ask.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from rhbatch.client import TaskState, parse_task
from rhbatch.errors import ProtocolError, UsageError

PATH = "/rhbatch/webhook/"


class Receiver:
    def __init__(
        self, listen: str, public_url: str | None, deliver: Callable[[TaskState], bool]
    ) -> None:
        host, _, port = listen.rpartition(":")
        if not port.isdigit():
            raise UsageError(f"--webhook-listen wants HOST:PORT or PORT, not {listen!r}")
        self.host = host or "127.0.0.1"
        self.port = int(port)
        self.public_url = public_url.rstrip("/") if public_url else None
        self.token = secrets.token_urlsafe(18)
        self.deliver = deliver
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where RunningHub should post: the public URL (or the listening address) + token."""
        base = self.public_url or f"http://{self.host}:{self.port}"
        return f"{base}{PATH}{self.token}"

    async def start(self) -> None:
        app = web.Application()
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
        if not secrets.compare_digest(request.match_info["token"], self.token):
            return web.Response(status=404)
        try:
            payload: Any = json.loads(await request.read())
            data = payload.get("eventData") if isinstance(payload, dict) else None
            if isinstance(data, str):
                data = json.loads(data)
            if isinstance(data, dict):
                state = parse_task(data)
                if state.status.terminal:
                    self.deliver(state)
        except (ValueError, ProtocolError):
            pass  # not a v2 task object (a legacy outputs event): polling will find out
        return web.Response(text="ok")
