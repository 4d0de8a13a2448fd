"""Retry by class: what each RunningHub error code means for a batch, and how long to wait.

The table follows RunningHub's *API Error Code Reference*. ``classify`` maps a code to one of:

- BACKPRESSURE: the account or the service is full (421, 415, 814, 1003, 1011,
  1520, HTTP 429): wait, lower the number of tasks in flight, try again. Not a
  failure of the job.
- RETRY: the task failed in a way a new attempt may fix (1006, 1015, 1504, and
  server-side errors): resubmit, up to ``run.retries`` times.
- PERMANENT: the request itself is wrong or refused (1505, 1501, 301, 1007, ...):
  the job fails; resubmitting would pay again for the same refusal.
- AUTH, FUNDS: the key or the balance; the whole run stops, keeping what is done.
- WAIT: not an error, the task is still going (804, 813).

An unknown code is PERMANENT: a job should not be paid for twice on a guess.
``backoff`` is jittered, capped, exponential ("full jitter"); ``wait_for`` honours
a server's Retry-After the one way rhbatch does; ``retrying`` is the retry loop of
a single call.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from rhbatch.errors import Transient

T = TypeVar("T")


class Kind(Enum):
    BACKPRESSURE = "backpressure"
    RETRY = "retry"
    PERMANENT = "permanent"
    AUTH = "auth"
    FUNDS = "funds"
    WAIT = "wait"


_TABLE: dict[Kind, frozenset[str]] = {
    Kind.BACKPRESSURE: frozenset(
        {"415", "421", "814", "1003", "1011", "1520", "HTTP429", "HTTP503"}
    ),
    Kind.RETRY: frozenset(
        {"1006", "1015", "1504", "1000", "1005", "1010", "1012", "500", "805", "808"}
    ),
    Kind.AUTH: frozenset(
        {"801", "802", "806", "811", "1002", "1014", "1601", "-1", "401", "HTTP401", "HTTP403"}
    ),
    Kind.FUNDS: frozenset({"416", "812", "HTTP402"}),
    Kind.WAIT: frozenset({"804", "813"}),
}
_BY_CODE = {code: kind for kind, codes in _TABLE.items() for code in codes}


def classify(code: str) -> Kind:
    """What an error code means for the batch; unknown codes are permanent."""
    return _BY_CODE.get(str(code).strip(), Kind.PERMANENT)


def backoff(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 60.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before try number ``attempt + 1`` (attempt 0 is the first retry):
    a random time up to ``min(cap, base * 2**attempt)``, never below a tenth of it."""
    ceiling = min(cap, base * 2.0 ** min(attempt, 32))
    return ceiling * (0.1 + 0.9 * rand())


RETRY_AFTER_CAP = 300.0


def wait_for(error_retry_after: float | None, attempt: int, *, cap: float = 60.0) -> float:
    """The server's Retry-After when it gave one (up to five minutes), else a backoff
    capped at ``cap``."""
    if error_retry_after is not None and error_retry_after >= 0:
        return min(error_retry_after, RETRY_AFTER_CAP)
    return backoff(attempt, cap=cap)


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    tries: int,
    sleep: Callable[[float], Awaitable[bool | None]],
    cap: float = 60.0,
    unless: tuple[type[Transient], ...] = (),
    failed: Callable[[Transient], None] | None = None,
) -> T:
    """``call()``, made again after passing trouble (``Transient``, except the ``unless``
    kinds, which are raised at once), waiting as ``wait_for`` says; after ``tries`` the
    last trouble is raised. ``failed`` hears of each trouble (the API's health); a
    ``sleep`` that returns True (the run stops) ends the tries: the trouble is raised.
    The one retry loop of rhbatch's single calls."""
    for attempt in range(tries):
        try:
            return await call()
        except unless:
            raise
        except Transient as exc:
            if failed is not None:
                failed(exc)
            if attempt == tries - 1:
                raise
            if await sleep(wait_for(exc.retry_after, attempt, cap=cap)):
                raise
    raise ValueError("tries must be at least 1")
