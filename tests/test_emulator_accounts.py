"""The emulator's webhooks, assets, resources, key list, query shape and unknown paths."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from rhbatch.emulator import Emulator
from rhbatch.emulator.config import DEFAULT_KEY
from tests.emu_helpers import MULTIMODAL, doc_body, run
from tests.test_emulator_families import EVERY_FIELD, T2I, Client, config, node, receiver


async def settle(emu: Emulator, task_id: str, status: str = "SUCCESS") -> dict[str, Any]:
    """Wait (a few ms at a time) until the task's webhook record reaches `status`."""
    for _ in range(400):
        hook = emu.hooks.get(task_id)
        if hook is not None and hook.status == status:
            break
        await asyncio.sleep(0.005)
    from rhbatch.emulator.hooks import detail

    return detail(emu.hooks[task_id])


# --- webhooks ----------------------------------------------------------------------------


def test_legacy_webhook_sends_the_outputs_envelope_as_text() -> None:
    """A legacy-started task's TASK_END carries eventData as the JSON text of the
    /task/openapi/outputs envelope."""

    async def go() -> tuple[str, list[Any], Any]:
        async with (
            receiver() as (url, seen),
            Emulator(config(seconds=0)) as emu,
            aiohttp.ClientSession() as s,
        ):
            c = Client(emu, s)
            made = await c.legacy("/task/openapi/create", {"workflowId": T2I, "webhookUrl": url})
            task_id = made["data"]["taskId"]
            await settle(emu, task_id)
            return task_id, seen, await c.legacy("/task/openapi/outputs", {"taskId": task_id})

    task_id, seen, outputs = run(go)
    assert len(seen) == 1
    assert seen[0]["event"] == "TASK_END"
    assert seen[0]["taskId"] == task_id
    assert isinstance(seen[0]["eventData"], str)
    assert json.loads(seen[0]["eventData"]) == outputs


@pytest.mark.parametrize("form", ["string", "object"])
def test_v2_webhook_sends_the_task_object(form: str) -> None:
    """A v2-started task's TASK_END carries the v2 task object, as JSON text or as an
    object as webhook_event_data says."""

    async def go() -> tuple[list[Any], dict[str, Any]]:
        cfg = config(seconds=0, webhook_event_data=form)
        async with receiver() as (url, seen), Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, made = await c.v2(f"/openapi/v2/run/ai-app/{EVERY_FIELD}", {"webhookUrl": url})
            await settle(emu, made["taskId"])
            return seen, await c.query(made["taskId"])

    seen, queried = run(go)
    data = seen[0]["eventData"]
    event = json.loads(data) if form == "string" else data
    assert isinstance(data, str if form == "string" else dict)
    assert event == queried
    assert event["results"][0]["nodeId"] == "30"


def test_webhook_detail_and_retry() -> None:
    """getWebhookDetail shows a delivery that failed every try (FAILED, retryCount, the
    receiver's answer, the key masked); retryWebhook delivers it again to the URL given."""

    async def go() -> tuple[Any, Any, Any, list[Any], list[Any], str, str]:
        cfg = config(seconds=0, webhook_retries=2)
        async with (
            receiver([500, 500, 500]) as (bad_url, bad_seen),
            receiver() as (good_url, good_seen),
            Emulator(cfg) as emu,
            aiohttp.ClientSession() as s,
        ):
            c = Client(emu, s)
            made = await c.legacy(
                "/task/openapi/create", {"workflowId": T2I, "webhookUrl": bad_url}
            )
            task_id = made["data"]["taskId"]
            await settle(emu, task_id, "FAILED")
            failed = await c.legacy("/task/openapi/getWebhookDetail", {"taskId": task_id})
            retried = await c.legacy(
                "/task/openapi/retryWebhook",
                {"webhookId": failed["data"]["id"], "webhookUrl": good_url},
            )
            await settle(emu, task_id, "SUCCESS")
            after = await c.legacy("/task/openapi/getWebhookDetail", {"taskId": task_id})
            return failed, retried, after, bad_seen, good_seen, emu.api_key, good_url

    failed, retried, after, bad_seen, good_seen, key, good_url = run(go)
    detail = failed["data"]
    assert set(detail) == {
        "id",
        "userApiKey",
        "taskId",
        "webhookUrl",
        "eventData",
        "callbackStatus",
        "callbackResponse",
        "retryCount",
        "createTime",
        "updateTime",
    }
    assert (detail["callbackStatus"], detail["retryCount"]) == ("FAILED", 2)
    assert detail["callbackResponse"] == "HTTP 500: ok"
    assert detail["userApiKey"] == key[:4] + "*" * 24 + key[-4:]
    assert key not in json.dumps(failed)
    assert json.loads(detail["eventData"])["code"] == 0
    assert len(detail["createTime"]) == len("2026-01-01 00:00:00")
    assert retried == {"code": 0, "msg": "", "data": None}
    assert (after["data"]["callbackStatus"], after["data"]["webhookUrl"]) == ("SUCCESS", good_url)
    assert after["data"]["retryCount"] == 3
    assert len(bad_seen) == 3
    assert good_seen == bad_seen[:1]


def test_webhook_detail_refusals() -> None:
    """A task that is not the key's is 807; a task without a webhook has no detail (data
    null); an unknown webhookId cannot be retried (301)."""

    async def go() -> list[Any]:
        async with Emulator(config(seconds=0)) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            made = await c.legacy("/task/openapi/create", {"workflowId": T2I})
            return [
                await c.legacy("/task/openapi/getWebhookDetail", {"taskId": "1"}),
                await c.legacy(
                    "/task/openapi/getWebhookDetail", {"taskId": made["data"]["taskId"]}
                ),
                await c.legacy(
                    "/task/openapi/retryWebhook", {"webhookId": "9", "webhookUrl": "http://x"}
                ),
            ]

    assert run(go) == [
        {"code": 807, "msg": "APIKEY_TASK_NOT_FOUND", "data": None},
        {"code": 0, "msg": "success", "data": None},
        {"code": 301, "msg": "PARAMS_INVALID", "data": None},
    ]


# --- assets ------------------------------------------------------------------------------


def test_asset_lifecycle() -> None:
    """An asset is PROCESSING, then ACTIVE with a previewUrl; it is listed, renamed and
    deleted; a bad assetType or an unknown id is 1007, an unknown key 802."""
    now = [0.0]

    async def go() -> dict[str, Any]:
        async with Emulator(config(), clock=lambda: now[0]) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            body = {
                "groupId": "group-1",
                "url": "https://example.com/a.png",
                "assetType": "Image",
                "name": "RHas01",
            }
            out: dict[str, Any] = {"created": (await c.v2("/openapi/v2/assets/create", body))[1]}
            asset = {"assetId": out["created"]["data"]["assetId"]}
            out["early"] = (await c.v2("/openapi/v2/assets/query", asset))[1]
            now[0] = 0.06  # 5 s at speed 100
            out["ready"] = (await c.v2("/openapi/v2/assets/query", asset))[1]
            out["list"] = (
                await c.v2("/openapi/v2/assets/list", {"pageNumber": 1, "pageSize": 20})
            )[1]
            out["renamed"] = (await c.v2("/openapi/v2/assets/update", asset | {"name": "cat"}))[1]
            out["deleted"] = (await c.v2("/openapi/v2/assets/delete", asset))[1]
            out["gone"] = (await c.v2("/openapi/v2/assets/query", asset))[1]
            out["bad_type"] = (
                await c.v2("/openapi/v2/assets/create", body | {"assetType": "Text"})
            )[1]
            out["bad_key"] = (await Client(emu, s, "nope").v2("/openapi/v2/assets/list", {}))[1]
            return out

    out = run(go)
    assert out["created"]["code"] == 0
    assert out["created"]["data"]["assetId"].startswith("asset-")
    assert out["created"]["data"]["status"] == "PROCESSING"
    assert (out["early"]["data"]["status"], out["early"]["data"]["previewUrl"]) == (
        "PROCESSING",
        "",
    )
    ready = out["ready"]["data"]
    assert (ready["status"], ready["assetType"], ready["previewUrl"]) == (
        "ACTIVE",
        "Image",
        "https://example.com/a.png",
    )
    assert out["list"]["data"]["totalCount"] == 1
    assert out["list"]["data"]["items"][0]["assetId"] == ready["assetId"]
    assert out["renamed"]["data"]["name"] == "cat"
    assert out["deleted"] == {"code": 0, "msg": "success", "data": None}
    assert out["gone"]["code"] == 1007
    assert out["bad_type"]["msg"] == "Invalid parameters: assetType must be Image, Video or Audio"
    assert out["bad_key"]["code"] == 802


def test_asset_references_in_a_model_submit() -> None:
    """asset://<id> in a model submit must name an ACTIVE asset of this key, of the field's
    kind: anything else is 1013."""
    now = [0.0]
    accounts = {DEFAULT_KEY: {}, "otherkey0000000000000000000000000": {}}

    async def go() -> list[str]:
        async with (
            Emulator(config(accounts=accounts), clock=lambda: now[0]) as emu,
            aiohttp.ClientSession() as s,
        ):
            mine, theirs = Client(emu, s), Client(emu, s, "otherkey0000000000000000000000000")

            async def asset(c: Client, kind: str) -> str:
                body = {"url": "https://example.com/x", "assetType": kind, "name": "x"}
                return f"asset://{(await c.v2('/openapi/v2/assets/create', body))[1]['data']['assetId']}"

            image, video, other = (
                await asset(mine, "Image"),
                await asset(mine, "Video"),
                await asset(theirs, "Image"),
            )
            early = (
                await mine.v2(f"/openapi/v2/{MULTIMODAL}", doc_body() | {"imageUrls": [image]})
            )[1]
            now[0] = 1.0
            codes = [early["errorCode"]]
            for ref in (image, video, other, "asset://asset-nothing"):
                _, reply = await mine.v2(
                    f"/openapi/v2/{MULTIMODAL}", doc_body() | {"imageUrls": [ref]}
                )
                codes.append(reply["errorCode"] or reply["status"])
            return codes

    assert run(go) == ["1013", "RUNNING", "1013", "1013", "1013"]


# --- the key list and resources -----------------------------------------------------------


def test_api_key_list_masks_the_key() -> None:
    """api-key/list answers the documented fields with the key masked, never whole."""

    async def go() -> tuple[Any, str]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            headers = {"Authorization": f"Bearer {emu.api_key}"}
            return (await c.call("GET", "/openapi/v2/api-key/list", headers=headers))[
                1
            ], emu.api_key

    reply, key = run(go)
    assert (reply["code"], reply["msg"]) == (0, "success")
    (item,) = reply["data"]
    assert set(item) == {
        "key",
        "apiKeyName",
        "status",
        "quotaLimit",
        "quotaUsed",
        "visible",
        "expireAt",
        "expireInMinute",
        "createdAt",
    }
    assert item["status"] == 1
    assert item["key"] == key[:4] + "*" * 24 + key[-4:]
    assert key not in json.dumps(reply)


def test_resource_list_pages_what_the_key_uploaded() -> None:
    """resource/list pages through the key's uploads, newest first, by resourceType."""

    async def go() -> tuple[Any, Any]:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            await c.upload(b"\x89PNG a", "a.png")
            form = aiohttp.FormData()
            form.add_field("file", b"RIFF wav", filename="b.wav", content_type="audio/wav")
            headers = {"Authorization": f"Bearer {emu.api_key}"}
            await c.call("POST", "/openapi/v2/media/upload/binary", data=form, headers=headers)
            everything = (await c.v2("/openapi/v2/resource/list", {"current": 1, "size": 10}))[1]
            images = (await c.v2("/openapi/v2/resource/list", {"resourceType": "IMAGE"}))[1]
            return everything, images

    everything, images = run(go)
    page = everything["data"]
    assert (page["total"], page["pages"], page["hasNext"], page["hasPrevious"]) == (
        2,
        1,
        False,
        False,
    )
    assert [(r["resourceName"], r["resourceType"]) for r in page["records"]] == [
        ("b.wav", "AUDIO"),
        ("a.png", "IMAGE"),
    ]
    assert page["records"][1]["nodeModelName"].startswith("api/")
    assert [r["resourceName"] for r in images["data"]["records"]] == ["a.png"]


# --- the v2 query and paths ---------------------------------------------------------------


def test_query_always_has_the_documented_fields() -> None:
    """A running task's query has usage (null values), failedReason {}, parentTaskId and
    taskUsageList; a cancelled one carries no errorMessage."""

    async def go() -> tuple[Any, Any]:
        async with Emulator(config(seconds=10_000)) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, made = await c.v2(f"/openapi/v2/{MULTIMODAL}", doc_body())
            running = await c.query(made["taskId"])
            await c.legacy("/task/openapi/cancel", {"taskId": made["taskId"]})
            return running, await c.query(made["taskId"])

    running, cancelled = run(go)
    nulls = dict.fromkeys(
        ("consumeMoney", "consumeCoins", "taskCostTime", "thirdPartyConsumeMoney")
    )
    assert running["usage"] == nulls
    assert (running["failedReason"], running["parentTaskId"]) == ({}, None)
    assert running["taskUsageList"] == [
        {"taskId": running["taskId"], "parentTaskId": None, "taskStatus": "RUNNING", "usage": nulls}
    ]
    assert (cancelled["status"], cancelled["errorCode"], cancelled["errorMessage"]) == (
        "CANCEL",
        "",
        "",
    )
    assert cancelled["failedReason"] == {}
    assert cancelled["usage"]["thirdPartyConsumeMoney"] == "0"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nothing/here", 404),
        ("POST", "/task/openapi/nope", 404),
        ("POST", "/api/webapp/list", 404),
        ("POST", "/openapi/v2/assets/frobnicate", 404),
        ("POST", "/openapi/v2/run/pipeline/1", 404),
        ("POST", "/openapi/v2/query/extra", 404),
        ("POST", "/openapi/v2/bad path/x", 404),
        ("GET", "/openapi/v2/nothing", 404),
        ("GET", f"/openapi/v2/{MULTIMODAL}", 405),
    ],
)
def test_paths_that_are_no_api(method: str, path: str, status: int) -> None:
    """A path that is no API call is 404 (405 for another method on a model endpoint)."""

    async def go() -> int:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            headers = {"Authorization": f"Bearer {emu.api_key}"}
            return (await c.call(method, path, {} if method == "POST" else None, headers=headers))[
                0
            ]

    assert run(go) == status


def test_api_call_demo_node_values_survive_a_run_unchanged() -> None:
    """Sending apiCallDemo's media defaults back unchanged fits (they are the app's saved files)."""

    async def go() -> Any:
        async with Emulator(config()) as emu, aiohttp.ClientSession() as s:
            c = Client(emu, s)
            _, demo = await c.call(
                "GET", f"/api/webapp/apiCallDemo?apiKey={emu.api_key}&webappId={EVERY_FIELD}"
            )
            items = [
                node(n["nodeId"], n["fieldName"], n["fieldValue"])
                for n in demo["data"]["nodeInfoList"]
            ]
            return (await c.v2(f"/openapi/v2/run/ai-app/{EVERY_FIELD}", {"nodeInfoList": items}))[1]

    made = run(go)
    assert made["status"] == "RUNNING"
    assert json.loads(made["promptTips"])["node_errors"] == {}


@pytest.mark.parametrize(
    "path",
    [
        "/task/openapi/retryWebhook",
        "/api/openapi/getLoraUploadUrl",
        "/api/openapi/getJsonApiFormat",
    ],
)
@pytest.mark.parametrize("body", [[1, 2], "text", 7])
def test_a_body_that_is_not_a_json_object_is_a_parameter_error(path: str, body: Any) -> None:
    """With a good Bearer key, a JSON list, string or number is refused as the call's
    parameters (301), not answered with a 500 by a broken emulator."""

    async def go() -> tuple[int, Any]:
        async with Emulator(config(seconds=0)) as emu, aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
            async with s.post(emu.base_url + path, json=body, headers=headers) as resp:
                return resp.status, await resp.json()

    status, reply = run(go)
    assert status == 200
    assert reply == {"code": 301, "msg": "PARAMS_INVALID", "data": None}
