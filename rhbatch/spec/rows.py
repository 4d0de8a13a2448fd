"""``jobs_from``: jobs read from CSV or JSON Lines files, one row per job.

Paths are relative to the spec file. Each row becomes an ``Entry`` that knows
its file and line. A CSV cell is text: it is converted to the parameter's type
(``cell_value``) when jobs are expanded; an empty cell means "not set". JSON Lines rows keep
their JSON types. Columns named like the reserved job keys (``id``,
``endpoint``, ``repeat``, ``vars``) play that role; ``matrix`` is not allowed
in a row.

Input files (spec files and row files) are read by ``readers.read_text``: a
regular file of bounded size, UTF-8 text; each refusal says why, with the line
where it can.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rhbatch.errors import Problem
from rhbatch.models import Entry
from rhbatch.readers import MAX_DEPTH, FileProblem, depth, read_text

EndpointOf = Callable[[Any, str, int], "str | None"]
MAX_REPEAT = 10_000  # as for `repeat` in a spec
# A row's columns that are no parameters.
ROW_KEYS = ("id", "endpoint", "vars", "repeat", "uses")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


class TooManyRows(Exception):
    """A row file with more rows than the job cap allows (``rows`` is how many)."""

    def __init__(self, rows: int) -> None:
        super().__init__(rows)
        self.rows = rows


def rows_over(text: str, fmt: str, most: int) -> int | None:
    """How many rows a row file holds if that is more than ``most``, else None. Cheap
    when there are few: line ends are counted first, rows only when those are too many."""
    if max(text.count("\n"), text.count("\r")) + 1 - (fmt == "csv") <= most:
        return None
    if fmt == "jsonl":
        rows = sum(1 for line in io.StringIO(text) if line.strip())
    else:
        rows = -1  # the header
        try:
            for cells in csv.reader(io.StringIO(text)):
                if rows < 0 or any(c.strip() for c in cells):
                    rows += 1
        except csv.Error:
            pass  # the rows are read again, and this reported, if there are few enough
    return rows if rows > most else None


def read_rows(
    source: str | Mapping[str, Any],
    base_dir: Path,
    spec_file: str,
    spec_line: int,
    problems: list[Problem],
    endpoint_of: EndpointOf,
    max_rows: int | None = None,
) -> list[Entry]:
    """Entries for every row of one jobs_from file; problems are appended, not raised.

    Raises TooManyRows, before a single row is parsed, if the file has more than
    ``max_rows`` rows.
    """
    if isinstance(source, str):
        rel, fmt = source, None
    else:
        rel, fmt = source["path"], source.get("format")
    path = (base_dir / rel).expanduser()
    shown = str(Path(spec_file).parent / rel) if not Path(rel).is_absolute() else rel
    if fmt is None:
        suffix = path.suffix.lower()
        fmt = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix)
        if fmt is None:
            problems.append(
                Problem(
                    spec_file,
                    spec_line,
                    f"cannot tell the format of {rel!r} from its extension; "
                    "use .csv or .jsonl, or write {path: ..., format: csv|jsonl}",
                    field="jobs_from",
                )
            )
            return []
    try:
        text = read_text(path)
    except FileProblem as exc:
        if exc.missing:
            message = f"no such file {rel!r} (looked at {path})"
        elif exc.line is None:
            message = f"{rel!r} {exc.reason}"
        else:
            problems.append(Problem(shown, exc.line, exc.reason))
            return []
        problems.append(Problem(spec_file, spec_line, message, field="jobs_from"))
        return []
    if max_rows is not None:
        too_many = rows_over(text, fmt, max_rows)
        if too_many is not None:
            raise TooManyRows(too_many)

    raw_rows = _csv(text, shown, problems) if fmt == "csv" else _jsonl(text, shown, problems)
    entries = []
    for line, row in raw_rows:
        bad = False
        for key, kind in (("id", str), ("endpoint", str), ("vars", dict)):
            if key in row and not isinstance(row[key], kind):
                problems.append(
                    Problem(
                        shown,
                        line,
                        f"{key} must be {'a mapping' if kind is dict else 'text'}",
                        field=key,
                    )
                )
                bad = True
        if "matrix" in row:
            problems.append(
                Problem(
                    shown, line, "a row cannot have a matrix; put it in the spec", field="matrix"
                )
            )
            bad = True
        repeat = row.get("repeat")
        if isinstance(repeat, str):
            repeat = int(repeat) if repeat.isascii() and repeat.isdigit() else repeat
        if repeat is not None and (
            not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT
        ):
            problems.append(
                Problem(
                    shown,
                    line,
                    f"must be a whole number from 1 to {MAX_REPEAT:,}, not {row['repeat']!r}",
                    field="repeat",
                )
            )
            bad = True
        uses = _uses_of(row)
        if uses is None:
            problems.append(
                Problem(
                    shown,
                    line,
                    'uses must map names to job ids (JSON Lines: "uses": {"frame": '
                    '"frame-1"}; CSV: a column uses.frame)',
                    field="uses",
                )
            )
            bad = True
        if bad:
            continue
        params = {
            k: v
            for k, v in row.items()
            if k not in ROW_KEYS and not k.startswith(("_", "x-", "uses."))
        }
        entries.append(
            Entry(
                file=shown,
                line=line,
                where=f"row {line}",
                params=params,
                key_lines={},
                endpoint=endpoint_of(row["endpoint"], shown, line) if row.get("endpoint") else None,
                id=row.get("id") or None,
                vars=dict(row.get("vars") or {}),
                repeat=int(repeat) if repeat is not None else None,
                uses=uses or {},
                row=True,
                text=fmt == "csv",
            )
        )
    if not raw_rows and not any(p.file == shown for p in problems):
        problems.append(Problem(spec_file, spec_line, f"{rel!r} has no rows", field="jobs_from"))
    return entries


def cell_value(text: str, kind: Any) -> Any:
    """A CSV cell's text as a value of the JSON Schema type ``kind`` (a list: JSON, or
    items split at ``|``); raises ValueError saying what was expected."""
    stripped = text.strip()
    if "{" in stripped and kind != "string":
        return text  # a template: converted after filling would be nicer, but keep it text
    if kind == "integer":
        try:
            return int(stripped)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind == "number":
        try:
            number = float(stripped)
        except ValueError:
            raise ValueError("expected a number") from None
        return int(number) if number.is_integer() and "." not in stripped else number
    if kind == "boolean":
        low = stripped.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected true or false")
    if kind == "array":
        if stripped.startswith("["):
            try:
                items = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list ({exc.msg})") from None
            return items
        return [part.strip() for part in stripped.split("|") if part.strip()]
    return text


def _uses_of(row: dict[str, Any]) -> dict[str, str] | None:
    """A row's ``uses``: a JSON Lines mapping, or CSV columns ``uses.NAME``; None if bad."""
    found = row.get("uses", {})
    if not isinstance(found, dict):
        return None
    out = dict(found)
    out.update({k[5:]: v for k, v in row.items() if k.startswith("uses.") and v not in ("", None)})
    if not all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, str) and v for k, v in out.items()
    ):
        return None
    return out


def _csv(text: str, file: str, problems: list[Problem]) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        problems.append(Problem(file, 1, f"bad CSV header: {exc}"))
        return []
    names = [h.strip() for h in header]
    for i, name in enumerate(names):
        if not name:
            problems.append(Problem(file, 1, f"column {i + 1} has no name in the header row"))
        elif names.index(name) != i:
            problems.append(Problem(file, 1, f"column {name!r} appears twice in the header row"))
    out = []
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(file, start, f"bad CSV row: {exc}"))
            break
        line, start = start, reader.line_num + 1
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) > len(names):
            problems.append(
                Problem(file, line, f"{len(cells)} cells but the header names {len(names)} columns")
            )
            continue
        out.append((line, {n: c for n, c in zip(names, cells, strict=False) if n and c != ""}))
    return out


def _jsonl(text: str, file: str, problems: list[Problem]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            too_deep = depth(row) > MAX_DEPTH
        except json.JSONDecodeError as exc:
            problems.append(Problem(file, number, f"invalid JSON: {exc.msg}", column=exc.colno))
            continue
        except RecursionError:
            too_deep = True
        if too_deep:
            message = f"nested more than {MAX_DEPTH} levels deep; a job needs far fewer"
            problems.append(Problem(file, number, message))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(file, number, "each line must be a JSON object"))
            continue
        out.append((number, row))
    return out
