"""``jobs_from``: jobs read from CSV or JSON Lines files, one row per job.

Paths are relative to the spec file. Each row becomes an ``Entry`` that knows
its file and line. A CSV cell is text: it is converted to the parameter's type
when jobs are expanded; an empty cell means "not set". JSON Lines rows keep
their JSON types. Columns named like the reserved job keys (``id``,
``endpoint``, ``repeat``, ``vars``) play that role; ``matrix`` is not allowed
in a row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rhbatch.errors import Problem
from rhbatch.models import Entry

EndpointOf = Callable[[Any, str, int], "str | None"]


def read_rows(
    source: str | Mapping[str, Any],
    base_dir: Path,
    spec_file: str,
    spec_line: int,
    problems: list[Problem],
    endpoint_of: EndpointOf,
) -> list[Entry]:
    """Entries for every row of one jobs_from file; problems are appended, not raised."""
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
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problems.append(
            Problem(
                spec_file, spec_line, f"no such file {rel!r} (looked at {path})", field="jobs_from"
            )
        )
        return []
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(
            Problem(spec_file, spec_line, f"cannot read {rel!r}: {exc}", field="jobs_from")
        )
        return []

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
            repeat = int(repeat) if repeat.isdigit() else repeat
        if repeat is not None and (
            not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1
        ):
            problems.append(
                Problem(
                    shown,
                    line,
                    f"repeat must be a whole number of at least 1, not {row['repeat']!r}",
                    field="repeat",
                )
            )
            bad = True
        if bad:
            continue
        params = {
            k: v
            for k, v in row.items()
            if k not in ("id", "endpoint", "vars", "repeat") and not k.startswith(("_", "x-"))
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
                row=True,
                text=fmt == "csv",
            )
        )
    if not raw_rows and not any(p.file == shown for p in problems):
        problems.append(Problem(spec_file, spec_line, f"{rel!r} has no rows", field="jobs_from"))
    return entries


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
        except json.JSONDecodeError as exc:
            problems.append(Problem(file, number, f"invalid JSON: {exc.msg}", column=exc.colno))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(file, number, "each line must be a JSON object"))
            continue
        out.append((number, row))
    return out
