"""The house rules of rhbatch's layout, held by reading the source.

Every module under ``rhbatch/`` is parsed (never imported) and its imports
collected: at module level and inside functions, with ``from rhbatch.x import
y`` read as an import of the module ``rhbatch.x.y`` when ``y`` is one. Imports
under ``if TYPE_CHECKING:`` are left out: they never run. Imports made by name
at run time (``importlib.import_module``) are not seen; the subprocess check
at the end holds what ``import rhbatch.cli`` really loads.

The rules, one test each: nothing imports the CLI; the runtime never imports
the emulator; each heavy library has named users; stages import one way
(``ORDER``); the package root imports nothing; no import cycles.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rhbatch"

# The stages from the top down: a module may import its own stage's package (the same
# entry) and any stage below its own, never one above, nor a peer in its own row.
# "__init__" is the package root (rhbatch/__init__.py), which anything may import.
ORDER: tuple[tuple[str, ...], ...] = (
    ("__main__", "library"),
    ("runs",),
    ("cli",),
    ("commands",),
    ("runner",),
    ("spec",),
    ("store",),
    ("api", "endpoints"),
    ("models", "logfile", "readers"),
    ("errors", "redact"),
    ("version",),
    ("__init__",),
)
RANK = {unit: depth for depth, row in enumerate(ORDER) for unit in row}

# The emulator stands beside the stages: it may use these, and nothing else of rhbatch.
EMULATOR_MAY_IMPORT = frozenset({"endpoints", "models", "errors", "redact", "version", "__init__"})
# Outside the emulator, only these load it, and only inside a function (on demand).
EMULATOR_LOADERS = frozenset({"rhbatch.commands.emulator", "rhbatch.commands.connection"})

# Each heavy library and the only modules (or packages) that may import it.
LIBRARY_USERS: dict[str, tuple[str, ...]] = {
    "aiohttp": ("rhbatch.api", "rhbatch.emulator"),
    "sqlite3": ("rhbatch.store.db", "rhbatch.store.seen"),
    "tqdm": ("rhbatch.runner.progress",),
    "jsonschema": ("rhbatch.endpoints", "rhbatch.spec"),
    "yaml": ("rhbatch.spec.yaml_source", "rhbatch.emulator.config"),
    "fsspec": ("rhbatch.store.remote",),
    "pyarrow": ("rhbatch.store.dataset", "rhbatch.commands.export"),
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, as the importing module sees it."""

    importer: str  # rhbatch.runner.loop
    target: str  # rhbatch.store.state, or a library's top-level name: aiohttp
    line: int
    in_function: bool

    @property
    def where(self) -> str:
        return f"{path_of(self.importer)}:{self.line}"

    def __str__(self) -> str:
        scope = " (inside a function)" if self.in_function else ""
        return f"{self.where} imports {self.target}{scope}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def path_of(module: str) -> str:
    base = ROOT.joinpath(*module.split("."))
    if (base / "__init__.py").exists():
        return (base / "__init__.py").relative_to(ROOT).as_posix()
    return base.with_suffix(".py").relative_to(ROOT).as_posix()


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class Collector(ast.NodeVisitor):
    """The imports of one module, skipping ``if TYPE_CHECKING:`` bodies unless
    ``type_checking`` (then it reads what the type checker reads)."""

    def __init__(self, module: str, is_package: bool, *, type_checking: bool = False) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.type_checking = type_checking
        self.depth = 0  # how many functions deep we are
        self.found: list[Import] = []

    def add(self, target: str, node: ast.stmt) -> None:
        self.found.append(Import(self.module, target, node.lineno, self.depth > 0))

    def visit_If(self, node: ast.If) -> None:
        if is_type_checking(node.test) and not self.type_checking:
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(external_or_internal(alias.name), node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, node.module] if node.module else base)
        else:
            source = node.module or ""
        if source == "__future__":
            return
        if source.split(".")[0] != "rhbatch":
            self.add(source.split(".")[0], node)
            return
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            self.add(sub if sub in MODULES else source, node)


def external_or_internal(name: str) -> str:
    """An internal module by its full name; a library by its top-level name."""
    return name if name.split(".")[0] == "rhbatch" else name.split(".")[0]


def collect(*, type_checking: bool = False) -> list[Import]:
    found: list[Import] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        collector = Collector(module, path.name == "__init__.py", type_checking=type_checking)
        collector.visit(tree)
        found.extend(collector.found)
    return found


IMPORTS = collect()


def internal(imports: list[Import] = IMPORTS) -> Iterator[Import]:
    return (i for i in imports if i.target.split(".")[0] == "rhbatch")


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def unit_of(module: str) -> str:
    """The stage entry a module belongs to: rhbatch.runner.loop -> run, rhbatch -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def offenders(title: str, found: list[str]) -> str:
    return f"{title} ({len(found)}):\n  " + "\n  ".join(found)


def test_the_reader_sees_what_runs() -> None:
    """Module and function imports count, `from pkg import mod` is mod, TYPE_CHECKING is not."""
    source = """
from typing import TYPE_CHECKING
import aiohttp.web
from rhbatch.emulator import replies, STATE_THAT_IS_NO_MODULE
from . import tasks
from ..errors import Problem
if TYPE_CHECKING:
    from rhbatch.emulator.server import Emulator
else:
    import yaml
def later():
    from rhbatch import cli
"""
    collector = Collector("rhbatch.emulator.api", is_package=False)
    collector.visit(ast.parse(source))
    assert [(i.target, i.line, i.in_function) for i in collector.found] == [
        ("typing", 2, False),
        ("aiohttp", 3, False),
        ("rhbatch.emulator.replies", 4, False),
        ("rhbatch.emulator", 4, False),
        ("rhbatch.emulator.tasks", 5, False),
        ("rhbatch.errors", 6, False),
        ("yaml", 10, False),
        ("rhbatch.cli", 12, True),
    ]


def test_every_stage_is_in_the_table() -> None:
    """Each package and top module of rhbatch has a row in ORDER (the emulator stands aside)."""
    units = {unit_of(m) for m in MODULES}
    assert units - set(RANK) == {"emulator"}
    assert set(RANK) - units == set()


def test_nothing_imports_the_cli() -> None:
    """Only `python -m rhbatch` imports rhbatch.cli; the CLI sits on top of everything."""
    bad = [
        str(i) for i in internal() if i.target == "rhbatch.cli" and i.importer != "rhbatch.__main__"
    ]
    assert not bad, offenders("modules that import rhbatch.cli", bad)


def test_the_runtime_never_imports_the_emulator() -> None:
    """Outside the emulator, only its command and `run --emulator` load it, inside a function."""
    bad: list[str] = []
    for i in internal():
        if not within(i.target, "rhbatch.emulator") or within(i.importer, "rhbatch.emulator"):
            continue
        if i.importer not in EMULATOR_LOADERS:
            bad.append(str(i))
        elif not i.in_function:
            bad.append(f"{i} at module level: load it inside the function that needs it")
    assert not bad, offenders("runtime imports of rhbatch.emulator", bad)


@pytest.mark.parametrize("library", sorted(LIBRARY_USERS))
def test_each_library_has_named_users(library: str) -> None:
    """A heavy library is imported only by the modules named for it."""
    users = LIBRARY_USERS[library]
    bad = [
        str(i)
        for i in IMPORTS
        if i.target == library and not any(within(i.importer, u) for u in users)
    ]
    allowed = ", ".join(users)
    assert not bad, offenders(f"imports of {library} outside {allowed}", bad)


def stage_problem(i: Import) -> str | None:
    """Why an import breaks the one-way order of stages, or None if it does not."""
    here, there = unit_of(i.importer), unit_of(i.target)
    if here == there or there == "__init__":
        return None
    for unit in (here, there):
        if unit not in RANK and unit != "emulator":
            return f"{unit} has no place in ORDER: give it one"
    if here == "emulator":
        return None if there in EMULATOR_MAY_IMPORT else "the emulator may not use it"
    if there == "emulator":
        return None  # who may load the emulator is the emulator rule's business
    if RANK[there] < RANK[here]:
        return f"{there} is above {here}"
    if RANK[there] == RANK[here]:
        return f"{there} is a peer of {here}, not below it"
    return None


def test_stages_import_one_way() -> None:
    """A module imports its own package and stages below its own, never above or beside."""
    bad: list[str] = []
    for i in internal():
        why = stage_problem(i)
        if why is not None:
            bad.append(f"{i}: {why}")
    order = " -> ".join("(" + ", ".join(row) + ")" if len(row) > 1 else row[0] for row in ORDER)
    assert not bad, offenders(f"imports against the order {order}", bad)


# The package root names the public API and loads it on first use (module __getattr__):
# these two are all it imports, both already loaded by any Python.
ROOT_MAY_IMPORT = frozenset({"typing", "importlib"})


def test_the_package_root_imports_nothing() -> None:
    """rhbatch/__init__.py imports nothing of rhbatch nor of any library (the public API
    comes on first use), so importing any module costs no more than it."""
    bad = [str(i) for i in IMPORTS if i.importer == "rhbatch" and i.target not in ROOT_MAY_IMPORT]
    assert not bad, offenders("imports in rhbatch/__init__.py", bad)


def graph(imports: list[Import] = IMPORTS) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for i in internal(imports):
        if i.target in MODULES:
            edges[i.importer].add(i.target)
    return edges


def tangles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the package is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in edges.get(node, ()):
                groups.append(sorted(group))

    for node in sorted(set(edges).union(*edges.values())):
        if node not in index:
            visit(node)
    return sorted(groups)


def cycles(edges: dict[str, set[str]], group: list[str], limit: int = 20) -> list[list[str]]:
    """The group's elementary cycles (at most ``limit``), each once: from its first module."""
    found: list[list[str]] = []

    def walk(path: list[str], allowed: set[str]) -> None:
        for nxt in sorted(edges.get(path[-1], set()) & allowed):
            if len(found) >= limit:
                return
            if nxt == path[0]:
                found.append([*path, nxt])
            elif nxt not in path:
                walk([*path, nxt], allowed)

    for start in group:  # sorted: a cycle is found only from its first (smallest) module
        walk([start], {m for m in group if m >= start})
    return sorted(found, key=lambda c: (len(c), c))


def test_tangles_finds_cycles() -> None:
    """The cycle finder reports each tangle and each cycle in it once, and nothing in a DAG."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert tangles({"a": {"b"}, "b": set()}) == []
    assert tangles(edges) == [["a", "b", "c"], ["e"]]
    assert cycles(edges, ["a", "b", "c"]) == [["a", "b", "c", "a"]]
    assert cycles(edges, ["e"]) == [["e", "e"]]
    both_ways = {"a": {"b", "c"}, "b": {"a"}, "c": {"b"}}
    assert cycles(both_ways, ["a", "b", "c"]) == [["a", "b", "a"], ["a", "c", "b", "a"]]


def cycle_lines(edges: dict[str, set[str]]) -> list[str]:
    """Every import cycle of ``edges`` as a line ``a -> b -> a`` (at most 20 per tangle)."""
    found: list[str] = []
    for group in tangles(edges):
        some = cycles(edges, group, limit=20)
        found.extend(" -> ".join(cycle) for cycle in some)
        if len(some) == 20:
            found.append(f"... and maybe more among {', '.join(group)}")
    return found


def test_no_import_cycles() -> None:
    """No module reaches itself through imports, at module level or inside functions."""
    found = cycle_lines(graph())
    assert not found, offenders("import cycles", found)


def test_no_import_cycles_even_for_the_type_checker() -> None:
    """No cycle either when the imports under ``if TYPE_CHECKING:`` count: a module typed
    against another depends on it as much as one that imports it to run."""
    collector = Collector("rhbatch.x", is_package=False, type_checking=True)
    collector.visit(ast.parse("if TYPE_CHECKING:\n    from rhbatch.emulator import server"))
    assert [i.target for i in collector.found] == ["rhbatch.emulator.server"]
    # opened by the runner/store reshaping: the package root names the public API for the
    # type checker, from modules that themselves import the root (rhbatch.__version__).
    known: set[tuple[str, str]] = set()
    edges = graph(collect(type_checking=True))
    groups = tangles(edges)
    stale = [
        f"{a} -> {b} closes no cycle now: take it off the known list"
        for a, b in sorted(known)
        if not any(a in group and b in group for group in groups)
    ]
    for a, b in known:
        edges[a].discard(b)
    found = cycle_lines(edges) + stale
    assert not found, offenders("import cycles counting TYPE_CHECKING imports", found)


# What importing a module may not load: the CLI loads no heavy library before a command
# needs it; the run stage (the runner and what it calls) is free of the spec stack.
LIGHT: dict[str, tuple[str, ...]] = {
    "rhbatch.cli": ("aiohttp", "jsonschema", "yaml", "sqlite3"),
    "rhbatch.runner.loop": ("jsonschema", "yaml"),
}


@pytest.mark.parametrize("module", sorted(LIGHT))
def test_a_module_loads_only_what_it_needs(module: str) -> None:
    """`import rhbatch.cli` loads neither aiohttp nor jsonschema nor yaml nor sqlite3;
    `import rhbatch.runner.loop` loads neither jsonschema nor yaml."""
    heavy = list(LIGHT[module])
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    chains = loaded_by(module)
    culprits = [
        f"{i} (reached by {' -> '.join(chains[i.importer])})"
        for i in IMPORTS
        if i.target in loaded and not i.in_function and i.importer in chains
    ]
    assert loaded == [], offenders(f"import {module} loads {', '.join(loaded)}", culprits)


def loaded_by(start: str) -> dict[str, list[str]]:
    """The modules importing ``start`` runs (module-level imports and the packages of
    each), each with a shortest chain of imports from ``start`` to it."""
    top_level: dict[str, set[str]] = defaultdict(set)
    for i in internal():
        if not i.in_function:
            top_level[i.importer].add(i.target)
    chains = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for module in frontier:
            parts = module.split(".")
            packages = {".".join(parts[:n]) for n in range(1, len(parts))}  # they run first
            for nxt in sorted(top_level[module] | packages):
                if nxt in MODULES and nxt not in chains:
                    chains[nxt] = [*chains[module], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return chains
