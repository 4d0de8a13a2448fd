"""The retry policy: what each RunningHub code means for a batch, and how long to wait."""

from __future__ import annotations

import asyncio
import random

import pytest

from rhbatch.errors import Transient
from rhbatch.runner import retry
from rhbatch.runner.retry import RETRY_AFTER_CAP, Kind, backoff, classify, retrying, wait_for

# Every code the policy knows, with the kind a batch must treat it as (RunningHub's *API Error
# Code Reference*).
TABLE = [
    # the account or the service is full: wait and lower the tasks in flight
    ("415", Kind.BACKPRESSURE),
    ("421", Kind.BACKPRESSURE),
    ("814", Kind.BACKPRESSURE),
    ("1003", Kind.BACKPRESSURE),
    ("1011", Kind.BACKPRESSURE),
    ("1520", Kind.BACKPRESSURE),
    ("HTTP429", Kind.BACKPRESSURE),
    ("HTTP503", Kind.BACKPRESSURE),
    # the task failed in a way a new attempt may fix
    ("1000", Kind.RETRY),
    ("1005", Kind.RETRY),
    ("1006", Kind.RETRY),
    ("1010", Kind.RETRY),
    ("1012", Kind.RETRY),
    ("1015", Kind.RETRY),
    ("1504", Kind.RETRY),
    ("500", Kind.RETRY),
    ("805", Kind.RETRY),
    ("808", Kind.RETRY),
    # the key: the whole run stops
    ("-1", Kind.AUTH),
    ("401", Kind.AUTH),
    ("801", Kind.AUTH),
    ("802", Kind.AUTH),
    ("806", Kind.AUTH),
    ("811", Kind.AUTH),
    ("1002", Kind.AUTH),
    ("1014", Kind.AUTH),
    ("1601", Kind.AUTH),
    ("HTTP401", Kind.AUTH),
    ("HTTP403", Kind.AUTH),
    # the balance: the whole run stops, keeping what is done
    ("416", Kind.FUNDS),
    ("812", Kind.FUNDS),
    ("HTTP402", Kind.FUNDS),
    # not an error: the task is still going
    ("804", Kind.WAIT),
    ("813", Kind.WAIT),
]

# Codes the policy does not list: the request itself is refused, or nobody knows. Sending
# such a job again would pay again on a guess.
PERMANENT = ["1505", "1501", "301", "1007", "9999", "", "abc", "HTTP500", "HTTP404", "0"]


@pytest.mark.parametrize(("code", "kind"), TABLE)
def test_each_known_code_has_its_kind(code: str, kind: Kind) -> None:
    """Each code in the policy's table is classified as the batch must treat it."""
    assert classify(code) is kind


@pytest.mark.parametrize("code", PERMANENT)
def test_unlisted_codes_are_permanent(code: str) -> None:
    """A code outside the table is permanent: the job fails rather than pay twice."""
    assert classify(code) is Kind.PERMANENT


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (" 1003", Kind.BACKPRESSURE),
        ("1015 ", Kind.RETRY),
        ("\t804\n", Kind.WAIT),
        (" HTTP402 ", Kind.FUNDS),
    ],
)
def test_whitespace_around_a_code_is_ignored(code: str, kind: Kind) -> None:
    """A code with spaces or newlines around it is the same code."""
    assert classify(code) is kind


def test_this_table_lists_every_code_the_policy_knows() -> None:
    """No code in retry.py's table is missing here (add a row when the policy grows)."""
    assert {code for code, _ in TABLE} == set(retry._BY_CODE)


def test_backoff_ceilings_double_up_to_the_cap() -> None:
    """At the top of its range, each wait doubles the one before until it reaches the cap."""
    waits = [backoff(n, base=1.0, cap=60.0, rand=lambda: 1.0) for n in range(8)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


def test_backoff_is_never_below_a_tenth_of_its_ceiling() -> None:
    """With the lowest random draw the wait is a tenth of the ceiling, never zero."""
    waits = [backoff(n, base=0.5, cap=8.0, rand=lambda: 0.0) for n in range(6)]
    assert waits == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 0.8])


@pytest.mark.parametrize("attempt", [0, 1, 3, 5, 6, 7, 40, 10_000])
def test_backoff_stays_between_a_tenth_of_its_ceiling_and_the_cap(attempt: int) -> None:
    """Whatever the draw, a wait lies in [ceiling / 10, ceiling], the ceiling at most the cap."""
    draw = random.Random(attempt).random
    ceiling = min(60.0, 2.0**attempt) if attempt < 64 else 60.0
    for _ in range(200):
        wait = backoff(attempt, cap=60.0, rand=draw)
        assert ceiling / 10 <= wait <= ceiling <= 60.0


def test_wait_for_honours_retry_after() -> None:
    """The server's Retry-After is the wait, even above the backoff cap; zero means now."""
    assert wait_for(12.5, attempt=0, cap=4.0) == 12.5
    assert wait_for(0.0, attempt=5) == 0.0


def test_wait_for_caps_a_long_retry_after() -> None:
    """A Retry-After beyond five minutes waits RETRY_AFTER_CAP, not hours."""
    assert RETRY_AFTER_CAP == 300.0
    assert wait_for(86_400.0, attempt=0) == RETRY_AFTER_CAP


@pytest.mark.parametrize("retry_after", [None, -1.0])
def test_wait_for_without_a_usable_retry_after_backs_off(retry_after: float | None) -> None:
    """No Retry-After (or a negative one): a backoff within the attempt's ceiling and the cap."""
    for _ in range(100):
        assert 0.8 <= wait_for(retry_after, attempt=3, cap=60.0) <= 8.0
        assert 0.5 <= wait_for(retry_after, attempt=30, cap=5.0) <= 5.0


def test_retrying_tells_each_trouble_and_stops_when_its_sleep_says_so() -> None:
    """Each passing trouble is told to ``failed``; a sleep that returns True (the run
    stops) ends the tries at once with that trouble; otherwise the call is made again."""
    told: list[str] = []
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Transient(f"trouble {calls}")
        return "answer"

    async def nap(seconds: float) -> bool:
        return False

    async def stopped(seconds: float) -> bool:
        return True

    def tell(exc: Transient) -> None:
        told.append(str(exc))

    assert asyncio.run(retrying(flaky, tries=5, sleep=nap, failed=tell)) == "answer"
    assert (calls, told) == (3, ["trouble 1", "trouble 2"])
    calls, told[:] = 0, []
    with pytest.raises(Transient, match="trouble 1"):
        asyncio.run(retrying(flaky, tries=5, sleep=stopped, failed=tell))
    assert (calls, told) == (1, ["trouble 1"])
