"""The legacy task calls: status, outputs, the input upload, LoRA uploads, a workflow's JSON.

All answer in the ``{code, msg, data}`` envelope and take the key as ``apiKey``
in the body (or the multipart form) or as the Bearer header; an unknown key is
802. ``status`` and ``outputs`` serve every workflow and app task, however it was
started (a model task is not theirs: 807). ``upload`` hashes the file and answers
``api/<sha256>.<ext>`` (a ZIP: the bare hash), the ``fileName`` a workflow's or
app's media field takes; over ``legacy_upload_max_mb`` it is 809. Such files are
not downloadable (as documented), so only their names are kept.
``getLoraUploadUrl`` hands out a URL of the emulator's that takes a PUT of the
LoRA's bytes until it expires (``application/octet-stream``, checked against the
md5 given), as a presigned COS URL would.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets

from aiohttp import BodyPartReader, web

from rhbatch.emulator import replies
from rhbatch.emulator.context import STATE, Uploaded
from rhbatch.emulator.gate import Call, Refused, bearer, before, enveloped, known, per_task
from rhbatch.emulator.tasks import Task

# Formats /task/openapi/upload takes (D-UPL); anything else is refused as 301.
LEGACY_FORMATS = {
    "jpg": "IMAGE",
    "jpeg": "IMAGE",
    "png": "IMAGE",
    "webp": "IMAGE",
    "zip": "ZIP",
    "mp3": "AUDIO",
    "wav": "AUDIO",
    "flac": "AUDIO",
    "mp4": "VIDEO",
    "avi": "VIDEO",
    "mov": "VIDEO",
    "mkv": "VIDEO",
}
FIELD_BYTES = 4096  # the most read of a text field of a multipart form
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


@enveloped(per_task("query", bare=True), route="query")
def status(call: Call) -> web.Response:
    """``POST /task/openapi/status``: the bare status string."""
    task = _polled(call)
    return replies.envelope(0, "success", replies.legacy_status(call.emu, task))


@enveloped(per_task("query", bare=True), route="query")
def outputs(call: Call) -> web.Response:
    """``POST /task/openapi/outputs``: results, or 804 / 813 / 805."""
    task = _polled(call)
    return replies.json_response(replies.legacy_outputs(call.emu, task))


def _polled(call: Call) -> Task:
    """The workflow or app task a status or outputs call names, counted as polled."""
    emu = call.emu
    task = emu.board.tasks.get(call.task_id)
    if task is None or task.api_key != call.api_key or task.origin == "model":
        raise Refused("807")
    emu.board.advance(emu.now())
    task.polls += 1
    return task


async def upload(request: web.Request) -> web.StreamResponse:
    """``POST /task/openapi/upload`` (multipart ``apiKey``, ``file``, ``fileType``)."""
    emu = request.app[STATE]
    key = f"legacy-upload#{emu.next_attempt('legacy-upload')}"
    early = await before(emu, request, "upload", key)
    if early is not None:
        return early
    if not request.content_type.startswith("multipart/"):
        return replies.legacy_error("301")
    fields: dict[str, str] = {}
    stored: tuple[str, str, int, str] | None = None  # (sha256, ext, size, original name)
    limit = int(emu.config.legacy_upload_max_mb * 1024 * 1024)
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name != "file":
            text = await _text_field(part)
            if part.name:
                fields[part.name] = text
            continue
        digest, size = hashlib.sha256(), 0
        while chunk := await part.read_chunk(1 << 16):
            size += len(chunk)
            if size > limit:
                return replies.legacy_error("809")
            digest.update(chunk)
        name = part.filename or "upload.bin"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        stored = (digest.hexdigest(), ext, size, name)
    api_key = fields.get("apiKey") or bearer(request)
    if api_key is None or not known(emu, api_key):
        return replies.legacy_error("802")
    if stored is None or stored[1] not in LEGACY_FORMATS:
        return replies.legacy_error("301")
    # RunningHub keeps the file for its workers; nothing here reads it back, so only
    # its name is kept.
    sha, ext, size, original = stored
    file_name = sha if ext == "zip" else f"api/{sha}.{ext}"
    emu.note_upload(Uploaded(api_key, file_name, size, LEGACY_FORMATS[ext], original), None)
    data = {"fileName": file_name, "fileType": fields.get("fileType") or "input"}
    return replies.envelope(0, "success", data)


async def _text_field(part: BodyPartReader) -> str:
    """A text field of a form, at most FIELD_BYTES of it (the rest is drained unread)."""
    data = bytearray()
    while chunk := await part.read_chunk(1024):
        if len(data) < FIELD_BYTES:
            data += chunk[: FIELD_BYTES - len(data)]
    return data.decode("utf-8", "replace").strip()


@enveloped("lora")
def lora_url(call: Call) -> web.Response:
    """``POST /api/openapi/getLoraUploadUrl {apiKey, loraName, md5Hex}``."""
    emu, body = call.emu, call.body
    if not isinstance(body, dict):  # a JSON list, string or number: not the call's form
        raise Refused("301")
    name, md5 = body.get("loraName"), body.get("md5Hex")
    if not isinstance(name, str) or not name or not isinstance(md5, str) or not _MD5.fullmatch(md5):
        raise Refused("301")
    md5 = md5.lower()
    token = secrets.token_hex(16)
    expires = emu.now() + emu.config.scaled(emu.config.lora_url_ttl)
    emu.lora_tickets[token] = (call.api_key, md5, name, expires)
    file_name = f"api-lora-cn/{md5}.safetensors"
    url = f"{emu.base_url}/{file_name}?q-sign-time={emu.wall(expires)}&q-signature={token}"
    return replies.envelope(0, "success", {"fileName": file_name, "url": url})


async def lora_put(request: web.Request) -> web.StreamResponse:
    """``PUT /api-lora-cn/<md5>.safetensors?...``: the bytes of a LoRA, as COS would take them."""
    emu = request.app[STATE]
    ticket = emu.lora_tickets.get(request.query.get("q-signature", ""))
    md5_name = request.match_info["name"].removesuffix(".safetensors")
    if ticket is None or ticket[1] != md5_name:
        return web.Response(status=403, text="AccessDenied")
    api_key, md5, name, expires = ticket
    if emu.now() > expires:
        return web.Response(status=403, text="Request has expired")
    if request.content_type != "application/octet-stream":
        return web.Response(status=403, text="SignatureDoesNotMatch")
    digest, size = hashlib.md5(usedforsecurity=False), 0
    limit = int(emu.config.lora_max_mb * 1024 * 1024)
    while chunk := await request.content.read(1 << 16):
        size += len(chunk)
        if size > limit:
            return web.Response(status=413, text="EntityTooLarge")
        digest.update(chunk)
    if digest.hexdigest() != md5:
        return web.Response(status=400, text="BadDigest")
    emu.add_resource(Uploaded(api_key, f"api-lora-cn/{md5}.safetensors", size, "LORA", name))
    emu.transfer["uploads"] += 1
    emu.transfer["upload_bytes"] += size
    return web.Response(status=200, headers={"ETag": f'"{md5}"'})


@enveloped("wfjson")
def workflow_json(call: Call) -> web.Response:
    """``POST /api/openapi/getJsonApiFormat {apiKey, workflowId}``."""
    if not isinstance(call.body, dict):  # not the call's form
        raise Refused("301")
    workflow_id = str(call.body.get("workflowId", ""))
    refused = call.emu.catalog.refusal("workflow", workflow_id)
    if refused is not None:
        raise Refused(refused[0])
    prompt = json.dumps(call.emu.catalog.workflows[workflow_id].graph, ensure_ascii=False)
    return replies.envelope(0, "SUCCESS", {"prompt": prompt})
