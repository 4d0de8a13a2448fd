"""The results as a dataset: ``metadata.jsonl`` beside the files, and the same table exported.

Hugging Face ``datasets`` reads an image, video or audio folder with a
``metadata.jsonl`` whose rows name a file (``file_name``, relative to the
folder) and carry any other columns. rhbatch writes one row per result file
that is there (a file the manifest records but the directory no longer holds, or
never got, has no row: ``Written.left_out`` counts them), from the manifest: the
prompt, every parameter as sent (``params``, JSON text, since batches mix
endpoints whose parameters differ in name and type), the endpoint (or
``workflow:<id>`` / ``app:<id>``), job and task ids, the file's sha256 and size,
the job's cost, the jobs it was made from, its version and the git commit of the
spec version it came from (``spec_commit``); then a ``var.<name>`` column for each
variable the jobs were made with that is not a parameter (the manifest's ``vars``:
matrix values, row columns), so that the rows can be grouped by them. So
``load_dataset("videofolder", data_dir=OUT)`` has those columns. A batch that
made several kinds of files has a ``media`` column to keep one kind.

``export`` writes the same rows as JSON Lines, CSV or Parquet (Parquet needs
pyarrow: ``pip install 'rhbatch[dataset]'``); ``--history`` adds the files of
earlier versions (``current`` false), which metadata.jsonl leaves out;
``--spread-params`` adds a ``param.<name>`` column for each parameter, so that a
table can be sliced by one. The prefixes keep those columns apart from the fixed
ones, and from each other.

Every row has every column. The ``var.`` and ``param.`` columns are known only
once the whole manifest is read, so it is read twice (memory stays flat). A
column's values keep their type where they all share one (text, whole numbers,
numbers, booleans; missing values are null); a column that mixes them, or holds
lists or objects, holds text: JSON for what is not text.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
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
VAR_PREFIX = "var."  # a job's variable that is not a parameter: var.look
PARAM_PREFIX = "param."  # one parameter as sent (export --spread-params): param.resolution
MEDIA = {
    "image": ("png", "jpg", "jpeg", "webp", "gif", "bmp"),
    "video": ("mp4", "mov", "webm", "mkv", "avi"),
    "audio": ("wav", "mp3", "flac", "ogg", "m4a"),
    "text": ("txt",),
}
_MEDIA_OF = {ext: kind for kind, exts in MEDIA.items() for ext in exts}

# Whether the file of an output entry is there: (output entry, the job's record).
Present = Callable[[dict[str, Any], dict[str, Any]], bool]
# A row of the fixed columns, with the job's parameters and variables.
_Entry = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


@dataclass(frozen=True)
class Written:
    """What a table holds: its rows, and the recorded files left out (not there)."""

    rows: int
    left_out: int = 0


@dataclass
class _Tally:
    left_out: int = 0


def on_disk(out_dir: Path) -> Present:
    """A file is there if the path its record names is a file under ``out_dir``."""

    def present(out: dict[str, Any], job: dict[str, Any]) -> bool:
        path = out.get("path")
        return isinstance(path, str) and bool(path) and (out_dir / path).is_file()

    return present


def presence(out_dir: Path) -> Present:
    """How to tell whether a recorded file is there: on disk; in the state directory of
    a run put in object storage, whose files are in the bucket, by its job's status (a
    job succeeds only once its files are put)."""
    if _out_url(out_dir):
        return lambda out, job: job.get("status") == "succeeded"
    return on_disk(out_dir)


def rows(
    manifest: Path,
    prompt_field: str | None = None,
    present: Present | None = None,
    tally: _Tally | None = None,
) -> Iterator[_Entry]:
    """One row per result file of the manifest that is there (``present``; all without
    it), in job order, with its job's parameters and variables. ``prompt_field``: the
    parameter the spec names as the prompt (``output.prompt``, in run.json)."""
    for _, line in readers.lines(manifest):
        if not line.strip():
            continue
        job = json.loads(line)
        params = job.get("params") or {}
        named = job.get("vars")
        named = named if isinstance(named, dict) else {}
        pinned = pinned_kind(str(job.get("endpoint") or ""))
        made_from = sorted(set((job.get("uses") or {}).values()))
        for out in job.get("outputs") or []:
            if present is not None and not present(out, job):
                if tally is not None:
                    tally.left_out += 1
                continue
            ext = str(out.get("type") or "").lower()
            row = {
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
            yield row, params if isinstance(params, dict) else {}, named


def history_rows(
    out_dir: Path, present: Present | None = None, tally: _Tally | None = None
) -> Iterator[_Entry]:
    """One row per file of the earlier versions the directory keeps (``history/``) that
    is there, from its store; none without one."""
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
            if present is not None and not present(
                {"path": out.path, "bytes": out.bytes}, {"status": v.status}
            ):
                if tally is not None:
                    tally.left_out += 1
                continue
            row = {
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
            yield row, params if isinstance(params, dict) else {}, {}


def write_metadata(out_dir: Path, present: Present | None = None) -> Written:
    """Write ``metadata.jsonl`` from the manifest (atomically): a row per file that is
    there (``present``; by default ``presence``)."""
    return write_table(out_dir, out_dir / METADATA, "jsonl", present=present)


def export(
    out_dir: Path,
    dest: Path,
    fmt: str,
    *,
    history: bool = False,
    formulas: bool = False,
    spread: bool = False,
) -> int:
    """The metadata table of a run directory at ``dest``; the number of rows
    (``write_table`` says the files left out too)."""
    return write_table(out_dir, dest, fmt, history=history, formulas=formulas, spread=spread).rows


def write_table(
    out_dir: Path,
    dest: Path,
    fmt: str,
    *,
    history: bool = False,
    formulas: bool = False,
    spread: bool = False,
    present: Present | None = None,
) -> Written:
    """The metadata table of a run directory as JSON Lines, CSV or Parquet at ``dest``:
    a row per file that is there (``present``; by default ``presence``). ``history``:
    with a row for each file of the earlier versions too; ``formulas``: CSV text cells as
    they are, even those a spreadsheet would run as formulas; ``spread``: a
    ``param.<name>`` column per parameter."""
    if fmt not in ("jsonl", "csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}")
    manifest = out_dir / "manifest.jsonl"
    prompt_field = _prompt_field(out_dir)
    is_there = present if present is not None else presence(out_dir)

    def entries(present: Present, tally: _Tally) -> Iterator[_Entry]:
        yield from rows(manifest, prompt_field, present, tally)
        if history:
            yield from history_rows(out_dir, present, tally)

    # The first pass finds the columns and their kinds, and which files are not there
    # (the second asks no file system again).
    missing: set[tuple[Any, Any]] = set()

    def first(out: dict[str, Any], job: dict[str, Any]) -> bool:
        found = is_there(out, job)
        if not found:
            missing.add((job.get("id"), out.get("path")))
        return found

    columns = _Columns()
    for _, params, named in entries(first, _Tally()):
        columns.see(VAR_PREFIX, named)
        if spread:
            columns.see(PARAM_PREFIX, params)
    tally = _Tally()

    def second(out: dict[str, Any], job: dict[str, Any]) -> bool:
        return (job.get("id"), out.get("path")) not in missing

    def table() -> Iterator[dict[str, Any]]:
        for row, params, named in entries(second, tally):
            yield columns.fill(row, params if spread else {}, named)

    names = COLUMNS + columns.names()
    if fmt == "jsonl":
        count = 0

        def lines() -> Iterable[str]:
            nonlocal count
            for row in table():
                count += 1
                yield json.dumps(row, ensure_ascii=False) + "\n"

        write_lines(dest, lines())
    elif fmt == "csv":
        counted: list[int] = [0]

        def each() -> Iterator[dict[str, Any]]:
            for row in table():
                counted[0] += 1
                yield row

        write_lines(dest, _csv_lines(each(), formulas, names))
        count = counted[0]
    else:
        count = _parquet(table(), dest, columns)
    return Written(count, tally.left_out)


@dataclass
class _Columns:
    """The ``var.`` and ``param.`` columns of a table (the ``var.`` ones first, each group
    in name order), each with the kinds of the values it holds."""

    kinds: dict[str, set[str]] = field(default_factory=dict)

    def see(self, prefix: str, values: dict[str, Any]) -> None:
        for key, value in values.items():
            found = self.kinds.setdefault(prefix + str(key), set())
            if value is not None:
                found.add(_kind_of(value))

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.kinds, key=lambda n: (not n.startswith(VAR_PREFIX), n)))

    def kind(self, name: str) -> str:
        """One kind for the column: bool, int, float, str, or json (mixed or nested)."""
        found = self.kinds.get(name) or {"str"}
        if found == {"int", "float"}:
            return "float"
        return next(iter(found)) if len(found) == 1 else "json"

    def fill(
        self, row: dict[str, Any], params: dict[str, Any], named: dict[str, Any]
    ) -> dict[str, Any]:
        """``row`` with every column of the table, each value as its column's kind."""
        out = dict(row)
        for name in self.names():
            prefix, _, key = name.partition(".")
            source = named if prefix + "." == VAR_PREFIX else params
            out[name] = _as(source.get(key), self.kind(name))
        return out


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def _as(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "float":
        return float(value)
    if kind == "json" and not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def _prompt_field(out_dir: Path) -> str | None:
    """The parameter the spec names as each job's prompt (run.json's ``promptField``)."""
    field = read_run(out_dir).get("promptField")
    return field if isinstance(field, str) and field else None


def _out_url(out_dir: Path) -> str:
    """The bucket a run put its files in, when ``out_dir`` is its state directory."""
    from rhbatch.errors import StateError
    from rhbatch.store.state import STATE_DIR, Store

    if not (out_dir / STATE_DIR / "state.db").exists():
        return ""
    try:
        with Store.open(out_dir, lock=False, create=False) as store:
            return store.get_meta("out_url") or ""
    except StateError:
        return ""


# A cell a spreadsheet would run as a formula starts with one of these (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula, made plain text by a leading
    apostrophe (which spreadsheets show as nothing); other values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_lines(
    found: Iterable[dict[str, Any]], formulas: bool = False, names: tuple[str, ...] = COLUMNS
) -> Iterator[str]:
    """RFC 4180 CSV: CRLF between rows, so that a cell holding a CR or an LF is quoted (a
    bare CR split rows before); text cells that would run as formulas in a spreadsheet
    are defused unless ``formulas`` (for tools that want the raw text)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\r\n")
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


def _parquet(found: Iterable[dict[str, Any]], dest: Path, columns: _Columns) -> int:
    import pyarrow as pa  # an optional dependency: rhbatch[dataset]
    import pyarrow.parquet as pq

    types = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}
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
            *((name, types.get(columns.kind(name), pa.string())) for name in columns.names()),
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
