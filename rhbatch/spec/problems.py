"""Collecting problems across a whole spec, grouping the ones many jobs share.

A bad value in ``defaults`` makes every expanded job invalid in the same way;
100,000 identical lines help nobody. ``Findings`` keys each problem by file,
line, field and message and remembers the first job it hit and how many did.
"""

from __future__ import annotations

from dataclasses import dataclass

from rhbatch.errors import Problem


@dataclass(slots=True)
class _Group:
    problem: Problem
    count: int


class Findings:
    """Problems in the order found, with identical ones merged."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, int | None, str | None, str], _Group] = {}

    def add(
        self,
        file: str,
        line: int | None,
        message: str,
        *,
        where: str | None = None,
        field: str | None = None,
        column: int | None = None,
    ) -> None:
        key = (file, line, field, message)
        group = self._groups.get(key)
        if group is None:
            problem = Problem(file, line, message, column=column, where=where, field=field)
            self._groups[key] = _Group(problem, 1)
        else:
            group.count += 1

    def extend(self, problems: list[Problem]) -> None:
        for p in problems:
            self.add(p.file, p.line, p.message, where=p.where, field=p.field, column=p.column)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def problems(self) -> list[Problem]:
        """One problem per group, by file (in order of appearance) and line;
        ``where`` says how many jobs share it."""
        files: dict[str, int] = {}
        for file, *_ in self._groups:
            files.setdefault(file, len(files))
        groups = sorted(
            self._groups.values(), key=lambda g: (files[g.problem.file], g.problem.line or 0)
        )
        out = []
        for group in groups:
            p = group.problem
            if group.count > 1 and p.where:
                where = f"{p.where} and {group.count - 1:,} more"
                p = Problem(p.file, p.line, p.message, p.column, where, p.field)
            out.append(p)
        return out
