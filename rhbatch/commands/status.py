"""``rhbatch status DIR``: where a run stands, from its state store (works during a run).

Counts by status, what needs doing about failed, unfetched and unknown jobs, and
the money: per endpoint what the billed jobs were quoted against what they were
billed, what the jobs still to run are quoted, and every job billed more than
it was quoted.

A directory without a state store (one ``rhbatch merge`` made) is read from its
``manifest.jsonl`` and ``run.json`` (``store/records.py``): the same counts, jobs
and money from the records, and what the merge found: the shards it joined, the
jobs planned, and whether every one has exactly one terminal record.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhbatch.commands.common import plural
from rhbatch.commands.directory import Directory
from rhbatch.commands.table import render
from rhbatch.errors import EXIT_OK, StateError
from rhbatch.models import JobRow, JobStatus
from rhbatch.readers import FileProblem
from rhbatch.runner.quote import Quote, Reconciliation, quote, reconcile
from rhbatch.store import records
from rhbatch.store.manifest import read_run
from rhbatch.store.state import Store

SHOWN = 10  # jobs named one by one in each group; the rest are counted


@dataclass
class Standing:
    """What status says of a directory, from its store or from its records."""

    spec: str | None
    counts: dict[JobStatus, int]
    cost: float
    books: Reconciliation
    to_run: Quote
    failed: list[JobRow] = field(default_factory=list)
    unknown: list[JobRow] = field(default_factory=list)
    unfetched: list[JobRow] = field(default_factory=list)
    blocked: list[JobRow] = field(default_factory=list)
    directory: Directory | None = None  # what the store keeps beyond the spec's jobs
    merged: dict[str, Any] | None = None  # what run.json says of a merge
    unreadable: int = 0  # manifest lines that are no record

    @classmethod
    def of_store(cls, out_dir: Path) -> Standing:
        with Store.open(out_dir, lock=False, create=False) as store:
            return cls(
                spec=store.get_meta("spec"),
                counts=store.counts(),
                cost=store.total_cost(),
                books=reconcile(store.ledger()),
                to_run=quote(
                    (i, e, q)
                    for i, e, s, q, _ in store.ledger()
                    if JobStatus(s) is JobStatus.PENDING
                ),
                failed=store.jobs(JobStatus.FAILED),
                unknown=store.jobs(JobStatus.UNKNOWN),
                unfetched=store.jobs(JobStatus.UNFETCHED),
                blocked=store.jobs(JobStatus.BLOCKED),
                directory=Directory.of(store),
            )

    @classmethod
    def of_records(cls, out_dir: Path) -> Standing:
        """From the manifest and run.json of a directory without a store."""
        info = read_run(out_dir)
        rows: list[JobRow] = []
        unreadable = 0
        try:
            for _, record in records.records(out_dir):
                status = None if record is None else records.status_of(record)
                if record is None or status is None:
                    unreadable += 1
                    continue
                rows.append(records.job_row(record, status))
        except FileProblem as exc:
            raise StateError(f"{out_dir}/{records.MANIFEST} cannot be read: {exc.reason}") from None
        ledger = [(r.id, r.endpoint, r.status.value, r.quoted, r.cost) for r in rows]
        spec = info.get("spec") or info.get("specPath")
        return cls(
            spec=spec if isinstance(spec, str) else None,
            counts=dict(Counter(r.status for r in rows)),
            cost=round(sum(r.cost or 0.0 for r in rows), 4),
            books=reconcile(ledger),
            to_run=quote(
                (r.id, r.endpoint, r.quoted) for r in rows if r.status is JobStatus.PENDING
            ),
            failed=[r for r in rows if r.status is JobStatus.FAILED],
            unknown=[r for r in rows if r.status is JobStatus.UNKNOWN],
            unfetched=[r for r in rows if r.status is JobStatus.UNFETCHED],
            blocked=[r for r in rows if r.status is JobStatus.BLOCKED],
            merged=_merge_of(info),
            unreadable=unreadable,
        )


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    manifest_only = records.manifest_only(out_dir)
    seen = Standing.of_records(out_dir) if manifest_only else Standing.of_store(out_dir)
    counts, books, to_run = seen.counts, seen.books, seen.to_run
    failed, unknown, unfetched, blocked = seen.failed, seen.unknown, seen.unfetched, seen.blocked
    total = sum(counts.values())
    if args.json:
        doc = {
            "dir": str(out_dir),
            "spec": seen.spec,
            "source": "manifest" if manifest_only else "state",
            "jobs": total,
            "counts": {s.value: counts.get(s, 0) for s in JobStatus},
            "cost": round(seen.cost, 4),
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
            # What the store keeps beyond the spec's jobs; None without a store (a merge).
            "directory": seen.directory.record() if seen.directory is not None else None,
        }
        if manifest_only:
            doc["merged"] = seen.merged
            doc["unreadableLines"] = seen.unreadable
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"{out_dir}: {plural(total, 'job')} of {seen.spec or 'a spec'}")
    if manifest_only:
        _merge_lines(seen.merged, total)
        if seen.unreadable:
            print(f"  {plural(seen.unreadable, 'manifest line')} not read (not a job's record)")
    for status in JobStatus:
        if counts.get(status):
            print(f"  {status.value:<12} {counts[status]:>8,}")
    print(f"  cost         {seen.cost:>8,.2f} CNY")
    _money(books, to_run)
    if seen.directory is not None:
        seen.directory.show()
    if failed:
        print("failures:")
        reasons = Counter((r.error_code or "?", (r.error_message or "")[:100]) for r in failed)
        for (code, message), n in reasons.most_common(20):
            example = next(r.id for r in failed if (r.error_code or "?") == code)
            print(f"  {n:>6,} x {code}: {message} (e.g. {example})")
    if unfetched:
        print("succeeded and paid, files not fetched (the next run tries again):")
        for row in unfetched[:SHOWN]:
            print(f"  {row.id}: {(row.error_message or '')[:200]}")
    if unknown:
        print("unknown (a task may exist, and be paid):")
        for row in unknown[:SHOWN]:
            task = f" task {row.task_id}:" if row.task_id else ""
            print(f"  {row.id}:{task} {(row.error_message or '')[:200]}")
    if blocked:
        print("blocked (not sent: a job they use did not succeed):")
        for row in blocked[:SHOWN]:
            print(f"  {row.id}: {(row.error_message or '')[:200]}")
    for rows in (unfetched, unknown, blocked):
        if len(rows) > SHOWN:
            print(f"  ... and {len(rows) - SHOWN:,} more (rhbatch status --json {out_dir})")
    return EXIT_OK


def _merge_of(info: dict[str, Any]) -> dict[str, Any] | None:
    """What a merge's run.json says it joined and found; None for another directory."""
    joined = info.get("merged")
    if not isinstance(joined, list):
        return None

    def listed(key: str) -> list[str]:
        found = info.get(key)
        return [str(v) for v in found] if isinstance(found, list) else []

    planned = info.get("planned")
    return {
        "from": [str(d) for d in joined],
        "shards": [str(s) for s in listed("shards") if s != "None"],
        "planned": planned if isinstance(planned, int) else None,
        "complete": info.get("complete") is True,
        "missing": listed("missing"),
        "unfinished": listed("unfinished"),
        "duplicates": listed("duplicates"),
    }


def _merge_lines(merged: dict[str, Any] | None, jobs: int) -> None:
    """What the merge joined and whether it is complete (or: no store, records read)."""
    if merged is None:
        print("  read from manifest.jsonl (no state store here)")
        return
    sources = plural(len(merged["from"]), "directory", "directories")
    shards = f" (shards {', '.join(merged['shards'])})" if merged["shards"] else ""
    planned = merged["planned"]
    of = f" of {planned:,} planned" if planned is not None else ""
    print(f"  merged from {sources}{shards}: {plural(jobs, 'job')}{of}")
    if merged["complete"]:
        print("  complete: every planned job has exactly one terminal record")
        return
    gaps = [
        f"{len(merged[key]):,} {one if len(merged[key]) == 1 else many}"
        for key, one, many in (
            ("missing", "planned job with no record", "planned jobs with no record"),
            ("unfinished", "job not ended in its shard", "jobs not ended in their shards"),
            ("duplicates", "job in two shards", "jobs in two shards"),
        )
        if merged[key]
    ]
    print(f"  incomplete: {'; '.join(gaps) or 'see run.json'}")
    for key in ("missing", "unfinished", "duplicates"):
        ids = merged[key]
        if ids:
            more = (
                f" ... and {len(ids) - SHOWN:,} more (run.json lists all)"
                if len(ids) > SHOWN
                else ""
            )
            print(f"  {key}: {', '.join(ids[:SHOWN])}{more}")


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
