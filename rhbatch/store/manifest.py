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
a reader never sees half a file. The API key is never part of either. During a
run the manifest is rewritten about every second: those rewrites render only the
lines of the jobs that changed since the last (``changes.py``) and copy the rest
from the file; the write at the end of the run renders every line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.errors import StateError
from rhbatch.store.changes import Written
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
        f'{line_start(job)}"endpoint": {d(job["endpoint"])}, '
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


def line_start(job: dict[str, Any]) -> str:
    """How a job's manifest line begins: its id and index (what never changes in a run,
    so an incremental rewrite finds the line by it)."""
    return f'{{"id": {_j(job["id"])}, "index": {job["index"]}, '


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


def write_manifest(store: Store, out_dir: Path, *, changed_only: bool = False) -> int:
    """Rewrite the manifest from the store; StateError (exit 3) if it cannot be written.
    Returns its number of lines (the spec's jobs).

    ``changed_only`` (a run's periodic rewrite): when this process wrote the file last
    and the store knows which jobs changed since (``changes.py``), only their lines are
    rendered again, the others copied from the file as they are. Whenever anything
    does not add up (the file gone or not as it was left, a spec version added,
    everything marked), the write is a full one: the same bytes either way."""
    changes = store.changed
    marked = changes.take()
    before, changes.written = changes.written, None  # no claim on the file until written
    path = out_dir / "manifest.jsonl"
    try:
        specs = spec_records(store)
        done = None
        if changed_only and marked is not None and before is not None:
            done = _patched(store, path, marked, specs, before)
        if done is None:
            done = _full(store, path, specs)
    except BaseException as exc:
        changes.everything()  # the marks taken are not on disk: the next write is full
        if isinstance(exc, OSError):
            reason = exc.strerror or exc
            raise StateError(f"cannot write the manifest in {out_dir}: {reason}") from None
        raise
    changes.written = done
    return done.lines


def _full(store: Store, path: Path, specs: dict[int, str]) -> Written:
    count = 0

    def lines() -> Iterable[str]:
        nonlocal count
        for job in store.records():
            count += 1
            yield record(job, specs) + "\n"

    write_lines(path, lines())
    return Written(path, count, count, specs, _stat(path))


BLOCK = 1 << 20  # bytes of the old manifest read at a time by an incremental rewrite


class _Mismatch(Exception):
    """The manifest on disk is not what this process wrote last: it is written in full."""


def _patched(
    store: Store, path: Path, marked: set[str], specs: dict[int, str], before: Written
) -> Written | None:
    """The manifest rewritten with only the marked jobs' lines rendered again, or None
    (nothing written) when the file is not as this process left it."""
    if before.path != path or before.specs != specs or _stat(path) != before.stat:
        return None
    # Each marked job of the spec as (the start of its line, its new line), in spec order:
    # the order of the file's lines.
    fresh = (
        (
            line_start(job).encode(),
            (record(job, specs) + "\n").encode(),
        )
        for job in store.records(marked)
    )
    rendered = 0

    def spliced() -> Iterator[bytes]:
        """The old file's bytes, each fresh job's line in place of its old one. Read a
        block at a time: the lines between are copied without being looked at (a line
        holds no raw newline: JSON escapes it). _Mismatch when the lines do not add up,
        raised before the new file takes the old one's place."""
        nonlocal rendered
        seen, last = 0, b"\n"
        # Unbuffered: each read is one system call of BLOCK bytes (a buffered file reads
        # 8 KiB at a time). Closed before the rename (Windows refuses otherwise).
        with path.open("rb", buffering=0) as old:
            buf, pos = b"", 0  # buf[pos:] not yet copied; pos at the start of a line
            for start, line in fresh:
                while True:
                    if buf.startswith(start, pos):
                        at = pos
                    else:
                        hit = buf.find(b"\n" + start, pos)
                        at = -1 if hit < 0 else hit + 1
                    end = -1 if at < 0 else buf.find(b"\n", at)
                    if end >= 0:
                        break
                    more = old.read(BLOCK)
                    if not more:
                        raise _Mismatch  # a job's line is not where the file should have it
                    cut = max(pos, buf.rfind(b"\n", pos) + 1)  # whole lines go out now
                    seen += buf.count(b"\n", pos, cut)
                    yield buf[pos:cut]
                    buf, pos = buf[cut:] + more, 0
                seen += buf.count(b"\n", pos, at) + 1
                rendered += 1
                yield buf[pos:at]
                yield line
                pos = end + 1
            rest = buf[pos:]  # then the lines after the last fresh one, as they are
            while True:
                if rest:
                    seen += rest.count(b"\n")
                    last = rest[-1:]
                    yield rest
                rest = old.read(BLOCK)
                if not rest:
                    break
        if seen != before.lines or last != b"\n":
            raise _Mismatch

    try:
        write_lines(path, spliced())
    except _Mismatch:
        return None
    return Written(path, before.lines, rendered, specs, _stat(path))


def _stat(path: Path) -> tuple[int, int, int]:
    """The file's size, time and inode; none (matching no file) when it cannot be read."""
    try:
        found = path.stat()
    except OSError:
        return -1, -1, -1
    return found.st_size, found.st_mtime_ns, found.st_ino


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
