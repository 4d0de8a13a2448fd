"""What several commands share: printing problems and lists, plural words, a job's variables."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rhbatch.errors import Problem

if TYPE_CHECKING:
    from rhbatch.endpoints.registry import Registry
    from rhbatch.models import Job

MAX_PROBLEMS = 200
T = TypeVar("T")


def print_problems(problems: Sequence[Problem], limit: int = MAX_PROBLEMS) -> None:
    """Every problem on its own line on stderr, location first (editors can jump to it)."""
    shown = problems if limit <= 0 else problems[:limit]
    for problem in shown:
        print(problem.render(), file=sys.stderr)
    if len(problems) > len(shown):
        print(
            f"... and {len(problems) - len(shown)} more problems (--max-problems 0 shows all)",
            file=sys.stderr,
        )


def print_first(
    items: Sequence[T], line: Callable[[T], str], most: int, more: str | None = None
) -> None:
    """The ``line`` of each of the first ``most`` items on stderr, indented; then, given
    ``more`` (where the rest are told), how many items were left out."""
    for item in items[:most]:
        print(f"  {line(item)}", file=sys.stderr)
    if more is not None and len(items) > most:
        print(f"  ... and {len(items) - most:,} more{more}", file=sys.stderr)


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def job_vars(job: Job, reg: Registry) -> dict[str, Any]:
    """The variables a job was made with that are not parameters of its endpoint (the
    manifest's ``vars``): its entry's ``vars``, the columns of its row (``jobs_from``)
    and its matrix values, the later winning. The spec's own ``vars`` are the same for
    every job and left out."""
    schema = reg.schema(job.endpoint)
    found: dict[str, Any] = dict(job.entry.vars)
    if job.entry.row:
        found.update(job.entry.params)
    for point in job.combo:
        found.update(point.values)
    return {k: v for k, v in found.items() if k not in job.params and not schema.knows(k)}
