"""What several commands share: printing problems, plural words."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rhbatch.errors import Problem

MAX_PROBLEMS = 200


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


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
