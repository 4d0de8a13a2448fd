"""``rhbatch status DIR``: where a run stands, from its state store (works during a run).

Counts by status, what needs doing about failed, unfetched and unknown jobs, and
the money: per endpoint what the billed jobs were quoted against what they were
billed, what the jobs still to run are quoted, and every job billed more than
it was quoted.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rhbatch.commands.common import plural
from rhbatch.commands.directory import Directory
from rhbatch.commands.table import render
from rhbatch.errors import EXIT_OK
from rhbatch.models import JobStatus
from rhbatch.runner.quote import Quote, Reconciliation, quote, reconcile
from rhbatch.store.state import Store


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    with Store.open(out_dir, lock=False, create=False) as store:
        counts = store.counts()
        cost = store.total_cost()
        failed = store.jobs(JobStatus.FAILED)
        unknown = store.jobs(JobStatus.UNKNOWN)
        unfetched = store.jobs(JobStatus.UNFETCHED)
        blocked = store.jobs(JobStatus.BLOCKED)
        spec = store.get_meta("spec")
        books = reconcile(store.ledger())
        to_run = quote(
            (i, e, q) for i, e, s, q, _ in store.ledger() if JobStatus(s) is JobStatus.PENDING
        )
        books_of_dir = Directory.of(store)
    total = sum(counts.values())
    if args.json:
        doc = {
            "dir": str(out_dir),
            "spec": spec,
            "jobs": total,
            "counts": {s.value: counts.get(s, 0) for s in JobStatus},
            "cost": round(cost, 4),
            "currency": "CNY",
            "quoted": books.quoted,
            "billed": books.billed,
            "quotedToRun": to_run.amount,  # None: no job to run has a known price
            "perEndpoint": {
                e: {"jobs": n, "quoted": q, "billed": b}
                for e, (n, q, b) in sorted(books.per_endpoint.items())
            },
            "billedOverQuoted": [
                {"id": j, "endpoint": e, "quoted": q, "billed": b} for j, e, q, b in books.over
            ],
            "failed": [
                {"id": r.id, "code": r.error_code, "message": r.error_message} for r in failed
            ],
            "unknown": [
                {"id": r.id, "taskId": r.task_id, "message": r.error_message} for r in unknown
            ],
            "unfetched": [
                {"id": r.id, "taskId": r.task_id, "message": r.error_message} for r in unfetched
            ],
            "blocked": [{"id": r.id, "message": r.error_message, "uses": r.uses} for r in blocked],
            "directory": books_of_dir.record(),
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{out_dir}: {plural(total, 'job')} of {spec or 'a spec'}")
    for status in JobStatus:
        if counts.get(status):
            print(f"  {status.value:<12} {counts[status]:>8,}")
    print(f"  cost         {cost:>8,.2f} CNY")
    _money(books, to_run)
    books_of_dir.show()
    if failed:
        print("failures:")
        reasons = Counter((r.error_code or "?", (r.error_message or "")[:100]) for r in failed)
        for (code, message), n in reasons.most_common(20):
            example = next(r.id for r in failed if (r.error_code or "?") == code)
            print(f"  {n:>6,} x {code}: {message} (e.g. {example})")
    if unfetched:
        print("succeeded and paid, files not fetched (the next run tries again):")
        for row in unfetched[:10]:
            print(f"  {row.id}: {(row.error_message or '')[:200]}")
    if unknown:
        print("unknown (a task may exist, and be paid):")
        for row in unknown[:10]:
            task = f" task {row.task_id}:" if row.task_id else ""
            print(f"  {row.id}:{task} {(row.error_message or '')[:200]}")
    if blocked:
        print("blocked (not sent: a job they use did not succeed):")
        for row in blocked[:10]:
            print(f"  {row.id}: {(row.error_message or '')[:200]}")
    for rows in (unfetched, unknown, blocked):
        if len(rows) > 10:
            print(f"  ... and {len(rows) - 10:,} more (rhbatch status --json {out_dir})")
    return EXIT_OK


def _money(books: Reconciliation, to_run: Quote) -> None:
    """Billed against quoted per endpoint, the quote of what is left, the jobs billed over."""
    if books.per_endpoint:
        rows = [
            (endpoint, f"{n:,}", f"{q:,.2f}", f"{b:,.2f}", f"{b - q:+,.2f}")
            for endpoint, (n, q, b) in sorted(books.per_endpoint.items())
        ]
        rows.append(
            (
                "(all)",
                "",
                f"{books.quoted:,.2f}",
                f"{books.billed:,.2f}",
                f"{books.billed - books.quoted:+,.2f}",
            )
        )
        print(
            render(
                ("ENDPOINT", "BILLED JOBS", "QUOTED", "BILLED", "DIFF"), rows, right=(1, 2, 3, 4)
            )
        )
    if to_run.jobs:
        print(f"still to run: {plural(to_run.jobs, 'job')}, quoted {to_run.text()}")
    if books.over:
        print(f"billed more than quoted: {plural(len(books.over), 'job')}")
        for job_id, endpoint, quoted, billed in books.over[:10]:
            was = "no quote" if quoted is None else f"quoted {quoted:,.2f}"
            print(f"  {job_id} ({endpoint}): {was}, billed {billed:,.2f} CNY")
        if len(books.over) > 10:
            print(f"  ... and {len(books.over) - 10:,} more (rhbatch status --json)")
