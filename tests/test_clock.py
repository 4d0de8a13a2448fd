"""``Clock.first`` races work against a stop; a ``Flag`` is a stop that many waits share."""

from __future__ import annotations

import asyncio

import pytest

from rhbatch.runner.clock import Clock, Flag

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
