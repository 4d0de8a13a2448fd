"""Submits whose answer was lost (runner/lost.py), judged against a real emulator on
virtual time: a task that announces itself by webhook is adopted; the account's counts
prove that no task was made only when nothing else could explain them; anything else is
unknown, after exactly the wait it was given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from rhbatch.api.client import Client
from rhbatch.emulator import Emulator
from rhbatch.errors import OutcomeUnknown
from rhbatch.models import RemoteStatus, TaskState
from rhbatch.runner.clock import Clock
from rhbatch.runner.ends import Watcher
from rhbatch.runner.lost import LostReplies
from rhbatch.runner.schedule import Schedule
from tests.emu_helpers import V1_LITE, doc_body

T = TypeVar("T")
TASK_SECONDS = 100.0  # every task the emulator runs here takes this long
pytestmark = pytest.mark.usefixtures("virtual_clock")


@dataclass
class Rig:
    emu: Emulator
    client: Client
    clock: Clock
    watcher: Watcher
    lost: LostReplies

    async def task(self) -> str:
        """A task made on the account (by a submit whose answer arrived)."""
        state = await self.client.submit(V1_LITE, doc_body("seedance-v1-lite-reference-to-video"))
        return state.task_id

    async def seen_living(self, seconds: float) -> None:
        """A task of the endpoint seen from its submit to its end, ``seconds`` long: how
        soon a task of it can end is then known."""
        task_id = await self.task()
        self.watcher.add(task_id, V1_LITE)
        await self.clock.sleep(seconds)
        self.watcher.checked(task_id)
        self.watcher.done(task_id)

    def queue_reads(self) -> int:
        """Reads of the account's counts the emulator has answered."""
        return self.emu.attempts["queue"]


def lost(*, settled: bool) -> OutcomeUnknown:
    return OutcomeUnknown("the answer was lost", settled=settled)


def run(work: Callable[[Rig], Awaitable[T]], *, webhooks: bool = False) -> T:
    """``work`` with LostReplies on a client of an emulator whose tasks take TASK_SECONDS."""

    @asynccontextmanager
    async def rig() -> AsyncIterator[Rig]:
        durations = {"seedance-v1-lite/*": {"kind": "fixed", "value": TASK_SECONDS}}
        async with (
            Emulator(speed=1.0, durations_by_endpoint=durations) as emu,
            Client(emu.base_url, emu.api_key) as client,
        ):
            clock = Clock()
            watcher = Watcher(client, Schedule(5.0), 0, clock=clock, webhooks=webhooks)
            yield Rig(emu, client, clock, watcher, LostReplies(client, watcher, webhooks=webhooks))

    async def go() -> T:
        async with rig() as r:
            return await work(r)

    return asyncio.run(go())


def ended(task_id: str) -> TaskState:
    return TaskState(task_id, RemoteStatus.SUCCESS, "", "", (), {}, 0.5, {})


# --- webhooks ------------------------------------------------------------------------------


def test_a_task_that_announces_itself_by_webhook_is_adopted() -> None:
    async def work(r: Rig) -> tuple[Any, ...]:
        judged = asyncio.ensure_future(
            r.lost.judge("a", 1, V1_LITE, lost(settled=False), r.clock.now(), 600)
        )
        await r.clock.sleep(30)
        assert r.lost.deliver("b", 1, ended("t-b")) is False  # no job waits for it
        assert r.lost.deliver("a", 1, ended("t-a")) is True
        verdict = await judged
        late = r.lost.deliver("a", 1, ended("t-a"))  # judged: nobody waits any more
        return verdict.made, verdict.state, r.clock.now(), late, r.lost.counters["adopted"]

    assert run(work, webhooks=True) == (True, ended("t-a"), 30.0, False, 1)


def test_with_no_webhook_within_the_wait_the_outcome_is_unknown_after_exactly_the_wait() -> None:
    """Given up waiting for the answer (not settled): the server may still make the task,
    so the counts cannot help; the job waits for a webhook until its time is up."""

    async def work(r: Rig) -> tuple[Any, ...]:
        verdict = await r.lost.judge("a", 1, V1_LITE, lost(settled=False), r.clock.now(), 600)
        return verdict.made, verdict.reason, r.clock.now(), r.queue_reads()

    made, reason, now, reads = run(work, webhooks=True)
    assert (made, now, reads) == (None, 600.0, 0)
    assert "gave up waiting" in reason


# --- the account's counts ---------------------------------------------------------------------


def test_an_empty_account_proves_no_task_was_made() -> None:
    """The server was done with the request, a task of the endpoint lives at least 100 s,
    the count is read 10 s after the send and finds nothing: send the job again."""

    async def work(r: Rig) -> tuple[Any, ...]:
        await r.seen_living(TASK_SECONDS)
        sent = r.clock.now()
        await r.clock.sleep(10)
        verdict = await r.lost.judge("a", 1, V1_LITE, lost(settled=True), sent, 600)
        return verdict.made, r.lost.counters["none_made"], r.queue_reads(), r.clock.now() - sent

    assert run(work) == (False, 1, 1, 10.0)  # one count read; no waiting for a webhook


def test_no_task_of_the_endpoint_seen_ending_proves_nothing() -> None:
    """How soon a task can end is not known: an empty count might be a task already over."""

    async def work(r: Rig) -> tuple[Any, ...]:
        verdict = await r.lost.judge("a", 1, V1_LITE, lost(settled=True), r.clock.now(), 600)
        return verdict.made, verdict.reason, r.queue_reads()

    made, reason, reads = run(work)
    assert (made, reads) == (None, 0)
    assert reason == "the account's counts could not rule out a task"


def test_a_count_read_after_the_shortest_life_proves_nothing() -> None:
    """Read 100 s or more after the send: a task the submit made may have ended already."""

    async def work(r: Rig) -> Any:
        await r.seen_living(TASK_SECONDS)
        sent = r.clock.now()
        await r.clock.sleep(TASK_SECONDS)
        return (await r.lost.judge("a", 1, V1_LITE, lost(settled=True), sent, 600)).made

    assert run(work) is None


def test_a_task_on_the_account_that_is_not_ours_proves_nothing() -> None:
    """The count holds a task none of ours explains: maybe the lost submit's."""

    async def work(r: Rig) -> tuple[Any, ...]:
        await r.seen_living(TASK_SECONDS)
        sent = r.clock.now()
        await r.task()  # the lost submit made it after all
        verdict = await r.lost.judge("a", 1, V1_LITE, lost(settled=True), sent, 600)
        return verdict.made, r.lost.counters["unproven_more_counted"]

    assert run(work) == (None, 1)


def test_our_own_tasks_in_flight_are_confirmed_and_then_prove_none_made() -> None:
    """Two tasks of ours in flight, one of them ending while the count is read: each is
    asked about after the count; the one still going is known unfinished now, the one
    found ended is handed to the watcher; the count equals ours alive: none made."""

    async def work(r: Rig) -> tuple[Any, ...]:
        await r.seen_living(TASK_SECONDS)
        old = await r.task()  # ends 100 s from now
        r.watcher.add(old, V1_LITE)
        await r.clock.sleep(TASK_SECONDS - 1)
        young = await r.task()
        r.watcher.add(young, V1_LITE)
        sent = r.clock.now()
        await r.clock.sleep(1)  # the old one has ended, unnoticed
        verdict = await r.lost.judge("a", 1, V1_LITE, lost(settled=True), sent, 600)
        old_state = r.watcher.watches[old].state
        return (
            verdict.made,
            None if old_state is None else old_state.status,
            r.watcher.watches[young].checked == r.clock.now(),
        )

    assert run(work) == (False, RemoteStatus.SUCCESS, True)


def test_submits_wait_while_the_counts_are_read_and_the_count_waits_for_submits_on_the_wire() -> (
    None
):
    """A submit on the wire may or may not be counted: the count waits until none is; and
    while it is read, the gate holds new submits."""

    async def work(r: Rig) -> list[str]:
        await r.seen_living(TASK_SECONDS)
        said: list[str] = []
        sending = r.watcher.sending()
        sending.__enter__()  # a submit of ours goes out
        judged = asyncio.ensure_future(
            r.lost.judge("a", 1, V1_LITE, lost(settled=True), r.clock.now(), 600)
        )
        await asyncio.sleep(0)
        said.append(f"open: {r.lost.open}")
        gated = asyncio.ensure_future(r.lost.gate())
        await r.clock.sleep(2)
        said.append(f"reads while on the wire: {r.queue_reads()}, gate passed: {gated.done()}")
        sending.__exit__(None, None, None)  # its answer is in
        verdict = await judged
        await asyncio.wait_for(gated, 1)
        said.append(f"made: {verdict.made}, reads: {r.queue_reads()}, open: {r.lost.open}")
        return said

    assert run(work) == [
        "open: False",
        "reads while on the wire: 0, gate passed: False",
        "made: False, reads: 1, open: True",
    ]
