"""Every relative link of README.md and docs/*.md leads somewhere: to a file of the
repository, and, with a ``#anchor``, to a heading of that file (GitHub's slugs). A file
of the repository named in a code span (`run/lost.py`, `docs/spec.md`) exists too."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.helpers import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# Where a file of the checkout is found in the installed wheel (pyproject.toml's
# force-include): the docs may name either.
IN_THE_WHEEL = {"rhbatch/_schemas/": "schemas/"}

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
# [text](target "title") and ![alt](target); the text may hold brackets one level deep
# and run over lines.
_INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)", re.M)
_HTML = re.compile(r"""<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# A code span that names a file: a path of word characters ending in an extension.
_CITED = re.compile(r"^[\w.-]+(?:/[\w.\[\]-]+)*\.(?:py|md|json|ya?ml|toml|txt|png|html)$")


def prose(text: str) -> str:
    """The page with its fenced code blocks blanked (lines kept, so offsets still give
    line numbers)."""
    out, fence = [], ""
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            out.append("")
            continue
        if opened:
            fence = opened.group(1)
            out.append("")
            continue
        out.append(line)
    return "\n".join(out)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def spans(text: str) -> list[tuple[int, str]]:
    """The code spans of a page's prose, with their lines."""
    body = prose(text)
    return [(_line(body, m.start()), m.group(2).strip()) for m in _CODE_SPAN.finditer(body)]


def links(page: Path) -> list[tuple[int, str]]:
    """Every link target of the page with its line: inline, reference and HTML links
    (none inside code)."""
    body = prose(page.read_text(encoding="utf-8"))
    bare = _CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), body)
    found = [(m.start(1), m.group(1)) for m in _INLINE.finditer(bare)]
    found += [(m.start(1), m.group(1)) for m in _REFERENCE.finditer(bare)]
    found += [(m.start(1), m.group(1)) for m in _HTML.finditer(bare)]
    return [(_line(bare, at), t.strip("<>")) for at, t in sorted(found) if t]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading's text: markup and punctuation dropped, lower case,
    spaces made hyphens (letters, digits, ``-`` and ``_`` kept, in any script)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.strip().lower()
    kept = "".join(
        ch
        for ch in text
        if ch in " -_" or unicodedata.category(ch)[0] in "LNM"  # letters, numbers, marks
    )
    return kept.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    """The anchors of a page: its headings' slugs (a repeated one numbered -1, -2 ...), and
    the names and ids of its HTML anchors."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in prose(page.read_text(encoding="utf-8")).split("\n"):
        heading = re.match(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+\s*)?$", line)
        if heading:
            base = slug(heading.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
        out.update(re.findall(r"""<a\s[^>]*?(?:name|id)\s*=\s*["']([^"']+)["']""", line))
    return frozenset(out)


def dead(page: Path, target: str, root: Path = ROOT) -> str | None:
    """Why a link of ``page`` leads nowhere (outside ``root`` counts as nowhere), or None."""
    if _SCHEME.match(target) or target.startswith("//"):
        return None  # another site: not checked here
    path, _, anchor = target.partition("#")
    path = unquote(path.split("?", 1)[0])
    dest = (page.parent / path).resolve() if path else page
    if not dest.exists():
        return f"{path}: no such file"
    if not dest.is_relative_to(root.resolve()):
        return f"{path}: outside the repository"
    if anchor and dest.suffix == ".md" and unquote(anchor).lower() not in anchors(dest):
        return f"#{anchor}: no such heading in {dest.relative_to(root.resolve())}"
    return None


def missing_citation(page: Path, cited: str, root: Path = ROOT) -> str | None:
    """Why a file named in a code span of ``page`` is not in the repository, or None.
    Checked: a Markdown file, and a path that starts with a folder of the repository or
    of its package (``docs/``, ``rhbatch/``, ``run/``); others (``emu.yaml``,
    ``.vscode/settings.json``) are the reader's own files."""
    if not _CITED.match(cited):
        return None
    for wheel, checkout in IN_THE_WHEEL.items():
        if cited.startswith(wheel):
            cited = checkout + cited[len(wheel) :]
    first = cited.split("/", 1)[0]
    package = root / "rhbatch"
    ours = "/" in cited and ((root / first).is_dir() or (package / first).is_dir())
    if not (ours or cited.endswith(".md")):
        return None
    places = (page.parent, root, package)
    if any((place / cited).exists() for place in places):
        return None
    return f"{cited}: no such file in the repository"


def test_the_slugs_are_githubs() -> None:
    assert slug("What rhbatch guarantees") == "what-rhbatch-guarantees"
    assert slug("Shards: one spec, several workers") == "shards-one-spec-several-workers"
    assert slug("`rhbatch merge` and *report.html*") == "rhbatch-merge-and-reporthtml"
    assert slug("Object storage: `--out s3://...`") == "object-storage---out-s3"
    assert slug("The [emulator](docs/emulator.md) 中文 标题") == "the-emulator-中文-标题"


def test_a_dead_link_is_found(tmp_path: Path) -> None:
    """The checker itself: a missing file, a missing heading, a link over two lines, a
    link in code left alone, a cited file that is not there."""
    page = tmp_path / "page.md"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lost.py").write_text("")
    page.write_text(
        "# Top\n\n## Twice\n\n## Twice\n\n[a](page.md#twice-1) [b](gone.md) [c](#nowhere)\n"
        "`[d](gone.md)` [e](https://example.com/x) [f over\ntwo lines](#top)\n\n```\n"
        "[g](gone.md)\n```\n\n`run/lost.py` `rhbatch/lost.py` `api.md` `emu.yaml`\n",
        encoding="utf-8",
    )
    found = links(page)
    assert found == [
        (7, "page.md#twice-1"),
        (7, "gone.md"),
        (7, "#nowhere"),
        (8, "https://example.com/x"),
        (9, "#top"),
    ]
    problems = [dead(page, t, tmp_path) for _, t in found]
    assert problems == [
        None,
        "gone.md: no such file",
        "#nowhere: no such heading in page.md",
        None,
        None,
    ]
    (tmp_path / "rhbatch").mkdir()
    cited = {c: missing_citation(page, c, tmp_path) for _, c in spans(page.read_text())}
    assert cited == {
        "[d](gone.md)": None,
        "run/lost.py": None,
        "rhbatch/lost.py": "rhbatch/lost.py: no such file in the repository",
        "api.md": "api.md: no such file in the repository",
        "emu.yaml": None,
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    broken = [
        f"{page.relative_to(ROOT)}:{line}: {target} ({why})"
        for line, target in links(page)
        if (why := dead(page, target)) is not None
    ]
    broken += [
        f"{page.relative_to(ROOT)}:{line}: `{cited}` ({why})"
        for line, cited in spans(page.read_text(encoding="utf-8"))
        if (why := missing_citation(page, cited)) is not None
    ]
    assert broken == []
