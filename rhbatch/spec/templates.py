"""``{name}`` placeholders in spec strings.

A string value anywhere in a job's parameters (or its id) may name variables:
``"a {animal} in the snow"``. ``{{`` and ``}}`` stand for literal braces. A
value that is exactly one placeholder (``"{refs}"``) takes the variable's value
with its type, so a list of reference images can travel through a variable.

Parsing is cached per distinct string, and strings without braces are returned
untouched, so filling 100,000 prompts costs little.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import string
from collections.abc import Mapping
from typing import Any

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_formatter = string.Formatter()


class TemplateError(ValueError):
    """A malformed template or a placeholder with no value."""


# A parsed template: literal text and placeholder names, in order; a bare
# placeholder (the whole string is "{x}") is stored as the single name "x".
Parsed = tuple[tuple[str, str | None], ...]
_cache: dict[str, Parsed] = {}


def parse(text: str) -> Parsed:
    found = _cache.get(text)
    if found is not None:
        return found
    parts: list[tuple[str, str | None]] = []
    try:
        pieces = list(_formatter.parse(text))
    except ValueError as exc:
        raise TemplateError(
            f"{exc} in {text[:60]!r}; write {{{{ and }}}} for literal braces"
        ) from None
    for literal, name, spec, conversion in pieces:
        if name is not None and (not _NAME.match(name) or spec or conversion):
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise TemplateError(
                f"invalid placeholder {shown}: use {{name}} with letters, digits and _; "
                "write {{ and }} for literal braces"
            )
        parts.append((literal, name))
    result = tuple(parts)
    if len(_cache) < 100_000:
        _cache[text] = result
    return result


def names(value: Any) -> set[str]:
    """Every placeholder name used in a value (strings, lists, mappings)."""
    out: set[str] = set()
    if isinstance(value, str):
        if "{" in value or "}" in value:
            with contextlib.suppress(TemplateError):  # reported when the value is filled
                out.update(n for _, n in parse(value) if n is not None)
    elif isinstance(value, list):
        for item in value:
            out |= names(item)
    elif isinstance(value, dict):
        for item in value.values():
            out |= names(item)
    return out


def fill(value: Any, variables: Mapping[str, Any]) -> Any:
    """The value with every placeholder replaced; raises TemplateError."""
    if isinstance(value, str):
        if "{" not in value and "}" not in value:
            return value
        parts = parse(value)
        if len(parts) == 1 and parts[0][0] == "" and parts[0][1] is not None:
            return _lookup(parts[0][1], variables)  # whole value: keep the variable's type
        out = []
        for literal, name in parts:
            out.append(literal)
            if name is not None:
                item = _lookup(name, variables)
                if isinstance(item, (list, dict)):
                    raise TemplateError(
                        f"{{{name}}} is a list; a list can only be the whole value, "
                        f'as in "{{{name}}}"'
                    )
                out.append(_text(item))
        return "".join(out)
    if isinstance(value, list):
        return [fill(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, variables) for key, item in value.items()}
    return value


def _text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


def _lookup(name: str, variables: Mapping[str, Any]) -> Any:
    try:
        return variables[name]
    except KeyError:
        known = sorted(variables)
        msg = f"unknown placeholder {{{name}}}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            msg += f" (did you mean {{{close[0]}}}?)"
        msg += "; known here: " + (", ".join(known) if known else "none")
        raise TemplateError(msg) from None
