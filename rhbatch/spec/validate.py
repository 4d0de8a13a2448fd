"""Validation of a whole spec before anything is sent, and what it adds up to.

``check_spec`` loads a spec (refusing one that would expand to more jobs than
its cap), expands every job, checks each one against its endpoint's schema and
its local media files, finds duplicate ids and result paths that leave the
output directory or land on another job's, and sums up the batch (jobs per
endpoint, seconds of video, the estimated cost by the public price list). It
returns a ``Report``; the caller decides what to print. Jobs stream through one
at a time: only the first ``keep`` are kept, and ``on_job`` sees every valid one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhbatch.endpoints.pricing import PriceBook, defaults_of
from rhbatch.endpoints.registry import EndpointSchema, Registry
from rhbatch.errors import InvalidInput, Problem
from rhbatch.models import OUTPUT_EXTENSIONS, Job, pinned_kind
from rhbatch.spec.expand import Expander
from rhbatch.spec.load import Spec, line_at, load_spec
from rhbatch.spec.matrix import RESERVED
from rhbatch.spec.naming import (
    list_names,
    output_name,
    template_problem,
    unknown_names,
)
from rhbatch.spec.pipes import STAND_IN, Graph, refs_in, stand_in
from rhbatch.spec.problems import Findings
from rhbatch.spec.refs import LocalFiles, kind_of, uploaded_name
from rhbatch.spec.suggest import close, did_you_mean
from rhbatch.store.files import path_key, path_problem
from rhbatch.store.seen import FirstSeen


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
    stages: dict[int, int] = field(default_factory=dict)  # pipelines: jobs per stage
    prompt_field: str | None = None  # output.prompt as the jobs' parameters name it
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_spec(
    path: str | Path,
    registry: Registry,
    *,
    keep: int = 0,
    on_job: Callable[[Job, float | None], None] | None = None,
    max_jobs: int | None = None,
) -> Report:
    """Load, expand and check a spec. Raises InvalidInput only for a spec that cannot
    be expanded at all (or would make more jobs than ``max_jobs``, else its
    ``run.max_jobs``); problems with jobs are listed in the report."""
    # An unknown endpoint does not stop the check: its jobs' placeholders and ids are
    # still checked, so that their problems are not found only once it is fixed.
    spec = load_spec(path, registry, max_jobs=max_jobs, unknown_endpoints=True)
    report = Report(spec)
    findings = Findings()
    findings.extend(spec.problems)
    expander = Expander(spec, registry, findings)
    files = LocalFiles(spec.base_dir)
    seen = FirstSeen()  # id -> position and line of its first job
    naming = _Naming(spec, registry, findings)
    prices = PriceBook.load()
    defaults: dict[str, dict[str, Any]] = {}  # endpoint -> its parameter defaults
    graph = Graph() if any(entry.uses for entry in spec.entries) else None
    try:
        for job in expander.jobs():
            report.jobs += 1
            schema = registry.schema(job.endpoint)
            valid = not job.broken
            checked = job.params
            if graph is not None:  # results of other jobs: judged by their shape, then as a graph
                refs = refs_in(job.params, job.uses) if job.uses else []
                if refs:
                    checked = stand_in(job.params, job.uses, {})
                graph.add(job, schema, refs, expander.locate)
            for path_, message in schema.check(checked):
                if path_ in job.entry.params and not schema.knows(path_):
                    message = _job_key(path_, schema) or message
                file, line = expander.locate(job, path_)
                findings.add(file, line, message, where=job.label, field=path_)
                valid = False
            pinned = pinned_kind(job.endpoint) is not None
            for name, rule in schema.media.items():
                value = checked.get(name)
                for i, item in _media_items(value):
                    if not isinstance(item, str) or item.startswith(STAND_IN):
                        continue  # the schema check has said what is wrong; a result is no file
                    if pinned and (uploaded_name(item) or item == rule.empty):
                        continue  # a file uploaded before, or an app's slot left empty
                    reason = files.check(item, rule)
                    if reason is not None:
                        where = name if i is None else f"{name}[{i}]"
                        file, line = expander.locate(job, where)
                        findings.add(file, line, reason, where=job.label, field=where)
                        valid = False
                    elif kind_of(item) == "local":
                        report.local_files.add(item)
            first = seen.add(job.id, (job.index, job.entry.line))
            if not naming.check(job, duplicate=first is not None):
                valid = False
            if first is not None:
                label, first_line = f"job {first[0] + 1} (id {job.id})", first[1]
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
            if spec.prompt_field and report.prompt_field is None:
                wanted = schema.aliases.get(spec.prompt_field, spec.prompt_field)
                report.prompt_field = wanted if wanted in job.params else None
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
                on_job(job, price)
    finally:  # their scratch files, if the spec was big enough to need them
        seen.close()
        naming.paths.close()
    if graph is not None:
        graph.check(findings, report.jobs, expander.unresolved_ids)
        report.stages = dict(sorted(graph.stages.items()))
    _unknown_defaults(spec, registry, set(report.per_endpoint), findings)
    if spec.prompt_field and report.jobs and report.prompt_field is None:
        line = line_at(spec.data, ["output", "prompt"]) or 1
        findings.add(
            spec.file,
            line,
            f"no job has a parameter {spec.prompt_field!r} (output.prompt names the parameter "
            "that is each job's prompt, e.g. 6.text or 12.positive_prompt)",
            field="output.prompt",
        )
    report.problems = findings.problems()
    report.cost = round(report.cost, 4)  # sums of four-decimal prices, without float dust
    report.cost_per_endpoint = {e: round(c, 4) for e, c in report.cost_per_endpoint.items()}
    return report


def _job_key(name: str, schema: EndpointSchema) -> str | None:
    """What a job's key that is not a parameter says when it misspells a key of the job
    itself (``repaet``, ``Id``); None when it does not look like one."""
    if "." in name:  # a workflow's NODE.FIELD: the schema says what is wrong with it
        return None
    keys = close(name, RESERVED)
    if not keys:
        return None
    return (
        f"unknown key {name!r}: neither a job key nor a parameter of {schema.label}"
        + did_you_mean([*keys, *schema.close_names(name)])
        + " Job keys: "
        + ", ".join(RESERVED)
        + "; parameters: "
        + ", ".join(schema.properties)
    )


def _unknown_defaults(
    spec: Spec, registry: Registry, endpoints: set[str], findings: Findings
) -> None:
    """A default that no expanded job's endpoint has is a typo, not a silent no-op."""
    if not endpoints:
        return  # no job was expanded: nothing to tell a default's use from
    schemas = sorted((registry.schema(e) for e in endpoints), key=lambda schema: schema.label)
    for key in spec.defaults:
        if any(schema.knows(key) for schema in schemas):
            continue
        close = sorted({c for schema in schemas for c in schema.close_names(key)})
        message = f"unknown parameter {key!r}: no job's endpoint has it ("
        message += ", ".join(schema.label for schema in schemas) + ")"
        if close:
            message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        line = spec.defaults_lines.get(key, line_at(spec.data, ["defaults"]) or 1)
        findings.add(spec.file, line, message, field=f"defaults.{key}")


# The placeholders of output.naming a job cannot name a file with: how each is found,
# and what is wrong with it (the first rule a job breaks is reported).
_PLACEHOLDER_RULES = (
    (
        unknown_names,
        "is not {id}, {n}, {ext}, {endpoint}, {index} or a parameter of this job",
    ),
    (
        list_names,
        "is a list or mapping for this job; only text, numbers and true/false can name a file",
    ),
)


class _Naming:
    """Checks each job's first result path: placeholders it can fill, a path inside the
    output directory, and no other job's path (letter case aside)."""

    def __init__(self, spec: Spec, registry: Registry, findings: Findings) -> None:
        self.spec, self.registry, self.findings = spec, registry, findings
        self.line = line_at(spec.data, ["output", "naming"]) or 1
        self.paths = FirstSeen()  # key -> the first job's id, position, file, line, path
        self.broken = template_problem(spec.naming)
        if self.broken is not None:
            findings.add(spec.file, self.line, self.broken, field="output.naming")

    def check(self, job: Job, *, duplicate: bool = False) -> bool:
        """Whether the job's result path is fine; a job whose id is a duplicate (reported
        as such) is not compared with the others' paths."""
        if self.broken is not None:
            return False
        naming, params = self.spec.naming, job.params
        for find, what in _PLACEHOLDER_RULES:
            found = find(naming, params)
            if found:
                names = ", ".join(f"{{{n}}}" for n in sorted(found))
                return self._add(job, f"{names} in output.naming {what}")
        output_type = self.registry.info(job.endpoint).output_type
        relative = output_name(
            naming,
            job_id=job.id,
            n=1,
            ext=OUTPUT_EXTENSIONS.get(output_type, "bin"),
            endpoint=job.endpoint,
            index=job.index,
            params=params,
        )
        problem = path_problem(relative)
        if problem is not None:
            return self._add(
                job,
                f"gives {_short(relative)!r} for this job, which is not a path inside the "
                f"output directory: {problem}",
            )
        if duplicate:
            return True
        key = path_key(relative)
        kept = None if key == relative else relative  # kept only when the key differs
        first = self.paths.add(key, (job.id, job.index, job.entry.file, job.entry.line, kept))
        if first is None:
            return True
        first_id, first_index, first_file, first_line, kept = first
        at = f"line {first_line}" if first_file == job.entry.file else f"{first_file}:{first_line}"
        other = f"job {first_index + 1}'s (id {first_id}, {at})"
        theirs = kept or key
        if theirs.replace("\\", "/") == relative.replace("\\", "/"):
            message = (
                f"its first result would be written to {_short(relative)!r}, "
                f"the same file as {other}; make output.naming tell them apart, e.g. with {{id}}"
            )
        else:
            message = (
                f"its first result would be written to {_short(relative)!r} and {other} to "
                f"{_short(theirs)!r}: one file where letter case does not count (macOS, "
                "Windows); make the ids or output.naming differ in more than letter case"
            )
        self.findings.add(
            job.entry.file,
            job.entry.line,
            message,
            where=job.label,
            field="output.naming",
        )
        return False

    def _add(self, job: Job, message: str) -> bool:
        self.findings.add(
            self.spec.file, self.line, message, where=job.label, field="output.naming"
        )
        return False


def _short(text: str, most: int = 80) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def _media_items(value: Any) -> list[tuple[int | None, Any]]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(enumerate(value))
    return [(None, value)]


def _add_duration(report: Report, registry: Registry, job: Job) -> None:
    if registry.info(job.endpoint).output_type != "video" or pinned_kind(job.endpoint):
        return  # a workflow's length is in its graph, not in a parameter rhbatch knows
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
