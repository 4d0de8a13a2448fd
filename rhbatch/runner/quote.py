"""The price of a batch before it runs: by the public price list, and by RunningHub's preview.

``quote`` sums what the jobs a run would submit cost, per endpoint, with the
jobs no price is known for. The list's prices are offline
(``endpoints/pricing.py``) and stored with each job when the spec is merged
into the store. ``preview`` asks RunningHub's price preview once per distinct
price-relevant parameter set (the parameters an endpoint's price depends on),
with one job's body as it stands, each local file stood in for by a placeholder
URL (a price depends on parameters, not on a file's content, and nothing is
uploaded or run to price it). The preview's price becomes the quote of every
job of the set; both figures are shown where they differ.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rhbatch.api.client import Client
from rhbatch.endpoints.pricing import CURRENCY, Quoter
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import ApiError
from rhbatch.runner.retry import retrying
from rhbatch.spec.refs import kind_of

PREVIEW_TRIES = 3
PREVIEWS_AT_ONCE = 8


@dataclass
class Quote:
    """What a set of jobs costs: in all and per endpoint, and the jobs without a price."""

    jobs: int = 0
    total: float = 0.0
    per_endpoint: dict[str, float] = field(default_factory=dict)
    jobs_per_endpoint: dict[str, int] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)  # job ids

    @property
    def amount(self) -> float | None:
        """The quote, None when no job of it has a known price (unknown, not free)."""
        if self.jobs and len(self.unpriced) == self.jobs:
            return None
        return self.total

    def text(self) -> str:
        """The quote as said to a person: "12.40 CNY", "at least 12.40 CNY (2 jobs without
        a known price)", or "unknown (no public price for 3 jobs)"."""
        return priced_text(self.total, len(self.unpriced), self.jobs)

    def add(self, job_id: str, endpoint: str, quoted: float | None) -> None:
        self.jobs += 1
        self.jobs_per_endpoint[endpoint] = self.jobs_per_endpoint.get(endpoint, 0) + 1
        if quoted is None:
            self.unpriced.append(job_id)
            return
        self.total = round(self.total + quoted, 4)
        self.per_endpoint[endpoint] = round(self.per_endpoint.get(endpoint, 0.0) + quoted, 4)


def quote(rows: Iterable[tuple[str, str, float | None]]) -> Quote:
    """The quote of ``(job id, endpoint, quoted)`` rows."""
    out = Quote()
    for job_id, endpoint, quoted in rows:
        out.add(job_id, endpoint, quoted)
    return out


@dataclass
class Preview:
    """What RunningHub's price preview said: per endpoint, the list's total and its own."""

    asked: int = 0  # previews asked (one per distinct price-relevant parameter set)
    listed: dict[str, float] = field(default_factory=dict)
    previewed: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # endpoint -> why not

    def differences(self) -> list[tuple[str, float, float]]:
        """(endpoint, list total, preview total) where the two differ by a cent or more."""
        return [
            (e, self.listed.get(e, 0.0), amount)
            for e, amount in sorted(self.previewed.items())
            if abs(amount - self.listed.get(e, 0.0)) >= 0.005
        ]


@dataclass(frozen=True)
class Priced:
    """A job to quote: its id, endpoint, parameters and its price by the list."""

    id: str
    endpoint: str
    params: dict[str, Any]
    quoted: float | None


async def preview(
    client: Client, registry: Registry, jobs: Iterable[Priced]
) -> tuple[Preview, list[tuple[str, float | None, str]]]:
    """Ask RunningHub's price preview for ``jobs``, once per distinct price-relevant
    parameter set: what it said, and each job's new quote ``(id, amount, "preview")``."""
    quoter = Quoter(registry)
    groups: dict[tuple[Any, ...], list[Priced]] = {}
    for job in jobs:
        groups.setdefault(quoter.key(job.endpoint, job.params), []).append(job)
    out = Preview(asked=len(groups))
    quotes: list[tuple[str, float | None, str]] = []
    limit = asyncio.Semaphore(PREVIEWS_AT_ONCE)

    async def ask(members: list[Priced]) -> None:
        first = members[0]
        body = _stand_ins(registry, first.endpoint, first.params)
        try:
            async with limit:
                amount, _ = await retrying(
                    lambda: client.price_preview(first.endpoint, body),
                    tries=PREVIEW_TRIES,
                    sleep=asyncio.sleep,
                    cap=4.0,
                )
        except ApiError as exc:
            out.failed[first.endpoint] = str(exc)
            return
        endpoint = first.endpoint
        for job in members:
            quotes.append((job.id, amount, "preview"))
            out.listed[endpoint] = round(out.listed.get(endpoint, 0.0) + (job.quoted or 0), 4)
            out.previewed[endpoint] = round(out.previewed.get(endpoint, 0.0) + amount, 4)

    async with asyncio.TaskGroup() as group:
        for members in groups.values():
            group.create_task(ask(members))
    return out, quotes


def _stand_ins(registry: Registry, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
    """A job's body with each local file replaced by a placeholder URL of the same name."""
    body = dict(params)
    for name in registry.schema(endpoint).media:
        value = body.get(name)
        if isinstance(value, list):
            body[name] = [_stand_in(v) for v in value]
        elif isinstance(value, str):
            body[name] = _stand_in(value)
    return body


def _stand_in(value: Any) -> Any:
    if not isinstance(value, str) or kind_of(value) != "local":
        return value
    name = value.replace("\\", "/").rsplit("/", 1)[-1]
    tag = hashlib.sha256(value.encode()).hexdigest()[:12]
    return f"https://files.example.invalid/{tag}/{name}"


@dataclass
class Reconciliation:
    """Billed against quoted, for the jobs that were billed: per endpoint, in all, and the
    jobs billed more than they were quoted."""

    per_endpoint: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    over: list[tuple[str, str, float | None, float]] = field(default_factory=list)
    quoted: float = 0.0
    billed: float = 0.0


def reconcile(rows: Iterable[tuple[str, str, str, float | None, float | None]]) -> Reconciliation:
    """The reconciliation of ``(job id, endpoint, status, quoted, billed)`` rows."""
    out = Reconciliation()
    for job_id, endpoint, _, quoted, billed in rows:
        if billed is None:
            continue  # not billed (yet): nothing to compare
        jobs, q, b = out.per_endpoint.get(endpoint, (0, 0.0, 0.0))
        out.per_endpoint[endpoint] = (jobs + 1, round(q + (quoted or 0.0), 4), round(b + billed, 4))
        out.quoted = round(out.quoted + (quoted or 0.0), 4)
        out.billed = round(out.billed + billed, 4)
        if quoted is None or billed > quoted + 0.005:
            out.over.append((job_id, endpoint, quoted, billed))
    return out


def money(amount: float) -> str:
    return f"{amount:,.2f} {CURRENCY}"


def priced_text(total: float, unpriced: int, jobs: int) -> str:
    """What ``jobs`` jobs cost when ``unpriced`` of them have no known price: an unknown
    price is never shown as 0.00."""
    if jobs and unpriced == jobs:
        return f"unknown (no public price for {_jobs(unpriced)})"
    if unpriced:
        return f"at least {money(total)} ({_jobs(unpriced)} without a known price)"
    return money(total)


def _jobs(n: int) -> str:
    return f"{n:,} job" + ("" if n == 1 else "s")
