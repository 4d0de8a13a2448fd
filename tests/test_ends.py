"""Noticing task ends on its own: each job's schedule, the watcher's bookkeeping and
webhook deliveries, and the account's counts read from the emulator over loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from rhbatch.api.client import Client
from rhbatch.emulator import Emulator, EmulatorConfig
from rhbatch.models import RemoteStatus, TaskState
from rhbatch.runner.clock import Clock, Flag
from rhbatch.runner.ends import FANOUT, Wake, Watcher
from rhbatch.runner.schedule import Schedule
from tests.emu_helpers import MULTIMODAL, doc_body, run
from tests.helpers import settle

KEY = "sk-ends-test-5d4c3b2a19"
EP = "some/endpoint"


class Hands(Clock):
    """A run clock that stands still until a test moves it (``at``); what it waits for
    passes a million times faster than real time."""

    def __init__(self) -> None:
        super().__init__(speed=1e6)
        self.at = 0.0

    def now(self) -> float:
        return self.at


def schedule(*durations: float, maximum: float = 60.0, endpoint: str = EP) -> Schedule:
    """A schedule that has seen tasks of ``endpoint`` take ``durations``."""
    learned = Schedule(maximum)
    for seconds in durations:
        learned.observe(endpoint, seconds)
    return learned


def watcher(
    learned: Schedule | None = None, client: Client | None = None, *, webhooks: bool = False
) -> Watcher:
    """A watcher on a still clock; without ``client``, one that is never called."""
    return Watcher(
        client or Client("http://127.0.0.1:9", KEY),
        learned or Schedule(60.0),
        interval=1.0,
        clock=Hands(),
        webhooks=webhooks,
    )


def hands(w: Watcher) -> Hands:
    assert isinstance(w.clock, Hands)
    return w.clock


def final(task_id: str, status: RemoteStatus = RemoteStatus.SUCCESS) -> TaskState:
    return TaskState(task_id, status, "", "", (), {}, 0.0, {})


# --- the schedule ------------------------------------------------------------------------


def test_before_any_end_checks_double_from_the_minimum() -> None:
    """Nothing learned yet: the wait doubles from the minimum at each check, up to the maximum."""
    learned = Schedule(30.0)
    assert learned.minimum == 1.0
    assert [learned.next_delay(EP, 0.0, n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert Schedule(2.0).minimum == pytest.approx(0.4)


def test_once_durations_are_known_the_first_check_waits_for_the_typical_one() -> None:
    """The first check comes when the median duration has passed; later ones spread out:
    a quarter of it, then as long as the task has overrun it (1.25, 1.5, 2, 3 x ...)."""
    learned = schedule(40.0, 60.0, 100.0, maximum=300.0)
    assert learned.typical(EP) == 60.0
    assert learned.next_delay(EP, 0.0, 0) == 60.0
    assert learned.next_delay(EP, 45.0, 0) == 15.0
    assert learned.next_delay(EP, 60.0, 1) == 15.0
    assert learned.next_delay(EP, 90.0, 2) == 30.0
    assert learned.next_delay(EP, 900.0, 9) == 300.0  # the maximum


def test_primed_checks_wait_for_most_tasks_to_have_ended() -> None:
    """With the queue primed, checks come at the 70th, 90th, 97th and 99.5th percentile of
    the durations seen (a task is mostly found in one query), then spread out as usual."""
    durations = [float(d) for d in range(1, 101)]  # 1..100 s
    primed = Schedule(1000.0, 0.5, primed=True)
    for d in durations:
        primed.observe(EP, d)
    assert primed.next_delay(EP, 0.0, 0) == 70.0
    assert primed.next_delay(EP, 70.0, 1) == 20.0  # to the 90th
    assert primed.next_delay(EP, 90.0, 2) == 7.0  # to the 97th
    assert primed.next_delay(EP, 99.8, 4) == pytest.approx(99.8 - 51)  # past them: overrun
    assert primed.next_delay(EP, -20.0, 0) == 90.0  # queued: 20 s to wait for a slot first


def test_learned_delays_stay_between_the_minimum_and_the_maximum() -> None:
    """Learned delays are cut to the maximum and raised to the minimum."""
    slow = Schedule(30.0, minimum=5.0)
    slow.observe(EP, 600.0)
    assert slow.next_delay(EP, 0.0, 0) == 30.0
    quick = Schedule(30.0, minimum=5.0)
    quick.observe(EP, 20.0)
    assert quick.next_delay(EP, 25.0, 3) == 5.0


def test_each_endpoint_learns_its_own_durations() -> None:
    """Durations of one endpoint say nothing about another."""
    learned = schedule(100.0)
    assert learned.typical("other/endpoint") is None
    assert learned.durations("other/endpoint") == []
    assert learned.next_delay("other/endpoint", 0.0, 2) == 4.0


def test_the_sample_of_durations_stays_sorted_and_bounded() -> None:
    """However many tasks end, at most 512 durations are kept, sorted, still spanning them."""
    learned = schedule(*[float(s % 1000) for s in range(0, 7 * 1000, 7)])
    seen = learned.durations(EP)
    assert len(seen) <= 512
    assert seen == sorted(seen)
    assert seen[0] < 50
    assert seen[-1] > 950
    assert 400 <= (learned.typical(EP) or 0) <= 600


# --- the watcher's bookkeeping --------------------------------------------------------------


def test_fallback_is_the_schedule_when_the_counts_cannot_be_trusted() -> None:
    """Unhealthy counts and no webhooks: a job checks on its own schedule."""
    w = watcher(schedule(100.0))
    assert w.fallback(EP, 0.0, 0, longest=1800.0) == 60.0
    assert w.fallback(EP, 150.0, 4, longest=1800.0) == 50.0  # overrun by 50 s: wait 50 more


def test_fallback_is_a_safety_net_when_the_counts_are_healthy() -> None:
    """Healthy counts: a job looks on its own only after 2x the typical (or the longest) wait."""
    w = watcher(schedule(100.0))
    w.healthy = True
    assert w.fallback(EP, 0.0, 0, longest=1800.0) == 200.0
    assert w.fallback(EP, 0.0, 0, longest=150.0) == 150.0
    assert w.fallback("other/endpoint", 0.0, 0, longest=600.0) == 600.0


def test_fallback_trusts_webhooks_until_the_counts_say_otherwise() -> None:
    """With webhooks the safety net holds until counts are read and found wrong."""
    w = watcher(schedule(100.0), webhooks=True)
    assert w.fallback(EP, 0.0, 0, longest=1800.0) == 200.0
    w.counters["samples"] = 1
    assert w.fallback(EP, 0.0, 0, longest=1800.0) == 60.0


def test_quiet_steps_look_every_interval_until_enough_is_learned() -> None:
    """Fewer than eight durations seen: the counts are read every interval."""
    w = watcher(schedule(*[100.0] * 7))
    w.add("t1", EP)
    assert w._quiet_steps() == 1


def test_quiet_steps_wait_while_no_task_is_likely_to_end() -> None:
    """Tasks far younger than any seen: the counts wait the most intervals allowed."""
    w = watcher(schedule(*[100.0] * 8))
    w.add("t1", EP)
    w.add("t2", EP)
    assert w._quiet_steps() == 8
    assert w._quiet_steps(most=3) == 3


def test_quiet_steps_wait_until_an_end_is_likely() -> None:
    """A task 7 s old among tasks that take 10 s: look again in 3 intervals."""
    w = watcher(schedule(*[10.0] * 8))
    w.add("t1", EP, sent=-7.0)
    assert w._quiet_steps() == 3


def test_quiet_steps_look_at_once_for_an_old_or_delivered_task() -> None:
    """A task older than anything seen, or one whose webhook came: the next interval."""
    old = watcher(schedule(*[10.0] * 8))
    old.add("t1", EP, sent=-30.0)
    assert old._quiet_steps() == 1
    told = watcher(schedule(*[100.0] * 8))
    told.add("t1", EP)
    told.deliver(final("t1"))
    assert told._quiet_steps() == 1


def test_done_keeps_the_shortest_life_per_endpoint() -> None:
    """Each endpoint keeps the shortest life (submit to last seen unfinished) of its ended tasks."""
    w = watcher()
    clock = hands(w)
    w.add("a", EP)
    w.add("b", EP)
    w.add("c", "other/endpoint")
    w.add("d", EP)
    clock.at = 30.0
    w.checked("a")
    w.checked("c")
    clock.at = 20.0  # only the order of checks matters, not that time went back
    w.checked("b")
    clock.at = 50.0
    w.done("a")
    w.done("b")
    w.done("c")
    w.done("d", ended=False)
    assert w.floors == {EP: 20.0, "other/endpoint": 30.0}
    assert w.watches == {}


def test_sending_clears_quiet_while_any_submit_is_out() -> None:
    """quiet is set only when no submit is on the wire, even if one of them fails."""
    w = watcher()
    assert w.quiet.is_set()
    with w.sending():
        assert (w.submitting, w.quiet.is_set()) == (1, False)
        with contextlib.suppress(RuntimeError), w.sending():
            assert w.submitting == 2
            raise RuntimeError("the submit failed")
        assert (w.submitting, w.quiet.is_set()) == (1, False)
    assert (w.submitting, w.quiet.is_set()) == (0, True)


def test_oldest_is_the_age_of_the_first_task_still_in_flight() -> None:
    """oldest() is None with nothing in flight, else the age of the oldest submit."""
    w = watcher()
    assert w.oldest() is None
    w.add("a", EP, sent=-40.0)
    w.add("b", EP, sent=-10.0)
    hands(w).at = 5.0
    assert w.oldest() == 45.0
    w.done("a")
    assert w.oldest() == 15.0


def test_a_state_delivered_before_the_wait_is_returned_at_once() -> None:
    """A webhook that came before the job waited is not lost: the wait returns it."""

    async def body() -> None:
        w = watcher()
        w.add("t1", EP)
        state = final("t1")
        assert w.deliver(state) is True
        assert await w.wait("t1", 1e9) is state
        assert w.counters["webhooks"] == 1

    run(body)


def test_a_state_delivered_during_the_wait_ends_it() -> None:
    """A webhook for a waiting job wakes it with the task's final state."""

    async def body() -> None:
        w = watcher()
        w.add("t1", EP)
        waiting = asyncio.create_task(w.wait("t1", 1e9))
        await settle()
        assert not waiting.done()
        state = final("t1", RemoteStatus.FAILED)
        w.deliver(state)
        assert await waiting is state

    run(body)


def test_a_state_for_a_task_not_watched_is_refused() -> None:
    """deliver() says False for a task that is not one of ours, and counts nothing."""
    w = watcher()
    assert w.deliver(final("stranger")) is False
    assert w.counters["webhooks"] == 0


def test_a_wait_without_news_ends_after_its_seconds() -> None:
    """With no webhook and no counts, a wait returns None when its time is up."""

    async def body() -> None:
        w = watcher()
        w.add("t1", EP)
        assert await w.wait("t1", 5.0) is None
        assert await w.wait("never-added", 5.0) is None

    run(body)


def test_a_wait_ends_stopped_when_the_run_stops_and_leaves_nothing_behind() -> None:
    """A waiting job is woken with Wake.STOPPED the moment the run stops (a Flag, as the
    run's is), or at once if it stopped before; its timer and callback are gone after."""

    async def body() -> None:
        w = watcher()
        w.add("t1", EP)
        stopping = Flag()
        waiting = asyncio.create_task(w.wait("t1", 1e9, until=stopping))
        await settle()
        assert not waiting.done()
        stopping.set()
        assert await waiting is Wake.STOPPED
        assert w.watches["t1"].wake is None  # nothing left to wake
        assert not stopping.future()._callbacks  # type: ignore[attr-defined]
        assert await w.wait("t1", 1e9, until=stopping) is Wake.STOPPED

    run(body)


def test_a_wait_on_a_plain_event_ends_stopped_when_it_is_set() -> None:
    """An asyncio.Event (not a Flag) still cuts a wait short."""

    async def body() -> None:
        w = watcher()
        w.add("t1", EP)
        stopping = asyncio.Event()
        waiting = asyncio.create_task(w.wait("t1", 1e9, until=stopping))
        await settle()
        stopping.set()
        assert await waiting is Wake.STOPPED

    run(body)


def test_a_cancelled_wait_leaves_the_watch_free_to_wait_again() -> None:
    """A job cancelled while it waits (the run's second Ctrl-C) leaves no wake behind."""

    async def body() -> None:
        w = watcher()
        w.add("t1", EP)
        waiting = asyncio.create_task(w.wait("t1", 1e9, until=Flag()))
        await settle()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert w.watches["t1"].wake is None
        assert await w.wait("t1", 5.0) is None

    run(body)


@pytest.mark.parametrize("seed", range(40))
def test_quiet_steps_is_the_first_step_where_an_end_is_likely(seed: int) -> None:
    """The steps found by doubling and halving are the first whose expected ends reach the
    likely count, as counting step by step finds them, for tasks of every age."""
    import bisect
    import random

    rng = random.Random(seed)
    durations = sorted(rng.uniform(1, 30) for _ in range(rng.randint(8, 40)))
    w = watcher(schedule(*durations))
    for n in range(rng.randint(1, 30)):
        w.add(f"t{n}", EP, sent=-rng.uniform(0, max(durations) * 0.9))
    hands(w).at = 0.0
    likely, most = rng.choice([0.5, 1.0, 3.0]), rng.randint(1, 12)
    seen = w.schedule.durations(EP)
    ages = [0.0 - x.since for x in w.watches.values()]
    if any(bisect.bisect_right(seen, a) >= len(seen) for a in ages):
        return  # a task older than every duration: 1 at once (its own test)
    expected_first = most
    for step in range(1, most + 1):
        total = sum(
            (bisect.bisect_right(seen, a + step * w.interval) - bisect.bisect_right(seen, a))
            / (len(seen) - bisect.bisect_right(seen, a))
            for a in ages
        )
        if total >= likely:
            expected_first = step
            break
    assert w._quiet_steps(likely=likely, most=most) == expected_first


# --- the account's counts, from the emulator ----------------------------------------------


@dataclass
class Account:
    client: Client
    watcher: Watcher
    tasks: list[str]  # ours, oldest first
    waits: dict[str, asyncio.Task[TaskState | Wake | None]] = field(default_factory=dict)

    async def wait_all(self) -> None:
        """Every task of ours waits, as its job would."""
        for task_id in self.tasks:
            if task_id in self.watcher.watches and task_id not in self.waits:
                self.waits[task_id] = asyncio.create_task(self.watcher.wait(task_id, 1e9))
        await settle()

    async def end_unnoticed(self, i: int) -> None:
        """Task ``i`` of ours ends (cancelled elsewhere) unheard of; every job waits."""
        assert await self.client.cancel(self.tasks[i])
        await self.wait_all()

    async def sample(self) -> None:
        """The watcher reads the account's counts once, and woken jobs see it."""
        await self.watcher._sample()
        await settle()

    def woken(self) -> list[str]:
        """The tasks whose wait returned a request to check, oldest first."""
        return [
            t
            for t, wait in self.waits.items()
            if wait.done() and not wait.cancelled() and wait.result() is Wake.CHECK
        ]


async def submit(client: Client, n: int, label: str) -> list[str]:
    ids = []
    for i in range(n):
        state = await client.submit(MULTIMODAL, doc_body() | {"prompt": f"{label} {i}"})
        ids.append(state.task_id)
    return ids


@contextlib.asynccontextmanager
async def account(
    ours: int, theirs: int, learned: Schedule | None, webhooks: bool
) -> AsyncIterator[Account]:
    """The emulator with tasks that never end: ``ours`` watched (submitted at clock times
    0, 1, 2, ...; the clock then at 10), ``theirs`` made by another client of the account."""
    cfg = EmulatorConfig.from_dict(
        {
            "speed": 1000.0,
            "durations": {"video": {"kind": "fixed", "value": 1e9}},
            "accounts": {KEY: {}},
        }
    )
    async with Emulator(cfg) as emu, Client(emu.base_url, KEY) as client:
        w = watcher(learned, client, webhooks=webhooks)
        tasks = await submit(client, ours, "ours")
        for sent, task_id in enumerate(tasks):
            w.add(task_id, MULTIMODAL, sent=float(sent))
        await submit(client, theirs, "theirs")
        hands(w).at = 10.0
        acct = Account(client, w, tasks)
        try:
            yield acct
        finally:
            for wait in acct.waits.values():
                wait.cancel()
            await asyncio.gather(*acct.waits.values(), return_exceptions=True)


def with_account(
    ours: int, theirs: int = 0, *, learned: Schedule | None = None, webhooks: bool = False
) -> Callable[..., None]:
    """Run a test body with the account ``account`` makes."""

    def runner(body: Callable[[Account], Awaitable[None]]) -> None:
        async def go() -> None:
            async with account(ours, theirs, learned, webhooks) as acct:
                await body(acct)

        run(go)

    return runner


def test_counts_that_match_wake_nobody_and_mark_every_task_seen() -> None:
    """Counts that match ours: healthy, nobody woken, every task known unfinished at the count."""

    async def body(acct: Account) -> None:
        w = acct.watcher
        await acct.wait_all()
        await acct.sample()
        assert (w.healthy, w.counters["samples"], w.counters["probes"]) == (True, 1, 0)
        assert acct.woken() == []
        w.done(acct.tasks[2])
        assert w.floors == {MULTIMODAL: 10.0 - 2.0}

    with_account(3)(body)


def test_an_unnoticed_end_wakes_the_likeliest_tasks() -> None:
    """One unnoticed end wakes FANOUT tasks, the oldest when nothing is learned, and no others."""

    async def body(acct: Account) -> None:
        w = acct.watcher
        await acct.end_unnoticed(1)
        await acct.sample()
        assert w.healthy
        assert acct.woken() == acct.tasks[:FANOUT]
        assert w.probing == set(acct.tasks[:FANOUT])
        assert w.counters["probes"] == FANOUT

    with_account(5)(body)


def test_a_wrong_guess_wakes_the_next_likeliest_at_once() -> None:
    """A woken task found still going wakes the next likeliest at once, until the end is found."""

    async def body(acct: Account) -> None:
        w, t = acct.watcher, acct.tasks
        await acct.end_unnoticed(1)
        await acct.sample()
        assert acct.woken() == [t[0], t[1]]  # 10 and 9 seconds old: the likeliest
        w.checked(t[0])  # still running: a wrong guess
        await settle()
        assert acct.woken() == [t[0], t[1], t[2]]
        w.done(t[1])  # found: it had ended
        w.checked(t[2])
        await settle()
        assert acct.woken() == [t[0], t[1], t[2]]
        assert w.probing == set()

    learned = schedule(8, 9, 10, 11, 12, 13, 14, 15, endpoint=MULTIMODAL)
    with_account(5, learned=learned)(body)


def test_a_wrong_guess_wakes_another_task_before_anything_is_learned() -> None:
    """Before any duration is known, a wrong guess still wakes the next oldest task."""

    async def body(acct: Account) -> None:
        w, t = acct.watcher, acct.tasks
        await acct.end_unnoticed(3)
        await acct.sample()
        w.checked(t[0])
        await settle()
        assert acct.woken() == [t[0], t[1], t[2]]

    with_account(5)(body)


def test_an_end_that_stays_unnoticed_widens_the_net() -> None:
    """A second count that still misses the end wakes twice as many tasks as the first."""

    async def body(acct: Account) -> None:
        await acct.end_unnoticed(0)
        await acct.sample()
        assert len(acct.woken()) == FANOUT
        await acct.sample()
        assert len(acct.woken()) == 2 * FANOUT
        assert acct.woken() == acct.tasks[: 2 * FANOUT]

    with_account(6)(body)


def test_with_webhooks_a_first_unnoticed_end_waits_for_its_webhook() -> None:
    """With webhooks, an unnoticed end wakes nobody at the first count, some at the next."""

    async def body(acct: Account) -> None:
        await acct.end_unnoticed(2)
        await acct.sample()
        assert acct.woken() == []
        await acct.sample()
        assert len(acct.woken()) == 2 * FANOUT

    with_account(6, webhooks=True)(body)


def test_another_clients_tasks_make_the_counts_unhealthy() -> None:
    """More tasks counted than ours: the counts are unhealthy and nobody is woken."""

    async def body(acct: Account) -> None:
        w = acct.watcher
        await acct.end_unnoticed(0)
        await acct.sample()
        assert (w.healthy, w.counters["unhealthy"], w.counters["probes"]) == (False, 1, 0)
        assert acct.woken() == []

    with_account(3, theirs=2)(body)


def test_a_submit_on_the_wire_may_be_counted_already() -> None:
    """One task more than ours is healthy only while a submit is on the wire."""

    async def body(acct: Account) -> None:
        w = acct.watcher
        with w.sending():
            await acct.sample()
        assert w.healthy
        await acct.sample()
        assert not w.healthy

    with_account(3, theirs=1)(body)


def test_counts_that_cannot_be_read_make_the_watcher_unhealthy() -> None:
    """When the account's counts cannot be had, the watcher says so and wakes nobody."""

    async def body() -> None:
        async with Client("http://127.0.0.1:9", KEY, timeout=5) as client:
            w = watcher(client=client)
            w.healthy = True
            w.add("t1", EP, sent=-1.0)
            await w._sample()
        assert (w.healthy, w.counters["unhealthy"], w.counters["samples"]) == (False, 1, 0)

    run(body)


def test_run_without_an_interval_never_reads_the_counts() -> None:
    """An interval of 0 turns the counts off: run() returns at once."""

    async def body() -> None:
        w = watcher()
        w.interval = 0.0
        w.add("t1", EP)
        await asyncio.wait_for(w.run(), timeout=5)
        assert w.counters["samples"] == 0

    run(body)


def test_what_the_watcher_knows_is_read_through_its_methods() -> None:
    """The shortest life seen per endpoint, and our tasks still going (with those not seen
    going since a moment), as the judge of lost replies reads them."""
    w = watcher()
    assert w.floor(EP) is None
    hands(w).at = 10.0
    w.add("a", EP, sent=0.0)
    w.add("b", EP, sent=5.0)
    hands(w).at = 20.0
    w.checked("b")
    assert w.unfinished(since=15.0) == (2, {"a": "some/endpoint"})
    w.deliver(final("a"))  # its final state is in: no longer unfinished
    assert w.unfinished(since=15.0) == (1, {})
    w.done("a")
    assert w.floor(EP) == 10.0
