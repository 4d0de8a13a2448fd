"""A key's things: Seedance 2.0 assets and the list of what the key uploaded.

``POST /openapi/v2/assets/{create|query|list|update|delete}`` (Bearer, the
``{code, msg, data}`` envelope) as the official ComfyUI_RH_OpenAPI nodes call them:
``create {groupId, url, assetType: Image|Video|Audio, name}`` answers ``{assetId,
status}``; the asset is PROCESSING for ``asset_ready_seconds``, then ACTIVE (FAILED
if its URL is one of our uploads that is not live); ``query {assetId}`` answers
``{assetId, name, groupId, assetType, status, previewUrl, url, createTime,
updateTime}``; ``list {pageNumber, pageSize, groupId?, status?, name?}`` answers
``{items, totalCount, pageNumber, pageSize}``. A model submit may then name it as
``asset://<assetId>``. ``POST /openapi/v2/resource/list`` pages through what the
key uploaded, in the page shape runninghub-sdk reads (a guess: undocumented).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from rhbatch.emulator import replies
from rhbatch.emulator.context import Asset, Context, Resource
from rhbatch.emulator.gate import Call, Refused, bearer_key, enveloped
from rhbatch.emulator.hooks import stamp
from rhbatch.emulator.refs import dead_upload

ASSET_TYPES = {"image": "Image", "video": "Video", "audio": "Audio"}

Action = Callable[[Context, str, dict[str, Any]], dict[str, Any] | None]


class Invalid(Exception):
    """A request the asset calls refuse (code 1007, with what was wrong)."""


def view(emu: Context, asset: Asset) -> dict[str, Any]:
    status = asset.status(emu.now())
    return {
        "assetId": asset.id,
        "name": asset.name,
        "groupId": asset.group_id,
        "assetType": asset.asset_type,
        "status": status,
        "previewUrl": asset.url if status == "ACTIVE" else "",
        "url": asset.url,
        "createTime": stamp(asset.created_wall),
        "updateTime": stamp(asset.updated_wall),
    }


def _text(body: dict[str, Any], name: str, required: bool = True) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(f"{name} must be {'a non-empty' if required else 'a'} string")
    return value.strip()


def _mine(emu: Context, api_key: str, body: dict[str, Any]) -> Asset:
    asset_id = _text(body, "assetId")
    asset = emu.assets.get(asset_id)
    if asset is None or asset.api_key != api_key:
        raise Invalid(f"no asset {asset_id}")
    return asset


def create(emu: Context, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    url = _text(body, "url")
    if not url.startswith(("http://", "https://")):
        raise Invalid("url must be an http(s) URL")
    kind = ASSET_TYPES.get(_text(body, "assetType").lower())
    if kind is None:
        raise Invalid("assetType must be Image, Video or Audio")
    stamp_now = time.strftime("%Y%m%d%H%M%S")
    asset_id = f"asset-{stamp_now}-{secrets.token_hex(3)[:5]}"
    now, wall = emu.now(), time.time()
    emu.assets[asset_id] = Asset(
        id=asset_id,
        api_key=api_key,
        name=_text(body, "name", required=False),
        group_id=_text(body, "groupId", required=False),
        asset_type=kind,
        url=url,
        created=now,
        ready_at=now + emu.config.scaled(emu.config.asset_ready_seconds),
        broken=dead_upload(emu, url),
        created_wall=wall,
        updated_wall=wall,
    )
    return {"assetId": asset_id, "status": emu.assets[asset_id].status(now)}


def query(emu: Context, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    return view(emu, _mine(emu, api_key, body))


def _page(body: dict[str, Any], number: str, size: str, usual: int, most: int) -> tuple[int, int]:
    """The page a list asks for: its number (from 1) and size (from 1 to ``most``), by the
    names the call gives them (``usual``: the size when none is given)."""
    at, count = body.get(number, 1), body.get(size, usual)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (at, count)):
        raise Invalid(f"{number} and {size} must be integers")
    if at < 1 or not 1 <= count <= most:
        raise Invalid(f"{number} from 1, {size} from 1 to {most}")
    return at, count


def listing(emu: Context, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    number, size = _page(body, "pageNumber", "pageSize", 20, 100)
    wanted = {k: _text(body, k, required=False) for k in ("groupId", "status", "name")}
    items = [
        view(emu, a)
        for a in emu.assets.values()
        if a.api_key == api_key
        and wanted["groupId"] in ("", a.group_id)
        and wanted["name"] in ("", a.name)
        and wanted["status"] in ("", a.status(emu.now()))
    ]
    page = items[(number - 1) * size : number * size]
    return {"items": page, "totalCount": len(items), "pageNumber": number, "pageSize": size}


def update(emu: Context, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    asset = _mine(emu, api_key, body)
    asset.name, asset.updated_wall = _text(body, "name"), time.time()
    return {"assetId": asset.id, "name": asset.name, "status": asset.status(emu.now())}


def delete(emu: Context, api_key: str, body: dict[str, Any]) -> None:
    del emu.assets[_mine(emu, api_key, body).id]


def handler(action: Action) -> Handler:
    """The HTTP call of one asset action: the Bearer key, a JSON object, the envelope."""

    @enveloped("assets", who=bearer_key)
    def answer(call: Call) -> web.Response:
        try:
            if not isinstance(call.body, dict):
                raise Invalid("the body must be a JSON object")
            data = action(call.emu, call.api_key, call.body)
        except Invalid as bad:
            raise Refused("1007", f"Invalid parameters: {bad}") from None
        return replies.envelope(0, "success", data)

    return answer


def resource_record(resource: Resource) -> dict[str, Any]:
    return {
        "id": resource.id,
        "resourceName": resource.name,
        "resourceType": resource.resource_type,
        "createTime": stamp(resource.created),
        "desc": "",
        "nodeModelName": resource.file_name,
        "posterUrl": "",
        "thumbnailUrl": "",
        "owner": {"name": "", "avatar": ""},
        "tags": [],
        "versions": [],
    }


def resources(emu: Context, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    """A page of what the key uploaded, newest first, by resourceType and name if given."""
    current, size = _page(body, "current", "size", 10, 50)
    kind = _text(body, "resourceType", required=False).upper()
    name = _text(body, "resourceName", required=False).lower()
    found = [
        r
        for r in reversed(emu.resources.get(api_key, []))
        if kind in ("", r.resource_type) and name in r.name.lower()
    ]
    pages = math.ceil(len(found) / size)
    return {
        "records": [resource_record(r) for r in found[(current - 1) * size : current * size]],
        "size": size,
        "current": current,
        "total": len(found),
        "pages": pages,
        "hasNext": current < pages,
        "hasPrevious": current > 1,
    }
