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
from rhbatch.emulator.gate import Call, Refused, bearer_key, body_or_bearer, enveloped, per_task
from rhbatch.emulator.tasks import AccountState


def _account(call: Call) -> AccountState:
    """The asking key's account, its slots and queue brought up to now."""
    call.emu.board.advance(call.emu.now())
    return call.emu.board.accounts[call.api_key]


@enveloped("queue", who=bearer_key)
def queue_status(call: Call) -> web.Response:
    state = _account(call)
    data = {
        "apiKeyType": state.account.tier,
        "concurrentLimit": state.account.concurrency,
        "runningCount": str(state.running),
        "queuedCount": str(state.queued),
        "totalCurrentTasks": str(state.running + state.queued),
    }
    return replies.envelope(0, "success", data)


@enveloped("keys", who=bearer_key)
def api_keys(call: Call) -> web.Response:
    """``GET /openapi/v2/api-key/list``: the account's keys (here: the one asking), masked."""
    state = _account(call)
    data = [
        {
            "key": replies.mask_key(call.api_key),
            "apiKeyName": "rhbatch emulator",
            "status": 1,
            "quotaLimit": None,
            "quotaUsed": round(state.account.balance - state.balance, 4),
            "visible": True,
            "expireAt": None,
            "expireInMinute": None,
            "createdAt": call.emu.started_at,
        }
    ]
    return replies.envelope(0, "success", data)


@enveloped("account", who=body_or_bearer("apikey"))
def account_status(call: Call) -> web.Response:
    state = _account(call)
    data = {
        "remainCoins": "0",
        "currentTaskCounts": str(state.running + state.queued),
        "remainMoney": f"{state.balance:.2f}",
        "currency": "CNY",
        "apiType": state.account.tier,
    }
    return replies.envelope(0, "success", data)


@enveloped(per_task("cancel"), who=body_or_bearer("apiKey"))
def cancel(call: Call) -> web.Response:
    task = call.emu.board.tasks.get(call.task_id)
    if task is None or task.api_key != call.api_key:
        raise Refused("807")
    call.emu.cancel(task)
    return replies.envelope(0, "success")
