"""The way into and out of a call: fault dice, the Bearer check, rejections, request bodies.

Every JSON handler passes through here twice. ``before`` rolls the early
faults for its route (a 429 or a 5xx instead of doing anything, or, for a
submit at stage ``after``, a 5xx noted to be sent once the task is made);
``admit`` adds the Bearer key's check of the v2 API, ``legacy_key`` finds the
key of a legacy call (in the body or the Bearer header). ``after`` lets the
late faults spoil a finished reply: the noted 5xx, a lost submit reply, a
delay, a connection dropped half-way through the body.

A call that answers in the ``{code, msg, data}`` envelope is written as a plain
function of a ``Call`` under ``@enveloped``, which does the rest the same way
for all: the body read, the early faults, the key (not an account's: 802), the
late faults on the reply; a ``Refused`` is answered at once, as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from rhbatch.emulator import replies
from rhbatch.emulator.config import TEXTS, Fault
from rhbatch.emulator.context import STATE, Context

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


async def before(emu: Context, request: web.Request, route: str, key: str) -> web.Response | None:
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
    emu: Context, request: web.Request, route: str, key: str, response: web.Response
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
    emu: Context, request: web.Request, route: str, key: str, *, model: bool = True
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


def rejected(emu: Context, code: str, detail: str | None = None) -> web.Response:
    return replies.v2_error(emu.config, code, detail)


def known(emu: Context, key: str | None) -> bool:
    return key is not None and key in emu.board.accounts


def legacy_key(request: web.Request, body: Any) -> str | None:
    """The key a legacy call names: ``apiKey`` in the body, else the Bearer header."""
    key = body.get("apiKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) and key else bearer(request)


def account_of(emu: Context, key: str | None) -> str | None:
    """The error code for a key that cannot use the model API, or None if it can."""
    if key is None or key not in emu.board.accounts:
        return "1002"
    if emu.board.accounts[key].account.tier != "SHARED":
        return "1014"
    return None


# --- calls in the {code, msg, data} envelope -------------------------------------------

# The key a call names, from its request and body (None if none); the gate asks whether
# it is an account's.
Finder = Callable[[web.Request, Any], Any]
# The fault key of a call, from its body (counting the call: see ``numbered``).
Dice = Callable[[Context, Any], str]


@dataclass(frozen=True)
class Call:
    """A call let through the gate: who asks (``api_key``, an account's), with what body."""

    emu: Context
    request: web.Request
    api_key: str
    body: Any

    @property
    def task_id(self) -> str:
        return task_id(self.body)


class Refused(Exception):
    """A call refused with ``code`` in the envelope (its own words, or ``msg``): answered
    at once, no late fault spoils it."""

    def __init__(self, code: str, msg: str | None = None) -> None:
        super().__init__(code)
        self.reply = replies.envelope(int(code), TEXTS.get(code, "ERROR") if msg is None else msg)


def task_id(body: Any) -> str:
    """The ``taskId`` a call names ("" for none)."""
    return str(body.get("taskId", "")) if isinstance(body, dict) else ""


def numbered(name: str) -> Dice:
    """Fault dice per call of a kind: ``name#<how many came before>``."""
    return lambda emu, body: f"{name}#{emu.next_attempt(name)}"


def per_task(kind: str, *, bare: bool = False) -> Dice:
    """Fault dice per call about one task: ``kind:<taskId>#<n>``; ``bare``: ``<taskId>#<n>``,
    as a query's (counted with the v2 query's)."""

    def dice(emu: Context, body: Any) -> str:
        counter = f"{kind}:{task_id(body)}"
        return f"{task_id(body) if bare else counter}#{emu.next_attempt(counter)}"

    return dice


def bearer_key(request: web.Request, body: Any) -> str | None:
    """The key of a call that takes it as the Bearer header only."""
    return bearer(request)


def body_or_bearer(name: str) -> Finder:
    """The key of a call that takes it as the body's ``name`` (any value), else Bearer."""
    return lambda request, body: (
        (body.get(name) if isinstance(body, dict) else None) or bearer(request)
    )


def enveloped(
    dice: str | Dice, *, route: str = "other", who: Finder = legacy_key
) -> Callable[[Callable[[Call], web.Response]], Handler]:
    """The handler of a call answering in the ``{code, msg, data}`` envelope: its body
    read, the early faults rolled (``dice``: a name, numbered), the key found (``who``;
    none: 802), then the work's reply, which the late faults may spoil."""
    roll = numbered(dice) if isinstance(dice, str) else dice

    def wrap(work: Callable[[Call], web.Response]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            emu = request.app[STATE]
            body = await read_json(request)
            key = roll(emu, body)
            early = await before(emu, request, route, key)
            if early is not None:
                return early
            try:
                api_key = who(request, body)
                if not known(emu, api_key):
                    raise Refused("802")
                reply = work(Call(emu, request, api_key, body))
            except Refused as no:
                return no.reply
            return await after(emu, request, route, key, reply)

        return handle

    return wrap
