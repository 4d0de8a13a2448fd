"""Downloads to disk: safe paths, checksums, and files that are whole or absent."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.emulator import Emulator, EmulatorConfig
from rhbatch.emulator.outputs import make_media
from rhbatch.emulator.server import body_hash
from rhbatch.errors import ApiError, Rejected, Transient
from rhbatch.models import RemoteStatus
from rhbatch.runner.fetch import download
from rhbatch.store import files
from rhbatch.store.files import Saved, hash_file, safe_path, start_write_back, write_text
from tests.emu_helpers import MULTIMODAL, doc_body, run

CHUNK = 1 << 16


def config(**faults: dict[str, Any]) -> EmulatorConfig:
    """A fast emulator (1000x, one-second videos) with these faults at rate 1."""
    return EmulatorConfig.from_dict(
        {
            "speed": 1000.0,
            "durations": {"video": {"kind": "fixed", "value": 1.0}},
            "faults": {kind: {"rate": 1.0, **spec} for kind, spec in faults.items()},
        }
    )


async def result_url(emu: Emulator, client: Client) -> str:
    """Run the seedance doc body to SUCCESS and return its MP4's URL."""
    task_id = (await client.submit(MULTIMODAL, doc_body())).task_id
    for _ in range(2000):
        state = await client.query(task_id)
        if state.status is RemoteStatus.SUCCESS and state.results[0].url:
            return state.results[0].url
        await asyncio.sleep(0.002)
    raise AssertionError("the task did not succeed")


async def fetched(cfg: EmulatorConfig, dest: Path) -> Saved | ApiError:
    """Fetch the seedance result into ``dest``: what was saved, or the error."""
    async with Emulator(cfg) as emu, Client(emu.base_url, emu.api_key) as client:
        url = await result_url(emu, client)
        try:
            return await download(client, url, dest, DownloadLimits())
        except ApiError as exc:
            return exc


@contextlib.asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A one-handler HTTP server on 127.0.0.1; yields its base URL."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# --- fetch ----------------------------------------------------------------------------


def test_fetch_saves_the_result_with_its_sha256(tmp_path: Path) -> None:
    """The seedance result is saved in full (parent directories made) with the right sha256."""
    dest = tmp_path / "out" / "job" / "1.mp4"
    saved = run(lambda: fetched(config(), dest))
    media = make_media("video", f"{body_hash(MULTIMODAL, doc_body())}:1")
    assert saved == Saved(dest, media.size, media.sha256())
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == media.sha256()
    assert leftovers(dest.parent) == []


def test_fetch_of_a_truncated_body_is_transient_and_leaves_no_part_file(tmp_path: Path) -> None:
    """A body cut short raises Transient; neither the file nor its part file is left."""
    dest = tmp_path / "1.mp4"
    exc = run(lambda: fetched(config(truncated={}), dest))
    assert type(exc) is Transient
    assert list(tmp_path.iterdir()) == []


def test_fetch_that_fails_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    """A failed fetch over an existing file keeps the old file as it was."""
    dest = tmp_path / "1.mp4"
    dest.write_bytes(b"old")
    exc = run(lambda: fetched(config(truncated={}), dest))
    assert isinstance(exc, Transient)
    assert dest.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_fetch_of_a_missing_file_is_rejected_404(tmp_path: Path) -> None:
    """A result answered 404 raises Rejected("HTTP404") and writes nothing."""
    dest = tmp_path / "1.mp4"
    exc = run(lambda: fetched(config(download_404={"times": 1}), dest))
    assert isinstance(exc, Rejected)
    assert exc.code == "HTTP404"
    assert list(tmp_path.iterdir()) == []


def test_fetch_shows_nothing_at_dest_until_the_file_is_complete(tmp_path: Path) -> None:
    """While the body is still arriving, the destination does not exist."""
    dest = tmp_path / "1.mp4"

    async def go() -> tuple[bool, Saved]:
        half_sent, finish = asyncio.Event(), asyncio.Event()

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.content_length = 2 * CHUNK
            await response.prepare(request)
            await response.write(b"a" * CHUNK)
            half_sent.set()
            await finish.wait()
            await response.write(b"b" * CHUNK)
            await response.write_eof()
            return response

        async with serve(handler) as base, Client(base, "key") as client:
            job = asyncio.create_task(download(client, base + "/1.mp4", dest, DownloadLimits()))
            await half_sent.wait()
            seen_early = dest.exists()
            finish.set()
            return seen_early, await job

    seen_early, saved = run(go)
    assert seen_early is False
    assert saved.bytes == 2 * CHUNK
    assert dest.read_bytes() == b"a" * CHUNK + b"b" * CHUNK
    assert leftovers(tmp_path) == []


def test_fetch_lets_disk_errors_through_and_removes_the_part_file(tmp_path: Path) -> None:
    """An OSError from the disk propagates unchanged, and the part file is removed."""
    dest = tmp_path / "1.mp4"
    dest.mkdir()  # a directory cannot be replaced by a file

    with pytest.raises(IsADirectoryError):
        run(lambda: fetched(config(), dest))
    assert leftovers(tmp_path) == []


def test_fetch_starts_write_back_of_each_stretch_as_it_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WRITE_BACK bytes, write-back of the stretch since the last one is asked for."""
    monkeypatch.setattr(files, "WRITE_BACK", 2 * CHUNK)
    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(
        files, "_FADVISE", lambda fd, offset, length, advice: asked.append((offset, length))
    )
    body = bytes(range(256)) * (5 * CHUNK // 256)
    dest = tmp_path / "1.mp4"

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = len(body)
        await response.prepare(request)
        for at in range(0, len(body), CHUNK):
            await response.write(body[at : at + CHUNK])
        await response.write_eof()
        return response

    async def go() -> Saved:
        async with serve(handler) as base, Client(base, "key") as client:
            return await download(client, base + "/1.mp4", dest, DownloadLimits())

    saved = run(go)
    assert saved == Saved(dest, len(body), hashlib.sha256(body).hexdigest())
    assert dest.read_bytes() == body
    assert asked, "no write-back was asked for"
    starts = [offset for offset, _ in asked]
    assert starts[0] == 0
    assert all(
        offset + length == nxt for (offset, length), nxt in zip(asked, starts[1:], strict=False)
    )
    assert all(length >= 2 * CHUNK for _, length in asked)
    assert sum(length for _, length in asked) <= len(body)


def test_start_write_back_flushes_what_is_buffered(tmp_path: Path) -> None:
    """Bytes still in the file object's buffer are on their way to disk afterwards."""
    path = tmp_path / "f.bin"
    with path.open("wb") as fh:
        fh.write(b"abc")
        start_write_back(fh, 0, 3)
        assert path.read_bytes() == b"abc"


def test_start_write_back_ignores_a_refused_hint() -> None:
    """Where the hint is refused (a pipe cannot take it), the data still goes through."""
    r, w = os.pipe()
    with os.fdopen(r, "rb") as reader, os.fdopen(w, "wb") as fh:
        fh.write(b"abc")
        start_write_back(fh, 0, 3)
        assert reader.read(3) == b"abc"


def test_start_write_back_without_fadvise_only_flushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On systems without posix_fadvise (macOS, Windows) the hint is skipped."""
    monkeypatch.setattr(files, "_FADVISE", None)
    path = tmp_path / "f.bin"
    with path.open("wb") as fh:
        fh.write(b"abc")
        start_write_back(fh, 0, 3)
        assert path.read_bytes() == b"abc"


# --- write_text and hash_file ---------------------------------------------------------


def test_write_text_writes_utf8_and_reports_its_hash(tmp_path: Path) -> None:
    """write_text saves UTF-8 text (making directories) and returns its size and sha256."""
    dest = tmp_path / "job" / "1.txt"
    saved = write_text(dest, "héllo\n")
    data = "héllo\n".encode()
    assert saved == Saved(dest, len(data), hashlib.sha256(data).hexdigest())
    assert dest.read_bytes() == data
    assert leftovers(dest.parent) == []


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    """hash_file gives the size and sha256 of a file larger than its block."""
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 5000
    path.write_bytes(data)
    assert hash_file(path) == Saved(path, len(data), hashlib.sha256(data).hexdigest())


# --- safe_path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("a/../../b", "'..'"),
        ("a\\..\\..\\b", "'..'"),
        ("C:\\x", "drive"),
        ("a\x00b", "control character"),
        ("a\x1b[31mb", "control character"),
        ("", "empty"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("./a", "'.'"),
        ("x" * 201, "longer than 200"),
    ],
)
def test_safe_path_refuses(tmp_path: Path, relative: str, reason: str) -> None:
    """Paths that could escape the root, or that are malformed, are refused with the reason."""
    with pytest.raises(ValueError, match="unsafe output path") as info:
        safe_path(tmp_path, relative)
    assert reason in str(info.value)


def test_safe_path_accepts_a_plain_relative_path(tmp_path: Path) -> None:
    """A plain relative path lands under the root."""
    assert safe_path(tmp_path, "job/1.mp4") == tmp_path / "job" / "1.mp4"


def test_safe_path_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    """A path through a symlink that leads outside the root is refused."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(ValueError, match="resolves outside"):
        safe_path(root, "link/1.mp4")
