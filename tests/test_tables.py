"""Tables for the terminal: columns line up around Chinese text (a wide character takes
two columns), cells wrap at spaces and never inside a word; `rhbatch endpoints` shows
each endpoint's price by the public list, and `rhbatch schema` lines up around Chinese
defaults."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from rhbatch.commands.table import cell_width, cut, pad, render, wrap
from rhbatch.endpoints.pricing import Quoter
from rhbatch.endpoints.registry import registry
from tests.helpers import Result

Cli = Callable[..., Result]
# Fullwidth punctuation written as escapes (ruff's RUF001 takes it for a look-alike).
COMMA, SEMICOLON, OPEN, CLOSE = "\uff0c", "\uff1b", "\uff08", "\uff09"
DESCRIPTION = f"输入视频 URL{OPEN}3-60s{COMMA}>15s 将被截断为前 15s{SEMICOLON}建议 H.264{CLOSE}"


def starts(line: str, cells: list[str]) -> list[int]:
    """The display column where each of ``cells`` starts in ``line`` (found in order)."""
    at, out = 0, []
    for cell in cells:
        found = line.index(cell, at)
        out.append(cell_width(line[:found]))
        at = found + len(cell)
    return out


def test_display_width_counts_wide_characters_twice() -> None:
    assert cell_width("abc") == 3
    assert cell_width("视频") == 4
    assert cell_width("\uff46\uff55\uff4c\uff4c") == 8  # "full" in fullwidth forms
    assert cell_width("e\u0301") == 1  # a combining accent takes no column
    assert pad("视频", 6) == "视频  "
    assert pad("视频", 6, right=True) == "  视频"
    assert cut("视频分辨率", 7) == "视频分…"
    assert cell_width(cut("视频分辨率", 6)) <= 6


def test_wrapping_breaks_at_spaces_and_between_wide_characters_only() -> None:
    text = "a reference clip of the scene, then happyhorse-1.0/image-to-video"
    lines = wrap(text, 30)
    assert lines == ["a reference clip of the scene,", "then", "happyhorse-1.0/image-to-video"]
    lines = wrap(text.replace("happyhorse-1.0/", ""), 16)
    assert lines == ["a reference clip", "of the scene,", "then", "image-to-video"]
    # Chinese breaks between characters; a closing mark stays with what it follows.
    chinese = wrap(DESCRIPTION, 12)
    assert all(cell_width(line) <= 12 for line in chinese)
    assert "".join(chinese).replace(" ", "") == DESCRIPTION.replace(" ", "")
    assert not any(line.startswith((COMMA, SEMICOLON, CLOSE)) for line in chinese)
    assert all(w in DESCRIPTION for line in chinese for w in re.findall(r"[A-Za-z0-9.]+", line))
    # A word wider than the column is cut, never carried over to the next line.
    assert wrap("x happyhorse-1.0/image-to-video y", 12) == ["x", "happyhorse-…", "y"]


def columns(line: str, start: int, end: int | None = None) -> str:
    """What ``line`` shows from display column ``start`` up to ``end``."""
    out, at = [], 0
    for ch in line:
        if at >= start and (end is None or at < end):
            out.append(ch)
        at += cell_width(ch)
    return "".join(out).strip()


def test_columns_line_up_around_a_chinese_description() -> None:
    rows = [
        ("videoUrl", DESCRIPTION, "video"),
        ("prompt", "编辑或生成指令", "string"),
        ("seed", "a plain English description of the seed", "integer"),
    ]
    table = render(("NAME", "DESCRIPTION", "TYPE"), rows, wrap=(1,), width=50)
    lines = table.splitlines()
    assert all(cell_width(line) <= 50 for line in lines)
    head = starts(lines[0], ["NAME", "DESCRIPTION", "TYPE"])
    types = [columns(line, head[2]) for line in lines[2:]]
    assert [t for t in types if t] == ["video", "string", "integer"]
    for line, kind in zip(lines[2:], types, strict=True):
        if kind:  # each TYPE starts under its header, whatever the Chinese before it
            assert starts(line, [line.split()[0], kind])[1] == head[2], table
    described = [columns(line, head[1], head[2]) for line in lines[2:]]
    assert "".join(described).replace(" ", "").startswith(DESCRIPTION.replace(" ", ""))
    first = next(i for i, d in enumerate(described) if d.startswith("a plain"))
    english = " ".join(described[first:])
    assert english == "a plain English description of the seed"  # whole words, in order


def test_endpoints_show_the_price_of_a_default_job(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fixed price is one job's at the defaults; a rate that depends on parameters
    "varies"; an endpoint the list cannot price "-". Titles are never cut mid-word."""
    monkeypatch.setenv("COLUMNS", "110")
    quoter = Quoter(registry())
    fixed = "alibaba/qwen-image-2.0/text-to-image"
    per_resolution = "rhart-video/sparkvideo-2.0/multimodal-video"
    assert quoter.listed(fixed) == pytest.approx(0.13)
    assert quoter.listed(per_resolution) == "varies"
    unpriced = next(e for e in registry().endpoints if quoter.listed(e) is None)

    result = cli("endpoints")
    assert result.code == 0
    lines = result.out.splitlines()
    rows = {line.split()[0]: line for line in lines[2:] if line and not line[0].isspace()}
    assert rows[fixed].split()[3] == "0.13"
    assert rows[per_resolution].split()[3] == "varies"
    assert rows[unpriced].split()[3] == "-"
    head = lines[0]
    price_end = cell_width(head[: head.index("PRICE CNY") + len("PRICE CNY")])
    for endpoint in (fixed, per_resolution, unpriced):  # right-aligned under the header
        cells = rows[endpoint].split()[:4]
        assert starts(rows[endpoint], cells)[3] + len(cells[3]) == price_end
    assert result.out.rstrip().endswith(f"299 endpoints (registry {registry().version})")
    assert all(cell_width(line) <= 110 for line in lines[:-3])  # the table

    titles = {info.title for info in registry().endpoints.values()}
    title_at = cell_width(head[: head.index("TITLE")])
    for line in lines[2:]:
        shown = line[title_at:].strip() if cell_width(line) > title_at else ""
        if not shown:
            continue
        # a whole title, a cut one ending in "…", or a title's words wrapped at its spaces
        assert (
            shown in titles
            or shown.endswith("…")
            or any(re.search(rf"(^| ){re.escape(shown)}( |$)", t) for t in titles)
        ), line
        if shown.endswith("…"):
            assert any(t.startswith(shown[:-1]) for t in titles), line

    listed = {e["endpoint"]: e for e in json.loads(cli("endpoints", "--json").out)}
    assert (listed[fixed]["price"], listed[fixed]["priceVaries"]) == (0.13, False)
    assert (listed[per_resolution]["price"], listed[per_resolution]["priceVaries"]) == (None, True)
    assert (listed[unpriced]["price"], listed[unpriced]["priceVaries"]) == (None, False)


def test_schema_lines_up_around_chinese_defaults(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Chinese default takes two columns a character: the ALLOWED column still starts
    at the same place on every line, and the default is cut to its 24 columns."""
    monkeypatch.setenv("COLUMNS", "100")
    result = cli("schema", "alibaba/happyhorse-1.0/video-edit")
    assert result.code == 0
    lines = result.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("PARAMETER"))
    allowed = cell_width(lines[at][: lines[at].index("ALLOWED")])
    rows = {line.split()[0]: line for line in lines[at + 2 :] if line[:1].isalpha()}
    prompt = rows["prompt"]
    assert "将图片中的元素添加到视" in prompt
    assert starts(prompt, ["up to 2,500 characters"]) == [allowed]
    assert starts(rows["resolution"], ['"720p", "1080p"']) == [allowed]
    default = prompt[prompt.index('"将') :].split("  ")[0]
    assert cell_width(default) <= 24
