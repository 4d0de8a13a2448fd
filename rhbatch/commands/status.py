"""``rhbatch status DIR``: where a run stands, from its state store (works during a run)."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from rhbatch.commands.common import plural
from rhbatch.errors import EXIT_OK
from rhbatch.state import JobStatus, Store


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    with Store.open(out_dir, lock=False, create=False) as store:
        counts = store.counts()
        cost = store.total_cost()
        failed = store.jobs(JobStatus.FAILED)
        unknown = store.jobs(JobStatus.UNKNOWN)
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
            "unknown": [{"id": r.id, "message": r.error_message} for r in unknown],
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
    if unknown:
        print(
            f"unknown (a task may exist): {', '.join(r.id for r in unknown[:10])}"
            + (" ..." if len(unknown) > 10 else "")
        )
    return EXIT_OK
