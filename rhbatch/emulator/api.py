"""The emulator's HTTP surface: the route table, and the model API's submit, query and preview.

``build_app`` maps every route to its handler: the model API here, the files
in ``files.py``, the account's calls in ``account.py``. Each model-API handler
passes through ``gate.py`` (the early faults, then the Bearer key), does the
work, and lets the late faults spoil its reply. A submit is checked against
the endpoint's schema, our own upload URLs in it and the account's balance
and queue, then made into a task on the board; a query answers with the task
object (``replies.query_body``). The middleware counts the emulator's own
failures in ``INTERNAL_ERRORS``, which the tests assert stays empty.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler

from rhbatch.emulator import account, files, replies
from rhbatch.emulator.config import TEXTS
from rhbatch.emulator.context import STATE
from rhbatch.emulator.gate import admit, after, read_json, rejected
from rhbatch.emulator.outputs import make_text
from rhbatch.emulator.tasks import Output, Task, body_hash
from rhbatch.endpoints.pricing import defaults_of
from rhbatch.models import OUTPUT_EXTENSIONS

if TYPE_CHECKING:
    from rhbatch.emulator.server import Emulator

IMAGE_COUNT_PARAMS = ("n", "numImages", "num_images", "maxImages", "imageCount")


def build_app(emu: Emulator) -> web.Application:
    app = web.Application(client_max_size=1024**3, middlewares=[count_errors])
    app[STATE] = emu
    r = app.router
    r.add_get("/_emulator/stats", stats)
    r.add_post("/openapi/v2/query", query)
    r.add_post("/openapi/v2/media/upload/binary", files.upload)
    r.add_get("/openapi/v2/queue/status", account.queue_status)
    r.add_post("/openapi/v2/price-preview/{endpoint:.+}", price_preview)
    r.add_post("/uc/openapi/accountStatus", account.account_status)
    r.add_post("/task/openapi/cancel", account.cancel)
    r.add_get("/media/input/{name}", files.input_file)
    r.add_get("/outputs/{task}/{name}", files.output_file)
    r.add_post("/openapi/v2/{endpoint:.+}", submit)
    return app


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


async def submit(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    name = request.match_info["endpoint"]
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
    if endpoint is None:
        response = rejected(emu, "1001")
        response.set_status(404)
        return response
    refused = invalid_body(emu, endpoint, body)
    if refused is not None:
        return refused
    assert isinstance(body, dict)
    schema = emu.registry.schema(endpoint)
    missing = emu_missing_media(emu, schema.media, body)
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


def invalid_body(emu: Emulator, endpoint: str, body: Any) -> web.Response | None:
    """The 1007 rejection of a body that is not an object valid for the endpoint, or None."""
    if not isinstance(body, dict):
        return rejected(emu, "1007", "the body must be a JSON object")
    problems = emu.registry.schema(endpoint).check(body)
    if problems:
        return rejected(emu, "1007", "; ".join(f"{f}: {m}" for f, m in problems))
    return None


def emu_missing_media(emu: Emulator, media: dict[str, Any], body: dict[str, Any]) -> str | None:
    """Our own upload URLs named in a body must exist and be unexpired."""
    if not emu.config.check_media_urls:
        return None
    prefix = f"{emu.base_url}/media/input/"
    for name in media:
        value = body.get(name)
        for url in value if isinstance(value, list) else [value]:
            if isinstance(url, str) and url.startswith(prefix):
                file = url[len(prefix) :].split("?")[0]
                upload = emu.uploads.get(file)
                if upload is None or upload.expires < emu.now():
                    return f"{name}: {url} is not a live upload"
    return None


def outputs_for(emu: Emulator, task: Task, digest: str) -> list[Output]:
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
    refused, api_key = await admit(emu, request, "query", key)
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
