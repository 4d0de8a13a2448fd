"""Plain-text tables for the terminal: aligned columns, wrapped or truncated cells."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence


def terminal_width(default: int = 120) -> int:
    return max(60, shutil.get_terminal_size((default, 24)).columns)


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    wrap: Sequence[int] = (),
    width: int | None = None,
    right: Sequence[int] = (),
) -> str:
    """Columns sized to their content; the last column (or those in ``wrap``) gives way
    when the table is wider than ``width``: wrapped columns wrap, the last truncates."""
    width = width or terminal_width()
    cols = len(headers)
    cells = [[str(c) for c in row] for row in rows]
    sizes = [max([len(headers[i])] + [_longest(r[i]) for r in cells]) for i in range(cols)]
    gap = 2
    total = sum(sizes) + gap * (cols - 1)
    flexible = list(wrap) or [cols - 1]
    while total > width and flexible:
        i = max(flexible, key=lambda k: sizes[k])
        room = max(12, sizes[i] - (total - width))
        total -= sizes[i] - room
        sizes[i] = room
        flexible.remove(i)
    lines = [_line(list(headers), sizes, right), _line(["-" * s for s in sizes], sizes, right)]
    for row in cells:
        parts = []
        for i, cell in enumerate(row):
            if i in wrap:
                parts.append(_wrap(cell, sizes[i]))
            else:
                parts.append([shorten(cell, sizes[i])])
        height = max(len(p) for p in parts)
        for k in range(height):
            lines.append(_line([p[k] if k < len(p) else "" for p in parts], sizes, right))
    return "\n".join(lines)


def _wrap(cell: str, size: int) -> list[str]:
    out: list[str] = []
    for para in cell.split("\n"):
        out.extend(textwrap.wrap(para, size, break_on_hyphens=False) or [""])
    return out


def _longest(cell: str) -> int:
    return max((len(part) for part in cell.split("\n")), default=0)


def _line(values: list[str], sizes: list[int], right: Sequence[int]) -> str:
    out = [v.rjust(sizes[i]) if i in right else v.ljust(sizes[i]) for i, v in enumerate(values)]
    return "  ".join(out).rstrip()
