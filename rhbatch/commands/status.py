"""``rhbatch status DIR``: where a run stands, from its state store (works during a run)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rhbatch.commands.common import plural
from rhbatch.errors import EXIT_OK
from rhbatch.models import JobStatus
from rhbatch.store.state import Store


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    with Store.open(out_dir, lock=False, create=False) as store:
        counts = store.counts()
        cost = store.total_cost()
        failed = store.jobs(JobStatus.FAILED)
        unknown = store.jobs(JobStatus.UNKNOWN)
        unfetched = store.jobs(JobStatus.UNFETCHED)
        spec = store.get_meta("spec")
    total = sum(counts.values())
    if args.json:
        doc = {
            "dir": str(out_dir),
            "spec": spec,
            "jobs": total,
            "counts": {s.value: counts.get(s, 0) for s in JobStatus},
            "cost": round(cost, 4),
            "currency": "CNY",
            "failed": [
                {"id": r.id, "code": r.error_code, "message": r.error_message} for r in failed
            ],
            "unknown": [
                {"id": r.id, "taskId": r.task_id, "message": r.error_message} for r in unknown
            ],
            "unfetched": [
                {"id": r.id, "taskId": r.task_id, "message": r.error_message} for r in unfetched
            ],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{out_dir}: {plural(total, 'job')} of {spec or 'a spec'}")
    for status in JobStatus:
        if counts.get(status):
            print(f"  {status.value:<12} {counts[status]:>8,}")
    print(f"  cost         {cost:>8,.2f} CNY")
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
    for rows in (unfetched, unknown):
        if len(rows) > 10:
            print(f"  ... and {len(rows) - 10:,} more (rhbatch status --json {out_dir})")
    return EXIT_OK
