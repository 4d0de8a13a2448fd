"""The account's calls: queue status, the key list, account status, and the cancel.

These answer in the ``{code, msg, data}`` envelope and take the key their own
way: Bearer for the queue status and the key list, ``apikey`` in the body (or
Bearer) for the account status, ``apiKey`` in the body or Bearer for the cancel,
which cancels any task (model, workflow or app). An unknown key is ``802``; a
task that is not the key's is ``807``. The key list shows the key masked.
"""

from __future__ import annotations

from aiohttp import web

from rhbatch.emulator import replies
from rhbatch.emulator.context import STATE
from rhbatch.emulator.gate import after, bearer, before, read_json


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


async def api_keys(request: web.Request) -> web.StreamResponse:
    """``GET /openapi/v2/api-key/list``: the account's keys (here: the one asking), masked."""
    emu = request.app[STATE]
    key = f"keys#{emu.next_attempt('keys')}"
    early = await before(emu, request, "other", key)
    if early is not None:
        return early
    api_key = bearer(request)
    if api_key is None or api_key not in emu.board.accounts:
        return replies.envelope(802, "APIKEY_UNAUTHORIZED")
    emu.board.advance(emu.now())
    state = emu.board.accounts[api_key]
    data = [
        {
            "key": replies.mask_key(api_key),
            "apiKeyName": "rhbatch emulator",
            "status": 1,
            "quotaLimit": None,
            "quotaUsed": round(state.account.balance - state.balance, 4),
            "visible": True,
            "expireAt": None,
            "expireInMinute": None,
            "createdAt": emu.started_at,
        }
    ]
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
    emu.cancel(task)
    return await after(emu, request, "other", key, replies.envelope(0, "success"))
