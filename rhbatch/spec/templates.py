"""``{name}`` placeholders in spec strings.

A string value anywhere in a job's parameters (or its id) may name variables:
``"a {animal} in the snow"``. ``{{`` and ``}}`` stand for literal braces. A
value that is exactly one placeholder (``"{refs}"``) takes the variable's value
with its type, so a list of reference images can travel through a variable.

A job's results may be named too: ``{frame.url}`` (its first file's URL),
``{frame.urls}`` (all of them, as a list) and ``{frame.text}`` (its first text),
where ``frame`` is a name of the job's ``uses``. They are known only when that
job has run: expansion keeps them (a ``Ref`` stands for them), the runner fills
them just before the submit.

A placeholder named ``TODO`` or ``TODO_...`` with no value is a TODO that `rhbatch
new` wrote where only the user can say (``"{TODO_prompt}"``), and is told as such.

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

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
RESULTS = ("url", "urls", "text")  # what a placeholder may take of another job's results
_formatter = string.Formatter()


class TemplateError(ValueError):
    """A malformed template or a placeholder with no value."""


class Ref:
    """Stands for a result of another job while expanding: the placeholder is kept."""

    __slots__ = ()


REF = Ref()


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


def fill(value: Any, variables: Mapping[str, Any], *, template: bool = False) -> Any:
    """The value with every placeholder replaced; raises TemplateError. A placeholder whose
    variable is ``REF`` is kept. ``template``: the result is again a template, to be
    filled once more by the runner (a job that uses another's results): literal braces
    stay doubled and every text put in is escaped, so that nothing but the kept
    placeholders can be filled then, neither a literal ``{{x}}`` nor braces in data."""
    if isinstance(value, str):
        if "{" not in value and "}" not in value:
            return value
        parts = parse(value)
        if len(parts) == 1 and parts[0][0] == "" and parts[0][1] is not None:
            found = _lookup(parts[0][1], variables)  # whole value: keep the variable's type
            if found is REF:
                return value
            return literal(found) if template else found
        items = [(text, name, _lookup(name, variables) if name else None) for text, name in parts]
        kept = template or any(item is REF for _, _, item in items)
        out = []
        for text, name, item in items:
            out.append(_escape(text) if kept else text)
            if name is None:
                continue
            if item is REF:
                out.append(f"{{{name}}}")
                continue
            if isinstance(item, (list, dict)):
                raise TemplateError(
                    f'{{{name}}} is a list; a list can only be the whole value, as in "{{{name}}}"'
                )
            out.append(_escape(_text(item)) if kept else _text(item))
        return "".join(out)
    if isinstance(value, list):
        return [fill(item, variables, template=template) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, variables, template=template) for key, item in value.items()}
    return value


def literal(value: Any) -> Any:
    """A value as text that no fill changes: its braces doubled (in lists and mappings
    too). Data (a row's cells) goes through it, so that braces in data stay text."""
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, list):
        return [literal(item) for item in value]
    if isinstance(value, dict):
        return {key: literal(item) for key, item in value.items()}
    return value


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


def is_todo(name: str) -> bool:
    """A placeholder `rhbatch new` writes where only the user can say: ``{TODO_prompt}``."""
    return name == "TODO" or name.startswith("TODO_")


def _lookup(name: str, variables: Mapping[str, Any]) -> Any:
    try:
        return variables[name]
    except KeyError:
        if is_todo(name):  # a TODO of `rhbatch new`: no typo, a value still to write
            raise TemplateError(f"fill in this TODO ({{{name}}})") from None
        known = sorted(variables)
        msg = f"unknown placeholder {{{name}}}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            msg += f" (did you mean {{{close[0]}}}?)"
        msg += "; known here: " + (", ".join(known) if known else "none")
        if "." in name:
            msg += (
                f"; another job's results are {{NAME.{'}, {NAME.'.join(RESULTS)}}} "
                "with NAME a key of this job's `uses`"
            )
        raise TemplateError(msg) from None
