"""The results a run leaves behind: ``manifest.jsonl`` and ``run.json``, written atomically.

The manifest has one JSON record per job of the spec, in spec order: its id,
endpoint, parameters as sent (uploaded files as their URLs, with the local
sources alongside), task ids, status, error, attempts, outputs (url, path
relative to the output directory, bytes, sha256, type), usage, what it was
quoted (``quoted``, from the public price list or RunningHub's price preview:
``quoteSource``) and billed (``billed``; ``cost`` is the same figure, kept for
readers of older manifests), timestamps, and the results as the task reported
them (url, outputType, text; the only record of them when downloads are off), the
job's version (1, then one more each time its parameters changed: earlier versions
are in ``history/``), the spec version its parameters came from (``spec``: sha256,
path, and in a git repository the commit, whether the tree was dirty, the branch),
and the variables it was made with that are not parameters of its endpoint
(``vars``: matrix values, row columns, the job's own ``vars``; ``{}`` when none;
manifests written before it was added have no such field).
``run.json`` sums the run up.
Both are written to a temporary file, fsynced and renamed over the old one, so
a reader never sees half a file. The API key is never part of either.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.errors import StateError
from rhbatch.store.files import write_lines
from rhbatch.store.state import Store


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_text = json.encoder.encode_basestring  # (C, keeps non-ASCII)


def _j(value: Any) -> str:
    """One scalar as JSON, without json.dumps' machinery (a manifest has many of them)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return str(_text(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value, ensure_ascii=False)


def record(job: dict[str, Any], specs: dict[int, str] | None = None) -> str:
    """One manifest line. The stored JSON texts are spliced in as they are (no decoding
    and encoding of every job's parameters on every rewrite). ``specs``: each spec
    version's record as JSON text (``spec_records``)."""
    outputs = [
        {
            "n": o.n,
            "url": o.url,
            "path": o.path,
            "bytes": o.bytes,
            "sha256": o.sha256,
            "type": o.type,
        }
        for o in job["outputs"]
    ]
    task_ids = "[" + ", ".join(_text(t) for t in job["taskIds"]) + "]"
    if '"nodeId"' in job["results"]:  # a workflow's or app's files: the node that made each
        made = json.loads(job["results"])
        for out in outputs:
            n = int(out["n"]) - 1
            if 0 <= n < len(made) and isinstance(made[n], dict) and "nodeId" in made[n]:
                out["nodeId"] = made[n]["nodeId"]
    d = _j
    return (
        f'{{"id": {d(job["id"])}, "index": {job["index"]}, "endpoint": {d(job["endpoint"])}, '
        f'"status": {d(job["status"])}, "params": {job["params"]}, "sources": {job["sources"]}, '
        f'"taskId": {d(job["taskId"])}, "taskIds": {task_ids}, '
        f'"attempts": {job["attempts"]}, "errorCode": {d(job["errorCode"])}, '
        f'"errorMessage": {d(job["errorMessage"])}, '
        f'"outputs": {json.dumps(outputs, ensure_ascii=False) if outputs else "[]"}, '
        f'"results": {job["results"]}, '
        f'"usage": {job["usage"]}, "cost": {d(job["cost"])}, "billed": {d(job["cost"])}, '
        f'"quoted": {d(job["quoted"])}, "quoteSource": {d(job["quoteSource"])}, '
        f'"submittedAt": {d(iso(job["submittedAt"]))}, "finishedAt": {d(iso(job["finishedAt"]))}, '
        f'"uses": {job["uses"]}, "version": {job.get("version") or 1}, '
        f'"spec": {(specs or {}).get(job.get("spec") or 0, "null")}, '
        f'"vars": {job.get("vars") or "{}"}}}'
    )


def spec_records(store: Store) -> dict[int, str]:
    """Each spec version of the directory as the manifest names it (JSON text): sha256,
    path, and the git commit, dirty flag, branch and path in the repository."""
    return {n: json.dumps(v.record(), ensure_ascii=False) for n, v in store.spec_versions().items()}


def clean_temporaries(out_dir: Path) -> int:
    """Remove the temporary files of manifest and run.json writes that a kill interrupted."""
    removed = 0
    for name in ("manifest.jsonl", "run.json", "metadata.jsonl", "report.html"):
        for tmp in out_dir.glob(f".{name}.*"):  # .part, and the temporaries of older versions
            try:
                tmp.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def write_manifest(store: Store, out_dir: Path) -> int:
    """Rewrite the manifest from the store; StateError (exit 3) if it cannot be written."""
    count = 0

    specs = spec_records(store)

    def lines() -> Iterable[str]:
        nonlocal count
        for job in store.records():
            count += 1
            yield record(job, specs) + "\n"

    try:
        write_lines(out_dir / "manifest.jsonl", lines())
    except OSError as exc:
        raise StateError(f"cannot write the manifest in {out_dir}: {exc.strerror or exc}") from None
    return count


def read_run(out_dir: Path) -> dict[str, Any]:
    """A directory's run.json, or nothing when it is missing or cannot be read (bounded:
    a regular file of its size, JSON of its depth)."""
    try:
        info = readers.read_json(out_dir / "run.json")
    except readers.FileProblem:
        return {}
    return info if isinstance(info, dict) else {}


def write_run(out_dir: Path, info: dict[str, Any]) -> None:
    write_lines(out_dir / "run.json", [json.dumps(info, ensure_ascii=False, indent=2) + "\n"])
