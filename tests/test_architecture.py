"""docs/architecture.md names every module of rhbatch, and only modules that exist.

The layout block of the page (the first fenced block after "## Layout") is read
as a tree: a line ``  name/`` opens a package, a line ``    file.py  what it
owns`` names a module in the package above it by its indentation. A package's
``__init__.py`` needs no line; the root's has one.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
ENTRY = re.compile(r"^(?P<indent> *)(?P<name>[\w.]+/?)(?:\s+(?P<what>.*))?$")


def named_on_the_page() -> dict[str, str]:
    """Each module the layout names (its path under the repository) and what it owns."""
    text = PAGE.read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    named: dict[str, str] = {}
    parents: list[tuple[int, str]] = []  # (indent, path) of the open packages
    for line in block.splitlines():
        found = ENTRY.match(line)
        if found is None:
            continue
        indent, name = len(found["indent"]), found["name"]
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = "/".join([p for _, p in parents] + [name.rstrip("/")])
        if name.endswith("/"):
            parents.append((indent, name.rstrip("/")))
        elif name.endswith(".py"):
            named[path] = (found["what"] or "").strip()
    return named


def modules() -> set[str]:
    found = set()
    for path in (ROOT / "rhbatch").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and path.parent != ROOT / "rhbatch":
            continue
        found.add(rel)
    return found


def test_the_page_names_every_module() -> None:
    missing = sorted(modules() - set(named_on_the_page()))
    assert not missing, f"docs/architecture.md does not name: {', '.join(missing)}"


def test_the_page_names_only_modules_that_exist() -> None:
    gone = sorted(set(named_on_the_page()) - modules())
    assert not gone, f"docs/architecture.md names modules that do not exist: {', '.join(gone)}"


def test_each_named_module_says_what_it_owns() -> None:
    silent = sorted(path for path, what in named_on_the_page().items() if not what)
    assert not silent, f"docs/architecture.md names these without saying what they own: {silent}"


def test_the_reader_of_the_page_sees_nested_packages() -> None:
    named = named_on_the_page()
    assert "rhbatch/cli.py" in named
    assert "rhbatch/runner/loop.py" in named
    assert "rhbatch/emulator/server.py" in named
