"""The limiter on its own: slots, their order, back-pressure and recovery, cancelled waiters."""

from __future__ import annotations

import asyncio

import pytest

from rhbatch.runner.limiter import Limiter
from tests.emu_helpers import run
from tests.helpers import settle


async def queue(limiter: Limiter, names: list[str], got: list[str]) -> list[asyncio.Task[None]]:
    """Start one acquirer per name, in order, each noting its name once it holds a slot."""

    async def take(name: str) -> None:
        await limiter.acquire()
        got.append(name)

    tasks = []
    for name in names:
        tasks.append(asyncio.create_task(take(name)))
        await settle()
    return tasks


async def held(names: list[str], got: list[str]) -> tuple[Limiter, list[asyncio.Task[None]]]:
    """A one-slot limiter whose slot is taken, with acquirers ``names`` queued in order."""
    limiter = Limiter(1)
    await limiter.acquire()
    return limiter, await queue(limiter, names, got)


async def releases_to_start(limiter: Limiter, got: list[str]) -> int:
    """Release slots one at a time until the queued acquirer starts; how many it took."""
    for n in range(1, limiter.in_flight + 1):
        limiter.release()
        await settle()
        if got:
            return n
    raise AssertionError("the queued acquirer never started")


def test_acquire_up_to_the_ceiling_then_wait_for_a_release() -> None:
    """Three slots are had at once; the fourth acquirer waits until one is released."""

    async def body() -> None:
        limiter = Limiter(3)
        for _ in range(3):
            await limiter.acquire()
        got: list[str] = []
        await queue(limiter, ["fourth"], got)
        assert (got, limiter.in_flight) == ([], 3)
        assert await releases_to_start(limiter, got) == 1
        assert (got, limiter.in_flight) == (["fourth"], 3)

    run(body)


def test_a_ceiling_below_one_is_one() -> None:
    """A ceiling of 0 or less still lets one task run at a time."""
    assert Limiter(0).ceiling == 1
    assert Limiter(-5).target == 1.0


def test_waiters_are_served_in_order() -> None:
    """Waiters get their slots in the order they asked, one per release."""

    async def body() -> None:
        got: list[str] = []
        limiter, _ = await held(["a", "b", "c"], got)
        for expected in (["a"], ["a", "b"], ["a", "b", "c"]):
            limiter.release()
            await settle()
            assert got == expected
            assert limiter.in_flight == 1

    run(body)


def test_a_woken_waiter_keeps_its_place_in_line() -> None:
    """A woken waiter is handed its slot: someone who asks later waits behind the line."""

    async def body() -> None:
        got: list[str] = []
        limiter, _ = await held(["a", "b"], got)
        limiter.release()  # hands the slot to "a", which has not run yet
        late = asyncio.create_task(limiter.acquire())  # someone who asks after "b"
        await settle()
        assert got == ["a"]
        assert not late.done()
        limiter.release()  # "a" is done: "b" is next, then the late one
        await settle()
        assert got == ["a", "b"]
        assert not late.done()
        limiter.release()
        await settle()
        assert late.done()
        assert limiter.in_flight == 1

    run(body)


def test_take_counts_a_resumed_task_even_over_the_target() -> None:
    """Resumed tasks count past the ceiling; nothing new starts until enough of them end."""

    async def body() -> None:
        limiter = Limiter(2)
        for _ in range(3):
            limiter.take()
        assert limiter.in_flight == 3
        got: list[str] = []
        await queue(limiter, ["new"], got)
        assert await releases_to_start(limiter, got) == 2  # 3 -> 2 is still the ceiling
        assert limiter.in_flight == 2

    run(body)


def test_backpressure_drops_the_target_below_in_flight() -> None:
    """After back-pressure, one task ending is not enough for a new one to start."""

    async def body() -> None:
        limiter = Limiter(4)
        for _ in range(4):
            await limiter.acquire()
        limiter.backpressure()
        assert limiter.target == 3.0
        got: list[str] = []
        await queue(limiter, ["new"], got)
        assert await releases_to_start(limiter, got) == 2  # one end leaves 3, the target
        assert limiter.in_flight == 3

    run(body)


def test_backpressure_shrinks_by_a_fifth_and_never_below_one() -> None:
    """With room to spare the target loses a fifth; with nothing in flight it stays at one."""
    limiter = Limiter(10)
    for _ in range(10):
        limiter.take()
    limiter.backpressure()
    assert limiter.target == 8.0
    idle = Limiter(10)
    for _ in range(5):
        idle.backpressure()
    assert idle.target == 1.0


def test_accepted_submits_climb_back_to_the_ceiling() -> None:
    """Each accepted submit raises the target by one, up to the ceiling and no further."""
    limiter = Limiter(5)
    for _ in range(5):
        limiter.take()
    for _ in range(3):
        limiter.backpressure()
    assert limiter.target == pytest.approx(2.56)
    targets = []
    for _ in range(4):
        limiter.accepted()
        targets.append(limiter.target)
    assert targets == pytest.approx([3.56, 4.56, 5.0, 5.0])


def test_accepted_wakes_waiters_the_higher_target_lets_in() -> None:
    """When the target climbs, waiting acquirers start without waiting for a release."""

    async def body() -> None:
        limiter = Limiter(4)
        for _ in range(2):
            await limiter.acquire()
        limiter.backpressure()  # target 1, 2 in flight
        got: list[str] = []
        await queue(limiter, ["a", "b", "c"], got)
        limiter.accepted()  # 2: still full
        await settle()
        assert got == []
        limiter.accepted()  # 3: one more
        await settle()
        assert got == ["a"]
        limiter.accepted()  # 4: the ceiling
        await settle()
        assert (got, limiter.in_flight) == (["a", "b"], 4)

    run(body)


def test_a_waiter_cancelled_while_waiting_takes_no_slot() -> None:
    """Cancelling a waiting acquirer removes it: the next release goes to the one behind."""

    async def body() -> None:
        got: list[str] = []
        limiter, (first, _) = await held(["first", "second"], got)
        first.cancel()
        await settle()
        assert first.cancelled()
        limiter.release()
        await settle()
        assert (got, limiter.in_flight) == (["second"], 1)
        limiter.release()
        assert limiter.in_flight == 0

    run(body)


def test_a_waiter_cancelled_after_being_woken_passes_its_slot_on() -> None:
    """A waiter woken by a release but cancelled before it ran hands the slot to the next."""

    async def body() -> None:
        got: list[str] = []
        limiter, (first, second) = await held(["first", "second"], got)
        limiter.release()  # wakes "first"...
        first.cancel()  # ...which is cancelled before it runs
        await settle()
        assert first.cancelled()
        assert (got, limiter.in_flight) == (["second"], 1)
        assert second.done()

    run(body)


def test_freed_resolves_at_the_next_release() -> None:
    """freed() is pending until a task ends; the next call waits for the release after."""

    async def body() -> None:
        limiter = Limiter(2)
        await limiter.acquire()
        await limiter.acquire()
        freed = limiter.freed()
        assert limiter.freed() is freed  # one future for everyone waiting on this release
        await settle()
        assert not freed.done()
        limiter.release()
        assert freed.done()
        later = limiter.freed()
        assert later is not freed
        assert not later.done()
        limiter.release()
        assert later.done()

    run(body)
