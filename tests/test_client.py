"""The client against the emulator (and tiny servers for shapes it cannot make): every
classification of every call, and the API key kept out of every error."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rhbatch.api.client import Client
from rhbatch.api.transport import SUBMIT_KEEPALIVE
from rhbatch.emulator import Emulator, EmulatorConfig
from rhbatch.errors import (
    ApiError,
    NoConnection,
    OutcomeUnknown,
    ProtocolError,
    Rejected,
    Transient,
)
from rhbatch.models import RemoteStatus, Result, TaskState
from tests.emu_helpers import MULTIMODAL, doc_body, run

SECRET = "sk-SECRET-9f8e7d6c5b4a39281706f5"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def config(**settings: Any) -> EmulatorConfig:
    """A fast emulator: 1000x time, one-second videos."""
    data: dict[str, Any] = {
        "speed": 1000.0,
        "durations": {"video": {"kind": "fixed", "value": 1.0}},
        "accounts": {SECRET: {}},
    }
    return EmulatorConfig.from_dict(data | settings)


def fault(kind: str, **spec: Any) -> EmulatorConfig:
    """An emulator where ``kind`` fires on every request it applies to."""
    return config(faults={kind: {"rate": 1.0, **spec}})


@contextlib.asynccontextmanager
async def emulated(
    cfg: EmulatorConfig | None = None, key: str = SECRET, **options: Any
) -> AsyncIterator[tuple[Emulator, Client]]:
    async with Emulator(cfg or config()) as emu, Client(emu.base_url, key, **options) as client:
        yield emu, client


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """A one-handler HTTP server on 127.0.0.1; yields its base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def replying(
    status: int = 200, body: Any = None, *, text: str | None = None, **headers: str
) -> Handler:
    """A handler that always answers ``body`` as JSON (or ``text`` verbatim)."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        raw = text if text is not None else json.dumps(body)
        return web.Response(
            status=status, text=raw, content_type="application/json", headers=headers
        )

    return handler


async def against(
    handler: Handler, call: Callable[[Client], Awaitable[Any]], **options: Any
) -> Any:
    """Make one call to a server that answers with ``handler``."""
    async with serve(handler) as base, Client(base, SECRET, timeout=5, **options) as client:
        return await call(client)


async def failure(call: Awaitable[Any]) -> ApiError:
    """The ApiError a call raises."""
    try:
        await call
    except ApiError as exc:
        return exc
    raise AssertionError("the call did not fail")


async def finish(client: Client, task_id: str) -> TaskState:
    """Poll until the task is terminal."""
    for _ in range(2000):
        state = await client.query(task_id)
        if state.status.terminal:
            return state
        await asyncio.sleep(0.002)
    raise AssertionError(f"task {task_id} never ended")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


TASK = "1900000000000000001"


def task(status: str = "RUNNING", **fields: Any) -> dict[str, Any]:
    return {"taskId": TASK, "status": status, "errorCode": "", **fields}


# --- submit ---------------------------------------------------------------------------


def test_submit_returns_the_new_task() -> None:
    """A submit the emulator accepts gives a RUNNING task with a 19-digit id and no error."""

    async def go() -> TaskState:
        async with emulated() as (_, client):
            return await client.submit(MULTIMODAL, doc_body())

    state = run(go)
    assert state.status is RemoteStatus.RUNNING
    assert len(state.task_id) == 19
    assert state.task_id.isdigit()
    assert (state.error_code, state.results, state.cost) == ("", (), 0.0)


def test_submit_then_query_reaches_success_with_results_and_cost() -> None:
    """The seedance doc body runs to SUCCESS with one MP4 result and a cost of 6.0."""

    async def go() -> TaskState:
        async with emulated() as (_, client):
            return await finish(client, (await client.submit(MULTIMODAL, doc_body())).task_id)

    state = run(go)
    assert state.status is RemoteStatus.SUCCESS
    assert len(state.results) == 1
    assert state.results[0].output_type == "mp4"
    assert state.results[0].text is None
    assert state.cost == 6.0
    assert state.usage["thirdPartyConsumeMoney"] == "6"


def test_base_url_may_end_in_openapi_v2() -> None:
    """A base URL in the official clients' form (…/openapi/v2/) works the same."""

    async def go() -> RemoteStatus:
        async with Emulator(config()) as emu, Client(emu.base_url + "/openapi/v2/", SECRET) as c:
            return (await c.submit(MULTIMODAL, doc_body())).status

    assert run(go) is RemoteStatus.RUNNING


def test_base_url_must_be_http() -> None:
    """A base URL that is not http(s) is refused when the client is made."""
    with pytest.raises(ValueError, match="http:// or https://"):
        Client("ftp://example.com", SECRET)


def test_submit_sends_the_key_only_as_bearer() -> None:
    """Submits carry Bearer auth and our User-Agent; the body holds the parameters, not the key."""
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(path=request.path, headers=dict(request.headers), body=await request.read())
        return web.json_response(task())

    run(lambda: against(handler, lambda c: c.submit("/some/endpoint", {"prompt": "x"})))
    assert seen["path"] == "/openapi/v2/some/endpoint"
    assert seen["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert seen["headers"]["User-Agent"].startswith("rhbatch/")
    assert json.loads(seen["body"]) == {"prompt": "x"}


def test_submit_connections_are_reused_only_while_fresh() -> None:
    """Back-to-back submits share a connection; after SUBMIT_KEEPALIVE idle seconds a
    submit opens a new one (before any server would close the old)."""
    peers: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response(task())

    async def calls(client: Client) -> None:
        for _ in range(3):
            await client.submit("e", {})
        await asyncio.sleep(SUBMIT_KEEPALIVE + 0.5)
        await client.submit("e", {})

    run(lambda: against(handler, calls))
    assert len(set(peers[:3])) == 1
    assert peers[3] != peers[0]


def test_submit_that_finished_at_once_returns_its_results() -> None:
    """A submit answered SUCCESS with results is returned as is (no poll needed)."""
    body = task(
        "SUCCESS",
        results=[{"url": "http://cdn/x.png", "outputType": "png", "text": None}],
        usage={"consumeMoney": None, "thirdPartyConsumeMoney": "0.05"},
    )
    state = run(lambda: against(replying(200, body), lambda c: c.submit("e", {})))
    assert state.status is RemoteStatus.SUCCESS
    assert state.results == (Result("http://cdn/x.png", "png", None),)
    assert state.cost == 0.05


def test_submit_with_a_task_id_and_an_error_code_returns_the_failed_task() -> None:
    """HTTP 200 with a taskId and an errorCode: the task exists, so its state is returned."""
    body = task("FAILED", errorCode="1505", errorMessage="Photorealistic real people")
    state = run(lambda: against(replying(200, body), lambda c: c.submit("e", {})))
    assert (state.task_id, state.status, state.error_code) == (
        "1900000000000000001",
        RemoteStatus.FAILED,
        "1505",
    )


def test_submit_with_an_odd_status_keeps_the_task_id() -> None:
    """A submit reply with a taskId but an unknown status reads as CREATE, never losing the id."""
    state = run(lambda: against(replying(200, task("WEIRD")), lambda c: c.submit("e", {})))
    assert (state.task_id, state.status) == ("1900000000000000001", RemoteStatus.CREATE)


@pytest.mark.parametrize(
    ("settings", "body", "code", "http_status"),
    [
        ({}, {"prompt": 5}, "1007", 200),
        ({"reject_style": "http"}, {"prompt": 5}, "1007", 400),
        ({"accounts": {SECRET: {"balance": 1.0}}}, None, "416", 200),
        ({"accounts": {SECRET: {"tier": "NORMAL"}}}, None, "1014", 200),
    ],
    ids=["invalid-200", "invalid-400", "no-funds", "wrong-tier"],
)
def test_submit_rejections_carry_the_code(
    settings: dict[str, Any], body: dict[str, Any] | None, code: str, http_status: int
) -> None:
    """Refused submits raise Rejected with RunningHub's code and the HTTP status, and make no task."""

    async def go() -> tuple[ApiError, int]:
        async with emulated(config(**settings)) as (emu, client):
            exc = await failure(client.submit(MULTIMODAL, body or doc_body()))
            return exc, emu.stats()["tasks"]

    exc, tasks = run(go)
    assert isinstance(exc, Rejected)
    assert (exc.code, exc.http_status, tasks) == (code, http_status, 0)


def test_submit_with_an_unknown_key_is_rejected_1002() -> None:
    """A key the server does not know is refused with 1002."""

    async def go() -> ApiError:
        async with emulated(key="not-a-known-key") as (_, client):
            return await failure(client.submit(MULTIMODAL, doc_body()))

    exc = run(go)
    assert isinstance(exc, Rejected)
    assert exc.code == "1002"


def test_submit_429_with_a_code_is_rejected_with_retry_after() -> None:
    """The emulator's 429 (code 1003, Retry-After) is Rejected with the wait in seconds."""

    async def go() -> ApiError:
        async with emulated(fault("http_429", seconds=5)) as (_, client):
            return await failure(client.submit(MULTIMODAL, doc_body()))

    exc = run(go)
    assert isinstance(exc, Rejected)
    assert (exc.code, exc.http_status, exc.retry_after) == ("1003", 429, 0.005)


def test_submit_429_without_a_code_is_transient() -> None:
    """A bare 429 with Retry-After in seconds is Transient, with that wait."""
    handler = replying(429, text="slow down", **{"Retry-After": "7"})
    exc = run(lambda: against(handler, lambda c: failure(c.submit("e", {}))))
    assert type(exc) is Transient
    assert exc.retry_after == 7.0


def test_retry_after_as_an_http_date() -> None:
    """Retry-After given as an HTTP date becomes the seconds until then."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    handler = replying(503, text="busy", **{"Retry-After": when})
    exc = run(lambda: against(handler, lambda c: failure(c.submit("e", {}))))
    assert type(exc) is Transient
    assert exc.retry_after is not None
    assert 25 <= exc.retry_after <= 31


def test_submit_503_is_transient_and_makes_no_task() -> None:
    """The emulator's 503 before the work is done: Transient, and no task exists."""

    async def go() -> tuple[ApiError, int]:
        async with emulated(fault("http_503", routes=["submit"])) as (emu, client):
            return await failure(client.submit(MULTIMODAL, doc_body())), emu.stats()["tasks"]

    exc, tasks = run(go)
    assert type(exc) is Transient
    assert tasks == 0


def test_submit_502_after_the_task_is_made_is_outcome_unknown() -> None:
    """A 502 sent after the task was made is OutcomeUnknown; the emulator shows the task."""

    async def go() -> tuple[ApiError, int]:
        cfg = fault("http_502", stage="after", routes=["submit"])
        async with emulated(cfg) as (emu, client):
            return await failure(client.submit(MULTIMODAL, doc_body())), emu.stats()["tasks"]

    exc, tasks = run(go)
    assert type(exc) is OutcomeUnknown
    assert tasks == 1


@pytest.mark.parametrize("status", [500, 504, 599])
def test_submit_other_5xx_is_outcome_unknown(status: int) -> None:
    """Any 5xx but 503 may come after the task was made: OutcomeUnknown."""
    handler = replying(status, text="<html>gateway</html>")
    exc = run(lambda: against(handler, lambda c: failure(c.submit("e", {}))))
    assert type(exc) is OutcomeUnknown


def test_lost_submit_reply_is_outcome_unknown() -> None:
    """A submit whose connection drops before any reply is OutcomeUnknown; the task exists."""

    async def go() -> tuple[ApiError, int]:
        async with emulated(fault("lost_submit")) as (emu, client):
            return await failure(client.submit(MULTIMODAL, doc_body())), emu.stats()["tasks"]

    exc, tasks = run(go)
    assert type(exc) is OutcomeUnknown
    assert tasks == 1


def test_submit_reply_cut_short_is_outcome_unknown() -> None:
    """A submit reply that stops half-way is OutcomeUnknown."""

    async def go() -> ApiError:
        async with emulated(fault("reset", routes=["submit"])) as (_, client):
            return await failure(client.submit(MULTIMODAL, doc_body()))

    assert type(run(go)) is OutcomeUnknown


def test_slow_submit_beyond_the_timeout_is_outcome_unknown() -> None:
    """A submit that outlasts the client's timeout is OutcomeUnknown; the task exists."""

    async def go() -> tuple[ApiError, int]:
        cfg = fault("slow", seconds=500, routes=["submit"])  # 0.5 s at speed 1000
        async with emulated(cfg, timeout=0.1) as (emu, client):
            return await failure(client.submit(MULTIMODAL, doc_body())), emu.stats()["tasks"]

    exc, tasks = run(go)
    assert type(exc) is OutcomeUnknown
    assert tasks == 1


def test_submit_to_a_closed_port_is_no_connection() -> None:
    """When nothing listens, nothing was sent: NoConnection (a Transient)."""

    async def go() -> ApiError:
        async with Client(f"http://127.0.0.1:{closed_port()}", SECRET) as client:
            return await failure(client.submit("e", {}))

    exc = run(go)
    assert type(exc) is NoConnection
    assert "could not connect" in str(exc)


@pytest.mark.parametrize(
    "text",
    ["<html>portal</html>", '{"taskId": "19', "[1, 2]", '{"hello": 1}'],
    ids=["html", "cut", "list", "no-id"],
)
def test_submit_200_that_says_nothing_usable_is_outcome_unknown(text: str) -> None:
    """An HTTP 200 submit reply without a taskId or an errorCode may hide a task: OutcomeUnknown."""
    exc = run(lambda: against(replying(200, text=text), lambda c: failure(c.submit("e", {}))))
    assert type(exc) is OutcomeUnknown


def test_submit_redirect_is_rejected() -> None:
    """A redirect is not followed for a submit; it is Rejected with a hint about the base URL."""
    handler = replying(301, text="", Location="https://elsewhere/")
    exc = run(lambda: against(handler, lambda c: failure(c.submit("e", {}))))
    assert isinstance(exc, Rejected)
    assert exc.code == "HTTP301"
    assert "check the base URL" in str(exc)


def test_submit_404_without_a_code_is_rejected_with_the_status() -> None:
    """A 4xx without a JSON code is Rejected as HTTP<status>."""
    exc = run(lambda: against(replying(404, text="nope"), lambda c: failure(c.submit("e", {}))))
    assert isinstance(exc, Rejected)
    assert (exc.code, exc.http_status) == ("HTTP404", 404)


# --- query ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("legacy", "endpoint", "path"),
    [
        (True, "workflow:1990000000000000001", "/task/openapi/status"),
        (True, "app:1990000000000000101", "/task/openapi/status"),
        (True, "some/model", "/openapi/v2/query"),
        (True, "", "/openapi/v2/query"),
        (False, "workflow:1990000000000000001", "/openapi/v2/query"),
    ],
)
def test_query_follows_a_task_as_its_endpoint_is_started(
    legacy: bool, endpoint: str, path: str
) -> None:
    """A workflow's or app's task, on a client that starts them by the legacy calls, is
    asked about by the legacy status call, though this client never started it (a
    resumed run); any other task by the query call. The client remembers no task."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request.path)
        if request.path == "/task/openapi/status":
            return web.json_response({"code": 0, "msg": "success", "data": "RUNNING"})
        return web.json_response(task())

    async def go() -> TaskState:
        async with serve(handler) as base, Client(base, SECRET, legacy=legacy) as client:
            return await client.query(TASK, endpoint)

    assert run(go).status is RemoteStatus.RUNNING
    assert seen == [path]


@pytest.mark.parametrize("style", ["v2", "envelope"])
def test_query_of_an_unknown_task_is_rejected_1004(style: str) -> None:
    """An unknown task id is Rejected("1004") in both not-found shapes."""

    async def go() -> ApiError:
        async with emulated(config(not_found_style=style)) as (_, client):
            return await failure(client.query("1234567890123456789"))

    exc = run(go)
    assert isinstance(exc, Rejected)
    assert exc.code == "1004"


def test_query_of_a_failed_task_returns_its_code() -> None:
    """A task that failed is returned FAILED with its code and message, costing nothing."""

    async def go() -> TaskState:
        async with emulated(fault("task_failed", codes=["1505"])) as (_, client):
            return await finish(client, (await client.submit(MULTIMODAL, doc_body())).task_id)

    state = run(go)
    assert (state.status, state.error_code, state.cost) == (RemoteStatus.FAILED, "1505", 0.0)
    assert state.error_message.startswith("Photorealistic")
    assert state.failed_reason


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("http_500", {}),
        ("http_502", {}),
        ("http_503", {}),
        ("reset", {}),
        ("slow", {"seconds": 500}),
    ],
)
def test_query_trouble_is_transient(kind: str, spec: dict[str, Any]) -> None:
    """5xx, a reply cut short and a reply too slow are all Transient for a query."""

    async def go() -> ApiError:
        async with emulated(timeout=0.1) as (emu, client):
            task_id = (await client.submit(MULTIMODAL, doc_body())).task_id
            emu.config.faults = fault(kind, **spec).faults
            return await failure(client.query(task_id))

    assert type(run(go)) is Transient


def test_query_429_is_transient_with_retry_after() -> None:
    """A 429 on a query (even with code 1003) is Transient, carrying Retry-After."""

    async def go() -> ApiError:
        async with emulated(fault("http_429", seconds=2, routes=["query"])) as (_, client):
            return await failure(client.query("1"))

    exc = run(go)
    assert type(exc) is Transient
    assert exc.retry_after == 0.002


def test_query_unknown_status_is_a_protocol_error() -> None:
    """A status outside the closed set is a ProtocolError, not something to poll forever."""
    exc = run(lambda: against(replying(200, task("PAUSED")), lambda c: failure(c.query("1"))))
    assert type(exc) is ProtocolError
    assert "PAUSED" in str(exc)


@pytest.mark.parametrize("word", ["CANCEL", "CANCELLED", "CANCELED"])
def test_query_reads_every_spelling_of_cancel(word: str) -> None:
    """CANCEL, CANCELLED and CANCELED are all the terminal CANCEL."""
    state = run(lambda: against(replying(200, task(word)), lambda c: c.query(TASK)))
    assert state.status is RemoteStatus.CANCEL
    assert state.status.terminal


def test_query_keeps_every_digit_of_a_numeric_task_id() -> None:
    """A taskId sent as a JSON number beyond 2**53 keeps every digit."""
    raw = '{"taskId": 1900000000000000123, "status": "RUNNING", "errorCode": ""}'
    state = run(lambda: against(replying(200, text=raw), lambda c: c.query("1900000000000000123")))
    assert state.task_id == "1900000000000000123"


def test_query_accepts_task_id_spelled_task_id() -> None:
    """The official contract's alternative spelling ``task_id`` is read too."""
    body = {"task_id": "77", "status": "QUEUED", "errorCode": ""}
    state = run(lambda: against(replying(200, body), lambda c: c.query("77")))
    assert (state.task_id, state.status) == ("77", RemoteStatus.QUEUED)


def test_query_reads_result_fallbacks_and_loose_usage() -> None:
    """outputUrl and content stand in for url and text; null or empty money counts as 0."""
    body = task(
        "SUCCESS",
        results=[
            {"outputUrl": "http://cdn/a.png", "outputType": "png"},
            {"url": None, "outputType": "txt", "content": "hello"},
            {"url": "http://cdn/b"},
        ],
        usage={"consumeMoney": "", "thirdPartyConsumeMoney": "0.14", "taskCostTime": 3, "x": None},
        failedReason=None,
        somethingNew={"a": 1},
    )
    state = run(lambda: against(replying(200, body), lambda c: c.query(TASK)))
    assert state.results == (
        Result("http://cdn/a.png", "png", None),
        Result(None, "txt", "hello"),
        Result("http://cdn/b", "", None),
    )
    assert state.cost == 0.14
    assert state.usage == {
        "consumeMoney": "",
        "thirdPartyConsumeMoney": "0.14",
        "taskCostTime": "3",
        "x": "",
    }
    assert state.failed_reason == {}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("<html>hi</html>", ProtocolError),
        ('{"taskId": "1", "sta', Transient),
        ("[]", ProtocolError),
    ],
    ids=["html", "cut", "list"],
)
def test_query_200_that_is_not_a_task(text: str, kind: type[ApiError]) -> None:
    """A query reply that is not JSON is a ProtocolError; JSON cut short is Transient."""
    exc = run(lambda: against(replying(200, text=text), lambda c: failure(c.query("1"))))
    assert type(exc) is kind


def test_query_to_a_closed_port_is_no_connection() -> None:
    """A query that cannot connect is NoConnection, a Transient."""

    async def go() -> ApiError:
        async with Client(f"http://127.0.0.1:{closed_port()}", SECRET) as client:
            return await failure(client.query("1"))

    exc = run(go)
    assert type(exc) is NoConnection
    assert isinstance(exc, Transient)


def test_query_about_another_task_is_a_protocol_error() -> None:
    """An answer about a task other than the one asked for is not taken as its state."""
    exc = run(lambda: against(replying(200, task("SUCCESS")), lambda c: failure(c.query("42"))))
    assert type(exc) is ProtocolError
    assert "the reply is about task 1900000000000000001" in str(exc)


# --- upload, cancel, queue, account ---------------------------------------------------


def test_upload_returns_a_url_that_serves_the_same_bytes(tmp_path: Path) -> None:
    """An uploaded file comes back byte for byte from its download_url."""
    path = tmp_path / "face.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)

    async def go() -> bytes:
        async with emulated() as (_, client):
            url = await client.upload(path)
            async with client.download(url) as dl:
                assert dl.content_type == "image/png"
                return b"".join([c async for c in dl.chunks()])

    assert run(go) == path.read_bytes()


def test_upload_with_a_bad_key_is_rejected_401(tmp_path: Path) -> None:
    """The upload envelope's {code: 401} for a bad key is Rejected("401")."""
    path = tmp_path / "a.png"
    path.write_bytes(b"png")

    async def go() -> ApiError:
        async with emulated(key="wrong-key") as (_, client):
            return await failure(client.upload(path))

    exc = run(go)
    assert isinstance(exc, Rejected)
    assert (exc.code, exc.text) == ("401", "ApiKey verification failed")


def test_upload_503_is_transient(tmp_path: Path) -> None:
    """An upload refused with 503 can be repeated: Transient."""
    path = tmp_path / "a.png"
    path.write_bytes(b"png")

    async def go() -> ApiError:
        async with emulated(fault("http_503", routes=["upload"])) as (_, client):
            return await failure(client.upload(path))

    assert type(run(go)) is Transient


def test_queue_status_is_parsed() -> None:
    """queue/status gives the limit, running and queued counts (sent as strings) and the tier."""

    async def go() -> Any:
        cfg = config(accounts={SECRET: {"concurrency": 1}}, faults={"stuck": {"rate": 1.0}})
        async with emulated(cfg) as (_, client):
            for i in range(3):
                await client.submit(MULTIMODAL, doc_body() | {"prompt": f"shot {i}"})
            return await client.queue_status()

    status = run(go)
    assert (status.limit, status.running, status.queued, status.key_type) == (1, 1, 2, "SHARED")


def test_account_status_returns_the_data() -> None:
    """accountStatus gives the account's data object, numbers as strings."""

    async def go() -> dict[str, Any]:
        async with emulated() as (_, client):
            return await client.account_status()

    data = run(go)
    assert (data["remainMoney"], data["currency"], data["apiType"]) == ("10000.00", "CNY", "SHARED")


def test_account_status_with_a_bad_key_is_rejected() -> None:
    """An envelope with a non-zero code is Rejected with that code."""

    async def go() -> ApiError:
        async with emulated(key="wrong-key") as (_, client):
            return await failure(client.account_status())

    exc = run(go)
    assert isinstance(exc, Rejected)
    assert exc.code == "802"


def test_cancel_of_a_running_task_is_true() -> None:
    """Cancelling a task the server knows returns True, and the task ends CANCEL."""

    async def go() -> tuple[bool, RemoteStatus]:
        async with emulated(fault("stuck")) as (_, client):
            task_id = (await client.submit(MULTIMODAL, doc_body())).task_id
            done = await client.cancel(task_id)
            return done, (await client.query(task_id)).status

    assert run(go) == (True, RemoteStatus.CANCEL)


def test_cancel_of_an_unknown_task_is_false() -> None:
    """Cancelling a task the server does not know (807) returns False."""

    async def go() -> bool:
        async with emulated() as (_, client):
            return await client.cancel("1234567890123456789")

    assert run(go) is False


# --- download -------------------------------------------------------------------------


def test_download_of_a_non_http_url_is_rejected() -> None:
    """Only http and https URLs are downloaded."""

    async def go() -> ApiError:
        async with Client("http://127.0.0.1:1", SECRET) as client:
            return await failure(client.download("file:///etc/passwd").__aenter__())

    exc = run(go)
    assert isinstance(exc, Rejected)
    assert exc.code == "BADURL"


def test_download_sends_no_authorization() -> None:
    """Result URLs get no Authorization header: the key never goes to a CDN."""
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.Response(body=b"data")

    async def go() -> int:
        async with (
            serve(handler) as cdn,
            Client(cdn, SECRET) as client,
            client.download(cdn + "/file.mp4") as dl,
        ):
            return dl.status

    assert run(go) == 200
    assert "Authorization" not in seen
    assert SECRET not in json.dumps(seen)


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (404, Rejected, "HTTP404"),
        (403, Rejected, "HTTP403"),
        (410, Rejected, "HTTP410"),
        (503, Transient, None),
        (429, Transient, None),
    ],
)
def test_download_refusals(status: int, kind: type[ApiError], code: str | None) -> None:
    """404/403/410 are Rejected as HTTP<status>; 429 and 5xx are Transient."""

    async def go() -> ApiError:
        async with serve(replying(status, text="no")) as cdn, Client(cdn, SECRET) as client:
            return await failure(client.download(cdn + "/f.mp4").__aenter__())

    exc = run(go)
    assert type(exc) is kind
    assert getattr(exc, "code", None) == code


# --- the key stays secret -------------------------------------------------------------


async def _emulator_failure(
    cfg: EmulatorConfig, call: Callable[[Client], Awaitable[Any]]
) -> ApiError:
    async with emulated(cfg) as (_, client):
        return await failure(call(client))


async def _echo_failure(
    status: int, shape: str, call: Callable[[Client], Awaitable[Any]], **options: Any
) -> ApiError:
    """A server that puts the Authorization header it got into its reply."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        auth = request.headers.get("Authorization", "")
        bodies = {
            "code": json.dumps({"taskId": None, "errorCode": auth, "errorMessage": auth}),
            "status": json.dumps(task(auth)),
            "garbage": f"<html>{auth}</html>",
            "envelope": json.dumps({"code": 1, "message": auth, "msg": auth}),
        }
        return web.Response(status=status, text=bodies[shape], content_type="application/json")

    exc: ApiError = await against(handler, lambda c: failure(call(c)), **options)
    return exc


async def _sent_file(send: Callable[[Path], Awaitable[str]]) -> str:
    """Upload a small local file by ``send``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.png"
        path.write_bytes(b"png")
        return await send(path)


async def _closed_port_failure() -> ApiError:
    async with Client(f"http://127.0.0.1:{closed_port()}", SECRET) as client:
        return await failure(client.submit("e", {}))


async def _truncated_download_failure() -> ApiError:
    async with emulated(fault("truncated")) as (_, client):
        state = await finish(client, (await client.submit(MULTIMODAL, doc_body())).task_id)
        url = state.results[0].url
        assert url is not None
        async with client.download(url) as dl:
            return await failure(_drain(dl.chunks()))


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    async for _ in chunks:
        pass


async def _download_404_failure() -> ApiError:
    async with emulated(fault("download_404", times=1)) as (_, client):
        state = await finish(client, (await client.submit(MULTIMODAL, doc_body())).task_id)
        url = state.results[0].url
        assert url is not None
        return await failure(client.download(url).__aenter__())


async def _reset_query_failure() -> ApiError:
    async with emulated(fault("reset", routes=["query"])) as (_, client):
        return await failure(client.query((await _submit(client)).task_id))


def _submit(c: Client) -> Awaitable[TaskState]:
    return c.submit(MULTIMODAL, doc_body())


SCENARIOS: dict[str, Callable[[], Awaitable[ApiError]]] = {
    "rejected-1007": lambda: _emulator_failure(config(), lambda c: c.submit(MULTIMODAL, {})),
    "rejected-1003": lambda: _emulator_failure(fault("http_429"), _submit),
    "transient-503": lambda: _emulator_failure(fault("http_503", routes=["submit"]), _submit),
    "unknown-502": lambda: _emulator_failure(
        fault("http_502", stage="after", routes=["submit"]), _submit
    ),
    "unknown-lost": lambda: _emulator_failure(fault("lost_submit"), _submit),
    "rejected-1004": lambda: _emulator_failure(config(), lambda c: c.query("1")),
    "transient-reset": _reset_query_failure,
    "transient-refused": _closed_port_failure,
    "rejected-download": _download_404_failure,
    "transient-truncated": _truncated_download_failure,
    "echo-submit-code": lambda: _echo_failure(200, "code", _submit),
    "echo-submit-400": lambda: _echo_failure(400, "code", _submit),
    "echo-submit-garbage": lambda: _echo_failure(200, "garbage", _submit),
    "echo-query-status": lambda: _echo_failure(200, "status", lambda c: c.query("1")),
    "echo-query-garbage": lambda: _echo_failure(200, "garbage", lambda c: c.query("1")),
    "echo-queue-envelope": lambda: _echo_failure(200, "envelope", lambda c: c.queue_status()),
    "echo-cancel-envelope": lambda: _echo_failure(200, "envelope", lambda c: c.cancel("1")),
    "echo-upload-envelope": lambda: _echo_failure(200, "envelope", lambda c: _sent_file(c.upload)),
    "echo-upload-input-envelope": lambda: _echo_failure(
        200, "envelope", lambda c: _sent_file(c.upload_input)
    ),
    "echo-workflow-envelope": lambda: _echo_failure(
        200, "envelope", lambda c: c.workflow_json("1")
    ),
    "echo-app-envelope": lambda: _echo_failure(200, "envelope", lambda c: c.app_inputs("1")),
    "echo-price-envelope": lambda: _echo_failure(
        200, "envelope", lambda c: c.price_preview("e", {})
    ),
    "echo-account-envelope": lambda: _echo_failure(200, "envelope", lambda c: c.account_status()),
    "echo-legacy-start": lambda: _echo_failure(
        200, "envelope", lambda c: c.submit("workflow:1", {}), legacy=True
    ),
    "echo-legacy-status": lambda: _echo_failure(
        200, "envelope", lambda c: c.query("1", "workflow:1"), legacy=True
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_key_never_appears_in_an_error(name: str) -> None:
    """No error's str or repr holds the API key, even when the server echoes it back."""
    exc: BaseException | None = run(SCENARIOS[name])
    while exc is not None:  # every exception a traceback would print
        assert SECRET not in str(exc)
        assert SECRET not in repr(exc)
        assert SECRET not in str(getattr(exc, "code", ""))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
