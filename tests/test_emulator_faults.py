"""Every fault kind fires at its configured rate, has its effect, and is deterministic."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from rhbatch.emulator import Emulator, EmulatorConfig
from tests.emu_helpers import Api, doc_body, run

N = 200
RATE = 0.2


def with_fault(kind: str, **spec: Any) -> EmulatorConfig:
    return EmulatorConfig.from_dict(
        {
            "speed": 100.0,
            "durations": {"video": {"kind": "fixed", "value": 1.0}},
            "faults": {kind: {"rate": RATE, **spec}},
        }
    )


def near_rate(hits: int, n: int = N) -> bool:
    """Within 4 standard deviations of the configured rate (the dice are seeded,
    so this is a sanity bound, not a flaky statistical test)."""
    sd = (RATE * (1 - RATE) / n) ** 0.5
    return abs(hits / n - RATE) < 4 * sd


def bodies(n: int = N) -> list[dict[str, Any]]:
    return [doc_body() | {"prompt": f"shot {i}"} for i in range(n)]


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503"])
def test_server_errors_on_query(kind: str) -> None:
    """5xx faults on query: the fraction of 5xx answers matches the rate."""

    async def go() -> tuple[list[int], int]:
        async with Emulator(with_fault(kind)) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())
            statuses = [
                (await api.post("/openapi/v2/query", {"taskId": sub["taskId"]}))[0]
                for _ in range(N)
            ]
            return statuses, emu.faults.injected[kind]

    statuses, injected = run(go)
    expected = int(kind.split("_")[1])
    hits = statuses.count(expected)
    assert hits == injected
    assert set(statuses) == {200, expected}
    assert near_rate(hits)


def test_429_with_retry_after_on_submit() -> None:
    """429 faults on submit carry Retry-After (scaled by speed) and create no task."""

    async def go() -> tuple[list[tuple[int, str | None]], dict[str, Any]]:
        async with Emulator(with_fault("http_429", seconds=5)) as emu, aiohttp.ClientSession() as s:
            out = []
            for body in bodies():
                async with s.post(
                    f"{emu.base_url}/openapi/v2/{'rhart-video/sparkvideo-2.0/multimodal-video'}",
                    json=body,
                    headers={"Authorization": f"Bearer {emu.api_key}"},
                ) as r:
                    out.append((r.status, r.headers.get("Retry-After")))
            return out, emu.stats()

    answers, stats = run(go)
    limited = [a for a in answers if a[0] == 429]
    assert all(after == "0.050" for _, after in limited)
    assert near_rate(len(limited))
    assert stats["tasks"] == N - len(limited)
    assert stats["faults"] == {"http_429": len(limited)}


def test_reset_mid_response() -> None:
    """Reset faults cut a query's body half-way: the client sees an incomplete payload."""

    async def go() -> tuple[int, int]:
        async with Emulator(with_fault("reset")) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())
            broken = 0
            for _ in range(N):
                try:
                    await api.query(sub["taskId"])
                except aiohttp.ClientPayloadError:
                    broken += 1
            return broken, emu.faults.injected["reset"]

    broken, injected = run(go)
    assert broken == injected
    assert near_rate(broken)


def test_slow_responses_exceed_a_client_timeout() -> None:
    """Slow faults delay replies beyond a client's timeout; the others answer at once."""

    async def go() -> tuple[int, int]:
        # A read timeout, not a total one: 200 queries at once wait for a connection of the
        # pool, and a busy machine answers a prompt query in well under 2 s; a slow one takes 6.
        timeout = aiohttp.ClientTimeout(sock_read=2)
        async with (
            Emulator(with_fault("slow", seconds=600)) as emu,
            aiohttp.ClientSession(timeout=timeout) as s,
        ):
            api = Api(emu, s)
            _, sub = await api.submit(doc_body())

            async def one() -> bool:
                try:
                    await api.query(sub["taskId"])
                    return False
                except TimeoutError:
                    return True

            late = await asyncio.gather(*(one() for _ in range(N)))
            return sum(late), emu.faults.injected["slow"]

    late, injected = run(go)
    assert late == injected
    assert near_rate(late)


def test_task_failed_with_codes() -> None:
    """task_failed faults end tasks FAILED with a code from the list and its message; no charge."""

    async def go() -> tuple[list[dict[str, Any]], float]:
        async with (
            Emulator(with_fault("task_failed", codes=["1505", "1015"])) as emu,
            aiohttp.ClientSession() as s,
        ):
            api = Api(emu, s)
            subs = [d for _, d in [await api.submit(b) for b in bodies()]]
            finals = await asyncio.gather(*(api.wait(d["taskId"]) for d in subs))
            return finals, emu.board.accounts[emu.api_key].balance

    finals, balance = run(go)
    failed = [f for f in finals if f["status"] == "FAILED"]
    assert near_rate(len(failed))
    assert {f["errorCode"] for f in failed} == {"1505", "1015"}
    assert all(f["errorMessage"] and f["results"] is None for f in failed)
    assert balance == pytest.approx(10_000 - 6.0 * (N - len(failed)))


def test_stuck_tasks_run_forever() -> None:
    """Stuck faults leave tasks RUNNING long after every other task has ended."""
    now = [0.0]

    async def go() -> list[str]:
        async with (
            Emulator(with_fault("stuck"), clock=lambda: now[0]) as emu,
            aiohttp.ClientSession() as s,
        ):
            api = Api(emu, s)
            subs = [d for _, d in [await api.submit(b) for b in bodies()]]
            now[0] = 1e6
            return [(await api.query(d["taskId"]))["status"] for d in subs]

    states = run(go)
    assert set(states) == {"SUCCESS", "RUNNING"}
    assert near_rate(states.count("RUNNING"))


def test_downloads_404_a_few_times_then_work() -> None:
    """download_404 faults make a result 404 exactly `times` times, then serve it."""

    async def go() -> list[list[int]]:
        async with (
            Emulator(with_fault("download_404", times=2)) as emu,
            aiohttp.ClientSession() as s,
        ):
            api = Api(emu, s)
            subs = [d for _, d in [await api.submit(b) for b in bodies()]]
            finals = await asyncio.gather(*(api.wait(d["taskId"]) for d in subs))
            out = []
            for f in finals:
                codes = []
                while not codes or codes[-1] != 200:
                    codes.append((await api.get(f["results"][0]["url"]))[0])
                out.append(codes)
            return out

    tries = run(go)
    flaky = [t for t in tries if t != [200]]
    assert all(t == [404, 404, 200] for t in flaky)
    assert near_rate(len(flaky))


def test_truncated_downloads() -> None:
    """Truncated faults send fewer bytes than Content-Length; the client can tell."""

    async def go() -> tuple[int, int]:
        async with Emulator(with_fault("truncated")) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            subs = [d for _, d in [await api.submit(b) for b in bodies()]]
            finals = await asyncio.gather(*(api.wait(d["taskId"]) for d in subs))
            short = 0
            for f in finals:
                try:
                    await api.get(f["results"][0]["url"])
                except aiohttp.ClientPayloadError:
                    short += 1
            return short, emu.faults.injected["truncated"]

    short, injected = run(go)
    assert short == injected
    assert near_rate(short)


def test_lost_submit_response_still_makes_a_task() -> None:
    """lost_submit faults drop the reply after the task is made (and will be paid for)."""

    async def go() -> tuple[int, dict[str, Any]]:
        async with Emulator(with_fault("lost_submit")) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            lost = 0
            for body in bodies():
                try:
                    await api.submit(body)
                except aiohttp.ServerDisconnectedError:
                    lost += 1
            return lost, emu.stats()

    lost, stats = run(go)
    assert near_rate(lost)
    assert stats["tasks"] == N
    assert stats["faults"] == {"lost_submit": lost}


def test_5xx_after_the_task_is_made() -> None:
    """A submit fault at stage "after" answers 502 although the task exists."""

    async def go() -> tuple[int, int]:
        async with (
            Emulator(with_fault("http_502", stage="after", routes=["submit"])) as emu,
            aiohttp.ClientSession() as s,
        ):
            api = Api(emu, s)
            statuses = [(await api.submit(b))[0] for b in bodies()]
            return statuses.count(502), emu.stats()["tasks"]

    errors, tasks = run(go)
    assert near_rate(errors)
    assert tasks == N


def test_same_seed_same_faults() -> None:
    """Under one seed the chaos profile meets the same faults in the same places."""

    async def once(seed: int) -> tuple[dict[str, int], list[str]]:
        cfg = EmulatorConfig.load("chaos", speed=1000.0, seed=seed)
        cfg.faults["slow"].rate = 0.0  # keep the test quick
        async with Emulator(cfg) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            outcome = []
            for body in bodies(60):
                try:
                    status, data = await api.submit(body)
                    outcome.append(
                        f"{status}:{data['errorCode'] if isinstance(data, dict) else 'html'}"
                    )
                except aiohttp.ClientError as exc:
                    outcome.append(type(exc).__name__)
            return dict(emu.faults.injected), outcome

    a = run(lambda: once(1))
    b = run(lambda: once(1))
    c = run(lambda: once(2))
    assert a == b
    assert a != c
