"""The emulator's workflow and AI-app families: starts, status, outputs, node checks, billing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rhbatch.emulator import Emulator, EmulatorConfig
from rhbatch.emulator.config import DEFAULT_KEY, Fault
from tests.emu_helpers import run

T2I = "1990000000000000001"
I2V = "1990000000000000002"
NEVER_RUN = "1990000000000000003"
EVERY_FIELD = "1990000000000000101"
APP_I2V = "1990000000000000102"
APP_NEVER_RUN = "1990000000000000103"
MAGIC = {"png": b"\x89PNG", "mp4": b"ftyp"}


def config(seconds: float = 1.0, **kw: Any) -> EmulatorConfig:
    """Speed 100, every task `seconds` long (of RunningHub time)."""
    kinds = ("video", "image", "audio", "3d", "string")
    data: dict[str, Any] = {
        "speed": 100.0,
        "durations": {k: {"kind": "fixed", "value": seconds} for k in kinds},
    }
    data.update(kw)
    return EmulatorConfig.from_dict(data)


def node(node_id: str, field: str, value: Any) -> dict[str, Any]:
    return {"nodeId": node_id, "fieldName": field, "fieldValue": value}


class Client:
    """Plain HTTP to the emulator, the key where each family takes it."""

    def __init__(
        self, emu: Emulator, session: aiohttp.ClientSession, key: str | None = None
    ) -> None:
        self.emu, self.session = emu, session
        self.key = key if key is not None else emu.api_key

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        url = path if path.startswith("http") else self.emu.base_url + path
        if body is not None:
            kw["json"] = body
        async with self.session.request(method, url, **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except json.JSONDecodeError:
                return resp.status, text

    async def legacy(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """A legacy call with the key in the body only (no Bearer), as the 2025 docs show."""
        status, data = await self.call("POST", path, {"apiKey": self.key, **(body or {})})
        assert status == 200, data
        return data

    async def v2(self, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.key}"}
        return await self.call("POST", path, body, headers=headers)

    async def query(self, task_id: str) -> dict[str, Any]:
        _, data = await self.v2("/openapi/v2/query", {"taskId": task_id})
        assert isinstance(data, dict)
        return data

    async def upload(self, data: bytes, filename: str, key: str | None = None) -> Any:
        """The legacy upload: multipart apiKey, fileType, file."""
        form = aiohttp.FormData()
        form.add_field("apiKey", key if key is not None else self.key)
        form.add_field("fileType", "input")
        form.add_field("file", data, filename=filename, content_type="application/octet-stream")
        status, reply = await self.call("POST", "/task/openapi/upload", data=form)
        assert status == 200
        return reply

    async def fetch(self, url: str) -> bytes:
        async with self.session.get(url) as resp:
            assert resp.status == 200
            return await resp.read()


@contextlib.asynccontextmanager
async def receiver(statuses: list[int] | None = None) -> AsyncIterator[tuple[str, list[Any]]]:
    """A webhook receiver on loopback: its URL and the events it got. It answers each POST
    with the next of `statuses` (then 200), and the text "ok"."""
    seen: list[Any] = []
    answers = list(statuses or [])

    async def hook(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.Response(status=answers.pop(0) if answers else 200, text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", seen
    finally:
        await runner.cleanup()


# --- legacy workflow calls -------------------------------------------------------------


def test_legacy_create_status_and_outputs() -> None:
    """A workflow started with the key in the body: create answers the documented data,
    status the bare string, outputs 804 while it runs, then a PNG per batch item of node 9."""
    now = [0.0]

    async def go() -> tuple[Any, list[Any], list[Any], bytes]:
        async with Emulator(config(), clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            made = await c.legacy(
                "/task/openapi/create",
                {"workflowId": T2I, "nodeInfoList": [node("5", "batch_size", 2)]},
            )
            ask = {"taskId": made["data"]["taskId"]}
            running = [await c.legacy(f"/task/openapi/{p}", ask) for p in ("status", "outputs")]
            now[0] = 1.0
            done = [await c.legacy(f"/task/openapi/{p}", ask) for p in ("status", "outputs")]
            return made, running, done, await c.fetch(done[1]["data"][0]["fileUrl"])

    made, running, done, png = run(go)
    assert (made["code"], made["msg"]) == (0, "success")
    data = made["data"]
    assert set(data) == {"netWssUrl", "taskId", "clientId", "taskStatus", "promptTips"}
    assert data["taskStatus"] == "RUNNING"
    assert data["netWssUrl"].startswith("ws://127.0.0.1:")
    assert len(data["taskId"]) == 19
    assert len(data["clientId"]) == 32
    assert json.loads(data["promptTips"]) == {
        "result": True,
        "error": None,
        "outputs_to_execute": ["9"],
        "node_errors": {},
    }
    assert running == [
        {"code": 0, "msg": "success", "data": "RUNNING"},
        {"code": 804, "msg": "APIKEY_TASK_IS_RUNNING", "data": None},
    ]
    assert done[0] == {"code": 0, "msg": "success", "data": "SUCCESS"}
    outputs = done[1]["data"]
    assert [(o["nodeId"], o["fileType"]) for o in outputs] == [("9", "png"), ("9", "png")]
    assert {k: v for k, v in outputs[0].items() if k != "fileUrl"} == {
        "fileType": "png",
        "taskCostTime": "1",
        "nodeId": "9",
        "thirdPartyConsumeMoney": "0",
        "consumeMoney": "0.002",
        "consumeCoins": "0",
    }
    assert png.startswith(MAGIC["png"])


def test_legacy_calls_take_the_bearer_key_too() -> None:
    """The key may come as the Bearer header instead of apiKey; with neither it is 802."""

    async def go() -> tuple[Any, Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, bearer = await c.v2("/task/openapi/create", {"workflowId": T2I})
            _, none = await c.call("POST", "/task/openapi/create", {"workflowId": T2I})
            return bearer, none

    bearer, none = run(go)
    assert bearer["code"] == 0
    assert bearer["data"]["taskId"]
    assert none == {"code": 802, "msg": "APIKEY_UNAUTHORIZED", "data": None}


def test_a_queued_task_answers_813() -> None:
    """With one slot taken, a new task is QUEUED: no netWssUrl, status QUEUED, outputs 813."""

    async def go() -> tuple[Any, Any, Any]:
        cfg = config(seconds=10_000, accounts={DEFAULT_KEY: {"concurrency": 1}})
        async with Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            await c.legacy("/task/openapi/create", {"workflowId": T2I})
            made = await c.legacy("/task/openapi/ai-app/run", {"webappId": int(EVERY_FIELD)})
            ask = {"taskId": made["data"]["taskId"]}
            status = await c.legacy("/task/openapi/status", ask)
            return made, status, await c.legacy("/task/openapi/outputs", ask)

    made, status, outputs = run(go)
    assert made["data"]["taskStatus"] == "QUEUED"
    assert made["data"]["netWssUrl"] is None
    assert status["data"] == "QUEUED"
    assert outputs == {"code": 813, "msg": "APIKEY_TASK_IS_QUEUED", "data": None}


def test_a_failed_task_answers_805_with_its_reason() -> None:
    """A task that fails: legacy status FAILED, outputs 805 with failedReason, the v2 query
    FAILED with the code; nothing is charged."""
    cfg = config(faults={"task_failed": {"rate": 1.0, "codes": ["1015"]}})

    async def go() -> tuple[Any, Any, dict[str, Any], float]:
        async with Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            made = await c.legacy("/task/openapi/create", {"workflowId": T2I})
            ask = {"taskId": made["data"]["taskId"]}
            for _ in range(200):
                status = await c.legacy("/task/openapi/status", ask)
                if status["data"] != "RUNNING":
                    break
                await asyncio.sleep(0.005)
            outputs = await c.legacy("/task/openapi/outputs", ask)
            return status, outputs, await c.query(ask["taskId"]), emu.stats()["charged"]

    status, outputs, queried, charged = run(go)
    assert status["data"] == "FAILED"
    assert (outputs["code"], outputs["msg"]) == (805, "APIKEY_TASK_STATUS_ERROR")
    reason = outputs["data"]["failedReason"]
    assert set(reason) == {
        "current_outputs",
        "exception_type",
        "node_name",
        "current_inputs",
        "traceback",
        "node_id",
        "exception_message",
    }
    assert reason["exception_message"] == "Generation failed, please try again"
    assert (queried["status"], queried["errorCode"]) == ("FAILED", "1015")
    assert charged == 0


def test_get_json_api_format() -> None:
    """getJsonApiFormat answers the saved graph as JSON text (msg SUCCESS); a workflow never
    run is 810, an unknown one 380."""

    async def go() -> list[Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            return [
                await c.legacy("/api/openapi/getJsonApiFormat", {"workflowId": wid})
                for wid in (T2I, NEVER_RUN, "1990000000000000999")
            ]

    found, never, unknown = run(go)
    assert (found["code"], found["msg"]) == (0, "SUCCESS")
    graph = json.loads(found["data"]["prompt"])
    assert graph["3"]["class_type"] == "KSampler"
    assert graph["3"]["inputs"]["model"] == ["4", 0]
    assert graph["3"]["inputs"]["cfg"] == 7.0
    assert graph["9"]["_meta"]["title"] == "Save Image"
    assert never == {"code": 810, "msg": "WORKFLOW_NOT_SAVED_OR_NOT_RUNNING", "data": None}
    assert unknown == {"code": 380, "msg": "WORKFLOW_NOT_EXISTS", "data": None}


@pytest.mark.parametrize("api", ["legacy", "v2"])
def test_workflow_starts_refused(api: str) -> None:
    """Unknown workflow: 380; never run: 810; an unknown node or field, or a link input: 803;
    a v2 refusal is a task object with no taskId."""
    cases = [
        ("1990000000000000999", []),
        (NEVER_RUN, []),
        (T2I, [node("99", "text", "x")]),
        (T2I, [node("6", "words", "x")]),
        (T2I, [node("3", "model", "x")]),
    ]

    async def go() -> list[Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            out = []
            for wid, items in cases:
                if api == "legacy":
                    body = {"workflowId": wid, "nodeInfoList": items}
                    out.append(await c.legacy("/task/openapi/create", body))
                else:
                    path = f"/openapi/v2/run/workflow/{wid}"
                    out.append((await c.v2(path, {"nodeInfoList": items}))[1])
            return out

    answers = run(go)
    codes = ["380", "810", "803", "803", "803"]
    if api == "legacy":
        assert [(a["code"], a["data"]) for a in answers] == [(int(c), None) for c in codes]
        assert answers[2]["msg"] == "APIKEY_INVALID_NODE_INFO"
    else:
        assert [(a["errorCode"], a["taskId"]) for a in answers] == [(c, None) for c in codes]
        assert answers[4]["errorMessage"] == (
            "APIKEY_INVALID_NODE_INFO: node 3 input 'model' is a link to another node, not a value"
        )


def test_v2_refusal_as_http_status() -> None:
    """Under reject_style http, a v2 run's 803 comes with HTTP 400 and 380 with 404."""

    async def go() -> list[tuple[int, str]]:
        async with Emulator(config(reject_style="http")) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            bad = await c.v2(
                f"/openapi/v2/run/workflow/{T2I}", {"nodeInfoList": [node("1", "x", 1)]}
            )
            unknown = await c.v2("/openapi/v2/run/workflow/123", {})
            return [(bad[0], bad[1]["errorCode"]), (unknown[0], unknown[1]["errorCode"])]

    assert run(go) == [(400, "803"), (404, "380")]


def test_v2_workflow_run_image_to_video() -> None:
    """A v2 run of the image-to-video workflow answers the v2 task object; its query has
    results from two nodes, an MP4 (node 20) and a PNG (node 21), both real files."""
    now = [0.0]

    async def go() -> tuple[Any, Any, list[bytes]]:
        async with Emulator(config(), clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, made = await c.v2(
                f"/openapi/v2/run/workflow/{I2V}",
                {"nodeInfoList": [node("11", "text", "a slow zoom"), node("12", "frames", "49")]},
            )
            now[0] = 1.0
            done = await c.query(made["taskId"])
            return made, done, [await c.fetch(r["url"]) for r in done["results"]]

    made, done, files = run(go)
    assert made["status"] == "RUNNING"
    assert made["errorCode"] == ""
    assert json.loads(made["promptTips"])["outputs_to_execute"] == ["20", "21"]
    assert [(r["nodeId"], r["outputType"]) for r in done["results"]] == [
        ("20", "mp4"),
        ("21", "png"),
    ]
    assert files[0][4:8] == MAGIC["mp4"]
    assert files[1].startswith(MAGIC["png"])


def test_legacy_create_with_a_workflow_graph() -> None:
    """`workflow` (API-format JSON text) replaces the saved graph: its output nodes make the
    results; text that is not such a graph is 301."""
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
        "3": {"class_type": "SaveAudio", "inputs": {"audio": ["1", 0]}},
    }

    async def go() -> tuple[Any, Any, Any]:
        async with Emulator(config(seconds=0)) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            made = await c.legacy(
                "/task/openapi/create", {"workflowId": T2I, "workflow": json.dumps(graph)}
            )
            outputs = await c.legacy("/task/openapi/outputs", {"taskId": made["data"]["taskId"]})
            bad = await c.legacy("/task/openapi/create", {"workflowId": T2I, "workflow": "{"})
            return made, outputs, bad

    made, outputs, bad = run(go)
    assert json.loads(made["data"]["promptTips"])["outputs_to_execute"] == ["2", "3"]
    assert [(o["nodeId"], o["fileType"]) for o in outputs["data"]] == [("2", "png"), ("3", "wav")]
    assert bad == {"code": 301, "msg": "PARAMS_INVALID", "data": None}


# --- the node checks -------------------------------------------------------------------

UPLOADED = object()  # stands for a fileName the legacy upload answered
FITS = [
    ("1", "text", "a dog"),
    ("2", "value", 4),
    ("2", "value", "12"),
    ("3", "value", "0.5"),
    ("3", "value", 1),
    ("4", "select", "2"),
    ("4", "select", 1),
    ("5", "aspect_ratio", "16:9"),
    ("6", "image", UPLOADED),
    ("6", "image", "https://example.com/cat.png"),
    ("6", "image", "None"),  # its loader lists "None": the slot may stay empty
    ("2", "value", "50"),
    ("3", "value", "1.0"),
    ("1", "text", 12),
    ("9", "flag", False),
]
MISFITS = [
    ("1", "text", None, "None is not text"),
    ("2", "value", "four", "'four' is not an integer"),
    ("2", "value", 4.5, "4.5 is not an integer"),
    ("3", "value", "x", "'x' is not a number"),
    ("4", "select", "yes", "'yes' is not the index of an input"),
    ("4", "select", "3", "'3' not in ['1', '2']"),
    ("4", "select", True, "True not in ['1', '2']"),
    ("2", "value", "99", "'99' is above the maximum 50"),
    ("2", "value", 0, "0 is below the minimum 1"),
    ("5", "aspect_ratio", "landscape", "'landscape' not in ['1:1', '16:9', '9:16']"),
    ("5", "aspect_ratio", "4:3", "'4:3' not in ['1:1', '16:9', '9:16']"),
    ("6", "image", "cat.png", "'cat.png' is neither a file uploaded here"),
    ("7", "video", "api/" + "0" * 64 + ".mp4", "is neither a file uploaded here"),
    ("7", "video", "None", "'None' is neither a file uploaded here"),
    ("9", "flag", 0, "0 is not true or false"),
]


@pytest.mark.parametrize(("node_id", "field", "value"), FITS)
def test_values_that_fit_start_the_app(node_id: str, field: str, value: Any) -> None:
    """A value that fits its field's type starts the app: promptTips without node_errors."""

    async def go() -> Any:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            given = value
            if value is UPLOADED:
                given = (await c.upload(b"\x89PNG fake", "cat.png"))["data"]["fileName"]
            items = [node(node_id, field, given)]
            return await c.legacy(
                "/task/openapi/ai-app/run", {"webappId": EVERY_FIELD, "nodeInfoList": items}
            )

    made = run(go)
    assert made["code"] == 0
    assert made["data"]["taskStatus"] == "RUNNING"
    assert json.loads(made["data"]["promptTips"])["node_errors"] == {}


@pytest.mark.parametrize(("node_id", "field", "value", "why"), MISFITS)
def test_values_that_do_not_fit_fail_the_task(
    node_id: str, field: str, value: Any, why: str
) -> None:
    """A value that does not fit: the start is answered (code 0) with a task already FAILED,
    ComfyUI's node_errors in promptTips, outputs 805, and nothing charged."""

    async def go() -> tuple[Any, Any, float]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            body = {"webappId": EVERY_FIELD, "nodeInfoList": [node(node_id, field, value)]}
            made = await c.legacy("/task/openapi/ai-app/run", body)
            outputs = await c.legacy("/task/openapi/outputs", {"taskId": made["data"]["taskId"]})
            return made, outputs, emu.stats()["charged"]

    made, outputs, charged = run(go)
    assert made["code"] == 0
    assert made["data"]["taskStatus"] == "FAILED"
    tips = json.loads(made["data"]["promptTips"])
    assert (tips["result"], tips["outputs_to_execute"]) == (False, [])
    assert tips["error"]["type"] == "prompt_outputs_failed_validation"
    entry = tips["node_errors"][node_id]
    assert (
        entry["class_type"]
        == {
            "1": "RH_Text",
            "2": "PrimitiveInt",
            "3": "PrimitiveFloat",
            "4": "ImpactSwitch",
            "5": "RH_Ratio",
            "6": "LoadImage",
            "7": "LoadVideo",
            "9": "RH_Bool",
        }[node_id]
    )
    error = entry["errors"][0]
    assert error["type"] == "value_not_valid"
    assert error["details"].startswith(f"{field}: ")
    assert why in error["details"]
    assert outputs["code"] == 805
    assert outputs["data"]["failedReason"]["exception_type"] == "value_not_valid"
    assert charged == 0


def test_a_misfit_on_a_v2_run() -> None:
    """On a v2 run a misfit answers the task object: a taskId, status FAILED, errorCode 433,
    node_errors in promptTips; the query says the same."""

    async def go() -> tuple[Any, Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, made = await c.v2(
                f"/openapi/v2/run/workflow/{T2I}", {"nodeInfoList": [node("3", "cfg", "high")]}
            )
            return made, await c.query(made["taskId"])

    made, queried = run(go)
    assert made["taskId"]
    assert (made["status"], made["errorCode"]) == ("FAILED", "433")
    errors = json.loads(made["promptTips"])["node_errors"]
    assert errors["3"]["class_type"] == "KSampler"
    assert errors["3"]["errors"][0]["details"] == "cfg: 'high' is not a number"
    assert (queried["status"], queried["errorCode"]) == ("FAILED", "433")
    assert queried["failedReason"]["node_id"] == "3"


def test_workflow_fields_are_typed_by_the_graph() -> None:
    """Workflow inputs take the type of their saved value: steps an INT ("25" fits), the
    prompt text a STRING, LoadImage.image media; a batch_size sets how many PNGs."""
    now = [0.0]

    async def go() -> tuple[Any, Any]:
        async with Emulator(config(), clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            items = [
                node("3", "steps", "25"),
                node("6", "text", "a fox"),
                node("5", "batch_size", 3),
                node("3", "sampler_name", "dpmpp_2m"),
            ]
            _, made = await c.v2(f"/openapi/v2/run/workflow/{T2I}", {"nodeInfoList": items})
            _, i2v = await c.v2(
                f"/openapi/v2/run/workflow/{I2V}", {"nodeInfoList": [node("10", "image", "x.png")]}
            )
            now[0] = 1.0
            return await c.query(made["taskId"]), i2v

    done, i2v = run(go)
    assert done["status"] == "SUCCESS"
    assert [r["outputType"] for r in done["results"]] == ["png"] * 3
    assert json.loads(i2v["promptTips"])["node_errors"]["10"]["errors"][0]["details"].startswith(
        "image: 'x.png' is neither"
    )


# --- AI apps ---------------------------------------------------------------------------


def test_api_call_demo_of_every_field_type() -> None:
    """apiCallDemo lists the app's nodes as documented, every fieldValue a string and the
    LIST options as JSON text in fieldData."""

    async def go() -> Any:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            status, data = await Client(emu, s).call(
                "GET", f"/api/webapp/apiCallDemo?apiKey={emu.api_key}&webappId={EVERY_FIELD}"
            )
            assert status == 200
            return data, emu.api_key

    data, key = run(go)
    assert (data["code"], data["msg"]) == (0, "success")
    demo = data["data"]
    assert set(demo) == {
        "webappName",
        "nodeInfoList",
        "covers",
        "tags",
        "statisticsInfo",
        "accessEncrypted",
        "curl",
    }
    rows = [
        (n["nodeId"], n["nodeName"], n["fieldName"], n["fieldType"], n["fieldValue"])
        for n in demo["nodeInfoList"]
    ]
    assert rows[:5] == [
        ("1", "RH_Text", "text", "STRING", "a cat in the snow"),
        ("2", "PrimitiveInt", "value", "INT", "4"),
        ("3", "PrimitiveFloat", "value", "FLOAT", "0.75"),
        ("4", "ImpactSwitch", "select", "SWITCH", "1"),
        ("5", "RH_Ratio", "aspect_ratio", "LIST", "1:1"),
    ]
    assert [r[:4] for r in rows[5:]] == [
        ("6", "LoadImage", "image", "IMAGE"),
        ("7", "LoadVideo", "video", "VIDEO"),
        ("8", "LoadAudio", "audio", "AUDIO"),
        ("9", "RH_Bool", "flag", "BOOLEAN"),
    ]
    assert rows[8][4] == "false"
    assert [r[4].split(".")[-1] for r in rows[5:8]] == ["png", "mp4", "wav"]
    assert all(r[4].startswith("api/") for r in rows[5:8])
    assert json.loads(demo["nodeInfoList"][4]["fieldData"])[1] == {
        "name": "landscape",
        "index": "16:9",
        "description": "横屏",
    }
    assert all(n["description"] and n["descriptionEn"] for n in demo["nodeInfoList"])
    assert "/task/openapi/ai-app/run" in demo["curl"]
    assert key not in json.dumps(data)


def test_api_call_demo_refusals() -> None:
    """An app never run on the web lists no nodes (code 0); an unknown app is 901; an
    unknown key 802."""

    async def go() -> list[Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            out = []
            for key, app in (
                (emu.api_key, APP_NEVER_RUN),
                (emu.api_key, "42"),
                ("nope", EVERY_FIELD),
            ):
                out.append(
                    (await c.call("GET", f"/api/webapp/apiCallDemo?apiKey={key}&webappId={app}"))[1]
                )
            return out

    never, unknown, bad_key = run(go)
    assert (never["code"], never["data"]["nodeInfoList"]) == (0, [])
    assert unknown == {"code": 901, "msg": "WEBAPP_NOT_EXISTS", "data": None}
    assert bad_key == {"code": 802, "msg": "APIKEY_UNAUTHORIZED", "data": None}


def test_an_app_run_with_its_own_node_list() -> None:
    """The official skill's way: apiCallDemo's whole list sent back with one value edited
    (webappId a number); the task is polled with the v2 query and makes a PNG of node 30."""
    now = [0.0]

    async def go() -> tuple[Any, Any]:
        async with Emulator(config(), clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, demo = await c.call(
                "GET", f"/api/webapp/apiCallDemo?apiKey={emu.api_key}&webappId={EVERY_FIELD}"
            )
            items = demo["data"]["nodeInfoList"]
            items[0]["fieldValue"] = "a fox in the snow"
            made = await c.legacy(
                "/task/openapi/ai-app/run", {"webappId": int(EVERY_FIELD), "nodeInfoList": items}
            )
            now[0] = 1.0
            return made, await c.query(made["data"]["taskId"])

    made, done = run(go)
    assert json.loads(made["data"]["promptTips"])["node_errors"] == {}
    assert done["status"] == "SUCCESS"
    assert [(r["nodeId"], r["outputType"]) for r in done["results"]] == [("30", "png")]
    assert done["usage"]["consumeMoney"] == "0.002"


def test_v2_app_run_is_served_by_the_legacy_calls() -> None:
    """A v2 run of the image-to-video app makes an MP4 of node 40, which the legacy status
    and outputs calls also report."""
    now = [0.0]

    async def go() -> tuple[Any, Any, Any]:
        async with Emulator(config(), clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, made = await c.v2(
                f"/openapi/v2/run/ai-app/{APP_I2V}",
                {"nodeInfoList": [node("3", "duration", "10")], "instanceType": "plus"},
            )
            now[0] = 1.0
            ask = {"taskId": made["taskId"]}
            status = await c.legacy("/task/openapi/status", ask)
            return made, status, await c.legacy("/task/openapi/outputs", ask)

    made, status, outputs = run(go)
    assert made["status"] == "RUNNING"
    assert status["data"] == "SUCCESS"
    assert [(o["nodeId"], o["fileType"]) for o in outputs["data"]] == [("40", "mp4")]
    assert outputs["data"][0]["consumeMoney"] == "0.004"  # plus: twice the default's price


def test_app_starts_refused() -> None:
    """An app never run is refused (803) and an unknown one is 901, legacy and v2 alike;
    quick create without its code is 301, with it the app runs."""

    async def go() -> list[Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            return [
                await c.legacy("/task/openapi/ai-app/run", {"webappId": APP_NEVER_RUN}),
                await c.legacy("/task/openapi/ai-app/run", {"webappId": "77"}),
                (await c.v2(f"/openapi/v2/run/ai-app/{APP_NEVER_RUN}", {}))[1],
                (await c.v2("/openapi/v2/run/ai-app/77", {}))[1],
                await c.legacy("/task/openapi/quick-ai-app/run", {"webappId": APP_I2V}),
                await c.legacy(
                    "/task/openapi/quick-ai-app/run",
                    {"webappId": APP_I2V, "quickCreateCode": "style-1", "nodeInfoList": []},
                ),
            ]

    never, unknown, v2_never, v2_unknown, quick_bad, quick = run(go)
    assert never == {"code": 803, "msg": "APIKEY_INVALID_NODE_INFO", "data": None}
    assert unknown == {"code": 901, "msg": "WEBAPP_NOT_EXISTS", "data": None}
    assert (v2_never["errorCode"], v2_unknown["errorCode"]) == ("803", "901")
    assert quick_bad == {"code": 301, "msg": "PARAMS_INVALID", "data": None}
    assert quick["data"]["taskStatus"] == "RUNNING"


def test_the_app_list() -> None:
    """aiapp/list takes the key with or without Bearer and pages through the apps, each
    with an invokeExample naming /run/ai-app/<webappId>; a page over 50 is 301."""

    async def go() -> list[Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            out = []
            for auth, body in (
                (emu.api_key, {"current": 1, "size": 2, "sort": "RECOMMEND"}),
                (f"Bearer {emu.api_key}", {"current": 2, "size": 2, "sort": "HOTTEST", "days": 7}),
                (emu.api_key, {"current": 1, "size": 51}),
                ("nope", {}),
            ):
                headers = {"Authorization": auth}
                out.append(
                    (await c.call("POST", "/openapi/v2/aiapp/list", body, headers=headers))[1]
                )
            return out

    first, second, too_big, bad_key = run(go)
    page = first["data"]
    assert (page["current"], page["size"], page["total"], page["pages"], page["hasNext"]) == (
        1,
        2,
        3,
        2,
        True,
    )
    assert set(page["records"][0]) == {"title", "description", "cover", "invokeExample"}
    assert f"/run/ai-app/{EVERY_FIELD}" in page["records"][0]["invokeExample"]
    assert second["data"]["hasNext"] is False
    assert len(second["data"]["records"]) == 1
    assert too_big["code"] == 301
    assert bad_key["code"] == 802


# --- uploads -----------------------------------------------------------------------------


def test_legacy_upload() -> None:
    """The legacy upload answers api/<sha256>.<ext> (a ZIP: the bare hash) and fileType;
    over the limit it is 809, an unknown key 802, a format it does not take 301."""
    data = b"\x89PNG small image"

    async def go() -> list[Any]:
        cfg = config(legacy_upload_max_mb=0.001)
        async with Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            return [
                await c.upload(data, "cat.PNG"),
                await c.upload(b"PK zip", "frames.zip"),
                await c.upload(b"x" * 2000, "big.png"),
                await c.upload(data, "cat.png", key="nope"),
                await c.upload(data, "notes.txt"),
            ]

    png, zipped, big, bad_key, txt = run(go)
    assert png == {
        "code": 0,
        "msg": "success",
        "data": {"fileName": f"api/{hashlib.sha256(data).hexdigest()}.png", "fileType": "input"},
    }
    assert zipped["data"]["fileName"] == hashlib.sha256(b"PK zip").hexdigest()
    assert big == {"code": 809, "msg": "APIKEY_FILE_SIZE_EXCEEDED", "data": None}
    assert bad_key["code"] == 802
    assert txt["code"] == 301


def test_lora_upload() -> None:
    """getLoraUploadUrl answers api-lora-cn/<md5>.safetensors and a URL of the emulator's
    that takes a PUT of the bytes: the wrong bytes are 400, the wrong type 403."""
    lora = b"safetensors bytes" * 100
    md5 = hashlib.md5(lora, usedforsecurity=False).hexdigest()

    async def go() -> tuple[Any, list[int], Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            got = await c.legacy(
                "/api/openapi/getLoraUploadUrl", {"loraName": "cats", "md5Hex": md5}
            )
            url = got["data"]["url"]
            octet = {"Content-Type": "application/octet-stream"}
            codes = [
                (await c.call("PUT", url, data=b"other", headers=octet))[0],
                (await c.call("PUT", url, data=lora, headers={"Content-Type": "text/plain"}))[0],
                (await c.call("PUT", url, data=lora, headers=octet))[0],
            ]
            bad = await c.legacy("/api/openapi/getLoraUploadUrl", {"loraName": "x", "md5Hex": "12"})
            return got, codes, bad

    got, codes, bad = run(go)
    assert got["code"] == 0
    assert got["data"]["fileName"] == f"api-lora-cn/{md5}.safetensors"
    assert got["data"]["url"].startswith("http://127.0.0.1:")
    assert codes == [400, 403, 200]
    assert bad["code"] == 301


# --- billing -----------------------------------------------------------------------------


def test_run_time_billing() -> None:
    """A workflow task is charged on success for its run time at its instance's price per
    second (10 s at 0.002 and at 0.004 for plus), reserved meanwhile; a cancelled one costs
    nothing; an instanceType not priced is refused."""
    now = [0.0]

    async def go() -> tuple[list[Any], float, float, Any, Any]:
        async with (
            Emulator(config(seconds=10), clock=lambda: now[0]) as emu,
            aiohttp.ClientSession() as s,
        ):
            c = Client(emu, s)
            ids = []
            for instance in ("default", "plus", "plus"):
                made = await c.legacy(
                    "/task/openapi/create", {"workflowId": T2I, "instanceType": instance}
                )
                ids.append(made["data"]["taskId"])
            reserved = emu.board.accounts[emu.api_key].reserved
            await c.legacy("/task/openapi/cancel", {"taskId": ids[2]})
            now[0] = 1.0
            done = [await c.query(t) for t in ids]
            bad = await c.legacy(
                "/task/openapi/create", {"workflowId": T2I, "instanceType": "ultra"}
            )
            v2_bad = (await c.v2(f"/openapi/v2/run/workflow/{T2I}", {"instanceType": "ultra"}))[1]
            return done, reserved, emu.stats()["charged"], bad, v2_bad

    done, reserved, charged, bad, v2_bad = run(go)
    assert reserved == pytest.approx(0.02 + 0.04 + 0.04)
    assert [d["usage"]["consumeMoney"] for d in done] == ["0.02", "0.04", "0"]
    assert [d["usage"]["taskCostTime"] for d in done[:2]] == ["10", "10"]
    assert done[0]["usage"]["thirdPartyConsumeMoney"] == "0"
    assert done[0]["taskUsageList"] == [
        {
            "taskId": done[0]["taskId"],
            "parentTaskId": None,
            "taskStatus": "SUCCESS",
            "usage": done[0]["usage"],
        }
    ]
    assert charged == pytest.approx(0.06)
    assert bad == {"code": 301, "msg": "PARAMS_INVALID", "data": None}
    assert v2_bad["errorCode"] == "1007"


def test_legacy_queue_and_balance_refusals() -> None:
    """A full account's queue refuses a legacy start with 421 TASK_QUEUE_MAXED; a balance
    that cannot cover the run with the configured funds code."""
    accounts = {DEFAULT_KEY: {"concurrency": 1, "queue_limit": 0, "balance": 1.0}}

    async def go() -> list[Any]:
        async with (
            Emulator(config(seconds=100, accounts=accounts)) as emu,
            aiohttp.ClientSession() as s,
        ):
            c = Client(emu, s)
            first = await c.legacy("/task/openapi/create", {"workflowId": T2I})
            full = await c.legacy("/task/openapi/create", {"workflowId": T2I})
            await c.legacy("/task/openapi/cancel", {"taskId": first["data"]["taskId"]})
            emu.board.accounts[emu.api_key].balance = 0.1
            broke = await c.legacy("/task/openapi/create", {"workflowId": T2I})
            return [first["code"], full, broke]

    assert run(go) == [
        0,
        {"code": 421, "msg": "TASK_QUEUE_MAXED", "data": None},
        {"code": 416, "msg": "TASK_CREATE_FAILED_BY_NOT_ENOUGH_WALLET", "data": None},
    ]


def test_faults_meet_workflow_starts_too() -> None:
    """A start meets the submit faults as a model submit does: a 429 (with Retry-After)
    makes no task, a lost reply makes one that is paid for; the ledger says how each was
    started."""
    cfg = config(seconds=0, faults={"http_429": {"rate": 1.0, "seconds": 5}})

    async def go() -> tuple[int, str | None, list[Any]]:
        async with Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            url = f"{emu.base_url}/task/openapi/create"
            async with s.post(url, json={"apiKey": emu.api_key, "workflowId": T2I}) as r:
                limited = (r.status, r.headers.get("Retry-After"))
            emu.config.faults = {"lost_submit": Fault(rate=1.0)}
            with pytest.raises(aiohttp.ClientError):
                await Client(emu, s).v2(
                    f"/openapi/v2/run/workflow/{T2I}",
                    {"retainSeconds": 60, "usePersonalQueue": False, "addMetadata": True},
                )
            return *limited, emu.stats(tasks=True)["taskList"]

    status, retry_after, tasks = run(go)
    assert (status, retry_after) == (429, "0.050")
    assert [(t["endpoint"], t["origin"], t["api"], t["status"]) for t in tasks] == [
        (f"workflow/{T2I}", "workflow", "v2", "SUCCESS")
    ]


def test_cancel_a_workflow_task() -> None:
    """The cancel call ends a workflow task: the v2 query says CANCEL with no error, the
    legacy status FAILED, outputs 805."""

    async def go() -> tuple[Any, Any, Any, Any]:
        async with Emulator(config(seconds=10_000)) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            made = await c.legacy("/task/openapi/create", {"workflowId": T2I})
            ask = {"taskId": made["data"]["taskId"]}
            cancelled = await c.legacy("/task/openapi/cancel", ask)
            status = await c.legacy("/task/openapi/status", ask)
            outputs = await c.legacy("/task/openapi/outputs", ask)
            return cancelled, await c.query(ask["taskId"]), status, outputs

    cancelled, queried, status, outputs = run(go)
    assert cancelled == {"code": 0, "msg": "success", "data": None}
    assert (queried["status"], queried["errorCode"], queried["errorMessage"]) == ("CANCEL", "", "")
    assert queried["failedReason"] == {}
    assert status["data"] == "FAILED"
    assert outputs["code"] == 805
    assert outputs["data"]["failedReason"]["exception_message"] == "Task cancelled"


def test_model_tasks_are_not_served_by_the_legacy_calls() -> None:
    """A Standard Model API task is unknown to /task/openapi/status and outputs (807)."""
    from tests.emu_helpers import MULTIMODAL, doc_body

    async def go() -> Any:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, made = await c.v2(f"/openapi/v2/{MULTIMODAL}", doc_body())
            return await c.legacy("/task/openapi/outputs", {"taskId": made["taskId"]})

    assert run(go) == {"code": 807, "msg": "APIKEY_TASK_NOT_FOUND", "data": None}


def test_config_adds_workflows_and_apps(tmp_path: Any) -> None:
    """Workflows and apps from the config join the samples (same shape, same ids replaced);
    a malformed one is refused by name."""
    cfg = config(
        workflows={
            "5": {"name": "tiny", "prompt": {"1": {"class_type": "SaveAudio", "inputs": {}}}}
        },
        apps={
            EVERY_FIELD: {
                "name": "replaced",
                "nodeInfoList": [],
                "outputs": [{"nodeId": "1", "outputType": "3d"}],
            }
        },
    )
    emu = Emulator(cfg)
    assert emu.catalog.workflows["5"].name == "tiny"
    assert emu.catalog.workflows[T2I].name == "text-to-image"
    assert emu.catalog.apps[EVERY_FIELD].name == "replaced"
    with pytest.raises(ValueError, match=r"workflows\[6\]\.prompt: no output node"):
        Emulator(config(workflows={"6": {"prompt": {"1": {"class_type": "X", "inputs": {}}}}}))
    with pytest.raises(ValueError, match=r"apps\[7\]\.nodeInfoList\[0\]: no nodeId"):
        Emulator(config(apps={"7": {"nodeInfoList": [{"fieldType": "BLOB"}], "outputs": []}}))


def test_samples_ship_in_the_wheel(tmp_path: Any) -> None:
    """The built wheel carries samples/*.json, and the emulator imported from the wheel
    itself (run from /) knows the sample workflows and apps."""
    import subprocess
    import sys
    import zipfile

    from tests.helpers import ROOT

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("rhbatch-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "rhbatch/emulator/samples/workflows.json" in names
    assert "rhbatch/emulator/samples/apps.json" in names
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rhbatch.emulator.catalog as c; "
        "assert c.__file__.startswith(sys.argv[1]), c.__file__; "
        "from rhbatch.emulator import EmulatorConfig; cat = c.Catalog.load(EmulatorConfig()); "
        "print(sorted(cat.workflows), sorted(cat.apps))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(wheel)],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        f"['{T2I}',",
        f"'{I2V}',",
        f"'{NEVER_RUN}']",
        f"['{EVERY_FIELD}',",
        f"'{APP_I2V}',",
        f"'{APP_NEVER_RUN}']",
    ]
