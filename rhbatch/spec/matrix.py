"""A ``matrix:`` mapping read into axes: plain keys multiply, a ``zip`` is one axis of rows.

Each axis is a list of ``Point`` values with the lines they were written on,
so that a problem with one job can be traced to the matrix value that made it.
"""

from __future__ import annotations

from typing import Any

from rhbatch.endpoints.describe import field_path
from rhbatch.errors import Problem
from rhbatch.models import Matrix, Point
from rhbatch.spec import yaml_source

# Keys a matrix cannot vary.
RESERVED = ("id", "endpoint", "workflow", "app", "uses", "vars", "repeat", "matrix")


def is_note(key: str) -> bool:
    return key.startswith(("_", "x-"))


def read_matrix(
    raw: Any, file: str, path: list[str | int], problems: list[Problem]
) -> Matrix | None:
    """Axes of a matrix mapping (its shape is already checked by the spec schema)."""
    if raw is None:
        return None
    axes: list[list[Point]] = []
    key_lines: dict[str, int] = {}
    clash: set[str] = set()
    for key, values in raw.items():  # axes in the order written; the first varies slowest
        if is_note(key):
            continue
        if key == "zip":
            clash = _zip(raw, file, path, axes, key_lines, problems)
            continue
        key_lines[key] = raw.line_of(key)
        axes.append([Point({key: v}, {key: values.line_of(i)}) for i, v in enumerate(values)])
    for key in sorted(clash):
        message = f"{key!r} is both a matrix key and a zip key"
        problems.append(Problem(file, raw.line_of(key), message, field=field_path([*path, key])))
    for key, line in key_lines.items():
        if key in RESERVED:
            message = f"{key!r} cannot vary in a matrix"
            problems.append(Problem(file, line, message, field=field_path([*path, key])))
    return Matrix(axes, key_lines) if axes else None


def _zip(
    raw: yaml_source.Located,
    file: str,
    path: list[str | int],
    axes: list[list[Point]],
    key_lines: dict[str, int],
    problems: list[Problem],
) -> set[str]:
    """Add the zip axis; return its keys that are also plain matrix keys."""
    zipped = raw["zip"]
    if isinstance(zipped, yaml_source.LocatedList):
        keys = {k for row in zipped for k in row}
        for i, row in enumerate(zipped):
            missing = sorted(keys - set(row))
            if missing:
                message = f"this zip row lacks {', '.join(missing)}; every row sets the same keys"
                problems.append(Problem(file, zipped.line_of(i), message, field=_zip_path(path, i)))
        axes.append([Point(dict(row), {k: row.line_of(k) for k in row}) for row in zipped])
        key_lines.update({key: zipped.line for key in keys if key not in key_lines})
        return keys & set(raw)
    lengths = {k: len(v) for k, v in zipped.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        message = f"zip lists must have the same length ({shown})"
        problems.append(Problem(file, raw.line_of("zip"), message, field=_zip_path(path)))
    else:
        columns = list(zipped.items())
        axes.append(
            [
                Point({k: v[i] for k, v in columns}, {k: v.line_of(i) for k, v in columns})
                for i in range(len(columns[0][1]))
            ]
        )
    key_lines.update({key: zipped.line_of(key) for key in zipped if key not in key_lines})
    return set(zipped) & set(raw)


def _zip_path(path: list[str | int], index: int | None = None) -> str:
    return field_path([*path, "zip"] + ([] if index is None else [index]))
