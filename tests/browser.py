"""Headless Chromium for the page tests: find it, drive a tab over the DevTools protocol.

The ``browser`` fixture (``conftest.py``) starts one Chromium (Debian's ``chromium``) per
module; ``visit`` opens a page in a new tab and runs a scenario on it. The tests skip
without Chromium, saying how to get it, unless ``RHBATCH_TESTS_REQUIRE`` names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import tool


def chromium() -> str:
    """The browser the page tests drive (RHBATCH_CHROMIUM, or one on PATH)."""
    given = os.environ.get("RHBATCH_CHROMIUM", "")
    if given and shutil.which(given):
        return str(shutil.which(given))
    alternatives = ("chromium-browser", "google-chrome", "google-chrome-stable")
    return tool("chromium", alternatives=alternatives, install="Debian's chromium package")


# No window, no sandbox (CI runs as root), and no traffic of its own on a closed network.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--remote-debugging-port=0",
)
WIDTH, HEIGHT = 1280, 900


def proc_wait(proc: subprocess.Popen[bytes], seconds: float) -> None:
    """Wait up to ``seconds`` for the process to end (a pause that ends early if it does)."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(seconds)


class Tab:
    """A browser tab on the DevTools protocol (one flat session over the browser's
    socket): commands, the events they cause, and what went wrong on the page."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.session: str | None = None
        self.calls = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)
                self.arrived.set()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        msg: dict[str, Any] = {"id": self.calls, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            msg["sessionId"] = self.session
        answer = asyncio.get_running_loop().create_future()
        self.waiting[self.calls] = answer
        await self.ws.send_json(msg)
        reply = await answer
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def event(self, method: str) -> dict[str, Any]:
        while True:
            for e in self.events:
                if e["method"] == method:
                    return e
            self.arrived.clear()
            await self.arrived.wait()

    async def open(self, url: str) -> None:
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        await self.send("Page.navigate", url=url)
        await self.event("Page.loadEventFired")

    async def js(self, expression: str) -> Any:
        """The value of ``expression`` in the page (awaited if it is a promise)."""
        done = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in done:
            raise AssertionError(f"{expression!r} threw: {done['exceptionDetails']}")
        return done["result"].get("value")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions, failed loads and refused policies so far."""
        found = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                found.append(str(p["exceptionDetails"]))
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                found.append(str(p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                found.append(f"{p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif e["method"] == "Page.javascriptDialogOpening":
                found.append(f"a dialog opened: {p.get('message')}")
        return found


async def in_tab(browser: str, url: str, scenario: Callable[[Tab], Any]) -> Any:
    """Open ``url`` in a new tab, run ``scenario`` on it (30 s at most), close the tab."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(browser, max_msg_size=0) as ws,
    ):
        tab = Tab(ws)
        reader = asyncio.create_task(tab.read())
        try:
            async with asyncio.timeout(30):
                await tab.open(url)
                return await scenario(tab)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def visit(browser: str, page: Path, scenario: Callable[[Tab], Any]) -> Any:
    # A loop on real time even in a test on virtual time: the browser is a process of its own.
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        return runner.run(in_tab(browser, page.as_uri(), scenario))


# Scroll to the end until every card matching the filters is drawn; the number of cards.
DRAW_ALL = """(async () => {
  for (let i = 0; i < 500 && !document.getElementById("more").hidden; i++) {
    window.scrollTo(0, document.body.scrollHeight);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 20)));
  }
  return document.querySelectorAll("#cards .card").length;
})()"""
CARDS = 'document.querySelectorAll("#cards .card").length'


def until(condition: str) -> str:
    """An expression that waits (frame by frame, 5 s at most) until ``condition`` holds."""
    return f"""(async () => {{
  for (let i = 0; i < 300 && !({condition}); i++)
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 10)));
  return {condition};
}})()"""


def choose(select: str, value: str) -> str:
    return (
        f"(() => {{ const s = document.getElementById({select!r}); s.value = {value!r}; "
        's.dispatchEvent(new Event("change")); return s.value; })()'
    )


def start_browser() -> Iterator[str]:
    """One headless Chromium for the module: the websocket URL of its DevTools endpoint."""
    browser = chromium()
    profile = Path(tempfile.mkdtemp(prefix="rhbatch-chromium-"))
    log = (profile / "chromium.log").open("wb")
    proc = subprocess.Popen(
        [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(600):  # Chromium writes its port when it listens: up to 30 s
            if port_file.exists() and len(port_file.read_text().splitlines()) >= 2:
                break
            if proc.poll() is not None:
                break
            proc_wait(proc, 0.05)
        lines = port_file.read_text().splitlines() if port_file.exists() else []
        if len(lines) < 2:
            tail = (profile / "chromium.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"Chromium did not start (exit {proc.poll()}):\n{tail}")
        yield f"ws://127.0.0.1:{lines[0]}{lines[1]}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
