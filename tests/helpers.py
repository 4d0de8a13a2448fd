"""Helpers shared by test modules: where the repository is, what a CLI call returned, and
a way to let the event loop catch up.

Test modules import these from here (``from tests.helpers import ...``), never from
``conftest.py``, which holds only fixtures: pytest imports a conftest under a name of
its own choosing, so importing it as a module is fragile.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_BODIES = ROOT / "tests" / "data" / "doc_bodies"
# Tools a run of the suite must have: a test that needs one fails without it instead of
# skipping. CI sets it (.ci/run installs them); on a developer's machine they may skip.
REQUIRED_TOOLS = frozenset(filter(None, os.environ.get("RHBATCH_TESTS_REQUIRE", "").split(",")))


def tool(name: str, *, alternatives: tuple[str, ...] = (), install: str) -> str:
    """The path of a program a test needs (``name`` or one of ``alternatives``). Without
    it the test skips, saying how to get it, or fails if ``RHBATCH_TESTS_REQUIRE`` names it."""
    found = next((p for p in map(shutil.which, (name, *alternatives)) if p), None)
    if found is not None:
        return found
    unavailable(name, f"{name} is not installed ({install} brings it)")


def unavailable(name: str, why: str) -> NoReturn:
    """Skip the test for want of ``name`` (a program, or a service such as ``slurm``),
    saying ``why``; fail instead if ``RHBATCH_TESTS_REQUIRE`` names it."""
    if name in REQUIRED_TOOLS:
        pytest.fail(f"RHBATCH_TESTS_REQUIRE names {name}, so this run must have it: {why}")
    pytest.skip(why)


@dataclass
class Result:
    """What one in-process ``rhbatch`` call returned: its exit code and captured output."""

    code: int
    out: str
    err: str

    @property
    def problems(self) -> list[str]:
        """The problem lines of stderr (each starts with a file location)."""
        return [line for line in self.err.splitlines() if ":" in line and " invalid (" not in line]


def ffprobe(path: Path) -> dict[str, Any]:
    """What ffprobe reads in a media file: its format and streams (it must say no error)."""
    probe = tool("ffprobe", install="Debian's ffmpeg package")
    argv = [probe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert result.stderr == ""
    probed: dict[str, Any] = json.loads(result.stdout)
    return probed


async def settle() -> None:
    """Let every asyncio task that can run do so: a few turns of the loop, no timers."""
    for _ in range(10):
        await asyncio.sleep(0)


# The first bytes of a file of each format, as rhbatch's content check knows them: a
# stand-in file a test makes starts so (a text file named .png is refused).
_MAGIC = {
    "jpg": b"\xff\xd8\xff\xe0\0\x10JFIF\0",
    "jpeg": b"\xff\xd8\xff\xe0\0\x10JFIF\0",
    "png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    "webp": b"RIFF\x10\0\0\0WEBPVP8 ",
    "bmp": b"BM\x10\0\0\0",
    "gif": b"GIF89a",
    "mp4": b"\0\0\0\x18ftypisom\0\0\0\0",
    "mov": b"\0\0\0\x14ftypqt  \0\0\0\0",
    "avi": b"RIFF\x10\0\0\0AVI LIST",
    "mkv": b"\x1aE\xdf\xa3\x9fB\x86\x81\x01",
    "webm": b"\x1aE\xdf\xa3\x9fB\x82\x84webm",
    "mp3": b"ID3\x04\0\0\0\0\0\0",
    "wav": b"RIFF\x10\0\0\0WAVEfmt ",
    "flac": b"fLaC\0\0\0\x22",
    "ogg": b"OggS\0\x02",
    "m4a": b"\0\0\0\x18ftypM4A \0\0\0\0",
}


def media_bytes(name: str) -> bytes:
    """Stand-in content for a media file named ``name``: its format's first bytes, then
    padding (an unknown extension gets padding only)."""
    return _MAGIC.get(name.rsplit(".", 1)[-1].lower(), b"") + b"\0" * 64
