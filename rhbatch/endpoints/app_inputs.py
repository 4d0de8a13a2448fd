"""An AI app's inputs read from what apiCallDemo says of each: its ``fieldType`` and
``fieldData``; the values a job may give them, and the form those values take.

``fieldData`` comes as JSON text (apiCallDemo) or as the objects it holds (pins of other
tools, emulator configs); both are read. What it holds depends on the field:

- LIST: the options, each ``{name, index, description}`` (``index`` is what is sent, the
  console shows ``name``; an entry without an index, such as ``{"default": ..., "description":
  "忽略"}``, is no option), or ComfyUI's combo ``[[choice, ...], {default}]``, or plain text.
- SWITCH (an ImpactSwitch-style selector): its options ``{name: "input2", index: 2.0, ...}``;
  the value is the chosen index, ``"2"``.
- INT, FLOAT: ``["INT", {min, max, default}]``: the range, where given, is enforced.
- IMAGE, VIDEO, AUDIO: the loader's combo of files; ``"None"`` among them (or as the pinned
  value) marks a slot that may stay empty: ``"None"`` is then accepted and sent as it is.

A value is checked for its meaning, and the text a user copies from the console is accepted:
``"8"`` for an INT, ``"7.5"`` for a FLOAT, ``"true"`` for a BOOLEAN, ``2`` or ``"2"`` for a
SWITCH, a number for a STRING or a LIST. ``coerce`` turns such a value into the one form
validation checks and the job keeps (INT an integer, a choice its index as text); a choice
written by the name the console shows is translated to its index when that name is one
option's only and no option's index. What is sent is ``models.field_text`` of the value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rhbatch.models import field_text

MEDIA = {"IMAGE": "image", "VIDEO": "video", "AUDIO": "audio"}
EMPTY_MEDIA = "None"  # RunningHub's value for an image (video, audio) slot left empty
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_DIGITS = "^[0-9]+$"


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a LIST or SWITCH: the value sent, and what the console shows."""

    value: str
    name: str
    description: str = ""

    @property
    def label(self) -> str:
        """``input2: qwen large model``: its name where it differs from the value, and what
        it does."""
        name = self.name if self.name != self.value else ""
        return ": ".join(p for p in (name, self.description) if p)

    def shown(self) -> str:
        """``"2" (input2: qwen large model)``: the value, with its label."""
        return json.dumps(self.value, ensure_ascii=False) + (
            f" ({self.label})" if self.label else ""
        )


@dataclass(frozen=True, slots=True)
class AppRule:
    """What an app field takes, read from its type and fieldData."""

    kind: str  # STRING INT FLOAT BOOLEAN SWITCH LIST IMAGE VIDEO AUDIO ANY
    choices: tuple[Choice, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    empty: bool = False  # media: "None" may be given (an empty slot)

    @property
    def names(self) -> dict[str, str]:
        """Option names that may stand for their index: each one option's only, and no
        option's index."""
        values = {c.value for c in self.choices}
        count: dict[str, int] = {}
        for c in self.choices:
            count[c.name] = count.get(c.name, 0) + 1
        return {
            c.name: c.value
            for c in self.choices
            if c.name != c.value and count[c.name] == 1 and c.name not in values
        }


def parse(raw: Any) -> Any:
    """fieldData as objects: JSON text parsed (None when it is not JSON), objects as given."""
    if isinstance(raw, str):
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return None
    return raw


def rule_of(kind: str, field_data: Any, default: Any) -> AppRule:
    """The rule of a field of type ``kind`` (as apiCallDemo spells it, upper case)."""
    data = parse(field_data)
    if kind in ("LIST", "SWITCH"):
        return AppRule(kind, choices=choices(data))
    if kind in ("INT", "FLOAT"):
        low, high = _range(data)
        return AppRule(kind, minimum=low, maximum=high)
    if kind in MEDIA:
        listed = _combo(data)
        return AppRule(kind, empty=default == EMPTY_MEDIA or EMPTY_MEDIA in listed)
    return AppRule(kind)


def choices(data: Any) -> tuple[Choice, ...]:
    """The options fieldData lists: ``{name, index}`` objects, a combo, or plain values."""
    if not isinstance(data, list):
        return ()
    if data and isinstance(data[0], list):
        return tuple(Choice(v, v) for v in _combo(data))
    out: list[Choice] = []
    for item in data:
        if isinstance(item, Mapping):
            value = next((item[k] for k in ("index", "value") if item.get(k) is not None), None)
            if value is None:  # {"default": ..., "description": "忽略"}: not an option
                continue
            text = index_text(value)
            name = item.get("name")
            described = item.get("descriptionEn") or item.get("description") or ""
            out.append(Choice(text, str(name) if name is not None else text, str(described)))
        elif item is not None and not isinstance(item, list):
            out.append(Choice(index_text(item), index_text(item)))
    unique: dict[str, Choice] = {}
    for c in out:
        unique.setdefault(c.value, c)
    return tuple(unique.values())


def index_text(value: Any) -> str:
    """An option's index as it is sent: ``2.0`` -> ``"2"``, ``"pro"`` -> ``"pro"``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(field_text(value))


def _combo(data: Any) -> tuple[str, ...]:
    """The choices of ComfyUI's combo form ``[[a, b, ...], {...}]``."""
    if isinstance(data, list) and data and isinstance(data[0], list):
        return tuple(str(v) for v in data[0] if v is not None and not isinstance(v, (list, dict)))
    return ()


def _range(data: Any) -> tuple[float | None, float | None]:
    """``min`` and ``max`` of ``["INT", {min, max}]`` (or of a bare mapping)."""
    found = data[1] if isinstance(data, list) and len(data) > 1 else data
    if not isinstance(found, Mapping):
        return None, None
    return _number(found.get("min")), _number(found.get("max"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def schema(rule: AppRule, description: str, max_mb: int, accept: tuple[str, ...]) -> dict[str, Any]:
    """The JSON Schema of an app field's value (after ``coerce``), with what ``coerce``
    needs in ``x-rhbatch.coerce``."""
    base: dict[str, Any] = {"description": description}
    kind = rule.kind
    if kind in MEDIA:
        ext: dict[str, Any] = {"media": MEDIA[kind], "maxSizeMB": max_mb, "accept": accept}
        if rule.empty:
            ext["empty"] = EMPTY_MEDIA
        said = " (a local file, an uploaded api/ file or a URL"
        said += f', or "{EMPTY_MEDIA}" to leave it empty)' if rule.empty else ")"
        said = description + said
        return {**base, "description": said, "type": "string", "minLength": 1, "x-rhbatch": ext}
    if kind in ("LIST", "SWITCH"):
        if rule.choices:
            names = {c.value: c.label for c in rule.choices if c.label}
            ext = {"coerce": "choice", "names": rule.names, "shown": names}
            return {**base, "enum": [c.value for c in rule.choices], "x-rhbatch": ext}
        if kind == "SWITCH":
            return {**base, "type": "string", "pattern": _DIGITS, "x-rhbatch": {"coerce": "choice"}}
        return {**base, "type": "string", "x-rhbatch": {"coerce": "choice"}}
    if kind in ("INT", "FLOAT"):
        out = {**base, "type": "integer" if kind == "INT" else "number"}
        out["x-rhbatch"] = {"coerce": "integer" if kind == "INT" else "number"}
        if rule.minimum is not None:
            out["minimum"] = rule.minimum
        if rule.maximum is not None:
            out["maximum"] = rule.maximum
        return out
    if kind == "BOOLEAN":
        return {**base, "type": "boolean", "x-rhbatch": {"coerce": "boolean"}}
    if kind == "STRING":
        return {**base, "type": "string", "x-rhbatch": {"coerce": "text"}}
    return base


def coerce(value: Any, how: str, names: Mapping[str, str] | None = None) -> Any:
    """``value`` in the form validation checks (see the module's docstring); a value that
    cannot be read so is returned as it is, for the schema to say what is wrong."""
    if isinstance(value, bool):
        return value  # never a number nor a choice's index
    if how == "integer":
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if how == "number":
        if isinstance(value, str):
            if _INTEGER.fullmatch(value):
                return int(value)
            try:
                number = float(value)
            except ValueError:
                return value
            return number if math.isfinite(number) else value
        return value
    if how == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return value
    if how == "text":
        return field_text(value) if isinstance(value, (int, float)) else value
    if how == "choice":
        if isinstance(value, (int, float)):
            return index_text(value)
        if isinstance(value, str) and names and value in names:
            return names[value]
    return value


def default_value(rule: AppRule, value: Any) -> Any:
    """A pinned ``fieldValue`` (text, as apiCallDemo gives it) as a spec would write it."""
    how = {"INT": "integer", "FLOAT": "number", "BOOLEAN": "boolean"}.get(rule.kind)
    return coerce(value, how) if how else value
