"""Webhooks (RunningHub's *Task Query & webhook* pages): TASK_END deliveries, their
records, detail and retry.

When a task with a ``webhookUrl`` ends, the emulator POSTs ``{event: "TASK_END",
taskId, eventData}`` to it. ``eventData`` follows how the task was started: the
v2 task object for a v2 start (JSON text, or an object with ``webhook_event_data:
object``), the JSON text of the ``/task/openapi/outputs`` envelope for a legacy
start. A receiver that fails (not 2xx, no answer within ``webhook_timeout`` real
seconds) is tried again ``webhook_retries`` times, waiting 1, 2, 4 ... seconds
(scaled). Each task's delivery is kept as a record, which
``/task/openapi/getWebhookDetail`` shows and ``/task/openapi/retryWebhook``
delivers again, to the URL it names.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from rhbatch.emulator import replies
from rhbatch.emulator.context import Context, Hook
from rhbatch.emulator.gate import Call, Refused, enveloped, per_task
from rhbatch.emulator.tasks import Task
from rhbatch.redact import clip

REPLY_BYTES = 4096  # of a receiver's answer kept as callbackResponse


def stamp(wall: float) -> str:
    """Local time without a zone, as RunningHub writes createTime and updateTime."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


def task_ended(emu: Context, task: Task) -> None:
    """Record the webhook of a task that has just ended and start delivering it."""
    assert task.webhook_url is not None
    if task.api == "legacy":
        text = json.dumps(replies.legacy_outputs(emu, task), ensure_ascii=False)
        event: Any = text
    else:
        data = replies.query_body(emu, task)
        text = json.dumps(data, ensure_ascii=False)
        event = text if emu.config.webhook_event_data == "string" else data
    now = time.time()
    hook = Hook(
        id=str(next(emu.hook_ids)),
        api_key=task.api_key,
        task_id=task.id,
        url=task.webhook_url,
        event_data=text,
        payload={"event": "TASK_END", "taskId": task.id, "eventData": event},
        created=now,
        updated=now,
    )
    emu.hooks[task.id] = hook
    emu.hooks_by_id[hook.id] = hook
    emu.spawn(deliver(emu, hook))


async def deliver(emu: Context, hook: Hook) -> None:
    """POST the event until the receiver takes it, or the retries run out."""
    retries = emu.config.webhook_retries
    for attempt in range(retries + 1):
        hook.attempts += 1
        hook.sent_to.append(hook.url)
        emu.webhooks["attempts"] += 1
        try:
            async with emu.session.post(hook.url, json=hook.payload) as resp:
                text = (await resp.content.read(REPLY_BYTES)).decode("utf-8", "replace")
                ok = 200 <= resp.status < 300
                outcome = text if ok else f"HTTP {resp.status}: {text}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            ok, outcome = False, f"{type(exc).__name__}: {exc}"
        hook.response, hook.updated = clip(outcome, 1000), time.time()
        if ok:
            hook.status = "SUCCESS"
            emu.webhooks["delivered"] += 1
            return
        if attempt < retries:
            hook.status = "RETRYING"
            await asyncio.sleep(emu.config.scaled(2.0**attempt))
    hook.status = "FAILED"
    emu.webhooks["failed"] += 1


def detail(hook: Hook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "userApiKey": replies.mask_key(hook.api_key),
        "taskId": hook.task_id,
        "webhookUrl": hook.url,
        "eventData": hook.event_data,
        "callbackStatus": hook.status,
        "callbackResponse": hook.response,
        "retryCount": max(0, hook.attempts - 1),
        "createTime": stamp(hook.created),
        "updateTime": stamp(hook.updated),
    }


@enveloped(per_task("hook"))
def get_detail(call: Call) -> web.Response:
    """``POST /task/openapi/getWebhookDetail {apiKey, taskId}``."""
    task = call.emu.board.tasks.get(call.task_id)
    if task is None or task.api_key != call.api_key:
        raise Refused("807")
    hook = call.emu.hooks.get(call.task_id)
    data = detail(hook) if hook is not None else None
    return replies.envelope(0, "success", data)


@enveloped("rehook")
def retry(call: Call) -> web.Response:
    """``POST /task/openapi/retryWebhook {apiKey, webhookId, webhookUrl}``."""
    emu, body = call.emu, call.body
    if not isinstance(body, dict):  # a JSON list, string or number: not the call's form
        raise Refused("301")
    hook = emu.hooks_by_id.get(str(body.get("webhookId", "")))
    url = body.get("webhookUrl")
    if hook is None or hook.api_key != call.api_key or not isinstance(url, str) or not url:
        raise Refused("301")
    hook.url, hook.status = url, "PENDING"
    emu.spawn(deliver(emu, hook))
    return replies.envelope(0, "")
