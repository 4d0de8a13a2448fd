"""``rhbatch merge DIR... --out DIR``: the shards of one spec joined, and proof nothing is lost.

Each shard's directory holds its manifest and ``run.json`` (which names the
spec, its sha256 and the shard ``i/N``). The spec is expanded again (``--spec``,
else the path the shards name, if its content is the one they ran) to list
every planned job, and every record of every shard is checked against it before
anything is merged: the same id and endpoint, the parameters the spec makes
(local files as the sources the record names), and each file hashed again (size
and sha256 as recorded); a record edited by hand, a changed file or a shard of
another spec is refused, with the job and the field (exit 2). The merge is
complete when every planned job has exactly one terminal record across the
shards. Otherwise it lists what is missing (with
the shards they belong to), what is still unfinished, and ids that appear
twice, and exits 1. The merged directory gets the records in spec order, the
files (hard links where the file system allows, else copies checked against
their sha256), ``metadata.jsonl``, the gallery ``report.html`` and a ``run.json``
saying what was merged (with the spec's name, its prompt field and the times the
shards ran, as a run's says them). It has no state store: ``status``, ``verify``,
``report`` and ``export`` read it from its manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.commands.common import plural, print_first
from rhbatch.endpoints.registry import registry
from rhbatch.errors import EXIT_JOB_FAILURES, EXIT_OK, InvalidInput, Problem, UsageError
from rhbatch.models import JOB_TERMINAL, Job, JobStatus, canonical_json
from rhbatch.spec.expand import Expander
from rhbatch.spec.load import load_spec
from rhbatch.spec.problems import Findings
from rhbatch.spec.shard import parse_shard, shard_of
from rhbatch.spec.spool import job_vars
from rhbatch.store.dataset import write_metadata
from rhbatch.store.files import hash_file, path_problem, write_lines
from rhbatch.store.manifest import write_run
from rhbatch.store.report import write_report
from rhbatch.version import __version__

SHOWN = 20  # missing jobs named one by one; the rest are counted
_TERMINAL = {s.value for s in JOB_TERMINAL}


def run(args: argparse.Namespace) -> int:
    dirs = [Path(d) for d in args.dirs]
    out = Path(args.out)
    infos = [_run_json(d) for d in dirs]
    shas = {info.get("specSha256") for info in infos}
    if len(shas) != 1:
        raise UsageError("the directories ran different specs (their run.json specSha256 differ)")
    shards = [info.get("shard") for info in infos]
    count = _count(shards)
    spec_path = Path(args.spec) if args.spec else Path(str(infos[0].get("specPath") or ""))
    if not spec_path.is_file():
        raise UsageError(f"cannot read the spec {spec_path}: give it with --spec")
    if hashlib.sha256(spec_path.read_bytes()).hexdigest() not in shas:
        raise UsageError(f"{spec_path} is not the spec the shards ran (its sha256 differs)")

    reg = registry()
    spec = load_spec(spec_path, reg)
    jobs = {job.id: job for job in Expander(spec, reg, Findings()).jobs()}
    planned = {job_id: job.index for job_id, job in jobs.items()}
    records: dict[str, tuple[dict[str, Any], Path]] = {}
    twice: list[str] = []
    problems: list[Problem] = []
    for directory in dirs:
        for record, where in _records(directory, problems):
            job = jobs.get(record["id"])
            if job is not None:  # a job of another spec is said below, as not in the spec
                problems += _tampered(record, job, directory, where)
            if record["id"] in records:
                twice.append(record["id"])
            records[record["id"]] = (record, directory)
    if problems:  # nothing is merged from shards that do not hold what the spec ran
        raise InvalidInput(
            problems,
            f"{plural(len(problems), 'record')} of the shards cannot be "
            "merged: they are not what the spec ran, or their files changed",
        )
    unfinished = sorted(i for i, (r, _) in records.items() if r["status"] not in _TERMINAL)
    missing = sorted((i for i in planned if i not in records), key=planned.__getitem__)
    strangers = sorted(i for i in records if i not in planned)

    out.mkdir(parents=True, exist_ok=True)
    merged = [records[i] for i in sorted(records, key=lambda i: planned.get(i, 1 << 60))]
    if not args.no_files:
        for record, directory in merged:
            for output in record.get("outputs") or []:
                _bring(directory, out, output)
    else:
        for record, directory in merged:
            for output in record.get("outputs") or []:
                output["path"] = os.path.relpath(directory / output["path"], out)
    write_lines(
        out / "manifest.jsonl",
        (json.dumps(r, ensure_ascii=False) + "\n" for r, _ in merged),
    )
    table = write_metadata(out) if not args.no_files else None
    statuses = Counter(r["status"] for r, _ in merged)
    complete = not (missing or unfinished or twice or strangers)
    write_run(
        out,
        {
            "name": spec.name,
            "spec": str(spec_path),
            "promptField": _first(infos, "promptField"),
            "rhbatch": __version__,
            "startedAt": min(_times(infos, "startedAt"), default=None),
            "endedAt": max(_times(infos, "endedAt"), default=None),
            "merged": [str(d) for d in dirs],
            "shards": shards,
            "specSha256": shas.pop(),
            "specPath": str(spec_path.resolve()),
            "planned": len(planned),
            "counts": dict(statuses),
            "totalCost": round(sum(r.get("cost") or 0.0 for r, _ in merged), 4),
            "complete": complete,
            "missing": missing,
            "unfinished": unfinished,
            "duplicates": sorted(set(twice)),
        },
    )
    report = write_report(out)  # after run.json: the page's header says what was merged
    parts = ", ".join(f"{n:,} {s}" for s, n in statuses.most_common())
    print(f"{out}: {plural(len(merged), 'job')} of {len(planned):,} planned ({parts})")
    if table is not None and table.rows:
        print(f"  metadata.jsonl: {plural(table.rows, 'file')}")
    print(f"  gallery: {report}")
    _explain(missing, unfinished, twice, strangers, count)
    if not complete:
        return EXIT_JOB_FAILURES
    succeeded = statuses.get(JobStatus.SUCCEEDED.value, 0)
    print("complete: every planned job has exactly one terminal record")
    return EXIT_OK if succeeded == len(planned) else EXIT_JOB_FAILURES


def _run_json(directory: Path) -> dict[str, Any]:
    path = directory / "run.json"
    if not (directory / "manifest.jsonl").is_file() or not path.is_file():
        raise UsageError(f"{directory} has no manifest.jsonl and run.json: not a run's directory")
    try:
        data = readers.read_json(path)
    except readers.FileProblem as exc:
        raise UsageError(f"{path} {exc.reason}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a run's summary (a JSON object)")
    return data


def _first(infos: list[dict[str, Any]], key: str) -> str | None:
    """The first shard's text ``key`` of run.json (the shards ran the same spec)."""
    found = next((i.get(key) for i in infos if isinstance(i.get(key), str)), None)
    return found if isinstance(found, str) and found else None


def _times(infos: list[dict[str, Any]], key: str) -> list[str]:
    """The shards' ``key`` times of run.json (ISO texts in UTC, which sort as times)."""
    return [str(i[key]) for i in infos if isinstance(i.get(key), str)]


def _records(directory: Path, problems: list[Problem]) -> Iterator[tuple[dict[str, Any], str]]:
    """Each record of a shard's manifest, with where it is ("manifest.jsonl:12"); lines that
    are no record are problems."""
    path = directory / "manifest.jsonl"
    try:
        for number, line in readers.lines(path):
            if not line.strip():
                continue
            try:
                record = readers.parse_json(line)
            except readers.FileProblem as exc:
                problems.append(Problem(str(path), number, f"the line {exc.reason}"))
                continue
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                problems.append(Problem(str(path), number, "not a manifest record (no id)"))
                continue
            yield record, f"{path}:{number}"
    except readers.FileProblem as exc:
        problems.append(Problem(str(path), exc.line, exc.reason))


def _tampered(record: dict[str, Any], job: Job, directory: Path, where: str) -> list[Problem]:
    """Why a shard's record is not what the spec ran for its job: another endpoint, other
    parameters than the spec makes (local files as their sources, results of used jobs as
    they were), a file that is not there or whose bytes changed since the run."""
    file, _, line = where.rpartition(":")
    label = f"job {job.index + 1} (id {job.id})"

    def problem(field: str, message: str) -> Problem:
        return Problem(file, int(line), message, where=label, field=field)

    out = []
    if record.get("endpoint") != job.endpoint:
        out.append(
            problem(
                "endpoint", f"{record.get('endpoint')!r} in the shard, {job.endpoint!r} in the spec"
            )
        )
    sent: dict[str, Any] = _mapping(record.get("params"))
    sources: dict[str, Any] = _mapping(record.get("sources"))
    for name in sorted(set(sent) | set(job.params)):
        if name in sources or _filled_later(job.params.get(name)):
            continue  # a local file (the sent value is its upload) or another job's result
        if canonical_json(sent.get(name)) != canonical_json(job.params.get(name)):
            out.append(
                problem(
                    f"params.{name}",
                    f"{_shown(sent.get(name))} in the shard, "
                    f"{_shown(job.params.get(name))} in the spec",
                )
            )
    for name, source in sorted(sources.items()):
        planned = job.params.get(name)
        if not _filled_later(planned) and canonical_json(source) != canonical_json(planned):
            out.append(
                problem(
                    f"sources.{name}",
                    f"{_shown(source)} in the shard, {_shown(planned)} in the spec",
                )
            )
    if "vars" in record:  # (older manifests have none)
        named = job_vars(job, registry())
        if canonical_json(record["vars"]) != canonical_json(named):
            out.append(
                problem(
                    "vars", f"{_shown(record['vars'])} in the shard, {_shown(named)} in the spec"
                )
            )
    for n, output in enumerate(record.get("outputs") or []):
        why = _file_problem(directory, output)
        if why is not None:
            out.append(problem(f"outputs[{n}]", why))
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _filled_later(value: Any) -> bool:
    """A parameter the runner fills in (another job's results): not comparable offline."""
    return (isinstance(value, str) and "{" in value) or (
        isinstance(value, list) and any(_filled_later(v) for v in value)
    )


def _file_problem(directory: Path, output: Any) -> str | None:
    """Why a record's output file is not the one the run wrote (hashed again), or None."""
    if not isinstance(output, dict):
        return "not an output record"
    rel = str(output.get("path") or "")
    problem = path_problem(rel)
    if problem is not None:
        return f"output path {rel!r}: {problem}"
    try:
        saved = hash_file(directory / rel)
    except OSError as exc:
        return f"{rel}: cannot be read ({exc.strerror or exc})"
    if saved.sha256 != output.get("sha256") or saved.bytes != output.get("bytes"):
        return (
            f"{rel}: its bytes are not the ones the run recorded ({saved.bytes:,} bytes, "
            f"sha256 {saved.sha256[:12]}...; the record says {output.get('bytes')} bytes, "
            f"{str(output.get('sha256'))[:12]}...)"
        )
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _count(shards: list[Any]) -> int | None:
    """N of the shards ``i/N`` (None: the directories were not sharded); refuses a mix."""
    if all(s is None for s in shards):
        return None
    if any(s is None for s in shards):
        raise UsageError("some directories are shards and some are not")
    parsed = [parse_shard(str(s)) for s in shards]
    counts = {n for _, n in parsed}
    if len(counts) != 1:
        raise UsageError(f"the shards split the jobs differently: {', '.join(map(str, shards))}")
    seen = Counter(i for i, _ in parsed)
    n = next(iter(counts))
    again = [f"{i}/{n}" for i, k in seen.items() if k > 1]
    if again:
        raise UsageError(f"shard {', '.join(again)} is given twice")
    return n


def _bring(directory: Path, out: Path, output: dict[str, Any]) -> None:
    """A shard's file into the merged directory (a hard link, else a checked copy)."""
    rel = str(output["path"])
    problem = path_problem(rel)
    if problem is not None:
        raise UsageError(f"{directory}: output path {rel!r}: {problem}")
    source, dest = directory / rel, out / rel
    if dest.exists() and dest.samefile(source):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.merge")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    if hash_file(tmp).sha256 != output.get("sha256"):  # hashed before; changed since?
        tmp.unlink()
        raise UsageError(f"{source} does not match its sha256 in the manifest") from None
    tmp.replace(dest)


def _explain(
    missing: list[str],
    unfinished: list[str],
    twice: list[str],
    strangers: list[str],
    count: int | None,
) -> None:
    if missing:
        by_shard = Counter(shard_of(i, count) for i in missing) if count else Counter()
        where = (
            " (" + ", ".join(f"shard {s}/{count}: {n:,}" for s, n in sorted(by_shard.items())) + ")"
            if by_shard
            else ""
        )
        print(
            f"missing: {plural(len(missing), 'planned job')} with no record{where}:",
            file=sys.stderr,
        )
        print_first(missing, str, SHOWN, " (run.json lists all)")
    if unfinished:
        print(
            f"unfinished: {plural(len(unfinished), 'job')} not ended in its shard (run it "
            f"again): {', '.join(unfinished[:SHOWN])}",
            file=sys.stderr,
        )
    if twice:
        print(f"in two shards: {', '.join(sorted(set(twice))[:SHOWN])}", file=sys.stderr)
    if strangers:
        print(
            f"not in the spec: {plural(len(strangers), 'job')} ({', '.join(strangers[:5])})",
            file=sys.stderr,
        )
