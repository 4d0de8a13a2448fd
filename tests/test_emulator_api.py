"""The emulator's API: documented shapes, the account model, time, uploads, webhooks."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from rhbatch.emulator import Account, Duration, Emulator, EmulatorConfig
from rhbatch.emulator.config import DEFAULT_KEY
from tests.emu_helpers import MULTIMODAL, V1_LITE, Api, doc_body, run
from tests.helpers import DOC_BODIES, ffprobe

FAST = {
    "durations": {
        k: {"kind": "fixed", "value": 1.0} for k in ("video", "image", "audio", "3d", "string")
    }
}


def config(**kw: Any) -> EmulatorConfig:
    data: dict[str, Any] = {"speed": 100.0, **FAST}
    data.update(kw)
    return EmulatorConfig.from_dict(data)


@pytest.mark.parametrize(
    ("page", "endpoint"),
    [
        ("seedance-2.0-multimodal-video", MULTIMODAL),
        ("seedance-v1-lite-reference-to-video", V1_LITE),
    ],
)
def test_doc_bodies_succeed_with_a_valid_mp4(page: str, endpoint: str, tmp_path: Any) -> None:
    """Each documentation page's exact body is accepted, runs to SUCCESS, and yields a real MP4."""

    async def go() -> tuple[dict[str, Any], dict[str, Any], bytes]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            status, sub = await api.submit(doc_body(page), endpoint)
            assert status == 200
            done = await api.wait(sub["taskId"])
            code, data = await api.get(done["results"][0]["url"])
            assert code == 200
            return sub, done, data

    sub, done, data = run(go)
    assert len(sub["taskId"]) == 19
    assert sub["taskId"].isdigit()
    assert sub["status"] == "RUNNING"
    assert sub["errorCode"] == ""
    assert sub["results"] is None
    assert len(sub["clientId"]) == 32
    assert json.loads(sub["promptTips"])["result"] is True
    assert done["status"] == "SUCCESS"
    assert done["results"][0]["outputType"] == "mp4"
    assert done["results"][0]["text"] is None
    assert set(done["usage"]) == {
        "consumeMoney",
        "consumeCoins",
        "taskCostTime",
        "thirdPartyConsumeMoney",
    }
    assert all(isinstance(v, str) for v in done["usage"].values())
    assert data[4:8] == b"ftyp"
    (tmp_path / "probe.mp4").write_bytes(data)
    probe = ffprobe(tmp_path / "probe.mp4")
    assert "mp4" in probe["format"]["format_name"]
    assert probe["streams"][0]["codec_type"] == "video"


def test_price_from_the_public_rules() -> None:
    """A 5 s 720p multimodal video costs 1.2 CNY/s: 6 CNY, charged on success."""

    async def go() -> tuple[dict[str, Any], float]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())
            done = await api.wait(sub["taskId"])
            return done, emu.board.accounts[emu.api_key].balance

    done, balance = run(go)
    assert done["usage"]["thirdPartyConsumeMoney"] == "6"
    assert balance == 10_000 - 6


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        ("bad key", "1002"),
        ("normal tier", "1014"),
        ("bad params", "1007"),
        ("no balance", "416"),
        ("missing upload", "1013"),
    ],
)
def test_rejections_use_documented_codes(setup: str, expect: str) -> None:
    """Each rejection path returns its code in a v2 object with no taskId, HTTP 200 by default."""
    accounts = {
        DEFAULT_KEY: {
            "tier": "NORMAL" if setup == "normal tier" else "SHARED",
            "balance": 1.0 if setup == "no balance" else 100.0,
        }
    }

    async def go() -> tuple[int, Any]:
        async with Emulator(config(accounts=accounts)) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s, key="nope" if setup == "bad key" else None)
            body = doc_body()
            if setup == "bad params":
                body["duration"] = 5
            if setup == "missing upload":
                body["imageUrls"] = [f"{emu.base_url}/media/input/{'0' * 64}.jpg"]
            return await api.submit(body)

    status, data = run(go)
    assert status == 200
    assert data["errorCode"] == expect
    assert data["taskId"] is None
    assert data["errorMessage"]


def test_rejections_as_http_statuses() -> None:
    """With reject_style http, the same body comes with a 4xx status."""

    async def go() -> list[tuple[int, str]]:
        async with Emulator(config(reject_style="http")) as emu, aiohttp.ClientSession() as s:
            out = []
            for key, body in (("nope", doc_body()), (None, doc_body() | {"ratio": "5:4"})):
                status, data = await Api(emu, s, key).submit(body)
                out.append((status, data["errorCode"]))
            return out

    assert run(go) == [(401, "1002"), (400, "1007")]


@pytest.mark.parametrize(("style", "status"), [("http200", 200), ("http", 404)])
def test_unknown_model_endpoint_follows_reject_style(style: str, status: int) -> None:
    """A POST to a model-shaped path that is no endpoint is refused with 1001, its HTTP
    status as reject_style says (200 by default, 404 under http)."""

    async def go() -> tuple[int, Any]:
        async with Emulator(config(reject_style=style)) as emu, aiohttp.ClientSession() as s:
            return await Api(emu, s).submit({"prompt": "x"}, "seedance-9/nothing")

    code, data = run(go)
    assert (code, data["errorCode"], data["taskId"]) == (status, "1001", None)
    assert data["errorMessage"] == "Invalid URL: no model endpoint seedance-9/nothing"


@pytest.mark.parametrize("style", ["v2", "envelope"])
def test_unknown_task(style: str) -> None:
    """Querying an unknown task id gives code 1004, in the configured shape."""

    async def go() -> dict[str, Any]:
        async with Emulator(config(not_found_style=style)) as emu, aiohttp.ClientSession() as s:
            return await Api(emu, s).query("1999999999999999999")

    data = run(go)
    if style == "v2":
        assert (data["errorCode"], data["status"]) == ("1004", "FAILED")
    else:
        assert data == {"code": 1004, "msg": "Task not found", "data": None}


def test_concurrency_queue_and_balance_under_200_submits() -> None:
    """200 concurrent submits against 10 slots, a queue of 100 and money for 150 tasks:
    110 accepted, the rest refused with the back-pressure code; never more than 10 running;
    the balance pays exactly for the successes."""
    now = [0.0]
    accounts = {DEFAULT_KEY: {"concurrency": 10, "queue_limit": 100, "balance": 150 * 6.0}}

    async def go() -> tuple[list[Any], dict[str, Any], float]:
        async with (
            Emulator(config(accounts=accounts), clock=lambda: now[0]) as emu,
            aiohttp.ClientSession() as s,
        ):
            api = Api(emu, s)
            bodies = [doc_body() | {"prompt": f"shot {i}"} for i in range(200)]
            replies = await asyncio.gather(*(api.submit(b) for b in bodies))
            now[0] = 1000.0  # long enough for every accepted task to have run
            ids = [d["taskId"] for _, d in replies if d["taskId"]]
            finals = await asyncio.gather(*(api.query(t) for t in ids))
            assert all(f["status"] == "SUCCESS" for f in finals)
            return replies, emu.stats(), emu.board.accounts[emu.api_key].balance

    replies, stats, balance = run(go)
    codes = [d["errorCode"] for _, d in replies]
    assert codes.count("") == 110
    assert codes.count("421") == 90
    assert stats["peakRunning"] == 10
    assert stats["byStatus"] == {"SUCCESS": 110}
    assert balance == pytest.approx(150 * 6.0 - 110 * 6.0)


def test_balance_refuses_before_going_negative() -> None:
    """With money for 3 tasks, the 4th concurrent submit is refused with 416."""
    accounts = {DEFAULT_KEY: {"balance": 18.0}}

    async def go() -> list[str]:
        async with Emulator(config(accounts=accounts)) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            out = []
            for i in range(4):
                _, d = await api.submit(doc_body() | {"prompt": f"p{i}"})
                out.append(d["errorCode"])
            return out

    assert run(go) == ["", "", "", "416"]


def test_time_scale_with_an_injected_clock() -> None:
    """A 60 s task at speed 100 runs 0.6 emulator seconds: RUNNING at 0.59, SUCCESS at 0.61."""
    now = [0.0]
    cfg = EmulatorConfig.from_dict(
        {"speed": 100.0, "durations": {"video": {"kind": "fixed", "value": 60}}}
    )

    async def go() -> list[str]:
        async with Emulator(cfg, clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())
            seen = []
            for t in (0.0, 0.59, 0.61):
                now[0] = t
                seen.append((await api.query(sub["taskId"]))["status"])
            return seen

    assert run(go) == ["RUNNING", "RUNNING", "SUCCESS"]


def test_create_phase() -> None:
    """With create_seconds set, a new task reports CREATE before RUNNING."""
    now = [0.0]
    cfg = config(create_seconds=10.0, durations={"video": {"kind": "fixed", "value": 100}})

    async def go() -> list[str]:
        async with Emulator(cfg, clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())
            seen = []
            for t in (0.05, 0.2, 1.5):
                now[0] = t
                seen.append((await api.query(sub["taskId"]))["status"])
            return seen

    assert run(go) == ["CREATE", "RUNNING", "SUCCESS"]


def test_the_documentation_curl_request() -> None:
    """The seedance 2.0 page's curl request (its Authorization header twice, its exact body)
    ends in SUCCESS with an MP4."""
    body = (DOC_BODIES / "seedance-2.0-multimodal-video.json").read_bytes()

    async def go() -> tuple[dict[str, Any], bytes]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            auth = f"Bearer {emu.api_key}"
            headers = CIMultiDict(
                [
                    ("Authorization", auth),
                    ("Authorization", auth),
                    ("Content-Type", "application/json"),
                ]
            )
            async with s.post(
                f"{emu.base_url}/openapi/v2/{MULTIMODAL}", data=body, headers=headers
            ) as r:
                sub = await r.json()
            api = Api(emu, s)
            done = await api.wait(sub["taskId"])
            return done, (await api.get(done["results"][0]["url"]))[1]

    done, data = run(go)
    assert done["status"] == "SUCCESS"
    assert data[4:8] == b"ftyp"


def test_queued_tasks_start_when_a_slot_frees() -> None:
    """With one slot, the second task waits QUEUED and starts exactly when the first ends."""
    now = [0.0]
    cfg = config(
        accounts={DEFAULT_KEY: {"concurrency": 1}},
        durations={"video": {"kind": "fixed", "value": 100}},
    )

    async def go() -> tuple[str, list[str], Any]:
        async with Emulator(cfg, clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, a = await api.submit(doc_body() | {"prompt": "a"})
            _, b = await api.submit(doc_body() | {"prompt": "b"})
            now[0] = 1.5
            states = [(await api.query(t))["status"] for t in (a["taskId"], b["taskId"])]
            task_b = emu.board.tasks[b["taskId"]]
            return b["status"], states, (task_b.started, task_b.ended)

    first, states, times = run(go)
    assert first == "QUEUED"
    assert states == ["SUCCESS", "RUNNING"]
    assert times == (1.0, None)


def test_cancel_running_and_queued() -> None:
    """Cancelling frees the slot and refunds the reservation; unknown tasks answer 807."""
    cfg = config(
        accounts={DEFAULT_KEY: {"concurrency": 1}},
        durations={"video": {"kind": "fixed", "value": 10_000}},
    )

    async def go() -> tuple[list[Any], list[str], float, float]:
        async with Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, a = await api.submit(doc_body() | {"prompt": "a"})
            _, b = await api.submit(doc_body() | {"prompt": "b"})
            answers = []
            for task_id in (b["taskId"], a["taskId"], "1"):
                _, data = await api.post(
                    "/task/openapi/cancel", {"apiKey": emu.api_key, "taskId": task_id}
                )
                answers.append(data)
            states = [(await api.query(t["taskId"]))["status"] for t in (a, b)]
            state = emu.board.accounts[emu.api_key]
            return answers, states, state.reserved, state.balance

    answers, states, reserved, balance = run(go)
    assert answers[:2] == [{"code": 0, "msg": "success", "data": None}] * 2
    assert answers[2] == {"code": 807, "msg": "APIKEY_TASK_NOT_FOUND", "data": None}
    assert states == ["CANCEL", "CANCEL"]
    assert (reserved, balance) == (0.0, 10_000.0)


def test_queue_status_account_status_and_price_preview() -> None:
    """The account calls answer in their documented envelopes, numbers as strings."""
    cfg = config(durations={"video": {"kind": "fixed", "value": 10_000}})

    async def go() -> tuple[Any, Any, Any, Any]:
        async with Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            await api.submit(doc_body())
            async with s.get(emu.base_url + "/openapi/v2/queue/status", headers=api.headers) as r:
                queue = await r.json()
            _, account = await api.post("/uc/openapi/accountStatus", {"apikey": emu.api_key})
            _, bad = await Api(emu, s, "nope").post("/uc/openapi/accountStatus", {"apikey": "nope"})
            _, preview = await api.post(
                f"/openapi/v2/price-preview/{MULTIMODAL}", doc_body() | {"resolution": "480p"}
            )
            return queue, account, bad, preview

    queue, account, bad, preview = run(go)
    assert queue == {
        "code": 0,
        "msg": "success",
        "data": {
            "apiKeyType": "SHARED",
            "concurrentLimit": 50,
            "runningCount": "1",
            "queuedCount": "0",
            "totalCurrentTasks": "1",
        },
    }
    assert account["data"] == {
        "remainCoins": "0",
        "currentTaskCounts": "1",
        "remainMoney": "10000.00",
        "currency": "CNY",
        "apiType": "SHARED",
    }
    assert bad == {"code": 802, "msg": "APIKEY_UNAUTHORIZED", "data": None}
    assert preview["estimatedPrice"] == 3.0
    assert preview["errorCode"] == ""
    assert preview["currency"] == "CNY"


def test_upload_then_use_the_url() -> None:
    """An upload answers {code, message, data}; its download_url serves the bytes and
    can be sent as a reference; an upload without a key is refused."""

    async def go() -> tuple[Any, bytes, Any, Any, Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            form = aiohttp.FormData()
            form.add_field(
                "file",
                b"\xff\xd8\xff\xe0 jpeg bytes",
                filename="ref.jpg",
                content_type="image/jpeg",
            )
            _, up = await api.post("/openapi/v2/media/upload/binary", data=form)
            _, got = await api.get(up["data"]["download_url"])
            _, sub = await api.submit(doc_body() | {"imageUrls": [up["data"]["download_url"]]})
            form = aiohttp.FormData()
            form.add_field("file", b"x", filename="a.jpg")
            _, refused = await Api(emu, s, "nope").post(
                "/openapi/v2/media/upload/binary", data=form
            )
            return up, got, sub, refused, emu.stats()

    up, got, sub, refused, stats = run(go)
    assert up["code"] == 0
    assert up["message"] == "success"
    assert up["data"]["type"] == "image"
    assert up["data"]["size"] == "15"
    assert up["data"]["fileName"].startswith("api/")
    assert up["data"]["fileName"].endswith(".jpg")
    assert got == b"\xff\xd8\xff\xe0 jpeg bytes"
    assert sub["errorCode"] == ""
    assert sub["taskId"]
    assert refused == {"code": 401, "message": "ApiKey verification failed", "data": None}
    assert (stats["uploads"], stats["uploadBytes"]) == (1, 15)


def test_upload_too_large() -> None:
    """An upload over the limit is refused with 1008."""

    async def go() -> Any:
        async with Emulator(config(upload_max_mb=0.001)) as emu, aiohttp.ClientSession() as s:
            form = aiohttp.FormData()
            form.add_field("file", b"x" * 2000, filename="big.png", content_type="image/png")
            return (await Api(emu, s).post("/openapi/v2/media/upload/binary", data=form))[1]

    assert run(go) == {"code": 1008, "message": "File size limit exceeded", "data": None}


def test_result_urls_expire() -> None:
    """After the result TTL a result URL answers 403."""
    now = [0.0]
    cfg = config(result_ttl=100.0)  # 1 emulator second at speed 100

    async def go() -> tuple[int, int]:
        async with Emulator(cfg, clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())
            now[0] = 0.5
            url = (await api.query(sub["taskId"]))["results"][0]["url"]
            fresh, _ = await api.get(url)
            now[0] = 2.0
            stale, _ = await api.get(url)
            return fresh, stale

    assert run(go) == (200, 403)


@pytest.mark.parametrize(
    ("endpoint", "body", "exts"),
    [
        (
            "alibaba/wan-2.5-preview/text-to-image",
            {"prompt": "a fox", "size": "1280*1280", "n": 3},
            ["png"] * 3,
        ),
        ("rhart-text-g-25-flash/text-to-text", None, ["txt"]),
        ("hunyuan3d-v3.1/text-to-3d", None, ["glb"]),
        ("rhart-audio/text-to-audio/speech-02-hd", None, ["wav"]),
        (MULTIMODAL, doc_body() | {"returnLastFrame": True}, ["mp4", "png"]),
    ],
)
def test_outputs_by_type(endpoint: str, body: dict[str, Any] | None, exts: list[str]) -> None:
    """Results match the endpoint's output type; text endpoints also carry the text."""
    from rhbatch.endpoints.registry import registry

    schema = registry().schema(endpoint)
    if body is None:
        body = {
            k: (
                "some text"
                if v.get("type") == "string" and "enum" not in v
                else v.get("default", v.get("enum", [None])[0])
            )
            for k, v in schema.properties.items()
            if k in schema.required
        }

    async def go() -> tuple[dict[str, Any], list[bytes]]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(body, endpoint)
            assert sub["errorCode"] == "", sub
            done = await api.wait(sub["taskId"])
            files = [(await api.get(r["url"]))[1] for r in done["results"]]
            return done, files

    done, files = run(go)
    assert [r["outputType"] for r in done["results"]] == exts
    magic = {"png": b"\x89PNG", "glb": b"glTF", "wav": b"RIFF"}
    for ext, data in zip(exts, files, strict=True):
        if ext in magic:
            assert data.startswith(magic[ext])
    if exts == ["txt"]:
        assert done["results"][0]["text"]
        assert files[0].decode() == done["results"][0]["text"]


def test_webhook_delivered_with_retries() -> None:
    """A submit with webhookUrl gets TASK_END posted; a receiver failing twice gets it on the third try."""
    seen: list[dict[str, Any]] = []
    statuses = iter([500, 503, 200])

    async def hook(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.Response(status=next(statuses))

    async def go() -> dict[str, Any]:
        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
                api = Api(emu, s)
                _, sub = await api.submit(
                    doc_body() | {"webhookUrl": f"http://127.0.0.1:{port}/hook"}
                )
                for _ in range(300):
                    if emu.webhooks["delivered"]:
                        break
                    await asyncio.sleep(0.01)
                return {"task": sub["taskId"], **emu.stats()["webhooks"]}
        finally:
            await runner.cleanup()

    result = run(go)
    assert result["delivered"] == 1
    assert result["attempts"] == 3
    assert len(seen) == 3
    event = seen[-1]
    assert event["event"] == "TASK_END"
    assert event["taskId"] == result["task"]
    data = json.loads(event["eventData"])
    assert data["status"] == "SUCCESS"
    assert data["results"][0]["outputType"] == "mp4"


def test_stats_over_http_count_submissions_and_polls() -> None:
    """GET /_emulator/stats reports submissions per body and polls per task."""

    async def go() -> dict[str, Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())
            await api.submit(doc_body())  # the same body again: paid twice
            for _ in range(3):
                await api.query(sub["taskId"])
            async with s.get(emu.base_url + "/_emulator/stats?tasks=1") as r:
                data: dict[str, Any] = await r.json()
                return data

    stats = run(go)
    assert stats["submissions"] == 2
    assert list(stats["duplicateSubmissions"].values()) == [2]
    assert stats["pollsPerTask"][stats["taskList"][0]["taskId"]] == 3
    assert {t["status"] for t in stats["taskList"]} <= {"RUNNING", "SUCCESS"}


def test_cli_serves_and_stops_on_sigterm() -> None:
    """`rhbatch emulator --port 0` prints its URL and key, serves, and exits 0 on SIGTERM."""
    command = [
        sys.executable,
        "-m",
        "rhbatch",
        "emulator",
        "--port",
        "0",
        "--profile",
        "flaky",
        "--seed",
        "3",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            key_line = proc.stdout.readline()
            assert first.startswith("RunningHub emulator on http://127.0.0.1:")
            assert "(profile flaky, speed 1x, seed 3)" in first
            url = first.split()[3]
            assert key_line.strip() == f"API key: {DEFAULT_KEY}"

            async def stats() -> dict[str, Any]:
                async with aiohttp.ClientSession() as s, s.get(url + "/_emulator/stats") as r:
                    data: dict[str, Any] = await r.json()
                    return data

            assert run(stats)["config"] == {"seed": 3, "speed": 1.0}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    assert proc.returncode == 0


def test_config_file_and_unknown_settings(tmp_path: Any) -> None:
    """A YAML config file overrides the profile; unknown settings are refused by name."""
    path = tmp_path / "emu.yaml"
    path.write_text(
        "speed: 50\naccounts:\n  k1: {concurrency: 3, balance: 5}\nfaults:\n  stuck: {rate: 0.5}\n"
    )
    cfg = EmulatorConfig.load("flaky", path)
    assert cfg.speed == 50
    assert cfg.accounts["k1"] == Account(concurrency=3, balance=5)
    assert cfg.faults["stuck"].rate == 0.5
    assert cfg.faults["http_503"].rate == 0.03
    with pytest.raises(ValueError, match="unknown emulator setting"):
        EmulatorConfig.from_dict({"sped": 2})
    with pytest.raises(ValueError, match="unknown fault 'gremlins'"):
        EmulatorConfig.from_dict({"faults": {"gremlins": {"rate": 1}}})
    assert Duration().kind == "uniform"


def test_a_task_starts_at_the_moment_it_was_submitted() -> None:
    """Time passes while a submit is handled (a busy machine): the task's start, or its
    place in the queue, is judged at its submit time, not some milliseconds later."""
    ticks = [0.0]

    def clock() -> float:  # every reading of the clock takes 10 ms
        ticks[0] += 0.01
        return ticks[0]

    async def go() -> list[dict[str, Any]]:
        accounts = {DEFAULT_KEY: {"concurrency": 2}}
        long = {"video": {"kind": "fixed", "value": 1000}}  # 10 s at speed 100
        async with (
            Emulator(config(accounts=accounts, durations=long), clock=clock) as emu,
            aiohttp.ClientSession() as s,
        ):
            api = Api(emu, s)
            for i in range(3):
                await api.submit(doc_body() | {"prompt": f"boat {i}"})
            listed: list[dict[str, Any]] = emu.stats(tasks=True)["taskList"]
            return listed

    listed = run(go)
    assert [t["started"] == t["submitted"] for t in listed] == [True, True, False]
    assert [t["status"] for t in listed] == ["RUNNING", "RUNNING", "QUEUED"]
