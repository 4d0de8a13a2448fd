"""The results as a dataset: ``metadata.jsonl`` beside the files, and the same table exported.

Hugging Face ``datasets`` reads an image, video or audio folder with a
``metadata.jsonl`` whose rows name a file (``file_name``, relative to the
folder) and carry any other columns. rhbatch writes one row per result file,
from the manifest: the prompt, every parameter as sent (``params``, JSON text,
since batches mix endpoints whose parameters differ in name and type), the
endpoint (or ``workflow:<id>`` / ``app:<id>``), job and task ids, the file's
sha256 and size, the job's cost, the jobs it was made from, its version and
the git commit of the spec version it came from (``spec_commit``). So
``load_dataset("videofolder", data_dir=OUT)`` has those columns. A batch that
made several kinds of files has a ``media`` column to keep one kind.

``export`` writes the same rows as JSON Lines, CSV or Parquet (Parquet needs
pyarrow: ``pip install 'rhbatch[dataset]'``); ``--history`` adds the files of
earlier versions (``current`` false), which metadata.jsonl leaves out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.models import pinned_kind, prompt_of
from rhbatch.store.files import write_lines
from rhbatch.store.manifest import read_run

METADATA = "metadata.jsonl"
COLUMNS = (
    "file_name",
    "media",
    "job_id",
    "n",
    "status",
    "endpoint",
    "kind",
    "prompt",
    "params",
    "task_id",
    "node_id",
    "sha256",
    "bytes",
    "cost",
    "made_from",
    "version",
    "current",
    "spec_commit",
)
MEDIA = {
    "image": ("png", "jpg", "jpeg", "webp", "gif", "bmp"),
    "video": ("mp4", "mov", "webm", "mkv", "avi"),
    "audio": ("wav", "mp3", "flac", "ogg", "m4a"),
    "text": ("txt",),
}
_MEDIA_OF = {ext: kind for kind, exts in MEDIA.items() for ext in exts}


def rows(manifest: Path, prompt_field: str | None = None) -> Iterator[dict[str, Any]]:
    """One row per result file of the manifest, in job order. ``prompt_field``: the
    parameter the spec names as the prompt (``output.prompt``, in run.json)."""
    for _, line in readers.lines(manifest):
        if not line.strip():
            continue
        job = json.loads(line)
        params = job.get("params") or {}
        pinned = pinned_kind(str(job.get("endpoint") or ""))
        made_from = sorted(set((job.get("uses") or {}).values()))
        for out in job.get("outputs") or []:
            ext = str(out.get("type") or "").lower()
            yield {
                "file_name": str(out["path"]).replace("\\", "/"),
                "media": _MEDIA_OF.get(ext, "other"),
                "job_id": job["id"],
                "n": out.get("n"),
                "status": job.get("status"),
                "endpoint": job.get("endpoint"),
                "kind": pinned[0] if pinned else "model",
                "prompt": prompt_of(params, prompt_field) or None,
                "params": json.dumps(params, ensure_ascii=False, sort_keys=True),
                "task_id": job.get("taskId"),
                "node_id": out.get("nodeId"),
                "sha256": out.get("sha256"),
                "bytes": out.get("bytes"),
                "cost": job.get("cost"),
                "made_from": made_from,
                "version": job.get("version") or 1,
                "current": True,
                "spec_commit": (job.get("spec") or {}).get("commit"),
            }


def history_rows(out_dir: Path) -> Iterator[dict[str, Any]]:
    """One row per file of the earlier versions the directory keeps (``history/``), from
    its store; none without one."""
    from rhbatch.store.state import STATE_DIR, Store  # only an export with history reads it

    if not (out_dir / STATE_DIR / "state.db").exists():
        return
    with Store.open(out_dir, lock=False, create=False) as store:
        specs = store.spec_versions()
        versions = store.versions()
    for v in versions:
        params = json.loads(v.params) if v.params else {}
        pinned = pinned_kind(v.endpoint)
        origin = specs.get(v.spec or 0)
        for out in v.outputs:
            yield {
                "file_name": out.path,
                "media": _MEDIA_OF.get(out.type.lower(), "other"),
                "job_id": v.job_id,
                "n": out.n,
                "status": v.status,
                "endpoint": v.endpoint,
                "kind": pinned[0] if pinned else "model",
                "prompt": prompt_of(params) or None,
                "params": json.dumps(params, ensure_ascii=False, sort_keys=True),
                "task_id": v.task_id,
                "node_id": None,
                "sha256": out.sha256,
                "bytes": out.bytes,
                "cost": v.cost,
                "made_from": [],
                "version": v.v,
                "current": False,
                "spec_commit": origin.commit if origin is not None else None,
            }


def write_metadata(out_dir: Path) -> int:
    """Write ``metadata.jsonl`` from the manifest (atomically); the number of rows."""
    return export(out_dir, out_dir / METADATA, "jsonl")


def export(
    out_dir: Path, dest: Path, fmt: str, *, history: bool = False, formulas: bool = False
) -> int:
    """The metadata table of a run directory as JSON Lines, CSV or Parquet at ``dest``;
    ``history``: with a row for each file of the earlier versions too; ``formulas``: CSV
    text cells as they are, even those a spreadsheet would run as formulas."""
    manifest = out_dir / "manifest.jsonl"

    def table() -> Iterator[dict[str, Any]]:
        yield from rows(manifest, _prompt_field(out_dir))
        if history:
            yield from history_rows(out_dir)

    if fmt == "jsonl":
        count = 0

        def lines() -> Iterable[str]:
            nonlocal count
            for row in table():
                count += 1
                yield json.dumps(row, ensure_ascii=False) + "\n"

        write_lines(dest, lines())
        return count
    if fmt == "csv":
        counted: list[int] = [0]

        def each() -> Iterator[dict[str, Any]]:
            for row in table():
                counted[0] += 1
                yield row

        write_lines(dest, _csv_lines(each(), formulas))
        return counted[0]
    if fmt == "parquet":
        return _parquet(table(), dest)
    raise ValueError(f"unknown format {fmt!r}")


def _prompt_field(out_dir: Path) -> str | None:
    """The parameter the spec names as each job's prompt (run.json's ``promptField``)."""
    field = read_run(out_dir).get("promptField")
    return field if isinstance(field, str) and field else None


# A cell a spreadsheet would run as a formula starts with one of these (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula, made plain text by a leading
    apostrophe (which spreadsheets show as nothing); other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_lines(found: Iterable[dict[str, Any]], formulas: bool = False) -> Iterator[str]:
    """RFC 4180 CSV: CRLF between rows, so that a cell holding a CR or an LF is quoted (a
    bare CR split rows before); text cells that would run as formulas in a spreadsheet
    are defused unless ``formulas`` (for tools that want the raw text)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in found:
        cells = {**row, "made_from": "|".join(row["made_from"])}
        if not formulas:
            cells = {k: defused(v) for k, v in cells.items()}
        writer.writerow(cells)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _parquet(found: Iterable[dict[str, Any]], dest: Path) -> int:
    import pyarrow as pa  # an optional dependency: rhbatch[dataset]
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("file_name", pa.string()),
            ("media", pa.string()),
            ("job_id", pa.string()),
            ("n", pa.int64()),
            ("status", pa.string()),
            ("endpoint", pa.string()),
            ("kind", pa.string()),
            ("prompt", pa.string()),
            ("params", pa.string()),
            ("task_id", pa.string()),
            ("node_id", pa.string()),
            ("sha256", pa.string()),
            ("bytes", pa.int64()),
            ("cost", pa.float64()),
            ("made_from", pa.list_(pa.string())),
            ("version", pa.int64()),
            ("current", pa.bool_()),
            ("spec_commit", pa.string()),
        ]
    )
    tmp = dest.with_name(f".{dest.name}.part")
    count = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in found:
            batch.append(row)
            count += 1
            if len(batch) >= 10_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    tmp.replace(dest)
    return count
