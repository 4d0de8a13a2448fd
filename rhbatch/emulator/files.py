"""Files in and out: the v2 binary upload, uploaded inputs, and task results.

Uploads are stored under the emulator's upload directory (a private temporary
one, or its state directory's) by content hash and answered with the ``{code,
message, data}`` envelope; their ``download_url`` works until the upload TTL
passes. Result files are made on the fly by ``outputs.py`` and streamed, so a
20 MB result costs no memory; the download faults (a few 404s before the file
appears, a body cut short) are applied here.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re

from aiohttp import BodyPartReader, web

from rhbatch.emulator import replies
from rhbatch.emulator.config import TEXTS
from rhbatch.emulator.context import STATE, Upload, Uploaded
from rhbatch.emulator.gate import bearer, before
from rhbatch.emulator.outputs import CONTENT_TYPES, make_media

_SAFE_EXT = re.compile(r"^[a-z0-9]{1,8}$")


def _kind(content_type: str, ext: str) -> str:
    major = content_type.split("/")[0]
    if major in ("image", "video", "audio"):
        return major
    guess = (mimetypes.guess_type(f"x.{ext}")[0] or "").split("/")[0]
    return guess if guess in ("image", "video", "audio") else "file"


async def upload(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    key = f"upload#{emu.next_attempt('upload')}"
    early = await before(emu, request, "upload", key)
    if early is not None:
        await request.read()  # the upload read to its end, then the fault answered
        return early
    api_key = bearer(request)
    if api_key is None or api_key not in emu.board.accounts:
        return replies.upload_envelope(401, "ApiKey verification failed")
    if not request.content_type.startswith("multipart/"):
        return replies.upload_envelope(1007, "expected multipart/form-data with a 'file' part")
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
        part = await reader.next()
    if part is None or not isinstance(part, BodyPartReader):
        return replies.upload_envelope(1007, "no 'file' part in the upload")
    limit = int(emu.config.upload_max_mb * 1024 * 1024)
    digest = hashlib.sha256()
    filename = part.filename or "upload.bin"
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    ext = ext if _SAFE_EXT.match(ext) else "bin"
    tmp = emu.upload_dir / f"incoming-{key.replace('#', '-')}"
    size = 0
    with tmp.open("wb") as fh:
        while chunk := await part.read_chunk(1 << 16):
            size += len(chunk)
            if size > limit:
                fh.close()
                tmp.unlink()
                return replies.upload_envelope(1008, TEXTS["1008"])
            digest.update(chunk)
            fh.write(chunk)
    name = f"{digest.hexdigest()}.{ext}"
    tmp.replace(emu.upload_dir / name)
    content_type = part.headers.get("Content-Type", "application/octet-stream")
    expires = emu.now() + emu.config.scaled(emu.config.upload_ttl)
    served = Upload(emu.upload_dir / name, size, content_type, expires)
    kind = _kind(content_type, ext)
    resource_type = "FILE" if kind == "file" else kind.upper()
    emu.note_upload(Uploaded(api_key, f"api/{name}", size, resource_type, filename), served)
    data = {
        "type": kind,
        "download_url": f"{emu.base_url}/media/input/{name}?q-sign-time={emu.wall(expires)}",
        "fileName": f"api/{name}",
        "size": str(size),
    }
    return replies.upload_envelope(0, "success", data)


async def input_file(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    found = emu.uploads.get(request.match_info["name"])
    if found is None:
        return web.Response(status=404, text="NoSuchKey")
    if found.expires < emu.now():
        return web.Response(status=403, text="Request has expired")
    return web.FileResponse(found.path, headers={"Content-Type": found.content_type})


async def output_file(request: web.Request) -> web.StreamResponse:
    emu = request.app[STATE]
    task = emu.board.tasks.get(request.match_info["task"])
    name = request.match_info["name"]
    emu.board.advance(emu.now())
    stem = name.split(".")[0]
    if task is None or task.status != "SUCCESS" or not stem.isdigit():
        return web.Response(status=404, text="NoSuchKey")
    index = int(stem) - 1
    if not 0 <= index < len(task.outputs):
        return web.Response(status=404, text="NoSuchKey")
    out = task.outputs[index]
    if f"{index + 1}.{out.ext}" != name:
        return web.Response(status=404, text="NoSuchKey")
    ttl_end = (task.ended or 0) + emu.config.scaled(emu.config.result_ttl)
    if emu.now() > ttl_end:
        return web.Response(status=403, text="Request has expired")
    attempt = task.downloads[name]
    task.downloads[name] += 1
    key = f"{task.id}/{name}#{attempt}"
    emu.requests["download"] += 1
    for kind in ("http_503", "http_500", "http_502"):
        fault = emu.faults.hit(kind, "download", key)
        if fault is not None:
            return replies.fault_status(kind, fault, emu.config)
    # download_404 is decided once per file (not per attempt): its first `times` GETs fail.
    not_yet = emu.config.fault("download_404")
    early = not_yet is not None and attempt < not_yet.times
    if early and emu.faults.hit("download_404", "download", f"{task.id}/{name}"):
        return web.Response(status=404, text="NoSuchKey")
    if out.text is not None and out.ext == "txt":
        data = out.text.encode()
        media_chunks = iter([data])
        size, content_type = len(data), CONTENT_TYPES["txt"]
    else:
        media = make_media(
            out.output_type, out.key, emu.config.output_bytes.get(out.output_type) or None
        )
        media_chunks = media.chunks()
        size, content_type = media.size, media.content_type
    cut = emu.faults.hit("truncated", "download", key) or emu.faults.hit("reset", "download", key)
    response = web.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = size
    await response.prepare(request)
    sent = 0
    for chunk in media_chunks:
        if cut is not None and sent + len(chunk) > size // 2:
            await response.write(chunk[: max(0, size // 2 - sent)])
            replies.drop(request)
            return response
        await response.write(chunk)
        sent += len(chunk)
        if emu.config.download_mbps > 0:
            await asyncio.sleep(len(chunk) / (emu.config.download_mbps * 1e6))
    await response.write_eof()
    emu.transfer["downloads"] += 1
    emu.transfer["download_bytes"] += size
    return response
