"""Plain-text tables for the terminal: aligned columns, wrapped or truncated cells.

Widths are a terminal's, not a string's length: an East Asian wide or fullwidth
character (Chinese, Japanese, Korean) takes two columns, a combining mark none
(``cell_width``), so a table of Chinese text lines up. Wrapped cells break at
spaces, and between wide characters (where CJK text may break), never inside a
word: a word wider than its column is cut with "…" rather than split over lines.
"""

from __future__ import annotations

import shutil
import unicodedata
from collections.abc import Iterator, Sequence

ELLIPSIS = "…"


def terminal_width(default: int = 120) -> int:
    return max(60, shutil.get_terminal_size((default, 24)).columns)


def char_width(ch: str) -> int:
    """The columns one character takes: 2 for East Asian wide and fullwidth ones, 0 for
    combining marks and format characters, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """The columns ``text`` takes in a terminal (one line of it)."""
    if text.isascii():
        return len(text)
    return sum(map(char_width, text))


def pad(text: str, width: int, *, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` columns (on the left when ``right``)."""
    fill = " " * max(0, width - cell_width(text))
    return fill + text if right else text + fill


def cut(text: str, width: int) -> str:
    """``text`` if it fits in ``width`` columns, else as much of it as fits with "…"."""
    if cell_width(text) <= width:
        return text
    room, used, out = max(0, width - 1), 0, []
    for ch in text:
        w = char_width(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def shorten(text: str, width: int) -> str:
    """``text`` on one line (runs of white space made one space), cut to ``width``."""
    return cut(" ".join(text.split()), max(1, width))


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken at spaces and between wide
    characters (each line of ``text`` starts a new one); a word wider than ``width`` is
    cut with "…", never split."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for joiner, unit in _units(para):
            joined = line + joiner + unit if line else unit
            if not line or cell_width(joined) <= width:
                line = joined
            else:
                lines.append(cut(line, width))
                line = unit
        lines.append(cut(line, width))
    return lines


def _units(para: str) -> Iterator[tuple[str, str]]:
    """The pieces a line may break between, each with what joins it to the one before
    ("" or " "): the words between spaces, a word cut where wide characters start or
    end, each wide character on its own (punctuation kept with what it follows)."""
    for n, word in enumerate(para.split()):
        joiner = " " if n else ""
        piece = ""
        for ch in word:
            wide = char_width(ch) == 2
            if wide and unicodedata.category(ch) in ("Po", "Pe", "Pf") and piece:
                piece += ch  # a closing mark never starts a line
                continue
            if piece and (wide or char_width(piece[-1]) == 2):
                yield joiner, piece
                joiner, piece = "", ""
            piece += ch
        if piece:
            yield joiner, piece


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
    sizes = [max([cell_width(headers[i])] + [_longest(r[i]) for r in cells]) for i in range(cols)]
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


_wrap = wrap  # ``render`` takes a parameter of that name


def _longest(cell: str) -> int:
    return max((cell_width(part) for part in cell.split("\n")), default=0)


def _line(values: list[str], sizes: list[int], right: Sequence[int]) -> str:
    out = [pad(v, sizes[i], right=i in right) for i, v in enumerate(values)]
    return "  ".join(out).rstrip()
