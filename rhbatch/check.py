"""Validation of a whole spec before anything is sent, and what it adds up to.

``check_spec`` loads a spec, expands every job, checks each one against its
endpoint's schema and its local media files, finds duplicate ids, and sums up
the batch (jobs per endpoint, seconds of video, the estimated cost by the
public price list). It returns a ``Report``; the caller decides what to print.
Jobs stream through one at a time: only the first ``keep`` are kept, and
``on_job`` sees every valid one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhbatch.errors import InvalidInput, Problem
from rhbatch.expand import Expander
from rhbatch.findings import Findings
from rhbatch.media import LocalFiles, kind_of
from rhbatch.models import Job
from rhbatch.naming import unknown_names
from rhbatch.pricing import PriceBook, defaults_of
from rhbatch.schemas import Registry
from rhbatch.spec import Spec, line_at, load_spec


@dataclass(slots=True)
class Report:
    spec: Spec
    jobs: int = 0
    per_endpoint: Counter[str] = field(default_factory=Counter)
    video_seconds: float = 0.0
    no_duration: int = 0  # video jobs whose length cannot be told from their parameters
    cost: float = 0.0  # CNY, the sum of the jobs the public price list can price
    unpriced: int = 0  # jobs it cannot price
    cost_per_endpoint: dict[str, float] = field(default_factory=dict)
    first: list[Job] = field(default_factory=list)
    local_files: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_spec(
    path: str | Path,
    registry: Registry,
    *,
    keep: int = 0,
    on_job: Callable[[Job], None] | None = None,
) -> Report:
    """Load, expand and check a spec. Raises InvalidInput only for a spec that cannot
    be expanded at all; problems with jobs are listed in the report."""
    spec = load_spec(path, registry)
    report = Report(spec)
    findings = Findings()
    findings.extend(spec.problems)
    expander = Expander(spec, registry, findings)
    files = LocalFiles(spec.base_dir)
    seen: dict[str, tuple[str, int]] = {}  # id -> label and line of its first job
    naming_line = line_at(spec.data, ["output", "naming"]) or 1
    prices = PriceBook.load()
    defaults: dict[str, dict[str, Any]] = {}  # endpoint -> its parameter defaults
    for job in expander.jobs():
        report.jobs += 1
        schema = registry.schema(job.endpoint)
        valid = not job.broken
        for path_, message in schema.check(job.params):
            file, line = expander.locate(job, path_)
            findings.add(file, line, message, where=job.label, field=path_)
            valid = False
        for name, rule in schema.media.items():
            value = job.params.get(name)
            for i, item in _media_items(value):
                if not isinstance(item, str):
                    continue  # the schema check has said what is wrong
                reason = files.check(item, rule)
                if reason is not None:
                    where = name if i is None else f"{name}[{i}]"
                    file, line = expander.locate(job, where)
                    findings.add(file, line, reason, where=job.label, field=where)
                    valid = False
                elif kind_of(item) == "local":
                    report.local_files.add(item)
        unknown = unknown_names(spec.naming, job.params)
        if unknown:
            names = ", ".join(f"{{{n}}}" for n in sorted(unknown))
            message = (
                f"{names} in output.naming is not {{id}}, {{n}}, {{ext}}, {{endpoint}}, {{index}} "
                "or a parameter of this job"
            )
            findings.add(spec.file, naming_line, message, where=job.label, field="output.naming")
            valid = False
        first = seen.get(job.id)
        if first is not None:
            label, first_line = first
            if job.entry.id is not None:
                message = (
                    f"duplicate id {job.id!r}, also {label} (line {first_line}); give each job "
                    "its own id (with a matrix, a template such as 'shot-{ratio}')"
                )
            else:
                message = (
                    f"same endpoint and parameters as {label} (line {first_line}); "
                    "use `repeat:` for copies, or give the jobs ids"
                )
            findings.add(job.entry.file, job.entry.line, message, where=job.label, field="id")
            valid = False
        else:
            seen[job.id] = (job.label, job.entry.line)
        report.per_endpoint[job.endpoint] += 1
        _add_duration(report, registry, job)
        if job.endpoint not in defaults:
            defaults[job.endpoint] = defaults_of(schema)
        price = prices.price(job.endpoint, job.params, defaults[job.endpoint]).amount
        if price is None:
            report.unpriced += 1
        else:
            report.cost += price
            per = report.cost_per_endpoint
            per[job.endpoint] = per.get(job.endpoint, 0.0) + price
        if len(report.first) < keep:
            report.first.append(job)
        if valid and on_job is not None:
            on_job(job)
    report.problems = findings.problems()
    report.cost = round(report.cost, 4)  # sums of four-decimal prices, without float dust
    report.cost_per_endpoint = {e: round(c, 4) for e, c in report.cost_per_endpoint.items()}
    return report


def _media_items(value: Any) -> list[tuple[int | None, Any]]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(enumerate(value))
    return [(None, value)]


def _add_duration(report: Report, registry: Registry, job: Job) -> None:
    if registry.endpoints[job.endpoint].output_type != "video":
        return
    value: Any = job.params.get("duration")
    if value is None:
        value = registry.schema(job.endpoint).properties.get("duration", {}).get("default")
    try:
        report.video_seconds += float(value)
    except (TypeError, ValueError):
        report.no_duration += 1


def require_valid(report: Report) -> None:
    """Raise InvalidInput listing every problem, if there are any."""
    if report.problems:
        raise InvalidInput(report.problems, summary=f"{len(report.problems)} problem(s)")
