"""``rhbatch merge DIR... --out DIR``: the shards of one spec joined, and proof nothing is lost.

Each shard's directory holds its manifest and ``run.json`` (which names the
spec, its sha256 and the shard ``i/N``). The spec is expanded again (``--spec``,
else the path the shards name, if its content is the one they ran) to list
every planned job; the merge is complete when every planned job has exactly one
terminal record across the shards. Otherwise it lists what is missing (with
the shards they belong to), what is still unfinished, and ids that appear
twice, and exits 1. The merged directory gets the records in spec order, the
files (hard links where the file system allows, else copies checked against
their sha256), ``metadata.jsonl`` and a ``run.json`` saying what was merged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rhbatch.commands.common import plural
from rhbatch.endpoints.registry import registry
from rhbatch.errors import EXIT_JOB_FAILURES, EXIT_OK, UsageError
from rhbatch.models import JOB_TERMINAL, JobStatus
from rhbatch.spec.expand import Expander
from rhbatch.spec.load import load_spec
from rhbatch.spec.problems import Findings
from rhbatch.spec.shard import parse_shard, shard_of
from rhbatch.store.dataset import write_metadata
from rhbatch.store.files import hash_file, path_problem, write_lines
from rhbatch.store.manifest import write_run

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
    planned = {job.id: job.index for job in Expander(spec, reg, Findings()).jobs()}
    records: dict[str, tuple[dict[str, Any], Path]] = {}
    twice: list[str] = []
    for directory in dirs:
        for line in (directory / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            if record["id"] in records:
                twice.append(record["id"])
            records[record["id"]] = (record, directory)
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
    rows = write_metadata(out) if not args.no_files else 0
    statuses = Counter(r["status"] for r, _ in merged)
    complete = not (missing or unfinished or twice or strangers)
    write_run(
        out,
        {
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
    parts = ", ".join(f"{n:,} {s}" for s, n in statuses.most_common())
    print(f"{out}: {plural(len(merged), 'job')} of {len(planned):,} planned ({parts})")
    if rows:
        print(f"  metadata.jsonl: {plural(rows, 'file')}")
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
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


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
        if hash_file(tmp).sha256 != output.get("sha256"):
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
        for job_id in missing[:SHOWN]:
            print(f"  {job_id}", file=sys.stderr)
        if len(missing) > SHOWN:
            print(f"  ... and {len(missing) - SHOWN:,} more (run.json lists all)", file=sys.stderr)
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
