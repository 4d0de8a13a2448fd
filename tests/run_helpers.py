"""Helpers for runner tests: specs with many jobs, the emulator on a thread, the manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rhbatch.emulator import EmulatorConfig
from rhbatch.emulator.thread import EmulatorThread
from tests.emu_helpers import doc_body

FAST = {
    k: {"kind": "uniform", "low": 20, "high": 60}
    for k in ("video", "image", "audio", "3d", "string")
}


def emulator_config(profile: str = "clean", **settings: Any) -> EmulatorConfig:
    data: dict[str, Any] = {"speed": 2000.0, "durations": FAST, **settings}
    config = EmulatorConfig.load(profile)
    merged = config.to_dict()
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return EmulatorConfig.from_dict(merged)


@contextmanager
def emulator(
    monkeypatch: pytest.MonkeyPatch, profile: str = "clean", **settings: Any
) -> Iterator[EmulatorThread]:
    """The emulator on a thread, with RUNNINGHUB_BASE_URL and RUNNINGHUB_API_KEY pointing at it."""
    with EmulatorThread(emulator_config(profile, **settings)) as emu:
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", emu.base_url)
        monkeypatch.setenv("RUNNINGHUB_API_KEY", emu.api_key)
        yield emu


def spec_text(
    jobs: int, *, endpoint: str = "seedance-2.0/multimodal-video", extra: str = "", run: str = ""
) -> str:
    """A spec of ``jobs`` distinct jobs (a matrix over ``take``)."""
    takes = ", ".join(str(i) for i in range(1, jobs + 1))
    return (
        f"version: 1\nname: t\nendpoint: {endpoint}\n"
        f"defaults:\n  resolution: 480p\n  duration: '4'\n{extra}"
        f"matrix:\n  take: [{takes}]\n"
        "jobs:\n  - id: 'shot-{take}'\n    prompt: 'a paper boat, take {take}'\n"
        f"run:\n  poll_interval: 2\n  timeout: 600\n  retries: 3\n{run}"
    )


def manifest(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def verify_files(out: Path, records: list[dict[str, Any]]) -> int:
    """Every output of every succeeded job exists with its recorded size and sha256."""
    files = 0
    for rec in records:
        for o in rec["outputs"]:
            data = (out / o["path"]).read_bytes()
            assert len(data) == o["bytes"], o
            assert hashlib.sha256(data).hexdigest() == o["sha256"], o
            files += 1
    return files


async def occupy(base: str, key: str, n: int) -> None:
    """Start ``n`` tasks on the account from outside rhbatch (seedance v1 lite, whose
    duration tests set with ``durations_by_endpoint``)."""
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            body = doc_body("seedance-v1-lite-reference-to-video") | {"prompt": f"other {i}"}
            async with s.post(
                f"{base}/openapi/v2/seedance-v1-lite/reference-to-video",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
            ) as r:
                assert (await r.json())["errorCode"] == ""
