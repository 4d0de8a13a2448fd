"""The records rhbatch passes around: spec entries, matrix axes and expanded jobs.

An ``Entry`` is a job as written (a ``jobs`` item, a ``jobs_from`` row, or the
defaults alone); expansion turns each entry into ``Job`` records, one per
matrix combination and copy. A job keeps references to the entry and matrix
points it came from, so that a problem can be traced back to its line without
storing a line table per job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Point:
    """One position on a matrix axis: the keys it sets, their values and lines."""

    values: Mapping[str, Any]
    lines: Mapping[str, int]


@dataclass(slots=True)
class Matrix:
    """Axes whose cartesian product makes the jobs; a zip is one axis of several keys."""

    axes: list[list[Point]]
    key_lines: dict[str, int]

    @property
    def keys(self) -> set[str]:
        return set(self.key_lines)

    @property
    def size(self) -> int:
        total = 1
        for axis in self.axes:
            total *= len(axis)
        return total


@dataclass(slots=True)
class Entry:
    """A job as written: one item of ``jobs``, one row of a ``jobs_from`` file, or the defaults."""

    file: str
    line: int
    where: str
    params: Mapping[str, Any]
    key_lines: Mapping[str, int]
    endpoint: str | None = None
    id: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    repeat: int | None = None
    matrix: Matrix | None = None
    row: bool = False  # columns that are not parameters are variables
    text: bool = False  # values are CSV text, converted by the parameter's type

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


@dataclass(slots=True)
class Job:
    """One request to send: its stable id, endpoint path and body."""

    index: int  # 0-based position in the expanded spec
    id: str
    endpoint: str
    params: dict[str, Any]
    copy: int  # 1-based copy number (repeat)
    entry: Entry
    combo: tuple[Point, ...]
    variables: dict[str, Any]
    broken: bool = False  # a problem was found while expanding it (already reported)

    @property
    def label(self) -> str:
        return f"job {self.index + 1} (id {self.id})"
