"""YAML with positions: the only module that uses PyYAML.

``load(text, file)`` returns plain data in which every mapping is a ``Located``
dict and every sequence a ``LocatedList``; both know the line (1-based) of
themselves and of each key or item, so that a problem deep in a spec can name
its line. Duplicate keys are errors (YAML allows the last one to win silently,
which hides typos), and syntax errors become a ``Problem`` with line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from rhbatch.errors import InvalidInput, Problem

# libyaml's parser when present; construction stays in Python either way.
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


class _Loader(_BaseLoader):  # type: ignore[misc]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Iterator[Located]:
    out = Located(node.start_mark.line + 1)
    yield out
    own = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # merged (<<) pairs come first; own keys may override them
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)  # YAML allows 1: or true: as keys; specs only use strings
        if id(key_node) in own:
            if key in seen:
                raise _DuplicateKey(key, line, out.key_lines[key])
            seen.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Iterator[LocatedList]:
    out = LocatedList(node.start_mark.line + 1)
    yield out
    for child in node.value:
        out.append(loader.construct_object(child, deep=True))
        out.item_lines.append(child.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
# Timestamps would turn "2024-01-01" into a date object the API cannot take.
_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def load(text: str, file: str) -> Any:
    """Parse one YAML document, keeping positions; raise InvalidInput on bad YAML."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader
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
        problem = Problem(
            file,
            mark.line + 1 if mark else None,
            f"YAML syntax error: {what}",
            column=mark.column + 1 if mark else None,
        )
        raise InvalidInput([problem]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(file, None, f"YAML error: {exc}")]) from None
