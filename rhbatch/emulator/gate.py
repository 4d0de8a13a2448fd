"""The way into and out of a call: fault dice, the Bearer check, rejections, request bodies.

Every JSON handler passes through here twice. ``before`` rolls the early
faults for its route (a 429 or a 5xx instead of doing anything, or, for a
submit at stage ``after``, a 5xx noted to be sent once the task is made);
``admit`` adds the Bearer key's check of the v2 API, ``legacy_key`` finds the
key of a legacy call (in the body or the Bearer header). ``after`` lets the
late faults spoil a finished reply: the noted 5xx, a lost submit reply, a
delay, a connection dropped half-way through the body.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rhbatch.emulator import replies
from rhbatch.emulator.config import Fault

if TYPE_CHECKING:
    from rhbatch.emulator.server import Emulator

# A submit fault at stage "after": the task is made, then this error is sent.
AFTER_FAULT: web.RequestKey[tuple[str, Fault]] = web.RequestKey("after_fault", tuple)


def bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth[:7].lower() == "bearer " else None


async def read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


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
    emu: Emulator, request: web.Request, route: str, key: str, *, model: bool = True
) -> tuple[web.Response | None, str]:
    """A v2 call's gate: an early fault, else the Bearer key's check (for the model API,
    its tier's too). Returns the reply that ends the call (or None) and the key."""
    early = await before(emu, request, route, key)
    if early is not None:
        return early, ""
    api_key = bearer(request)
    code = account_of(emu, api_key) if model else (None if known(emu, api_key) else "1002")
    if code is not None:
        return rejected(emu, code), ""
    assert api_key is not None
    return None, api_key


def rejected(emu: Emulator, code: str, detail: str | None = None) -> web.Response:
    return replies.v2_error(emu.config, code, detail)


def known(emu: Emulator, key: str | None) -> bool:
    return key is not None and key in emu.board.accounts


def legacy_key(emu: Emulator, request: web.Request, body: Any) -> str | None:
    """The key of a legacy call: ``apiKey`` in the body, else the Bearer header; None
    unless it is an account's."""
    key = body.get("apiKey") if isinstance(body, dict) else None
    key = key if isinstance(key, str) and key else bearer(request)
    return key if known(emu, key) else None


def account_of(emu: Emulator, key: str | None) -> str | None:
    """The error code for a key that cannot use the model API, or None if it can."""
    if key is None or key not in emu.board.accounts:
        return "1002"
    if emu.board.accounts[key].account.tier != "SHARED":
        return "1014"
    return None
