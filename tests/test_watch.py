"""Noticing task ends: webhooks, the account's counts, and the fallback when they mislead."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from rhbatch.api.webhooks import Receiver
from rhbatch.models import RemoteStatus, TaskState
from tests.helpers import Result
from tests.run_helpers import emulator, manifest, occupy, spec_text

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def test_webhooks_replace_polling(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --webhook-listen, ends arrive by webhook: far fewer queries than tasks."""
    write("s.yaml", spec_text(30, run="  concurrency: 10\n  signal_interval: 0.05\n"))
    with emulator(monkeypatch) as emu:
        result = cli(
            "run", "s.yaml", "--out", "out", "--log-json", "--webhook-listen", "127.0.0.1:0"
        )
        stats = emu.stats()
    assert result.code == 0, result.err
    watched = next(json.loads(line) for line in result.err.splitlines() if '"watched"' in line)
    assert watched["webhooks"] == 30
    assert stats["webhooks"]["delivered"] == 30
    assert stats["polls"] <= 10
    assert {r["status"] for r in manifest(Path("out"))} == {"succeeded"}
    assert all("webhookUrl" not in r["params"] for r in manifest(Path("out")))


def test_counts_find_ends_with_fewer_queries(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the account's counts and no webhooks, every end is still found, and the account
    was asked about in one request at a time."""
    write("s.yaml", spec_text(30, run="  concurrency: 10\n  signal_interval: 0.02\n"))
    with emulator(monkeypatch) as emu:
        result = cli("run", "s.yaml", "--out", "out", "--log-json")
        stats = emu.stats()
    assert result.code == 0, result.err
    watched = next(json.loads(line) for line in result.err.splitlines() if '"watched"' in line)
    assert watched["samples"] > 0
    assert watched["probes"] > 0
    assert stats["requests"]["other"] >= watched["samples"]


def test_shared_account_falls_back_to_polling(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client's tasks make the counts useless; each job's own schedule finishes the batch."""
    write("s.yaml", spec_text(10, run="  concurrency: 5\n  signal_interval: 0.02\n"))
    slow = {"seedance-v1-lite/*": {"kind": "fixed", "value": 1e9}}
    with emulator(monkeypatch, durations_by_endpoint=slow) as emu:
        asyncio.run(occupy(emu.base_url, emu.api_key, 3))
        result = cli("run", "s.yaml", "--out", "out", "--log-json")
    assert result.code == 0, result.err
    watched = next(json.loads(line) for line in result.err.splitlines() if '"watched"' in line)
    assert watched["unhealthy"] > 0


def test_receiver_checks_its_token_and_ignores_junk() -> None:
    """A post with a token rhbatch never issued is refused; junk is acknowledged and
    ignored; a v2 task object, and a legacy task's outputs envelope, are handed over with
    the attempt's token."""
    seen: list[tuple[str, TaskState]] = []
    issued = "attempt-token-1"

    def deliver(token: str, state: TaskState) -> bool:
        if token != issued:
            return False
        seen.append((token, state))
        return True

    async def go() -> list[int]:
        receiver = Receiver("127.0.0.1:0", None, deliver)
        await receiver.start()
        try:
            url = receiver.url + issued
            task = {
                "taskId": "2013508786110730241",
                "status": "SUCCESS",
                "results": [],
                "usage": {},
            }
            event = {"event": "TASK_END", "taskId": task["taskId"], "eventData": json.dumps(task)}
            file = {"fileUrl": "http://cdn/1.png", "fileType": "png", "nodeId": "9"}
            legacy = json.dumps({"code": 0, "msg": "success", "data": [file]})
            posts = [
                (receiver.url + "never-issued", event),
                (receiver.url + "../x", event),
                (url, "not json at all"),
                (url, {"event": "TASK_END", "eventData": '{"code": 0, "data": []}'}),
                (url, event),
                (url, {"event": "TASK_END", "taskId": "2013508786110730242", "eventData": legacy}),
            ]
            codes = []
            async with aiohttp.ClientSession() as s:
                for target, body in posts:
                    kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
                    async with s.post(target, **kwargs) as r:
                        codes.append(r.status)
            return codes
        finally:
            await receiver.stop()

    assert asyncio.run(go()) == [404, 404, 200, 200, 200, 200]
    assert [(t, s.task_id, s.status) for t, s in seen] == [
        (issued, "2013508786110730241", RemoteStatus.SUCCESS),
        (issued, "2013508786110730242", RemoteStatus.SUCCESS),
    ]
    assert seen[1][1].results[0].node_id == "9"


def test_bad_listen_address() -> None:
    """--webhook-listen wants HOST:PORT or PORT."""
    from rhbatch.errors import UsageError

    with pytest.raises(UsageError, match="wants HOST:PORT or PORT"):
        Receiver("localhost:http", None, lambda s: True)
