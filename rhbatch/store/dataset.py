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

The rows themselves (and which files are there) are ``result_rows.py``; this module
finds the extra columns and writes the table, whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhbatch.store.files import PartFile, write_lines
from rhbatch.store.manifest import read_run
from rhbatch.store.result_rows import COLUMNS, Entry, Present, Tally, history_rows, presence, rows
from rhbatch.store.result_rows import on_disk as on_disk  # commands/run.py takes it from here

METADATA = "metadata.jsonl"
VAR_PREFIX = "var."  # a job's variable that is not a parameter: var.look
PARAM_PREFIX = "param."  # one parameter as sent (export --spread-params): param.resolution


@dataclass(frozen=True)
class Written:
    """What a table holds: its rows, and the recorded files left out (not there)."""

    rows: int
    left_out: int = 0


def write_metadata(out_dir: Path, present: Present | None = None) -> Written:
    """Write ``metadata.jsonl`` from the manifest (atomically): a row per file that is
    there (``present``; by default ``presence``)."""
    return write_table(out_dir, out_dir / METADATA, "jsonl", present=present)


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
    """The metadata table of a run directory as JSON Lines, CSV or Parquet at ``dest``,
    whole or not at all: a row per file that is there (``present``; by default
    ``presence``). ``history``: with a row for each file of the earlier versions too;
    ``formulas``: CSV text cells as they are, even those a spreadsheet would run as
    formulas; ``spread``: a ``param.<name>`` column per parameter."""
    if fmt not in ("jsonl", "csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}")
    manifest = out_dir / "manifest.jsonl"
    prompt_field = _prompt_field(out_dir)
    is_there = present if present is not None else presence(out_dir)

    def entries(present: Present, tally: Tally) -> Iterator[Entry]:
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
    for _, params, named in entries(first, Tally()):
        columns.see(VAR_PREFIX, named)
        if spread:
            columns.see(PARAM_PREFIX, params)
    tally, count = Tally(), 0

    def second(out: dict[str, Any], job: dict[str, Any]) -> bool:
        return (job.get("id"), out.get("path")) not in missing

    def table() -> Iterator[dict[str, Any]]:
        nonlocal count
        for row, params, named in entries(second, tally):
            count += 1
            yield columns.fill(row, params if spread else {}, named)

    if fmt == "jsonl":
        write_lines(dest, (json.dumps(row, ensure_ascii=False) + "\n" for row in table()))
    elif fmt == "csv":
        write_lines(dest, _csv_lines(table(), formulas, COLUMNS + columns.names()))
    else:
        _parquet(table(), dest, columns)
    return Written(count, tally.left_out)


def _prompt_field(out_dir: Path) -> str | None:
    """The parameter the spec names as each job's prompt (run.json's ``promptField``)."""
    field = read_run(out_dir).get("promptField")
    return field if isinstance(field, str) and field else None


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


def _parquet(found: Iterable[dict[str, Any]], dest: Path, columns: _Columns) -> None:
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
    with PartFile(dest, hashed=False) as out:  # whole or not at all
        with pq.ParquetWriter(out, schema) as writer:
            batch: list[dict[str, Any]] = []
            for row in found:
                batch.append(row)
                if len(batch) >= 10_000:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    batch = []
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        out.finish()
