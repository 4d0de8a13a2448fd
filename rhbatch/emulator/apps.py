"""What an AI app shows before it is run: its call example, the app list, its cover.

``GET /api/webapp/apiCallDemo?apiKey=&webappId=`` answers the app's name and its
``nodeInfoList`` (``fieldValue`` as text, ``fieldData`` exactly as the app gives it:
``app_inputs.served``), with covers, tags, statistics and a curl example; an app never
run on the web lists no nodes; an unknown app is 901. ``POST
/openapi/v2/aiapp/list`` pages through the apps (``Authorization: <key>``, with or
without ``Bearer``), each record with an ``invokeExample`` curl that names
``/run/ai-app/<webappId>``. Covers are PNGs the emulator serves.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rhbatch.emulator import replies
from rhbatch.emulator.app_inputs import served
from rhbatch.emulator.catalog import App
from rhbatch.emulator.context import STATE
from rhbatch.emulator.gate import after, bearer, before, known, read_json
from rhbatch.emulator.outputs import make_media

if TYPE_CHECKING:
    from rhbatch.emulator.server import Emulator

SORTS = ("RECOMMEND", "HOTTEST", "NEWEST")
MAX_PAGE = 50


def node_info(app: App) -> list[dict[str, Any]]:
    return [served(item) for item in app.nodes]


def statistics(emu: Emulator, app: App) -> dict[str, str]:
    base = {"likeCount": "0", "downloadCount": "0", "useCount": "0", "pv": "0", "collectCount": "0"}
    base.update({k: str(v) for k, v in app.statistics.items()})
    base["useCount"] = str(int(base["useCount"]) + emu.app_runs[app.id])
    return base


def cover_url(emu: Emulator, app: App) -> str:
    return f"{emu.base_url}/covers/{app.id}.png"


def curl(url: str, auth: str, body: dict[str, Any]) -> str:
    """A curl command line, the way RunningHub's pages show one (the key left for you)."""
    data = json.dumps(body, ensure_ascii=False, indent=4)
    return (
        f"curl --location --request POST '{url}' \\\n"
        f"--header '{auth}' \\\n"
        "--header 'Content-Type: application/json' \\\n"
        f"--data-raw '{data}'"
    )


async def api_call_demo(request: web.Request) -> web.StreamResponse:
    """``GET /api/webapp/apiCallDemo?apiKey=&webappId=``."""
    emu = request.app[STATE]
    key = f"demo#{emu.next_attempt('demo')}"
    early = await before(emu, request, "other", key)
    if early is not None:
        return early
    api_key = request.query.get("apiKey") or bearer(request)
    if not known(emu, api_key):
        return replies.legacy_error("802")
    webapp_id = request.query.get("webappId", "")
    if not webapp_id:
        return replies.legacy_error("301")
    app = emu.catalog.apps.get(webapp_id)
    if app is None:
        return replies.legacy_error("901")
    nodes = node_info(app) if app.ran else []
    example = {
        "webappId": int(app.id) if app.id.isdigit() else app.id,
        "apiKey": "[Your API KEY]",
        "nodeInfoList": [
            {k: n[k] for k in ("nodeId", "fieldName", "fieldValue", "description")} for n in nodes
        ],
    }
    data = {
        "webappName": app.name,
        "nodeInfoList": nodes,
        "covers": [
            {
                "id": "1",
                "objName": f"{app.id}.png",
                "url": cover_url(emu, app),
                "thumbnailUri": cover_url(emu, app),
                "imageWidth": "64",
                "imageHeight": "64",
            }
        ],
        "tags": app.tags,
        "statisticsInfo": statistics(emu, app),
        "accessEncrypted": False,
        "curl": curl(
            f"{emu.base_url}/task/openapi/ai-app/run", "Content-Type: application/json", example
        ),
    }
    return await after(emu, request, "other", key, replies.envelope(0, "success", data))


async def app_list(request: web.Request) -> web.StreamResponse:
    """``POST /openapi/v2/aiapp/list {current, size, sort, days}``."""
    emu = request.app[STATE]
    key = f"applist#{emu.next_attempt('applist')}"
    early = await before(emu, request, "other", key)
    if early is not None:
        return early
    auth = request.headers.get("Authorization", "").strip()
    api_key = bearer(request) or auth
    if not known(emu, api_key):
        return replies.legacy_error("802")
    body = await read_json(request)
    body = body if isinstance(body, dict) else {}
    current, size, sort = (
        body.get("current", 1),
        body.get("size", 10),
        body.get("sort", "RECOMMEND"),
    )
    valid = all(isinstance(n, int) and not isinstance(n, bool) for n in (current, size))
    if not valid or not 1 <= size <= MAX_PAGE or current < 1 or sort not in SORTS:
        return replies.legacy_error("301")
    apps = list(emu.catalog.apps.values())
    if sort == "HOTTEST":
        apps.sort(key=lambda a: -int(statistics(emu, a)["useCount"]))
    elif sort == "NEWEST":
        apps.sort(key=lambda a: (len(a.id), a.id), reverse=True)
    page = apps[(current - 1) * size : current * size]
    pages = math.ceil(len(apps) / size)
    records = [
        {
            "title": app.name,
            "description": app.description_en or app.description,
            "cover": cover_url(emu, app),
            "invokeExample": curl(
                f"{emu.base_url}/openapi/v2/run/ai-app/{app.id}",
                "Authorization: Bearer [Your API KEY]",
                {
                    "nodeInfoList": [
                        {k: n[k] for k in ("nodeId", "fieldName", "fieldValue", "description")}
                        for n in node_info(app)
                    ]
                },
            ),
        }
        for app in page
    ]
    data = {
        "records": records,
        "current": current,
        "size": size,
        "total": len(apps),
        "pages": pages,
        "hasNext": current < pages,
    }
    return await after(emu, request, "other", key, replies.envelope(0, "success", data))


async def cover(request: web.Request) -> web.Response:
    """``GET /covers/<webappId>.png``: a small PNG for the app."""
    emu = request.app[STATE]
    app = emu.catalog.apps.get(request.match_info["name"].removesuffix(".png"))
    if app is None or not request.match_info["name"].endswith(".png"):
        return web.Response(status=404, text="NoSuchKey")
    return web.Response(
        body=make_media("image", f"cover:{app.id}").read(), content_type="image/png"
    )
