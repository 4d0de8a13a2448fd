"""An emulated AI app's inputs: its nodeInfoList checked as config, served as apiCallDemo
serves it, and a run's values checked against each field's fieldData.

An app entry of the config (or of ``samples/apps.json``) gives each input as apiCallDemo
shows it. ``check_app`` refuses what RunningHub would never serve (a ``fieldType`` that is
not one of ``FIELD_TYPES``, in upper case as apiCallDemo spells it; an item without
``nodeId``, ``fieldName`` or ``fieldValue``; outputs, tags or statistics of the wrong
shape), naming the key: an emulator config error, not a fault of the emulator.

``served`` is the item as apiCallDemo answers it: ``fieldData`` exactly as given (JSON
text stays text, objects stay objects; ``""`` when the entry has none), ``fieldValue`` as
text (a number as its decimal text, a boolean ``"true"``/``"false"``) and ``null`` kept
``null``. ``Rule`` is what the emulator reads from fieldData, by its own code (it does not
use the client's): a LIST's or SWITCH's options by their ``index`` (an entry without one,
such as ``{"default": ...}``, is no option), an INT's or FLOAT's ``min`` and ``max``
(``["INT", {"min": 1, "max": 50}]``), and ``"None"`` among a media loader's files (or as
its value) for a slot that may stay empty. ``fit`` checks a run's value against it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FIELD_TYPES = ("STRING", "INT", "FLOAT", "BOOLEAN", "SWITCH", "LIST", "IMAGE", "VIDEO", "AUDIO")
MEDIA_TYPES = ("IMAGE", "VIDEO", "AUDIO")
EMPTY = "None"
_INT = re.compile(r"[+-]?\d+")
_NODE_KEYS = ("nodeId", "fieldName", "fieldValue", "fieldType")


@dataclass(frozen=True)
class Rule:
    """What an app field takes, by its fieldData."""

    options: tuple[str, ...] = ()  # LIST, SWITCH: the indexes a run may send
    low: float | None = None
    high: float | None = None
    empty: bool = False  # IMAGE, VIDEO, AUDIO: "None" leaves the slot empty


def check_app(where: str, raw: Any) -> None:
    """ValueError naming the key when ``raw`` is not an app entry apiCallDemo could serve."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: an app is a mapping with name, ran, nodeInfoList and outputs")
    nodes = raw.get("nodeInfoList", [])
    if not isinstance(nodes, list):
        raise ValueError(f"{where}.nodeInfoList: a list of inputs, not {type(nodes).__name__}")
    for n, item in enumerate(nodes):
        at = f"{where}.nodeInfoList[{n}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{at}: an input is a mapping with {', '.join(_NODE_KEYS)}")
        missing = [k for k in _NODE_KEYS if k not in item]
        if missing:
            needs = ", ".join(_NODE_KEYS)
            raise ValueError(f"{at}: no {', '.join(missing)} (an input needs {needs})")
        kind = item["fieldType"]
        if kind not in FIELD_TYPES:
            upper = str(kind).upper()
            hint = f"; write {upper!r}, as apiCallDemo does" if upper in FIELD_TYPES else ""
            raise ValueError(
                f"{at}.fieldType: {kind!r} is not one of {', '.join(FIELD_TYPES)}{hint}"
            )
        for key in ("nodeId", "fieldName"):
            if not isinstance(item[key], (str, int)) or isinstance(item[key], bool):
                raise ValueError(f"{at}.{key}: text, not {item[key]!r}")
    for key, kind in (("tags", list), ("statisticsInfo", Mapping), ("outputs", list)):
        if key in raw and not isinstance(raw[key], kind):
            shape = "a list" if kind is list else "a mapping"
            raise ValueError(f"{where}.{key}: {shape}, not {type(raw[key]).__name__}")


def served(item: Mapping[str, Any]) -> dict[str, Any]:
    """One input as apiCallDemo answers it."""
    data = item.get("fieldData")
    return {
        "nodeId": str(item["nodeId"]),
        "nodeName": str(item.get("nodeName", "")),
        "fieldName": str(item["fieldName"]),
        "fieldValue": _text(item["fieldValue"]),
        "fieldData": "" if data is None else data,
        "fieldType": item["fieldType"],
        "description": str(item.get("description", "")),
        "descriptionEn": str(item.get("descriptionEn", "")),
    }


def rule(kind: str, field_data: Any, value: Any) -> Rule:
    """The emulator's reading of a field's fieldData."""
    data = field_data
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else None
        except json.JSONDecodeError:
            data = None
    if kind in ("LIST", "SWITCH"):
        return Rule(options=_options(data))
    if kind in ("INT", "FLOAT"):
        limits = data[1] if isinstance(data, list) and len(data) > 1 else data
        if isinstance(limits, Mapping):
            return Rule(low=_bound(limits.get("min")), high=_bound(limits.get("max")))
        return Rule()
    if kind in MEDIA_TYPES:
        files = data[0] if isinstance(data, list) and data and isinstance(data[0], list) else []
        return Rule(empty=value == EMPTY or EMPTY in files)
    return Rule()


def _options(data: Any) -> tuple[str, ...]:
    if not isinstance(data, list):
        return ()
    if data and isinstance(data[0], list):
        data = data[0]
    out: list[str] = []
    for item in data:
        if isinstance(item, Mapping):
            item = item.get("index", item.get("value"))
        if item is None or isinstance(item, (list, Mapping)):
            continue
        text = _index(item)
        if text not in out:
            out.append(text)
    return tuple(out)


def _index(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = _text(value)
    return str(text)


def _bound(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def fit(
    kind: str, r: Rule, default: Any, value: Any, media_ok: Callable[[str], bool]
) -> tuple[bool, Any, str]:
    """Whether a run's ``value`` fits an app field: (fits, the value as the node gets it,
    why not). Values come as text (as RunningHub's clients send them) or typed."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "STRING":
        if isinstance(value, str) or number:
            return True, str(_text(value)), ""
        return False, None, f"{value!r} is not text"
    if kind in ("INT", "FLOAT"):
        converted = _numeric(kind, value)
        if converted is None:
            return False, None, f"{value!r} is not {'an integer' if kind == 'INT' else 'a number'}"
        if r.low is not None and converted < r.low:
            return False, None, f"{value!r} is below the minimum {r.low:g}"
        if r.high is not None and converted > r.high:
            return False, None, f"{value!r} is above the maximum {r.high:g}"
        return True, converted, ""
    if kind == "BOOLEAN":
        if isinstance(value, bool):
            return True, value, ""
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return True, value.strip().lower() == "true", ""
        return False, None, f"{value!r} is not true or false"
    if kind in ("LIST", "SWITCH"):
        text = _index(value) if isinstance(value, str) or number else None
        if kind == "SWITCH" and text is not None and not text.isdigit():
            return False, None, f"{value!r} is not the index of an input"
        if text is not None and (not r.options or text in r.options):
            return True, int(text) if kind == "SWITCH" else text, ""
        return False, None, f"{value!r} not in {list(r.options)}"
    if kind in MEDIA_TYPES:
        if isinstance(value, str) and (
            value == default or media_ok(value) or (r.empty and value == EMPTY)
        ):
            return True, value, ""
        why = f"{value!r} is neither a file uploaded here (/task/openapi/upload)"
        why += " nor a live http(s) URL"
        return False, None, why + (f' nor "{EMPTY}"' if r.empty else "")
    return True, value, ""


def _numeric(kind: str, value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if kind == "INT":
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value)
        return None
    if isinstance(value, (int, float)):
        converted = float(value)
    elif isinstance(value, str):
        try:
            converted = float(value)
        except ValueError:
            return None
    else:
        return None
    return converted if math.isfinite(converted) else None
