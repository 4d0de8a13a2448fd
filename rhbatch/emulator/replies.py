"""The shapes of RunningHub's answers, and the ways a reply can go wrong.

Three envelope families (runninghub-api.md §2): the v2 task object (model
submits, query), ``{code, msg, data}`` (legacy and account calls) and
``{code, message, data}`` (v2 upload). ``query_body`` is a task as a query or
a webhook shows it, with its results and usage. Rejections take the
configured style: HTTP 200 with the error in the body, or an HTTP error status
with the same body. Faults that hit a reply are applied here: an error status,
a delay, a connection dropped half-way through a body, or no reply at all.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rhbatch.emulator.config import HTTP_FOR_CODE, TEXTS, EmulatorConfig, Fault
from rhbatch.emulator.tasks import Task

if TYPE_CHECKING:
    from rhbatch.emulator.server import Emulator

PROMPT_TIPS = json.dumps(
    {"result": True, "error": None, "outputs_to_execute": ["4"], "node_errors": {}}
)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(data, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def task_object(task_id: str, status: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "taskId": task_id,
        "status": status,
        "errorCode": "",
        "errorMessage": "",
        "results": None,
        "clientId": "",
        "promptTips": "",
    }
    out.update(fields)
    return out


def query_body(emu: Emulator, task: Task) -> dict[str, Any]:
    """The v2 task object for a query (or a webhook) in the task's current state."""
    fields: dict[str, Any] = {"clientId": task.client_id}
    if task.status == "SUCCESS":
        ttl_end = (task.ended or 0) + emu.config.scaled(emu.config.result_ttl)
        results = []
        for n, out in enumerate(task.outputs, start=1):
            url = f"{emu.base_url}/outputs/{task.id}/{n}.{out.ext}?Expires={emu.wall(ttl_end)}"
            if out.text is not None:
                results.append(
                    {
                        "url": url if emu.config.text_result_url else None,
                        "outputType": "txt",
                        "text": out.text,
                    }
                )
            else:
                results.append({"url": url, "outputType": out.ext, "text": None})
        fields.update(results=results, failedReason={}, usage=usage(emu, task, task.price))
    elif task.status in ("FAILED", "CANCEL"):
        code = task.fail_code or ""
        fields.update(
            errorCode=code,
            errorMessage=TEXTS.get(code, "Task cancelled" if task.status == "CANCEL" else ""),
            failedReason={"exception_message": TEXTS.get(code, "")} if code else {},
            usage=usage(emu, task, 0.0),
        )
    status = task.status
    young = emu.now() - task.submitted < emu.config.scaled(emu.config.create_seconds)
    if young and status in ("QUEUED", "RUNNING"):
        status = "CREATE"
    return task_object(task.id, status, **fields)


def usage(emu: Emulator, task: Task, money: float) -> dict[str, str]:
    """What a task cost, as RunningHub reports it: all strings, the time in real seconds."""
    ran = (task.ended or 0) - (task.started or task.ended or 0)
    return {
        "consumeMoney": "0",
        "consumeCoins": "0",
        "taskCostTime": str(round(ran * emu.config.speed)),
        "thirdPartyConsumeMoney": f"{money:.4f}".rstrip("0").rstrip("."),
    }


def v2_error(config: EmulatorConfig, code: str, detail: str | None = None) -> web.Response:
    """A rejected v2 call: a task object with no taskId and the error set."""
    message = TEXTS.get(code, "Error")
    if detail:
        message = f"{message}: {detail}"
    body = task_object("", "FAILED", errorCode=code, errorMessage=message)
    body["taskId"] = None
    status = HTTP_FOR_CODE.get(code, 400) if config.reject_style == "http" else 200
    return json_response(body, status)


def envelope(code: int, msg: str, data: Any = None) -> web.Response:
    """The legacy ``{code, msg, data}`` envelope, always HTTP 200."""
    return json_response({"code": code, "msg": msg, "data": data})


def legacy_error(code: str) -> web.Response:
    return envelope(int(code), TEXTS.get(code, "ERROR"))


def upload_envelope(code: int, message: str, data: Any = None) -> web.Response:
    """The v2 upload ``{code, message, data}`` envelope (``message``, not ``msg``)."""
    return json_response({"code": code, "message": message, "data": data})


def fault_status(kind: str, fault: Fault, config: EmulatorConfig) -> web.Response:
    """The reply of an HTTP-level fault: 429 with Retry-After, or a 5xx."""
    if kind == "http_429":
        wait = config.scaled(fault.seconds or 1.0)
        body = {"errorCode": "1003", "errorMessage": TEXTS["1003"], "taskId": None}
        return json_response(body, 429, {"Retry-After": _seconds(wait)})
    status = int(kind.split("_")[1])
    text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    return web.Response(
        status=status,
        text=f"<html><body><h1>{status} {text}</h1></body></html>",
        content_type="text/html",
    )


def _seconds(value: float) -> str:
    """Retry-After in seconds; fractional when the emulator runs faster than real time."""
    return str(int(value)) if value >= 1 and value == int(value) else f"{value:.3f}"


async def cut_short(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send the status, headers and half of the body, then drop the connection."""
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: max(1, len(body) // 2)])
    drop(request)
    return stream


def drop(request: web.Request) -> None:
    """Close the connection without (the rest of) a reply."""
    if request.transport is not None:
        request.transport.abort()


async def lost(request: web.Request) -> web.Response:
    """No reply at all: the client sees the connection close."""
    drop(request)
    return web.Response(status=204)


async def delay(config: EmulatorConfig, fault: Fault) -> None:
    await asyncio.sleep(config.scaled(fault.seconds))
