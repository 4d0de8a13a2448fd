"""What ``rhbatch run`` tells: on resuming, as a dry run, and at the end (``run.json`` too).

The summary says every job's fate and what to do about the ones that need it:
failed jobs with their reason, unfetched ones (paid; the next run fetches them),
unknown ones (a task whose end the next run asks about, or a lost submit's task
to attach or to send again on purpose).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rhbatch.commands.common import plural, print_first
from rhbatch.commands.plan_report import plan_against, print_plan
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import EXIT_OK
from rhbatch.models import JobRow, JobStatus, SyncReport
from rhbatch.runner.progress import Reporter
from rhbatch.runner.quote import Priced, money, quote, reconcile
from rhbatch.runner.settle import Settled
from rhbatch.spec.load import Spec
from rhbatch.spec.spool import Staged
from rhbatch.store.manifest import iso
from rhbatch.store.state import Store
from rhbatch.version import __version__

# What each count of ``Store.recover`` means to the person resuming a run.
_RECOVERED = {
    "interrupted_submits": "stopped mid-submit last time: marked unknown (a task may exist); "
    "--resubmit-unknown submits them again",
    "followed_again": "whose task's end was not known: asking about it again",
    "fetched_again": "whose files could not be fetched: fetching again "
    "(nothing is submitted for them)",
}


def say_resume(
    shown: Reporter, synced: SyncReport, recovered: dict[str, int], reopened: int
) -> None:
    """What a rerun found: jobs known, changed, recovered, and files to fetch again."""
    if synced.kept:
        shown.message(f"rhbatch: resuming: {plural(synced.kept, 'job')} known from an earlier run")
    if synced.changed:
        kept = (
            f"; the {plural(synced.archived, 'version')} that ran kept in history/"
            if synced.archived
            else ""
        )
        shown.message(
            f"rhbatch: {plural(synced.changed, 'job')} changed since the last run and will run "
            f"again{kept}"
        )
    if synced.gone:
        shown.message(
            f"rhbatch: {plural(synced.gone, 'job')} in the directory the spec no longer names: "
            "kept as they are, not run"
        )
    for key, meaning in _RECOVERED.items():
        if recovered.get(key):
            shown.message(f"rhbatch: {plural(recovered[key], 'job')} {meaning}")
    if reopened:
        shown.message(
            f"rhbatch: {plural(reopened, 'job')} with missing or changed files: fetching again"
        )


def say_settled(shown: Reporter, settled: Settled) -> None:
    """What asking about the tasks of earlier versions found."""
    parts = []
    if settled.succeeded:
        parts.append(
            f"{settled.succeeded:,} succeeded ({settled.billed:,.2f} CNY billed, "
            f"{plural(settled.files, 'file')} kept in history/)"
        )
    if settled.unbilled:
        parts.append(f"{settled.unbilled:,} failed or cancelled (not billed)")
    if settled.running:
        parts.append(f"{settled.running:,} still running (asked again next run)")
    if settled.unknown:
        parts.append(f"{settled.unknown:,} not answered (counted at their quote)")
    shown.message(
        f"rhbatch: asked about the tasks of {plural(settled.asked, 'earlier version')}: "
        + "; ".join(parts)
    )


def dry_run(
    spec: Spec,
    reg: Registry,
    jobs: Iterable[Staged],
    out_dir: Path,
    args: argparse.Namespace,
    cap: float | None,
) -> tuple[int, list[Priced]]:
    """What a run would do, and what it would cost: the plan against the directory, and
    whether it fits the spending cap; nothing is sent. The exit code, and the jobs a run
    would submit (for a price preview)."""
    planned = plan_against(jobs, out_dir, args)
    print_plan(spec, reg, out_dir, planned)
    if cap is not None:
        needed = round(planned.after + planned.maybe, 2)
        if needed > cap + 1e-9:
            print(
                f"spending cap {money(cap)}: the run would stop at it (exit 4) before every "
                f"job is sent; --max-spend {needed:.2f} would let the whole batch run"
            )
        else:
            print(f"spending cap {money(cap)}: the run fits within it")
    print("nothing was sent (--dry-run)")
    wanted = {*planned.new_ids, *(c.id for c in planned.changes), *planned.to_run_ids}
    return EXIT_OK, [
        Priced(job.id, job.endpoint, job.params, job.quoted) for job in jobs if job.id in wanted
    ]


def summary(
    spec: Spec,
    store: Store,
    out_dir: Path,
    counts: dict[JobStatus, int],
    seconds: float,
    resume: str,
    *,
    left_out: int = 0,
) -> None:
    """The end of a run: its counts, cost and time, then each job that needs something.
    ``resume``: the command that runs it again; ``left_out``: files the manifest records
    that are not there (metadata.jsonl has no row for them)."""
    total = sum(counts.values())
    parts = [f"{counts.get(s, 0):,} {s.value}" for s in JobStatus if counts.get(s)]
    cost, spent = store.current_cost(), store.spent()
    money_line = f"{cost:,.2f} CNY"
    if spent > cost + 0.005:  # earlier versions, or jobs the spec dropped, cost too
        money_line += f" ({spent:,.2f} CNY spent in this directory in all)"
    print(
        f"{spec.name}: {', '.join(parts) or 'nothing to do'} of {plural(total, 'job')}; "
        f"{money_line}; {seconds:,.1f} s"
    )
    print(f"results: {out_dir}/manifest.jsonl")
    if left_out:
        print(
            f"  metadata.jsonl leaves out {plural(left_out, 'recorded file')} not there "
            f"(`rhbatch verify {out_dir}` names {'it' if left_out == 1 else 'them'})"
        )
    failed = store.jobs(JobStatus.FAILED)
    _name(failed, "failed", more=f" failed (rhbatch status {out_dir})")
    blocked = store.jobs(JobStatus.BLOCKED)
    _name(blocked, "blocked", code="")
    _tell(
        blocked,
        "were not sent: a job they use did not succeed. "
        f"Once it has (e.g. with --retry-failed), the same command runs them: {resume}",
    )
    unfetched = store.jobs(JobStatus.UNFETCHED)
    _name(unfetched, "unfetched")
    _tell(
        unfetched,
        "succeeded (and were paid) but their files could not be fetched; the next run "
        f"tries again, sending nothing: {resume}",
    )
    unknown = store.jobs(JobStatus.UNKNOWN)
    _name(unknown, "unknown", code="")
    _tell(
        [r for r in unknown if r.task_id],
        f"have a task whose end is not known yet; the next run asks again: {resume}",
    )
    _tell(
        [r for r in unknown if not r.task_id],
        "lost a submit's answer: a task may exist (and be paid). If you find it in "
        f"RunningHub's console: rhbatch attach {shlex.quote(str(out_dir))} JOB TASK_ID; "
        f"to submit them again anyway: {resume} --resubmit-unknown",
    )


def _name(
    rows: list[JobRow], status: str, code: str | None = None, more: str | None = None
) -> None:
    """The first ten jobs of ``rows`` on stderr, each with its reason (``code``: shown
    instead of its error code); ``more``: where the rest are told, after their count."""
    print_first(rows, lambda row: f"{status:<9} {row.id}: {_why(row, code)}", 10, more)


def _tell(rows: list[JobRow], what: str) -> None:
    """What to do about ``rows`` on stderr ("3 jobs " and ``what``), if there are any."""
    if rows:
        print(f"  {plural(len(rows), 'job')} {what}", file=sys.stderr)


def _why(row: Any, code: str | None = None) -> str:
    """A job's error code and message, on one short line."""
    text = " ".join((row.error_message or "").split())
    head = row.error_code if code is None else code
    line = f"{head} {text}".strip()
    return line if len(line) <= 300 else line[:300] + "..."


def run_info(
    spec: Spec,
    store: Store,
    version: int,
    cap: float | None,
    started: float,
    base: str,
    note: str | None,
    prompt_field: str | None = None,
) -> dict[str, Any]:
    """What ``run.json`` says of the run: counts, money (quoted, billed, the cap; the
    current versions and the whole directory), the spec version and its git commit, times."""
    ended = time.time()
    counts = store.counts()
    books = reconcile(store.ledger())
    to_run = quote(
        (i, e, q) for i, e, s, q, _ in store.ledger() if JobStatus(s) is JobStatus.PENDING
    )
    origin = store.spec_versions()[version]
    maybe = store.maybe_billed()
    return {
        "spec": str(spec.path),
        "specPath": str(spec.path.resolve()),
        "shard": store.get_meta("shard") or None,
        "specSha256": origin.sha256,
        "specVersion": {"n": version, **origin.record()},
        "promptField": prompt_field,  # output.prompt: the parameter that is each job's prompt
        "name": spec.name,
        "rhbatch": __version__,
        "baseUrl": base,
        "startedAt": iso(started),
        "endedAt": iso(ended),
        "wallSeconds": round(ended - started, 3),
        "jobs": sum(counts.values()),
        "counts": {s.value: counts.get(s, 0) for s in JobStatus},
        "totalCost": books.billed,
        "currency": "CNY",
        "money": {
            "quoted": books.quoted,  # of the jobs billed, what they were quoted
            "billed": books.billed,
            "maxSpend": cap,
            "quotedToRun": to_run.amount,  # the jobs still to run (None: none has a price)
            "unpricedToRun": len(to_run.unpriced),
            "perEndpoint": {
                e: {"jobs": n, "quoted": q, "billed": b}
                for e, (n, q, b) in sorted(books.per_endpoint.items())
            },
            "billedOverQuoted": [job for job, *_ in books.over],
            # The whole directory: every version of every job ever run into it.
            "spentInDirectory": store.spent(),
            "maybeBilledInDirectory": round(sum(q or 0.0 for _, q, _ in maybe), 4),
            "tasksOfUnknownBill": len(maybe),
        },
        "versionsKept": store.version_count(),
        "note": note,
    }
