"""The shapes of RunningHub's answers, and the ways a reply can go wrong.

Three envelope families (as RunningHub's documentation shows them): the v2 task
object (model submits, v2 runs, query), ``{code, msg, data}`` (legacy and account calls) and
``{code, message, data}`` (v2 upload). ``query_body`` is a task as a query or
a v2 webhook shows it, with its results and usage; ``legacy_outputs`` is the
same task as ``/task/openapi/outputs`` (and a legacy webhook) shows it. Rejections take the
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
    from rhbatch.emulator.context import Context

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


def query_body(emu: Context, task: Task) -> dict[str, Any]:
    """The v2 task object for a query (or a webhook) in the task's current state.

    Every documented field is there whatever the state (§4.1): ``usage`` with null
    values until the task ends, ``failedReason`` ``{}`` unless it failed,
    ``parentTaskId`` and ``taskUsageList``. A cancelled task carries no error.
    """
    fields: dict[str, Any] = {"clientId": task.client_id}
    spent: dict[str, str | None] = dict.fromkeys(USAGE_KEYS)
    failed_reason: dict[str, Any] = {}
    if task.status == "SUCCESS":
        fields["results"] = results(emu, task)
        spent = usage(emu, task, task.price)
    elif task.status == "FAILED":
        code = task.fail_code or ""
        fields.update(errorCode=code, errorMessage=TEXTS.get(code, ""))
        if task.failed_reason is not None:
            failed_reason = task.failed_reason
        elif code:
            failed_reason = {"exception_message": TEXTS.get(code, "")}
        spent = usage(emu, task, 0.0)
    elif task.status == "CANCEL":
        spent = usage(emu, task, 0.0)
    status = visible_status(emu, task)
    fields.update(
        failedReason=failed_reason,
        usage=spent,
        parentTaskId=None,
        taskUsageList=[
            {"taskId": task.id, "parentTaskId": None, "taskStatus": status, "usage": spent}
        ],
    )
    return task_object(task.id, status, **fields)


def visible_status(emu: Context, task: Task) -> str:
    """The task's status as the v2 API shows it: CREATE while it is young."""
    young = emu.now() - task.submitted < emu.config.scaled(emu.config.create_seconds)
    if young and task.status in ("QUEUED", "RUNNING"):
        return "CREATE"
    return task.status


def results(emu: Context, task: Task) -> list[dict[str, Any]]:
    """A succeeded task's ``results``: URL, extension, text (and the node, for ComfyUI tasks)."""
    ttl_end = (task.ended or 0) + emu.config.scaled(emu.config.result_ttl)
    out: list[dict[str, Any]] = []
    for n, item in enumerate(task.outputs, start=1):
        url = f"{emu.base_url}/outputs/{task.id}/{n}.{item.ext}?Expires={emu.wall(ttl_end)}"
        if item.text is not None:
            entry = {
                "url": url if emu.config.text_result_url else None,
                "outputType": "txt",
                "text": item.text,
            }
        else:
            entry = {"url": url, "outputType": item.ext, "text": None}
        if item.node_id is not None:
            entry["nodeId"] = item.node_id
        out.append(entry)
    return out


USAGE_KEYS = ("consumeMoney", "consumeCoins", "taskCostTime", "thirdPartyConsumeMoney")


def usage(emu: Context, task: Task, money: float) -> dict[str, str | None]:
    """What a task cost, as RunningHub reports it: all strings, the time in real seconds.
    A model task's price is a third party's fee; a workflow or app task pays for its
    run time from the wallet (``consumeMoney``)."""
    if task.origin != "model" and task.status == "SUCCESS":
        seconds = task.cost_seconds
    else:
        ran = (task.ended or 0) - (task.started or task.ended or 0)
        seconds = round(ran * emu.config.speed)
    text = f"{money:.4f}".rstrip("0").rstrip(".")
    model = task.origin == "model"
    return {
        "consumeMoney": "0" if model else text,
        "consumeCoins": "0",
        "taskCostTime": str(seconds),
        "thirdPartyConsumeMoney": text if model else "0",
    }


def legacy_status(emu: Context, task: Task) -> str:
    """The task's status as ``/task/openapi/status`` shows it: the documented four only."""
    status = visible_status(emu, task)
    return {"CREATE": "QUEUED", "CANCEL": "FAILED"}.get(status, status)


def legacy_outputs(emu: Context, task: Task) -> dict[str, Any]:
    """The ``/task/openapi/outputs`` envelope for a task, which a legacy webhook also sends."""
    status = visible_status(emu, task)
    if status == "SUCCESS":
        spent = usage(emu, task, task.price)
        data = [
            {
                "fileUrl": item["url"],
                "fileType": item["outputType"],
                "taskCostTime": spent["taskCostTime"],
                "nodeId": item.get("nodeId", ""),
                "thirdPartyConsumeMoney": spent["thirdPartyConsumeMoney"],
                "consumeMoney": spent["consumeMoney"],
                "consumeCoins": spent["consumeCoins"],
            }
            for item in results(emu, task)
        ]
        return {"code": 0, "msg": "success", "data": data}
    if status in ("FAILED", "CANCEL"):
        return {"code": 805, "msg": TEXTS["805"], "data": {"failedReason": failed_reason(task)}}
    if status == "RUNNING":
        return {"code": 804, "msg": TEXTS["804"], "data": None}
    return {"code": 813, "msg": TEXTS["813"], "data": None}


def failed_reason(task: Task) -> dict[str, Any]:
    """ComfyUI's account of a failure (``failedReason``), for the legacy outputs call."""
    if task.failed_reason is not None:
        return task.failed_reason
    node = task.outputs[0].node_id if task.outputs and task.outputs[0].node_id else ""
    if task.status == "CANCEL":
        message, kind = "Task cancelled", "InterruptProcessingException"
    else:
        message, kind = TEXTS.get(task.fail_code or "", "Task failed"), "RuntimeError"
    return {
        "current_outputs": "",
        "exception_type": kind,
        "node_name": "",
        "current_inputs": "",
        "traceback": f"{kind}: {message}",
        "node_id": node,
        "exception_message": message,
    }


def mask_key(key: str) -> str:
    """An API key as a reply may show it: its first and last four characters."""
    return key[:4] + "*" * max(0, len(key) - 8) + key[-4:] if len(key) > 8 else "****"


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
