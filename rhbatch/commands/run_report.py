"""What ``rhbatch run`` tells: on resuming, as a dry run, and at the end (``run.json`` too).

The summary says every job's fate and what to do about the ones that need it:
failed jobs with their reason, unfetched ones (paid; the next run fetches them),
unknown ones (a task whose end the next run asks about, or a lost submit's task
to attach or to send again on purpose).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any

from rhbatch import __version__
from rhbatch.commands.common import plural
from rhbatch.endpoints.pricing import Quoter
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import EXIT_OK
from rhbatch.models import JobStatus
from rhbatch.run.progress import Reporter
from rhbatch.run.quote import Priced, Quote, money, quote, reconcile
from rhbatch.spec.expand import Expander
from rhbatch.spec.load import Spec
from rhbatch.spec.problems import Findings
from rhbatch.store.manifest import iso
from rhbatch.store.state import Store

# What each count of ``Store.recover`` means to the person resuming a run.
_RECOVERED = {
    "interrupted_submits": "stopped mid-submit last time: marked unknown (a task may exist); "
    "--resubmit-unknown submits them again",
    "followed_again": "whose task's end was not known: asking about it again",
    "fetched_again": "whose files could not be fetched: fetching again "
    "(nothing is submitted for them)",
}


def say_resume(
    shown: Reporter, kept: int, changed: int, recovered: dict[str, int], reopened: int
) -> None:
    """What a rerun found: jobs known, changed, recovered, and files to fetch again."""
    if kept:
        shown.message(f"rhbatch: resuming: {plural(kept, 'job')} known from an earlier run")
    if changed:
        shown.message(
            f"rhbatch: {plural(changed, 'job')} changed since the last run and will run again"
        )
    for key, meaning in _RECOVERED.items():
        if recovered.get(key):
            shown.message(f"rhbatch: {plural(recovered[key], 'job')} {meaning}")
    if reopened:
        shown.message(
            f"rhbatch: {plural(reopened, 'job')} with missing or changed files: fetching again"
        )


def dry_run(spec: Spec, reg: Registry, out_dir: Path, total: int) -> tuple[int, list[Priced]]:
    """What a run would do, and what it would cost: nothing is sent. The exit code, and
    the jobs a run would submit."""
    counts: dict[JobStatus, int] = {}
    known: dict[str, JobStatus] = {}
    if (out_dir / ".rhbatch" / "state.db").exists():
        with Store.open(out_dir, lock=False) as store:
            known = {r.id: r.status for s in JobStatus for r in store.jobs(s)}
    quoter, todo, jobs = Quoter(reg), Quote(), []
    for job in Expander(spec, reg, Findings()).jobs():
        status = known.get(job.id, JobStatus.PENDING)
        counts[status] = counts.get(status, 0) + 1
        if status is JobStatus.PENDING:
            amount = quoter.amount(job.endpoint, job.params)
            todo.add(job.id, job.endpoint, amount)
            jobs.append(Priced(job.id, job.endpoint, job.params, amount))
    print(f"{spec.file}: {plural(total, 'job')} into {out_dir}")
    for status in JobStatus:
        if counts.get(status):
            print(f"  {status.value:<12} {counts[status]:>8,}")
    print(f"a run would submit {plural(todo.jobs, 'job')}; nothing was sent (--dry-run)")
    line = f"quote: {money(todo.total)} (public price list)"
    if todo.unpriced:
        line += f"; {plural(len(todo.unpriced), 'job')} without a known price"
    print(line)
    for endpoint, amount in sorted(todo.per_endpoint.items(), key=lambda kv: -kv[1]):
        count = todo.jobs_per_endpoint[endpoint]
        print(f"  {reg.info(endpoint).title}: {money(amount)} for {plural(count, 'job')}")
    return EXIT_OK, jobs


def summary(
    spec: Spec,
    store: Store,
    out_dir: Path,
    counts: dict[JobStatus, int],
    cost: float,
    seconds: float,
    resume: str,
) -> None:
    """The end of a run: its counts, cost and time, then each job that needs something.
    ``resume``: the command that runs it again."""
    total = sum(counts.values())
    parts = [f"{counts.get(s, 0):,} {s.value}" for s in JobStatus if counts.get(s)]
    print(
        f"{spec.name}: {', '.join(parts) or 'nothing to do'} of {plural(total, 'job')}; "
        f"{cost:,.2f} CNY; {seconds:,.1f} s"
    )
    print(f"results: {out_dir}/manifest.jsonl")
    failed = store.jobs(JobStatus.FAILED)
    for row in failed[:10]:
        print(f"  failed    {row.id}: {_why(row)}", file=sys.stderr)
    if len(failed) > 10:
        print(
            f"  ... and {len(failed) - 10:,} more failed (rhbatch status {out_dir})",
            file=sys.stderr,
        )
    blocked = store.jobs(JobStatus.BLOCKED)
    for row in blocked[:10]:
        print(f"  blocked   {row.id}: {_why(row, '')}", file=sys.stderr)
    if blocked:
        print(
            f"  {plural(len(blocked), 'job')} were not sent: a job they use did not succeed. "
            f"Once it has (e.g. with --retry-failed), the same command runs them: {resume}",
            file=sys.stderr,
        )
    unfetched = store.jobs(JobStatus.UNFETCHED)
    for row in unfetched[:10]:
        print(f"  unfetched {row.id}: {_why(row)}", file=sys.stderr)
    if unfetched:
        print(
            f"  {plural(len(unfetched), 'job')} succeeded (and were paid) but their files "
            f"could not be fetched; the next run tries again, sending nothing: "
            f"{resume}",
            file=sys.stderr,
        )
    unknown = store.jobs(JobStatus.UNKNOWN)
    for row in unknown[:10]:
        print(f"  unknown   {row.id}: {_why(row, '')}", file=sys.stderr)
    followed = [r for r in unknown if r.task_id]
    if followed:
        print(
            f"  {plural(len(followed), 'job')} have a task whose end is not known yet; the "
            f"next run asks again: {resume}",
            file=sys.stderr,
        )
    lost = [r for r in unknown if not r.task_id]
    if lost:
        again = resume + " --resubmit-unknown"
        print(
            f"  {plural(len(lost), 'job')} lost a submit's answer: a task may exist (and be "
            "paid). If you find it in RunningHub's console: "
            f"rhbatch attach {shlex.quote(str(out_dir))} JOB TASK_ID; "
            f"to submit them again anyway: {again}",
            file=sys.stderr,
        )


def _why(row: Any, code: str | None = None) -> str:
    """A job's error code and message, on one short line."""
    text = " ".join((row.error_message or "").split())
    head = row.error_code if code is None else code
    line = f"{head} {text}".strip()
    return line if len(line) <= 300 else line[:300] + "..."


def run_info(
    spec: Spec,
    spec_sha: str,
    store: Store,
    cap: float | None,
    started: float,
    base: str,
    note: str | None,
) -> dict[str, Any]:
    """What ``run.json`` says of the run: counts, money (quoted, billed, the cap), times."""
    ended = time.time()
    counts = store.counts()
    books = reconcile(store.ledger())
    to_run = quote(
        (i, e, q) for i, e, s, q, _ in store.ledger() if JobStatus(s) is JobStatus.PENDING
    )
    return {
        "spec": str(spec.path),
        "specPath": str(spec.path.resolve()),
        "shard": store.get_meta("shard") or None,
        "specSha256": spec_sha,
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
            "quotedToRun": to_run.total,  # the jobs still to run
            "unpricedToRun": len(to_run.unpriced),
            "perEndpoint": {
                e: {"jobs": n, "quoted": q, "billed": b}
                for e, (n, q, b) in sorted(books.per_endpoint.items())
            },
            "billedOverQuoted": [job for job, *_ in books.over],
        },
        "note": note,
    }
