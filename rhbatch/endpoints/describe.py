"""jsonschema's errors told as a person can act on them: the field, what was wrong, what is allowed.

``describe`` turns one ``ValidationError`` into a sentence ("must be one of "480p",
"720p"", and for "480P": "did you mean "480p"?"); ``field_path`` names the field
("imageUrls[2]"); ``structure_errors`` lists every error of a document against a
schema (the spec schema), taking the most relevant branch of ``oneOf``/``anyOf``;
``best`` drops a type error that an enum error on the same value already explains;
``json_kind`` names a value's JSON type (and ``type_word`` says it in words).
``not_finite`` finds the NaN and infinities that YAML (``.nan``, ``.inf``) and CSV
cells can spell, which JSON Schema's number checks let through and no request body
can carry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is loaded where errors are made, not on import
    from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def not_finite(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[list[str | int], str]]:
    """Every NaN or infinity inside ``value``: (its path, the problem in words)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            shown = "NaN" if math.isnan(value) else ("-" if value < 0 else "") + "Infinity"
            yield list(path), f"{shown} is not a finite number; give a number"
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if type(item) is not str:  # most lists are of URLs: nothing to look into
                yield from not_finite(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from not_finite(item, (*path, str(key)))


def show(value: Any, limit: int = 60) -> str:
    """A value as the user would write it in JSON, shortened if long."""
    try:
        text: str = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# A JSON value's kind, by the Python type it is read as (bool first: a bool is an int too).
_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def json_kind(value: Any) -> str | None:
    """A value's JSON Schema type ("integer", "string", ...); None for no JSON value."""
    return next((kind for python, kind in _KINDS if isinstance(value, python)), None)


def type_word(value: Any) -> str:
    """A value's type in words: "an integer", "a list", ..."""
    kind = json_kind(value)
    if kind is None:
        return type(value).__name__
    return "a boolean" if kind == "boolean" else _TYPE_WORDS[kind]


def describe(error: ValidationError) -> str:
    """One sentence for a jsonschema error: what the value is and what is allowed."""
    kw, want, value = error.validator, error.validator_value, error.instance
    if kw == "enum":
        names = error.schema.get("x-rhbatch", {}).get("shown") or {}  # an app's choices
        allowed = ", ".join(show(v) + (f" ({names[v]})" if v in names else "") for v in want)
        msg = f"{show(value)} is not one of the allowed values: {allowed}"
        if not isinstance(value, str) and str(value).lower() in [str(v).lower() for v in want]:
            msg += f' (the values are strings: write "{value}" with quotes)'
        elif isinstance(value, str):  # "480P" for "480p", " 720p" for "720p"
            meant = [v for v in want if isinstance(v, str) and v.casefold() == _folded(value)]
            if meant:
                msg += f"; did you mean {show(meant[0])}?"
        return msg
    if kw == "type":
        kinds = [want] if isinstance(want, str) else list(want)
        expected = " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
        return f"{show(value)} is {type_word(value)}; expected {expected}"
    if kw == "maxItems":
        return f"{len(value)} items; at most {want} allowed"
    if kw == "minItems":
        return f"{len(value)} items; at least {want} required"
    if kw == "maxLength":
        return f"text of {len(value)} characters; at most {want} allowed"
    if kw == "minLength":
        return (
            "empty text; at least one character required"
            if want == 1
            else (f"text of {len(value)} characters; at least {want} required")
        )
    if kw in ("minimum", "maximum"):
        lo = error.schema.get("minimum") if isinstance(error.schema, Mapping) else None
        hi = error.schema.get("maximum") if isinstance(error.schema, Mapping) else None
        where = "below the minimum" if kw == "minimum" else "above the maximum"
        bounds = f"; allowed: {lo} to {hi}" if lo is not None and hi is not None else ""
        return f"{show(value)} is {where} {want}{bounds}"
    if kw in ("exclusiveMinimum", "exclusiveMaximum"):
        side = "above" if kw == "exclusiveMinimum" else "below"
        return f"{show(value)} is not allowed; it must be {side} {want}"
    if kw == "const":
        return f"{show(value)} is not allowed; it must be {show(want)}"
    if kw == "pattern":
        return f"{show(value)} does not match the pattern {want}"
    return str(error.message)


def _folded(text: str) -> str:
    """Text as a choice it misspells may be compared: letter case and outer spaces aside."""
    return text.strip().casefold()


def error_path(error: ValidationError) -> list[str | int]:
    return list(error.absolute_path)


def field_path(parts: Iterable[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def best(errors: Iterable[ValidationError]) -> list[ValidationError]:
    """Drop a type error where an enum error on the same value already says it all."""
    errors = list(errors)
    enum_paths = {tuple(e.absolute_path) for e in errors if e.validator == "enum"}
    return [
        e for e in errors if not (e.validator == "type" and tuple(e.absolute_path) in enum_paths)
    ]


def structure_errors(
    schema: Mapping[str, Any], data: Any
) -> list[tuple[list[str | int], ValidationError]]:
    """All errors of ``data`` against a (non-endpoint) schema, deepest first per branch."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for error in validator.iter_errors(data):
        leaves = _leaves(error)
        for leaf in leaves:
            out.append((list(leaf.absolute_path), leaf))
    return out


def _leaves(error: ValidationError) -> list[ValidationError]:
    """For oneOf/anyOf errors, the most relevant sub-errors instead of the summary."""
    if not error.context:
        return [error]
    from jsonschema.exceptions import best_match

    best = best_match(error.context)
    return _leaves(best) if best is not None else [error]
