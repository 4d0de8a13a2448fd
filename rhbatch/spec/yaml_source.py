"""YAML with positions: the only module that uses PyYAML.

``load(text, file)`` returns plain data in which every mapping is a ``Located``
dict and every sequence a ``LocatedList``; both know the line (1-based) of
themselves and of each key or item, so that a problem deep in a spec can name
its line. Duplicate keys are errors (YAML allows the last one to win silently,
which hides typos), and syntax errors become a ``Problem`` with line and column.

Work stays bounded: nesting deeper than ``MAX_DEPTH`` is refused while the
document is built, and a document that uses aliases (``*name``) is refused if
they make it stand for more than ``MAX_VALUES`` values (the "billion laughs").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from rhbatch.errors import InvalidInput, Problem
from rhbatch.readers import MAX_DEPTH  # mappings and lists inside each other

# libyaml's parser when present; construction stays in Python either way.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_VALUES = 10_000_000  # values a document stands for, counting each alias in full


class Located(dict[str, Any]):
    """A mapping that remembers its own line and the line of each key."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list[Any]):
    """A sequence that remembers its own line and the line of each item."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int, first: int) -> None:
        self.key, self.line, self.first = key, line, first


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Loader(_BaseLoader):  # type: ignore[misc]
    depth = 0
    aliases = False  # set when a node is used twice: its size must be counted

    def child(self, node: yaml.Node) -> Any:
        if node in self.constructed_objects:
            self.aliases = True
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(node.start_mark.line + 1)
            return self.construct_object(node, deep=True)
        finally:
            self.depth -= 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[Located]:
    out = Located(node.start_mark.line + 1)
    yield out
    own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # merged (<<) pairs come first; own keys may override them
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = loader.child(key_node)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)  # YAML allows 1: or true: as keys; specs only use strings
        if id(key_node) in own:
            if key in seen:
                raise _DuplicateKey(key, line, out.key_lines[key])
            seen.add(key)
        out[key] = loader.child(value_node)
        out.key_lines[key] = line


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[LocatedList]:
    out = LocatedList(node.start_mark.line + 1)
    yield out
    for child in node.value:
        out.append(loader.child(child))
        out.item_lines.append(child.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
# Timestamps would turn "2024-01-01" into a date object the API cannot take.
_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def dump(data: Any) -> str:
    """``data`` (plain mappings, lists and scalars) as YAML text, keys in their order."""
    text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    return text


def load(text: str, file: str) -> Any:
    """Parse one YAML document, keeping positions; raise InvalidInput on bad YAML."""
    loader = _Loader(text)  # derives from SafeLoader
    try:
        data = loader.get_single_data()
    except _TooDeep as exc:
        message = f"nested more than {MAX_DEPTH} levels deep; a spec needs far fewer"
        raise InvalidInput([Problem(file, exc.line, message)]) from None
    except RecursionError:
        raise InvalidInput([Problem(file, None, "nested too deeply")]) from None
    except _DuplicateKey as exc:
        problem = Problem(
            file,
            exc.line,
            f"duplicate key {exc.key!r} (first defined on line {exc.first}); "
            "YAML would silently keep only the last one",
        )
        raise InvalidInput([problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            what = f"{exc.problem} ({exc.context})"
        if "recursive node" in what:
            what = "an alias (*name) inside its own anchor (&name) makes the value endless"
        problem = Problem(
            file,
            mark.line + 1 if mark else None,
            f"YAML syntax error: {what}",
            column=mark.column + 1 if mark else None,
        )
        raise InvalidInput([problem]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(file, None, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if loader.aliases:
        _check_size(data, file)
    return data


def _check_size(data: Any, file: str) -> None:
    """Refuse a document whose aliases make it stand for more than MAX_VALUES values.

    Each distinct mapping or list is visited once (aliases share them), so this
    costs as much as the text, however much the aliases multiply it.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, done = stack.pop()
        children = list(node.values()) if isinstance(node, dict) else node
        if not done:
            if id(node) not in sizes:
                stack.append((node, True))
                stack.extend((c, False) for c in children if isinstance(c, (dict, list)))
            continue
        total = 1 + sum(sizes[id(c)] if isinstance(c, (dict, list)) else 1 for c in children)
        sizes[id(node)] = total
        if total > MAX_VALUES:
            message = (
                f"through its aliases (*name) this YAML stands for more than {MAX_VALUES:,} "
                "values; write the values out, or use a matrix"
            )
            raise InvalidInput([Problem(file, getattr(node, "line", None), message)])
