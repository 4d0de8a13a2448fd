"""``rhbatch plan SPEC``: what a spec expands to, before anything is sent."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rhbatch.commands.common import plural
from rhbatch.commands.plan_report import plan_against, print_plan, print_plan_json
from rhbatch.commands.table import render, shorten, terminal_width
from rhbatch.endpoints.describe import show
from rhbatch.endpoints.pricing import CURRENCY
from rhbatch.endpoints.registry import Registry, registry
from rhbatch.errors import EXIT_OK, UsageError
from rhbatch.models import Job
from rhbatch.runner.quote import priced_text
from rhbatch.spec.spool import Spool, Staged
from rhbatch.spec.validate import Report, check_spec, require_valid
from rhbatch.store.remote import is_url


def run(args: argparse.Namespace) -> int:
    reg = registry()
    against = getattr(args, "out", None)  # against a directory: what a run into it would do
    # The spec is expanded once: what --out and --json need of every job is spooled.
    with Spool(reg) as spool:
        report = check_spec(
            args.spec,
            reg,
            keep=0 if args.json else max(args.limit, 0),
            max_jobs=args.max_jobs,
            on_job=spool.add if against or args.json else None,
        )
        require_valid(report)  # nothing is printed for an invalid spec
        if against:
            if is_url(against):
                raise UsageError("plan --out takes a local directory (a run's --state for a URL)")
            out_dir = Path(against)
            planned = plan_against(spool, out_dir, args)
            if args.json:
                print_plan_json(report.spec, out_dir, planned)
            else:
                print_plan(report.spec, reg, out_dir, planned)
        elif args.json:
            _json(reg, report, spool)
        else:
            _text(reg, report, args.limit)
    return EXIT_OK


def job_record(job: Staged) -> dict[str, Any]:
    return {"index": job.idx, "id": job.id, "endpoint": job.endpoint, "params": job.params}


def _json(reg: Registry, report: Report, jobs: Iterable[Staged]) -> None:
    """A JSON document with the summary and every job, written as jobs stream by."""
    out = sys.stdout
    head = _summary(reg, report)
    out.write(json.dumps(head, ensure_ascii=False, indent=2)[:-2] + ',\n  "jobs": [')
    first = True
    for job in jobs:
        out.write(
            ("\n    " if first else ",\n    ") + json.dumps(job_record(job), ensure_ascii=False)
        )
        first = False
    out.write("\n  ]\n}\n")


def _summary(reg: Registry, report: Report) -> dict[str, Any]:
    return {
        "spec": report.spec.file,
        "name": report.spec.name,
        "count": report.jobs,
        "endpoints": {reg.info(e).title: n for e, n in sorted(report.per_endpoint.items())},
        "videoSeconds": report.video_seconds,
        "videoJobsWithoutDuration": report.no_duration,
        "estimatedCost": {  # amount None: no job has a known price (unknown, not free)
            "amount": None if report.jobs and report.unpriced == report.jobs else report.cost,
            "currency": CURRENCY,
            "unpricedJobs": report.unpriced,
        },
        "localFiles": sorted(report.local_files),
        "stages": {str(k): n for k, n in report.stages.items()},
    }


def _text(reg: Registry, report: Report, limit: int) -> None:
    spec = report.spec
    print(f"{spec.file}: {spec.name}, {plural(report.jobs, 'job')}")
    print()
    rows = []
    for endpoint, n in sorted(report.per_endpoint.items(), key=lambda kv: -kv[1]):
        cost = report.cost_per_endpoint.get(endpoint)
        info = reg.info(endpoint)
        rows.append((info.title, f"{n:,}", info.output_type, "-" if cost is None else _money(cost)))
    print(render(("ENDPOINT", "JOBS", "OUTPUT", "EST. COST"), rows, right=(1, 3)))
    print()
    if report.video_seconds or report.no_duration:
        line = f"video: {report.video_seconds:,.0f} s ({report.video_seconds / 60:,.1f} min)"
        if report.no_duration:
            line += f"; {plural(report.no_duration, 'job')} without a duration"
        print(line)
    print(
        f"quote: {priced_text(report.cost, report.unpriced, report.jobs)} "
        "(public price list; `run --quote online` asks RunningHub)"
    )
    if report.local_files:
        print(f"local files to upload: {len(report.local_files)}")
    if len(report.stages) > 1:  # a pipeline: jobs that take other jobs' results
        shown = " -> ".join(f"{k}: {plural(n, 'job')}" for k, n in report.stages.items())
        print(f"stages: {shown} (a job starts as soon as the jobs it uses succeeded)")
    if not report.first:
        return
    print()
    print(jobs_table(reg, report.first))
    if report.jobs > len(report.first):
        print(f"... {report.jobs - len(report.first):,} more (-n N shows more, --json shows all)")


def jobs_table(reg: Registry, jobs: list[Job]) -> str:
    """The jobs: id, the parameters that differ between them, references, prompt."""
    names: list[str] = []
    for job in jobs:
        media = reg.schema(job.endpoint).media
        for name in job.params:
            if name != "prompt" and name not in media and name not in names:
                names.append(name)
    varying = [n for n in names if len({show(j.params.get(n), 200) for j in jobs}) > 1][:4]
    multi = len({j.endpoint for j in jobs}) > 1
    headers = ["#", "ID", *(["ENDPOINT"] if multi else []), *(n.upper() for n in varying)]
    headers += ["REFS", "PROMPT"]
    rows = []
    for job in jobs:
        cells = [str(job.index + 1), job.id]
        if multi:
            cells.append(shorten(reg.info(job.endpoint).title, 36))
        cells += [shorten(_cell(job.params.get(n)), 24) for n in varying]
        cells.append(_refs(reg, job))
        cells.append(str(job.params.get("prompt", "")))
        rows.append(cells)
    return render(headers, rows, width=terminal_width(), right=(0,))


def _refs(reg: Registry, job: Job) -> str:
    """How many reference media a job sends, by kind: "2 image, 1 video"."""
    counts: dict[str, int] = {}
    for name, rule in reg.schema(job.endpoint).media.items():
        value = job.params.get(name)
        n = len(value) if isinstance(value, list) else int(value is not None)
        if n:
            counts[rule.kind] = counts.get(rule.kind, 0) + n
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def _money(amount: float) -> str:
    return f"{amount:,.2f}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value if isinstance(value, str) else show(value)
