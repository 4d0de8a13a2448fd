"""Starting workflows and AI apps: the legacy calls and the v2 runs, one way through.

``POST /task/openapi/create`` (a workflow), ``/task/openapi/ai-app/run`` and
``/task/openapi/quick-ai-app/run`` (an app) answer in the ``{code, msg, data}``
envelope and take the key in the body (``apiKey``) or the Bearer header;
``POST /openapi/v2/run/workflow/{id}`` and ``/openapi/v2/run/ai-app/{id}`` take the
Bearer key and answer the v2 task object. Each start is checked in the same
order: the key, the workflow or app (unknown: 380 / 901; never run: 810 / 803),
the ``instanceType``, then the nodeInfoList (``fields.check``): an unknown node
or field refuses the start (803); a value that does not fit makes a task that has
already FAILED, its ComfyUI validation errors in ``promptTips``, never charged.
Otherwise the task goes on the board like a model task: billed on its run time at
the instance's price, refused when the balance or the queue cannot take it, met
by the same faults.
"""

from __future__ import annotations

import json
import math
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rhbatch.emulator import replies
from rhbatch.emulator.catalog import (
    OutputSpec,
    field_of,
    graph_outputs,
    graph_problem,
    image_count,
)
from rhbatch.emulator.config import TEXTS
from rhbatch.emulator.context import STATE
from rhbatch.emulator.fields import Field, applied, check, prompt_tips
from rhbatch.emulator.gate import after, bearer, before, known, read_json
from rhbatch.emulator.refs import node_media_ok
from rhbatch.emulator.tasks import Output, Task, body_hash
from rhbatch.models import OUTPUT_EXTENSIONS

if TYPE_CHECKING:
    from collections.abc import Callable

    from rhbatch.emulator.context import Context

VALIDATION = "433"  # VALIDATE_PROMPT_FAILED: the code of a task whose values do not fit
# The output type that names a task's timing, the first present in this order.
MAIN_TYPES = ("video", "3d", "audio", "image", "string")


async def legacy_create(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    target = body.get("workflowId") if isinstance(body, dict) else None
    return await start(request, "legacy", "workflow", target, body)


async def legacy_app(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    target = body.get("webappId") if isinstance(body, dict) else None
    return await start(request, "legacy", "app", target, body)


async def legacy_quick_app(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    target = body.get("webappId") if isinstance(body, dict) else None
    code = body.get("quickCreateCode") if isinstance(body, dict) else None
    # Quick create needs its code: without one the request is refused as malformed.
    whole = isinstance(code, str) and bool(code)
    return await start(request, "legacy", "app", target, body, whole=whole)


async def v2_workflow(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    return await start(request, "v2", "workflow", request.match_info["id"], body or {})


async def v2_app(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    return await start(request, "v2", "app", request.match_info["id"], body or {})


class Refusal(Exception):
    """A start refused with ``code`` (and a detail for the v2 errorMessage)."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


async def start(
    request: web.Request, api: str, origin: str, target: Any, raw: Any, *, whole: bool = True
) -> web.StreamResponse:
    emu = request.app[STATE]
    body = dict(raw) if isinstance(raw, dict) else {}
    webhook = body.pop("webhookUrl", None)
    body_key = body.pop("apiKey", None)
    name = f"{origin}/{target}"
    digest = body_hash(name, body)
    key = f"{digest}#{emu.next_attempt('submit:' + digest)}"
    early = await before(emu, request, "submit", key)
    if early is not None:
        return early
    api_key = body_key if api == "legacy" and isinstance(body_key, str) and body_key else None
    api_key = api_key or bearer(request)
    try:
        if api_key is None or not known(emu, api_key):
            raise Refusal("802" if api == "legacy" else "1002")
        if (
            not whole
            or not isinstance(raw, dict)
            or not isinstance(target, (str, int))
            or target == ""
        ):
            raise Refusal("301" if api == "legacy" else "1007", "a JSON object naming its target")
        task, tips = make_task(emu, api, origin, str(target), body, digest, key, api_key)
    except Refusal as no:
        if api == "legacy":
            return replies.envelope(int(no.code), TEXTS.get(no.code, "ERROR"))
        return replies.v2_error(emu.config, no.code, no.detail)
    task.webhook_url = webhook if isinstance(webhook, str) and webhook else None
    if task.fail_code == VALIDATION:
        emu.record_failed(task)
    else:
        emu.accept(task)
    return await after(emu, request, "submit", key, started(emu, task, api, tips))


def make_task(
    emu: Context,
    api: str,
    origin: str,
    target: str,
    body: dict[str, Any],
    digest: str,
    key: str,
    api_key: str,
) -> tuple[Task, str]:
    """The task a start makes (already FAILED if a value does not fit), and its promptTips."""
    graph: dict[str, Any] | None = None
    explicit: tuple[OutputSpec, ...] | None
    find: Callable[[str, str], Field | str]
    refused = emu.catalog.refusal(origin, target)
    if refused is not None:
        raise Refusal(*refused)
    if origin == "workflow":
        workflow = emu.catalog.workflows[target]
        graph, explicit = workflow.graph, workflow.outputs
        if api == "legacy" and body.get("workflow") is not None:
            graph, explicit = override(body["workflow"]), None
        find = _finder(graph)
    else:
        app = emu.catalog.apps[target]
        find, explicit = app.find, app.outputs
    instance = body.get("instanceType") or "default"
    if not isinstance(instance, str) or instance not in emu.config.run_prices:
        raise Refusal("301" if api == "legacy" else "1007", f"instanceType {instance!r}")
    assert explicit is not None or graph is not None
    nodes = [spec.node_id for spec in (explicit or graph_outputs(graph or {}))]
    checked = check(body.get("nodeInfoList"), find, lambda v: node_media_ok(emu, v), nodes)
    if checked.refused is not None:
        raise Refusal("803", checked.refused)
    outputs = outputs_of(digest, explicit, applied(graph, checked.values) if graph else None)
    kind = next(t for t in MAIN_TYPES if any(o.output_type == t for o in outputs))
    task = Task(
        id=emu.board.new_id(),
        api_key=api_key,
        endpoint=f"{origin}/{target}",
        output_type=kind,
        body=body,
        body_hash=digest,
        submitted=emu.now(),
        duration=0.0,
        price=0.0,
        client_id=secrets.token_hex(16),
        outputs=outputs,
        origin=origin,
        api=api,
        dice=key,
    )
    tips = prompt_tips(nodes, checked.node_errors)
    if checked.node_errors:
        task.fail_code, task.failed_reason = VALIDATION, validation_reason(checked.node_errors)
        return task, tips
    task.duration = emu.duration_for(task.endpoint, kind, key)
    task.cost_seconds = max(1, round(task.duration * emu.config.speed))
    task.price = round(emu.config.run_prices[instance] * task.cost_seconds, 4)
    refuse_if_full(emu, api, api_key, task.price)
    failed = emu.faults.hit("task_failed", "submit", key)
    if failed is not None:
        task.fail_code = emu.faults.pick("task_failed", key, failed.codes or ("1015",))
    elif emu.faults.hit("stuck", "submit", key):
        task.duration = math.inf
    if origin == "app":
        emu.app_runs[target] += 1
    return task, tips


def _finder(graph: dict[str, Any]) -> Callable[[str, str], Field | str]:
    return lambda node_id, name: field_of(graph, node_id, name)


def override(text: Any) -> dict[str, Any]:
    """The ``workflow`` of a legacy create: API-format JSON text that replaces the saved graph."""
    try:
        graph = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        graph = None
    problem = graph_problem(graph)
    if problem is not None:
        raise Refusal("301", f"workflow: {problem}")
    assert isinstance(graph, dict)
    return graph


def outputs_of(
    digest: str, explicit: tuple[OutputSpec, ...] | None, graph: dict[str, Any] | None
) -> list[Output]:
    """The result files: each output node's, as many images as its batch makes."""
    specs = explicit if explicit is not None else graph_outputs(graph or {})
    out = []
    for spec in specs:
        count = spec.count
        if explicit is None and graph is not None and spec.output_type == "image":
            count = image_count(graph, spec.node_id)
        ext = OUTPUT_EXTENSIONS[spec.output_type]
        for n in range(1, count + 1):
            out.append(
                Output(ext, f"{digest}:{spec.node_id}:{n}", spec.output_type, None, spec.node_id)
            )
    return out


def validation_reason(node_errors: dict[str, Any]) -> dict[str, Any]:
    """``failedReason`` of a task refused by validation: its first node error."""
    node_id, entry = next(iter(node_errors.items()))
    error = entry["errors"][0]
    return {
        "current_outputs": "",
        "exception_type": error["type"],
        "node_name": entry["class_type"],
        "current_inputs": "",
        "traceback": "",
        "node_id": node_id,
        "exception_message": f"{error['message']}: {error['details']}",
    }


def refuse_if_full(emu: Context, api: str, api_key: str, price: float) -> None:
    """The balance must cover the price, and a full account's queue must have room."""
    state = emu.board.accounts[api_key]
    emu.board.advance(emu.now())
    if state.available < price - 1e-9:
        raise Refusal(emu.config.funds_code)
    full = state.running >= state.account.concurrency
    if full and state.queued >= state.account.queue_limit:
        raise Refusal("421" if api == "legacy" else emu.config.queue_full_code)


def started(emu: Context, task: Task, api: str, tips: str) -> web.Response:
    """The answer to a start: the legacy envelope, or the v2 task object."""
    if api == "legacy":
        status = "FAILED" if task.fail_code == VALIDATION else task.status
        if status != "QUEUED":
            status = replies.visible_status(emu, task)
            status = "RUNNING" if status == "SUCCESS" else status
        wss = emu.base_url.replace("http", "ws", 1) + f"/ws?clientId={task.client_id}"
        data = {
            "netWssUrl": None if status in ("QUEUED", "CREATE", "FAILED") else wss,
            "taskId": task.id,
            "clientId": task.client_id,
            "taskStatus": status,
            "promptTips": tips,
        }
        return replies.envelope(0, "success", data)
    if task.fail_code == VALIDATION or (
        emu.config.instant_reply and task.duration == 0 and task.status == "RUNNING"
    ):
        emu.board.advance(emu.now())
        return replies.json_response(replies.query_body(emu, task) | {"promptTips": tips})
    status = emu.config.submit_status if task.status == "RUNNING" else task.status
    body = replies.task_object(task.id, status, clientId=task.client_id, promptTips=tips)
    return replies.json_response(body)
