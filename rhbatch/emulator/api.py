"""The emulator's HTTP surface: the route table, and the model API's submit, query and preview.

``build_app`` maps every route to its handler: the model API here, the files
in ``files.py``, the account's calls in ``account.py``, workflow and app starts
in ``runs.py``, the legacy task calls in ``legacy.py``, what apps show in
``apps.py``, webhooks in ``hooks.py``, assets and resources in ``assets.py``. A
path that is none of these is 404, except a POST to ``/openapi/v2/<a>[/<b>...]``
shaped like a model endpoint (segments of letters, digits, ``.``, ``_``, ``-``;
the first not one of the v2 families' own), which is a model call: an endpoint
that does not exist is refused with 1001 as ``reject_style`` says. Each model-API handler
passes through ``gate.py`` (the early faults, then the Bearer key), does the
work, and lets the late faults spoil its reply. A submit is checked against
the endpoint's schema, our own upload URLs in it and the account's balance
and queue, then made into a task on the board; a query answers with the task
object (``replies.query_body``). The middleware counts the emulator's own
failures in ``INTERNAL_ERRORS``, which the tests assert stays empty.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from rhbatch.emulator import account, apps, assets, files, hooks, legacy, replies, runs
from rhbatch.emulator.config import TEXTS
from rhbatch.emulator.context import STATE, Context
from rhbatch.emulator.gate import admit, after, read_json, rejected
from rhbatch.emulator.outputs import make_text
from rhbatch.emulator.refs import model_media_problem
from rhbatch.emulator.tasks import Output, Task, body_hash
from rhbatch.endpoints.pricing import defaults_of
from rhbatch.models import OUTPUT_EXTENSIONS

IMAGE_COUNT_PARAMS = ("n", "numImages", "num_images", "maxImages", "imageCount")


def build_app(emu: Context) -> web.Application:
    app = web.Application(client_max_size=1024**3, middlewares=[count_errors])
    app[STATE] = emu
    r = app.router
    r.add_get("/_emulator/stats", stats)
    # The v2 API (Bearer).
    r.add_post("/openapi/v2/query", query)
    r.add_post("/openapi/v2/media/upload/binary", files.upload)
    r.add_get("/openapi/v2/queue/status", account.queue_status)
    r.add_get("/openapi/v2/api-key/list", account.api_keys)
    r.add_post("/openapi/v2/price-preview/{endpoint:.+}", price_preview)
    r.add_post("/openapi/v2/run/workflow/{id}", runs.v2_workflow)
    r.add_post("/openapi/v2/run/ai-app/{id}", runs.v2_app)
    r.add_post("/openapi/v2/aiapp/list", apps.app_list)
    r.add_post("/openapi/v2/resource/list", assets.handler(assets.resources))
    for action, fn in (
        ("create", assets.create),
        ("query", assets.query),
        ("list", assets.listing),
        ("update", assets.update),
        ("delete", assets.delete),
    ):
        r.add_post(f"/openapi/v2/assets/{action}", assets.handler(fn))
    # The legacy API (apiKey in the body, or Bearer).
    r.add_post("/uc/openapi/accountStatus", account.account_status)
    r.add_post("/task/openapi/create", runs.legacy_create)
    r.add_post("/task/openapi/ai-app/run", runs.legacy_app)
    r.add_post("/task/openapi/quick-ai-app/run", runs.legacy_quick_app)
    r.add_post("/task/openapi/status", legacy.status)
    r.add_post("/task/openapi/outputs", legacy.outputs)
    r.add_post("/task/openapi/cancel", account.cancel)
    r.add_post("/task/openapi/upload", legacy.upload)
    r.add_post("/task/openapi/getWebhookDetail", hooks.get_detail)
    r.add_post("/task/openapi/retryWebhook", hooks.retry)
    r.add_post("/api/openapi/getLoraUploadUrl", legacy.lora_url)
    r.add_post("/api/openapi/getJsonApiFormat", legacy.workflow_json)
    r.add_get("/api/webapp/apiCallDemo", apps.api_call_demo)
    # What the emulator serves in place of RunningHub's storage.
    r.add_put("/api-lora-cn/{name}", legacy.lora_put)
    r.add_get("/media/input/{name}", files.input_file)
    r.add_get("/outputs/{task}/{name}", files.output_file)
    r.add_get("/covers/{name}", apps.cover)
    # Every other /openapi/v2/... path: a model endpoint, one that does not exist, or no API.
    r.add_route("*", "/openapi/v2/{endpoint:.+}", model_call)
    return app


# The first path segments under /openapi/v2/ that are not model endpoints: a path that
# starts with one and is not routed above is no API at all (404).
RESERVED = frozenset(
    {"query", "media", "queue", "api-key", "price-preview", "run", "aiapp", "resource", "assets"}
)
# What a model endpoint's path looks like: 1 to 5 segments of letters, digits, . _ -
MODEL_PATH = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*){0,4}")


def is_model_path(name: str) -> bool:
    return MODEL_PATH.fullmatch(name) is not None and name.split("/")[0] not in RESERVED


# The emulator's own failures (not injected faults) in this process; tests assert it stays empty.
INTERNAL_ERRORS: list[str] = []


@web.middleware
async def count_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ConnectionError:
        # The client hung up while a reply was on its way (a killed process, a reply it
        # stopped waiting for): no fault of the emulator's; aiohttp lets it go quietly.
        request.app[STATE].requests["hangup"] += 1
        raise
    except Exception as exc:
        request.app[STATE].requests["internal_error"] += 1
        INTERNAL_ERRORS.append(f"{request.method} {request.path}: {exc!r}")
        raise


async def model_call(request: web.Request) -> web.StreamResponse:
    """A POST to a model endpoint's path; anything else under /openapi/v2/ is 404 (405 for
    another method on an endpoint that exists)."""
    name = request.match_info["endpoint"]
    if not is_model_path(name):
        raise web.HTTPNotFound()
    if request.method != "POST":
        if name in request.app[STATE].registry.endpoints:
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        raise web.HTTPNotFound()
    return await submit(request, name)


async def submit(request: web.Request, name: str) -> web.StreamResponse:
    emu = request.app[STATE]
    body = await read_json(request)
    # The webhook URL says where to report, not what to make: the same request with
    # another URL is the same task (and paying for both is paying twice).
    webhook = body.pop("webhookUrl", None) if isinstance(body, dict) else None
    digest = body_hash(name, body if isinstance(body, dict) else {"_": str(body)})
    key = f"{digest}#{emu.next_attempt('submit:' + digest)}"
    refused, api_key = await admit(emu, request, "submit", key)
    if refused is not None:
        return refused
    endpoint = name if name in emu.registry.endpoints else None
    if endpoint is None:  # a model endpoint that does not exist: reject_style decides
        return rejected(emu, "1001", f"no model endpoint {name}")
    refused = invalid_body(emu, endpoint, body)
    if refused is not None:
        return refused
    assert isinstance(body, dict)
    schema = emu.registry.schema(endpoint)
    missing = model_media_problem(emu, api_key, schema.media, body)
    if missing:
        return rejected(emu, "1013", missing)
    listed = emu.prices.price(endpoint, body, defaults_of(schema)).amount or 0.0
    price = round(listed * emu.config.factor(emu.config.billing_factor, endpoint), 4)
    state = emu.board.accounts[api_key]
    emu.board.advance(emu.now())
    if state.available < price - 1e-9:  # money in floats: forgive rounding dust
        return rejected(emu, emu.config.funds_code)
    full = state.running >= state.account.concurrency
    if full and state.queued >= state.account.queue_limit:
        return rejected(emu, emu.config.queue_full_code)
    info = emu.registry.endpoints[endpoint]
    task = Task(
        id=emu.board.new_id(),
        api_key=api_key,
        endpoint=endpoint,
        output_type=info.output_type,
        body=body,
        body_hash=digest,
        submitted=emu.now(),
        duration=emu.duration_for(endpoint, info.output_type, key),
        price=price,
        webhook_url=webhook if isinstance(webhook, str) else None,
        client_id=secrets.token_hex(16),
        dice=key,
    )
    failed = emu.faults.hit("task_failed", "submit", key)
    if failed is not None:
        task.fail_code = emu.faults.pick("task_failed", key, failed.codes or ("1015",))
    elif emu.faults.hit("stuck", "submit", key):
        task.duration = float("inf")
    task.outputs = outputs_for(emu, task, digest)
    emu.accept(task)
    if emu.config.instant_reply and task.duration == 0 and task.status == "RUNNING":
        emu.board.advance(emu.now())  # it ended the moment it started: say so now (§3)
        reply = replies.query_body(emu, task) | {"promptTips": replies.PROMPT_TIPS}
    else:
        status = emu.config.submit_status if task.status == "RUNNING" else task.status
        reply = replies.task_object(
            task.id, status, clientId=task.client_id, promptTips=replies.PROMPT_TIPS
        )
    return await after(emu, request, "submit", key, replies.json_response(reply))


def invalid_body(emu: Context, endpoint: str, body: Any) -> web.Response | None:
    """The 1007 rejection of a body that is not an object valid for the endpoint, or None."""
    if not isinstance(body, dict):
        return rejected(emu, "1007", "the body must be a JSON object")
    problems = emu.registry.schema(endpoint).check(body)
    if problems:
        return rejected(emu, "1007", "; ".join(f"{f}: {m}" for f, m in problems))
    return None


def outputs_for(emu: Context, task: Task, digest: str) -> list[Output]:
    kind = task.output_type
    ext = OUTPUT_EXTENSIONS.get(kind, "bin")
    if kind == "string":
        text = make_text(f"{digest}:1", str(task.body.get("prompt") or task.body.get("text") or ""))
        return [Output("txt", f"{digest}:1", kind, text)]
    count = 1
    if kind == "image":
        for name in IMAGE_COUNT_PARAMS:
            try:
                count = max(1, min(8, int(task.body[name])))
                break
            except (KeyError, TypeError, ValueError):
                continue
    outs = [Output(ext, f"{digest}:{i + 1}", kind) for i in range(count)]
    if kind == "video" and task.body.get("returnLastFrame") is True:
        outs.append(Output("png", f"{digest}:last", "image"))
    return outs


async def query(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    body = await read_json(request)
    task_id = ""
    if isinstance(body, dict):
        task_id = str(body.get("taskId") or body.get("task_id") or "")
    key = f"{task_id}#{emu.next_attempt('query:' + task_id)}"
    refused, api_key = await admit(emu, request, "query", key, model=False)
    if refused is not None:
        return refused
    task = emu.board.tasks.get(task_id)
    if task is None or task.api_key != api_key:
        if emu.config.not_found_style == "envelope":
            return replies.envelope(1004, TEXTS["1004"])
        return replies.json_response(
            replies.task_object(task_id, "FAILED", errorCode="1004", errorMessage=TEXTS["1004"])
        )
    emu.board.advance(emu.now())
    task.polls += 1
    reply = replies.json_response(replies.query_body(emu, task))
    return await after(emu, request, "query", key, reply)


async def price_preview(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    key = f"preview#{emu.next_attempt('preview')}"
    refused, _ = await admit(emu, request, "other", key)
    if refused is not None:
        return refused
    endpoint = emu.registry.lookup(request.match_info["endpoint"])
    body = await read_json(request)
    if endpoint is None:
        return rejected(emu, "1001")
    if isinstance(body, dict):
        body.pop("webhookUrl", None)
    refused = invalid_body(emu, endpoint, body)
    if refused is not None:
        return refused
    assert isinstance(body, dict)
    schema = emu.registry.schema(endpoint)
    price = emu.prices.price(endpoint, body, defaults_of(schema))
    factor = emu.config.factor(emu.config.preview_factor, endpoint)
    amount = round((price.amount or 0.0) * factor, 4)
    reply = {
        "errorCode": "",
        "errorMessage": "",
        "estimatedPrice": amount,
        "currency": price.currency,
        "priceText": f"¥{amount:.2f}",
        "priceTextEn": f"{amount:.2f} {price.currency}",
        "freeLimit": False,
        "freeLimitCount": "0",
        "remainingFreeLimitCount": "0",
        "isFreeThisCall": False,
    }
    return await after(emu, request, "other", key, replies.json_response(reply))


async def stats(request: web.Request) -> web.Response:
    emu = request.app[STATE]
    return replies.json_response(emu.stats(tasks=request.query.get("tasks") == "1"))
