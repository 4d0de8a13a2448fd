"""Spend control as ``rhbatch run`` uses it: the quote before the run, the cap, the balance.

- The quote: the first lines of every run say what the jobs it would submit
  cost by the public price list (and, with ``--quote online``, by RunningHub's
  price preview, with the differences), what is billed so far and the cap.
- The cap (``--max-spend`` or ``run.max_spend``): jobs no price is known for
  are refused before anything is sent, unless allowed (``--allow-unpriced``);
  the ``Budget`` holds the run to it (``run/budget.py``).
- The balance: read before the first submit; a batch quoted above it is told
  so before it starts.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from rhbatch.api.client import Client
from rhbatch.commands.common import plural
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import ApiError, UsageError
from rhbatch.models import JobStatus, RunSettings
from rhbatch.runner.budget import EPSILON, Budget
from rhbatch.runner.progress import Reporter
from rhbatch.runner.quote import Preview, Priced, Quote, money, preview, quote
from rhbatch.store.state import Store

TO_RUN = (JobStatus.PENDING,)


@dataclass(frozen=True)
class Spend:
    """How a run controls its spending."""

    cap: float | None
    allow_unpriced: bool
    online: bool

    @classmethod
    def of(cls, args: argparse.Namespace, run: RunSettings) -> Spend:
        cap = getattr(args, "max_spend", None)
        if cap is not None and not 0 < cap < math.inf:
            raise UsageError(f"--max-spend must be an amount above 0, not {cap:g}")
        mode = getattr(args, "quote", None) or run.quote
        return cls(
            cap=cap if cap is not None else run.max_spend,
            allow_unpriced=bool(getattr(args, "allow_unpriced", False) or run.allow_unpriced),
            online=mode == "online",
        )


def to_run(store: Store) -> Quote:
    """The quote of the jobs a run would submit."""
    return quote((i, e, q) for i, e, s, q, _ in store.ledger() if JobStatus(s) in TO_RUN)


def billed(store: Store) -> float:
    """What the directory has been billed so far, over every run and every version of its
    spec: jobs the spec names now, jobs it no longer names, and earlier versions."""
    return store.spent()


def maybe_billed(store: Store) -> float:
    """What tasks whose bill is not known may have cost (each at its quote): lost submits,
    tasks whose end was not learned, earlier versions' tasks not yet settled."""
    return round(sum(quoted or 0.0 for _, quoted, _ in store.maybe_billed()), 4)


def to_finish(store: Store) -> float:
    """The cap that would let every job still to run be submitted: what is billed, what
    may be, and the quote of the rest."""
    return round(billed(store) + maybe_billed(store) + to_run(store).total, 2)


def refuse_unpriced(store: Store, spend: Spend) -> None:
    """Under a cap, jobs no price is known for cannot be held against it: refused before
    anything is sent, unless allowed."""
    if spend.cap is None or spend.allow_unpriced:
        return
    unpriced = to_run(store).unpriced
    if unpriced:
        shown = ", ".join(unpriced[:10]) + (" ..." if len(unpriced) > 10 else "")
        raise UsageError(
            f"no price is known for {plural(len(unpriced), 'job')} to run ({shown}), so the "
            "spending cap cannot hold them; --allow-unpriced (or run.allow_unpriced: true) "
            "runs them anyway, counting what they are billed once it is known"
        )


def quote_lines(store: Store, registry: Registry, spend: Spend, source: str) -> list[str]:
    """What the run's first lines say of its price."""
    todo = to_run(store)
    line = f"rhbatch: quote: {todo.text()} for {plural(todo.jobs, 'job')} to run ({source})"
    so_far, maybe = billed(store), maybe_billed(store)
    if so_far:
        line += f"; {money(so_far)} billed so far in this directory"
    if maybe:
        line += f" (and up to {money(maybe)} for tasks whose bill is not known)"
    if spend.cap is not None:
        line += f"; spending cap {money(spend.cap)}"
    lines = [line]
    if spend.cap is not None and so_far + maybe + todo.total > spend.cap + EPSILON:
        lines.append(
            f"rhbatch: warning: {money(so_far + maybe)} spent and {money(todo.total)} "
            f"quoted exceed the spending cap of {money(spend.cap)}: the run will stop at the "
            f"cap (exit 4) before every job is sent; --max-spend {to_finish(store):.2f} "
            "would let the whole batch run"
        )
    if len(todo.per_endpoint) > 1:
        for endpoint, amount in sorted(todo.per_endpoint.items(), key=lambda kv: -kv[1]):
            title = registry.info(endpoint).title
            jobs = todo.jobs_per_endpoint[endpoint]
            lines.append(f"  {title}: {money(amount)} for {plural(jobs, 'job')}")
    return lines


async def ask_online(client: Client, store: Store, registry: Registry, shown: Reporter) -> None:
    """Ask RunningHub's price preview for the jobs to run, keep its prices as their quotes,
    and say where it differs from the list."""
    rows = store.jobs(*TO_RUN)
    if not rows:
        return
    jobs = [Priced(r.id, r.endpoint, r.params, r.quoted) for r in rows]
    answer, quotes = await preview(client, registry, jobs)
    store.requote(quotes)
    for line in preview_lines(answer, registry, len(rows)):
        shown.message(line)
    for line in quote_lines(store, registry, Spend(None, False, True), "with the price preview"):
        shown.message(line)


def preview_lines(answer: Preview, registry: Registry, jobs: int) -> list[str]:
    """What the price preview said, where it differs from the list."""
    lines = [
        f"rhbatch: price preview: asked {plural(answer.asked, 'time')} for "
        f"{plural(jobs, 'job')} (once per distinct price-relevant parameter set)"
    ]
    for endpoint, listed, previewed in answer.differences():
        title = registry.info(endpoint).title
        lines.append(
            f"  {title}: RunningHub quotes {money(previewed)}, the public price list "
            f"{money(listed)} ({previewed - listed:+,.2f})"
        )
    if not answer.differences() and not answer.failed:
        lines.append("  RunningHub's quote and the public price list agree")
    for endpoint, reason in sorted(answer.failed.items()):
        title = registry.info(endpoint).title
        lines.append(f"  {title}: no price preview ({reason}); the price list stands")
    return lines


async def check_balance(client: Client, store: Store, spend: Spend, shown: Reporter) -> None:
    """Before the first submit: say so if the account cannot pay for what is quoted."""
    try:
        data = await client.account_status()
        balance = float(data.get("remainMoney") or "nan")
    except (ApiError, ValueError):
        return  # not told: the submits will say (an empty balance stops the run)
    if balance != balance:  # NaN: a consumer account counts coins, not money
        return
    needed = to_run(store).total
    if spend.cap is not None:
        needed = min(needed, max(0.0, spend.cap - billed(store) - maybe_billed(store)))
    if needed > balance + 1e-9:
        shown.message(
            f"rhbatch: the account holds {money(balance)}, less than the {money(needed)} "
            "quoted for the jobs to run: the run stops submitting when the balance runs out"
        )


def budget_for(store: Store, spend: Spend) -> Budget:
    """The run's budget: the cap, what the directory is billed so far, and what tasks whose
    bill is not known may have been billed (their quotes)."""
    budget = Budget(spend.cap, billed=billed(store))
    for job_id, quoted, _ in store.maybe_billed():
        if quoted:
            budget.maybe(job_id, quoted)
    return budget
