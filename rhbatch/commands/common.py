"""What several commands share: printing problems and lists, plural words."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

from rhbatch.errors import Problem

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
