"""Helpers for tests that talk to the emulator over loopback with plain aiohttp."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from rhbatch.emulator import Emulator
from tests.helpers import DOC_BODIES

T = TypeVar("T")
MULTIMODAL = "rhart-video/sparkvideo-2.0/multimodal-video"
V1_LITE = "seedance-v1-lite/reference-to-video"


def doc_body(name: str = "seedance-2.0-multimodal-video") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DOC_BODIES / f"{name}.json").read_text())
    return data


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run one async test body to completion."""
    return asyncio.run(factory())  # type: ignore[arg-type]


class Api:
    """A thin RunningHub client for tests: one session, the emulator's key."""

    def __init__(
        self, emu: Emulator, session: aiohttp.ClientSession, key: str | None = None
    ) -> None:
        self.emu, self.session = emu, session
        self.key = key if key is not None else emu.api_key

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        async with self.session.post(
            self.emu.base_url + path, json=body, headers=self.headers, **kw
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except json.JSONDecodeError:
                return resp.status, text

    async def submit(self, body: dict[str, Any], endpoint: str = MULTIMODAL) -> tuple[int, Any]:
        return await self.post(f"/openapi/v2/{endpoint}", body)

    async def query(self, task_id: str) -> dict[str, Any]:
        _, data = await self.post("/openapi/v2/query", {"taskId": task_id})
        assert isinstance(data, dict)
        return data

    async def wait(self, task_id: str, limit: float = 10.0) -> dict[str, Any]:
        """Poll until the task is terminal."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while True:
            data = await self.query(task_id)
            if data["status"] in ("SUCCESS", "FAILED", "CANCEL") or loop.time() > end:
                return data
            await asyncio.sleep(0.01)

    async def get(self, url: str) -> tuple[int, bytes]:
        async with self.session.get(url) as resp:
            return resp.status, await resp.read()
