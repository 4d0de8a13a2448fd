"""``Clock.first`` races work against a stop; a ``Flag`` is a stop that many waits share.
The tests' virtual clock (tests/virtual_clock.py): time jumps to the next timer once every
loop waits on it alone, never while a request or a thread's job is under way."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import aiohttp
import pytest

from rhbatch.runner.clock import Clock, Flag
from tests.emu_helpers import V1_LITE, Api, doc_body
from tests.run_helpers import emulator
from tests.virtual_clock import VirtualClock, virtual_time

FAST = Clock(1000.0)  # a run second is a millisecond


async def _forever() -> None:
    await asyncio.Event().wait()


def test_work_that_finishes_first_is_taken_and_its_error_raised() -> None:
    async def go() -> None:
        async def ok() -> int:
            return 1

        async def bad() -> None:
            raise ValueError("its own")

        assert await FAST.first(ok(), until=Flag(), within=60) is True
        with pytest.raises(ValueError, match="its own"):
            await FAST.first(bad(), until=Flag())

    asyncio.run(go())


@pytest.mark.parametrize("kind", [Flag, asyncio.Event])
def test_a_stop_set_while_waiting_cancels_the_work(kind: type[asyncio.Event]) -> None:
    async def go() -> None:
        stop = kind()
        work = asyncio.ensure_future(_forever())
        asyncio.get_running_loop().call_later(0.01, stop.set)
        assert await FAST.first(work, until=stop) is False
        await asyncio.sleep(0)
        assert work.cancelled()

    asyncio.run(go())


def test_many_waits_share_one_flag_and_none_cancels_it() -> None:
    """A hundred waits on one flag: timeouts and finished work leave its future alone,
    and setting it wakes every wait still under way."""

    async def go() -> None:
        flag = Flag()
        shared = flag.future()
        assert await FAST.first(until=flag, within=1) is True  # the time passed
        assert await FAST.first(asyncio.sleep(0), until=flag) is True
        assert not shared.done()
        waits = [asyncio.ensure_future(FAST.first(_forever(), until=flag)) for _ in range(100)]
        await asyncio.sleep(0.01)
        flag.set()
        assert await asyncio.gather(*waits) == [False] * 100
        assert flag.future() is shared
        assert shared.done()
        assert not shared.cancelled()
        assert await FAST.first(_forever(), until=flag) is False  # already set: at once

    asyncio.run(go())


def test_a_cleared_flag_gives_a_fresh_future() -> None:
    async def go() -> None:
        flag = Flag()
        flag.set()
        assert flag.future().done()
        flag.clear()
        assert not flag.future().done()
        assert await FAST.first(until=flag, within=1) is True

    asyncio.run(go())


def test_a_cancelled_caller_is_not_swallowed() -> None:
    async def go() -> None:
        flag = Flag()
        waiting = asyncio.ensure_future(FAST.first(_forever(), until=flag))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not flag.future().done()

    asyncio.run(go())


# --- the virtual clock -------------------------------------------------------------------


def test_a_ten_minute_sleep_takes_no_real_time_and_ends_at_600(virtual_clock: VirtualClock) -> None:
    async def go() -> tuple[float, float]:
        clock = Clock()
        await clock.sleep(600)
        return asyncio.get_running_loop().time(), clock.now()

    began = time.monotonic()
    assert asyncio.run(go()) == (600.0, 600.0)
    assert time.monotonic() - began < 1.0
    assert virtual_clock.now() == 600.0
    assert virtual_clock.jumps == 1


def test_a_ten_minute_timeout_fires_at_600_exactly(virtual_clock: VirtualClock) -> None:
    async def go() -> float:
        assert await Clock().first(_forever(), within=600) is False
        return asyncio.get_running_loop().time()

    assert asyncio.run(go()) == 600.0


def test_sleepers_wake_in_the_order_of_their_times(virtual_clock: VirtualClock) -> None:
    async def go() -> list[tuple[str, float]]:
        woke: list[tuple[str, float]] = []
        loop = asyncio.get_running_loop()

        async def sleeper(name: str, seconds: float) -> None:
            await asyncio.sleep(seconds)
            woke.append((name, loop.time()))

        await asyncio.gather(sleeper("late", 5), sleeper("early", 3), sleeper("middle", 3.5))
        return woke

    assert asyncio.run(go()) == [("early", 3.0), ("middle", 3.5), ("late", 5.0)]


def test_work_on_a_thread_holds_the_clock(virtual_clock: VirtualClock) -> None:
    """A job on a thread (``to_thread``) that takes real time ends before a timer of a
    virtual second: time waits for it."""

    async def go() -> list[tuple[str, float]]:
        woke: list[tuple[str, float]] = []
        loop = asyncio.get_running_loop()

        async def work() -> None:
            await asyncio.to_thread(time.sleep, 0.05)
            woke.append(("work", loop.time()))

        async def timer() -> None:
            await asyncio.sleep(1)
            woke.append(("timer", loop.time()))

        await asyncio.gather(timer(), work())
        return woke

    assert asyncio.run(go()) == [("work", 0.0), ("timer", 1.0)]


def test_a_loop_made_and_never_run_holds_nothing(virtual_clock: VirtualClock) -> None:
    """A loop a library made (``get_event_loop``) and never ran has nothing to wait for."""
    unused = asyncio.new_event_loop()
    rescue = threading.Timer(10, virtual_clock.advance, (5,))  # were it to hold the clock
    rescue.start()
    try:
        asyncio.run(asyncio.sleep(5))
    finally:
        rescue.cancel()
        unused.close()
    assert (virtual_clock.now(), virtual_clock.jumps) == (5.0, 1)


@pytest.fixture
def server(virtual_clock: VirtualClock) -> Iterator[str]:
    """A server on a loop of its own thread (as the emulator runs in tests): it answers a
    request after taking real time, by turns blocking its loop and on a thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            n = int(line)
            if n % 3 == 1:
                time.sleep(0.002)  # noqa: ASYNC251 -- the server's loop busy, on purpose
            elif n % 3 == 2:
                await asyncio.to_thread(time.sleep, 0.002)  # its thread busy
            writer.write(line)
            await writer.drain()
        writer.close()

    async def start() -> asyncio.Server:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        started.set()
        return server

    def serve() -> None:
        asyncio.set_event_loop(loop)
        srv = loop.run_until_complete(start())
        loop.run_forever()
        srv.close()
        loop.run_until_complete(srv.wait_closed())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(10)
    yield f"127.0.0.1:{port[0]}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_no_jump_while_a_request_is_in_flight(virtual_clock: VirtualClock, server: str) -> None:
    """300 requests one after another to a server on another loop, racing a timer of a
    virtual second: the timer never fires while they are under way (time stands at 0),
    and fires at 1 once they are done. No real quiet time is asked for (threshold 0):
    what holds the clock is the server's loop looking at its socket again."""
    assert virtual_clock.threshold == 0.0

    async def go() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        host, port = server.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        timer = asyncio.ensure_future(asyncio.sleep(1))
        for n in range(300):
            writer.write(f"{n}\n".encode())
            assert await reader.readline() == f"{n}\n".encode()
            assert not timer.done()
        done = loop.time()
        writer.close()
        await writer.wait_closed()
        await timer
        return done, loop.time()

    assert asyncio.run(go()) == (0.0, 1.0)


def test_time_stands_still_while_the_test_runs_its_own_code(
    virtual_clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task of 10 s on the emulator: it runs while a loop of the test waits, not while the
    test's thread does something else (no loop of its own running)."""
    durations = {"seedance-v1-lite/*": {"kind": "fixed", "value": 10}}
    with emulator(monkeypatch, speed=1.0, durations_by_endpoint=durations) as emu:

        async def submit() -> str:
            async with aiohttp.ClientSession() as session:
                body = doc_body("seedance-v1-lite-reference-to-video")
                _, reply = await Api(emu.emulator, session).submit(body, V1_LITE)
            task: str = reply["taskId"]
            return task

        async def status(task: str, after: float) -> str:
            await asyncio.sleep(after)
            async with aiohttp.ClientSession() as session:
                state: str = (await Api(emu.emulator, session).query(task))["status"]
            return state

        task = asyncio.run(submit())
        time.sleep(0.05)  # the test's own code: no time passes
        assert virtual_clock.now() == 0.0
        assert asyncio.run(status(task, 9.5)) == "RUNNING"
        assert virtual_clock.now() == 9.5
        assert asyncio.run(status(task, 0.5)) == "SUCCESS"
        assert virtual_clock.now() == 10.0


def test_a_loop_that_outlives_the_clock_goes_on_in_real_time() -> None:
    """A loop made on virtual time that a library keeps on a thread of its own after the
    test (fsspec's, say): once the clock is uninstalled, its timers pass in real time."""
    with virtual_time() as clock:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        async def away() -> None:  # this thread waits in a loop: time may jump
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.sleep(30), loop))

        asyncio.run(away())
        assert clock.now() == 30.0  # on virtual time, while the clock is installed
    began = time.monotonic()
    slept = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), loop)
    slept.result(5)
    assert 0.15 < time.monotonic() - began < 2.0  # neither at once nor never
    assert clock.jumps == 1
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
