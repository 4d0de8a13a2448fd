"""The JSON API: model submits, query, price preview, queue, account and cancel.

Each handler checks the fault dice for its route first (a 429 or 5xx instead
of doing anything), then authenticates the way that endpoint family does
(Bearer on ``/openapi/v2``, ``apikey`` in the body for the account call,
either for the legacy cancel), does the work, and finally lets a late fault
spoil the reply (a delay, a dropped connection, a lost submit response).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from rhbatch.emulator import replies
from rhbatch.emulator.config import TEXTS, Fault
from rhbatch.emulator.outputs import OUTPUT_EXTENSIONS, make_text
from rhbatch.emulator.server import STATE, Emulator, body_hash
from rhbatch.emulator.tasks import Output, Task
from rhbatch.endpoints.pricing import defaults_of

# A submit fault at stage "after": the task is made, then this error is sent.
AFTER_FAULT: web.RequestKey[tuple[str, Fault]] = web.RequestKey("after_fault", tuple)
IMAGE_COUNT_PARAMS = ("n", "numImages", "num_images", "maxImages", "imageCount")


def build_app(emu: Emulator) -> web.Application:
    from rhbatch.emulator import files

    app = web.Application(client_max_size=1024**3, middlewares=[count_errors])
    app[STATE] = emu
    r = app.router
    r.add_get("/_emulator/stats", stats)
    r.add_post("/openapi/v2/query", query)
    r.add_post("/openapi/v2/media/upload/binary", files.upload)
    r.add_get("/openapi/v2/queue/status", queue_status)
    r.add_post("/openapi/v2/price-preview/{endpoint:.+}", price_preview)
    r.add_post("/uc/openapi/accountStatus", account_status)
    r.add_post("/task/openapi/cancel", cancel)
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


def bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


async def before(emu: Emulator, request: web.Request, route: str, key: str) -> web.Response | None:
    """A fault that replaces the reply before anything is done."""
    emu.requests[route] += 1
    for kind in ("http_429", "http_503", "http_500", "http_502"):
        fault = emu.faults.hit(kind, route, key)
        if fault is not None and (
            route != "submit" or fault.stage == "before" or kind == "http_429"
        ):
            return replies.fault_status(kind, fault, emu.config)
        if fault is not None:
            request[AFTER_FAULT] = (kind, fault)
    return None


async def after(
    emu: Emulator, request: web.Request, route: str, key: str, response: web.Response
) -> web.StreamResponse:
    """Faults that spoil a reply after the work is done."""
    late = request.get(AFTER_FAULT)
    if late is not None:
        return replies.fault_status(late[0], late[1], emu.config)
    if route == "submit" and emu.faults.hit("lost_submit", route, key):
        return await replies.lost(request)
    slow = emu.faults.hit("slow", route, key)
    if slow is not None:
        await replies.delay(emu.config, slow)
    if emu.faults.hit("reset", route, key):
        return await replies.cut_short(request, response)
    return response


async def admit(
    emu: Emulator, request: web.Request, route: str, key: str
) -> tuple[web.Response | None, str]:
    """A model-API call's gate: an early fault, else the Bearer key's check. Returns the
    reply that ends the call (or None) and the key."""
    early = await before(emu, request, route, key)
    if early is not None:
        return early, ""
    api_key = bearer(request)
    code = account_of(emu, api_key)
    if code is not None:
        return rejected(emu, code), ""
    assert api_key is not None
    return None, api_key


def rejected(emu: Emulator, code: str, detail: str | None = None) -> web.Response:
    return replies.v2_error(emu.config, code, detail)


def account_of(emu: Emulator, key: str | None) -> str | None:
    """The error code for a key that cannot use the model API, or None if it can."""
    if key is None or key not in emu.board.accounts:
        return "1002"
    if emu.board.accounts[key].account.tier != "SHARED":
        return "1014"
    return None


async def read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


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
    price = emu.prices.price(endpoint, body, defaults_of(schema)).amount or 0.0
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
        reply = query_body(emu, task) | {"promptTips": replies.PROMPT_TIPS}
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
    return replies.task_object(task.id, status, **fields)


def usage(emu: Emulator, task: Task, money: float) -> dict[str, str]:
    ran = (task.ended or 0) - (task.started or task.ended or 0)
    return {
        "consumeMoney": "0",
        "consumeCoins": "0",
        "taskCostTime": str(round(ran * emu.config.speed)),
        "thirdPartyConsumeMoney": f"{money:.4f}".rstrip("0").rstrip("."),
    }


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
    return await after(emu, request, "query", key, replies.json_response(query_body(emu, task)))


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
    amount = price.amount or 0.0
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


async def queue_status(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    key = f"queue#{emu.next_attempt('queue')}"
    early = await before(emu, request, "other", key)
    if early is not None:
        return early
    api_key = bearer(request)
    if api_key is None or api_key not in emu.board.accounts:
        return replies.envelope(802, "APIKEY_UNAUTHORIZED")
    emu.board.advance(emu.now())
    state = emu.board.accounts[api_key]
    data = {
        "apiKeyType": state.account.tier,
        "concurrentLimit": state.account.concurrency,
        "runningCount": str(state.running),
        "queuedCount": str(state.queued),
        "totalCurrentTasks": str(state.running + state.queued),
    }
    return await after(emu, request, "other", key, replies.envelope(0, "success", data))


async def account_status(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    key = f"account#{emu.next_attempt('account')}"
    early = await before(emu, request, "other", key)
    if early is not None:
        return early
    body = await read_json(request)
    api_key = body.get("apikey") if isinstance(body, dict) else None
    api_key = api_key or bearer(request)
    if api_key not in emu.board.accounts:
        return replies.envelope(802, "APIKEY_UNAUTHORIZED")
    emu.board.advance(emu.now())
    state = emu.board.accounts[api_key]
    data = {
        "remainCoins": "0",
        "currentTaskCounts": str(state.running + state.queued),
        "remainMoney": f"{state.balance:.2f}",
        "currency": "CNY",
        "apiType": state.account.tier,
    }
    return await after(emu, request, "other", key, replies.envelope(0, "success", data))


async def cancel(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    body = await read_json(request)
    task_id = str(body.get("taskId", "")) if isinstance(body, dict) else ""
    key = f"cancel:{task_id}#{emu.next_attempt('cancel:' + task_id)}"
    early = await before(emu, request, "other", key)
    if early is not None:
        return early
    api_key = (body.get("apiKey") if isinstance(body, dict) else None) or bearer(request)
    if api_key not in emu.board.accounts:
        return replies.envelope(802, "APIKEY_UNAUTHORIZED")
    task = emu.board.tasks.get(task_id)
    if task is None or task.api_key != api_key:
        return replies.legacy_error("807")
    emu.board.cancel(task, emu.now())
    return await after(emu, request, "other", key, replies.envelope(0, "success"))


async def stats(request: web.Request) -> web.Response:
    emu = request.app[STATE]
    return replies.json_response(emu.stats(tasks=request.query.get("tasks") == "1"))
