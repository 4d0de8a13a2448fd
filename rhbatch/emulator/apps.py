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
from typing import Any

from aiohttp import web

from rhbatch.emulator import replies
from rhbatch.emulator.app_inputs import served
from rhbatch.emulator.catalog import App
from rhbatch.emulator.context import STATE, Context
from rhbatch.emulator.gate import Call, Refused, bearer, enveloped
from rhbatch.emulator.outputs import make_media

SORTS = ("RECOMMEND", "HOTTEST", "NEWEST")
MAX_PAGE = 50


def node_info(app: App) -> list[dict[str, Any]]:
    return [served(item) for item in app.nodes]


def statistics(emu: Context, app: App) -> dict[str, str]:
    base = {"likeCount": "0", "downloadCount": "0", "useCount": "0", "pv": "0", "collectCount": "0"}
    base.update({k: str(v) for k, v in app.statistics.items()})
    base["useCount"] = str(int(base["useCount"]) + emu.app_runs[app.id])
    return base


def cover_url(emu: Context, app: App) -> str:
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


def _query_key(request: web.Request, body: Any) -> str | None:
    """apiCallDemo's key: ``apiKey`` in the query string, else Bearer."""
    return request.query.get("apiKey") or bearer(request)


def _header_key(request: web.Request, body: Any) -> str | None:
    """The app list's key: the Authorization header, with or without ``Bearer``."""
    return bearer(request) or request.headers.get("Authorization", "").strip()


@enveloped("demo", who=_query_key)
def api_call_demo(call: Call) -> web.Response:
    """``GET /api/webapp/apiCallDemo?apiKey=&webappId=``."""
    emu = call.emu
    webapp_id = call.request.query.get("webappId", "")
    if not webapp_id:
        raise Refused("301")
    app = emu.catalog.apps.get(webapp_id)
    if app is None:
        raise Refused("901")
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
    return replies.envelope(0, "success", data)


@enveloped("applist", who=_header_key)
def app_list(call: Call) -> web.Response:
    """``POST /openapi/v2/aiapp/list {current, size, sort, days}``."""
    emu = call.emu
    body = call.body if isinstance(call.body, dict) else {}
    current, size, sort = (
        body.get("current", 1),
        body.get("size", 10),
        body.get("sort", "RECOMMEND"),
    )
    valid = all(isinstance(n, int) and not isinstance(n, bool) for n in (current, size))
    if not valid or not 1 <= size <= MAX_PAGE or current < 1 or sort not in SORTS:
        raise Refused("301")
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
    return replies.envelope(0, "success", data)


async def cover(request: web.Request) -> web.Response:
    """``GET /covers/<webappId>.png``: a small PNG for the app."""
    emu = request.app[STATE]
    app = emu.catalog.apps.get(request.match_info["name"].removesuffix(".png"))
    if app is None or not request.match_info["name"].endswith(".png"):
        return web.Response(status=404, text="NoSuchKey")
    return web.Response(
        body=make_media("image", f"cover:{app.id}").read(), content_type="image/png"
    )
