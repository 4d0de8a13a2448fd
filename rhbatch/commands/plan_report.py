"""The plan of a spec against an output directory, as text and as JSON.

``rhbatch plan SPEC --out DIR`` and ``rhbatch run SPEC --dry-run`` print it:
what is new, what changed (field by field), what is unchanged, what the
directory holds that the spec no longer names, each group's price, this run's
price and what the directory would then have cost. Nothing is sent.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rhbatch.commands.common import plural
from rhbatch.commands.table import render
from rhbatch.endpoints.pricing import CURRENCY
from rhbatch.endpoints.registry import Registry
from rhbatch.runner.plan import EXAMPLES, JobLine, Planned, compare
from rhbatch.runner.quote import Quote, money, priced_text
from rhbatch.spec.load import Spec
from rhbatch.spec.spool import Staged
from rhbatch.store.db import STATE_DIR
from rhbatch.store.state import Store


def plan_against(
    jobs: Iterable[Staged], out_dir: Path, args: argparse.Namespace | None = None
) -> Planned:
    """The plan of a spec's jobs (as validation spooled them) against ``out_dir`` (a
    directory with no run yet: all new)."""
    retry = bool(getattr(args, "retry_failed", False))
    resubmit = bool(getattr(args, "resubmit_unknown", False))
    lines: Iterator[JobLine] = (
        (job.id, job.idx, job.endpoint, job.params, job.quoted, job.uses) for job in jobs
    )
    if not (out_dir / STATE_DIR / "state.db").exists():
        return compare(None, lines)
    with Store.open(out_dir, lock=False, create=False) as store:
        return compare(store, lines, retry_failed=retry, resubmit_unknown=resubmit)


def print_plan(spec: Spec, reg: Registry, out_dir: Path, plan: Planned) -> None:
    """The plan as text."""
    held = f", {money(plan.spent)} spent so far" if plan.spent else ""
    print(f"{spec.file}: {plural(plan.jobs, 'job')} against {out_dir}{held}")
    rows = [
        _row("new", plan.new, _ids(plan.new_ids)),
        _row(
            "changed",
            plan.changed,
            _ids([c.id for c in plan.changes]) + (" (runs again)" if plan.changes else ""),
        ),
        _row(
            "to run",
            plan.to_run,
            _ids(plan.to_run_ids) + (" (not run yet)" * bool(plan.to_run_ids)),
        ),
    ]
    done = sum(plan.unchanged.values())
    what = ", ".join(f"{n:,} {s.value}" for s, n in sorted(plan.unchanged.items()))
    rows.append(("unchanged", f"{done:,}", "", f"{what} (skipped)" if done else ""))
    if plan.followed:
        rows.append(
            ("followed", f"{plan.followed:,}", "", "tasks followed, files fetched: nothing sent")
        )
    gone_billed = round(sum(b or 0.0 for _, _, b in plan.gone), 4)
    rows.append(
        (
            "not in spec",
            f"{len(plan.gone):,}",
            f"{gone_billed:,.2f} billed" if plan.gone else "",
            (_ids([g[0] for g in plan.gone]) + " (kept in the directory, not run)")
            if plan.gone
            else "",
        )
    )
    print()
    print(render(("", "JOBS", CURRENCY, "WHICH"), rows, right=(1, 2)))
    if plan.changes:
        print()
        print("changed (the version that ran is kept: history/<id>/v<N>/):")
        for item in plan.changes[:EXAMPLES]:
            print(f"  {item.id}" + ("" if item.kept else " (never sent: nothing to keep)"))
            for change in item.changes:
                print(f"    {change.field}: {_q(change.old)} -> {_q(change.new)}")
        if len(plan.changes) > EXAMPLES:
            print(f"  ... and {len(plan.changes) - EXAMPLES:,} more (--json lists every one)")
    print()
    run = plan.run
    print(f"this run: {plural(run.jobs, 'job')} to submit, {run.text()} (public price list)")
    if len(run.per_endpoint) > 1:
        for endpoint, amount in sorted(run.per_endpoint.items(), key=lambda kv: -kv[1]):
            count = run.jobs_per_endpoint[endpoint]
            print(f"  {reg.info(endpoint).title}: {money(amount)} for {plural(count, 'job')}")
    line = f"the directory: {money(plan.spent)} spent so far"
    if plan.maybe:
        line += f" (and up to {money(plan.maybe)} for tasks whose bill is not known)"
    line += f"; {money(plan.after)} once this run is billed as quoted"
    if run.unpriced:
        line += ", with its unpriced jobs at no cost"
    print(line)
    if plan.versions:
        print(f"earlier versions kept: {plan.versions:,} (rhbatch status {out_dir} shows them)")


def plan_json(spec: Spec, out_dir: Path, plan: Planned) -> dict[str, Any]:
    """The plan as a JSON document."""
    return {
        "spec": spec.file,
        "dir": str(out_dir),
        "jobs": plan.jobs,
        "currency": CURRENCY,
        "new": {**_quote(plan.new), "ids": plan.new_ids},
        "changed": {
            **_quote(plan.changed),
            "items": [
                {
                    "id": c.id,
                    "quoted": c.quoted,
                    "keptAsHistory": c.kept,
                    "changes": [{"field": x.field, "old": x.old, "new": x.new} for x in c.changes],
                }
                for c in plan.changes
            ],
        },
        "toRun": {**_quote(plan.to_run), "ids": plan.to_run_ids},
        "unchanged": {
            "jobs": sum(plan.unchanged.values()),
            "byStatus": {s.value: n for s, n in sorted(plan.unchanged.items())},
            "followed": plan.followed,
        },
        "notInSpec": {
            "jobs": len(plan.gone),
            "billed": round(sum(b or 0.0 for _, _, b in plan.gone), 4),
            "items": [{"id": i, "status": s.value, "billed": b} for i, s, b in plan.gone],
        },
        "run": {**_quote(plan.run), "perEndpoint": plan.run.per_endpoint},
        "directory": {
            "spent": plan.spent,
            "maybeBilled": plan.maybe,
            "afterRun": plan.after,
            "versionsKept": plan.versions,
        },
    }


def print_plan_json(spec: Spec, out_dir: Path, plan: Planned) -> None:
    print(json.dumps(plan_json(spec, out_dir, plan), ensure_ascii=False, indent=2))


def _quote(q: Quote) -> dict[str, Any]:
    """A group's price: ``amount`` None when no job of it has a known price."""
    return {"jobs": q.jobs, "amount": q.amount, "unpricedJobs": len(q.unpriced)}


def _row(name: str, q: Quote, which: str) -> tuple[str, str, str, str]:
    price = "" if not q.jobs else priced_text(q.total, len(q.unpriced), q.jobs)
    return name, f"{q.jobs:,}", price.removesuffix(f" {CURRENCY}"), which


def _ids(ids: list[str], shown: int = 5) -> str:
    head = ", ".join(ids[:shown])
    return head + (f", ... ({len(ids) - shown:,} more)" if len(ids) > shown else "")


def _q(text: str) -> str:
    return "(not set)" if text == "(not set)" else json.dumps(text, ensure_ascii=False)
