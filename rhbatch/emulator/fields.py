"""A settable input of a workflow or app (``Field``), and a start's nodeInfoList fitted to
such inputs.

``catalog.py`` makes the fields: a workflow's from its graph and the node classes'
published definitions, an app's from its nodeInfoList. ``check`` reads the
nodeInfoList a start sends: a node or field that does not exist refuses the start
(803); a value that does not fit its field (a number out of range, a choice not
listed, a media value that is neither our upload nor a live URL) is a ComfyUI
validation error (``node_errors``), which fails the task. ``applied`` sets the
values that fit into a copy of the graph; ``prompt_tips`` words ComfyUI's answer.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rhbatch.emulator import app_inputs
from rhbatch.emulator.app_inputs import MEDIA_TYPES, Rule

_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Field:
    """One settable input: a node's field, its type, its saved value."""

    node_id: str
    node_name: str  # the node's class_type (workflow) or nodeName (app)
    field_name: str
    field_type: str  # one of app_inputs.FIELD_TYPES, or NUMBER (a value of a class not known)
    default: Any
    options: tuple[str, ...] = ()  # LIST
    description: str = ""
    description_en: str = ""
    rule: Rule | None = None  # an app's field: what its fieldData says it takes (app_inputs.py)
    minimum: float | None = None  # a workflow's INT or FLOAT input, by its definition
    maximum: float | None = None


@dataclass
class Checked:
    """A nodeInfoList read against a workflow or app."""

    refused: str | None = None  # why the start is refused (803), if it is
    node_errors: dict[str, Any] = field(default_factory=dict)  # values that do not fit
    values: list[tuple[Field, Any]] = field(default_factory=list)  # those that do, converted


def check(
    items: Any,
    find: Callable[[str, str], Field | str],
    media_ok: Callable[[str], bool],
    outputs: list[str],
) -> Checked:
    """Each item of ``items`` found (else refused) and its value fitted to its field."""
    out = Checked()
    if items is None:
        return out
    if not isinstance(items, list):
        out.refused = "nodeInfoList must be a list"
        return out
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "fieldValue" not in item:
            out.refused = f"nodeInfoList[{n}] needs nodeId, fieldName and fieldValue"
            return out
        found = find(str(item.get("nodeId", "")), str(item.get("fieldName", "")))
        if isinstance(found, str):
            out.refused = found
            return out
        ok, value, why = fit(found, item["fieldValue"], media_ok)
        if ok:
            out.values.append((found, value))
            continue
        entry = out.node_errors.setdefault(
            found.node_id,
            {"errors": [], "dependent_outputs": outputs, "class_type": found.node_name},
        )
        entry["errors"].append(
            {
                "type": "value_not_valid",
                "message": "Value not in list" if found.field_type == "LIST" else "Value not valid",
                "details": f"{found.field_name}: {why}",
                "extra_info": {
                    "input_name": found.field_name,
                    "received_value": item["fieldValue"],
                },
            }
        )
    return out


def fit(f: Field, value: Any, media_ok: Callable[[str], bool]) -> tuple[bool, Any, str]:
    """Whether ``value`` fits field ``f``: (fits, the value converted, why not)."""
    if f.rule is not None:  # an app's field, read by its fieldData
        return app_inputs.fit(f.field_type, f.rule, f.default, value, media_ok)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    kind = f.field_type
    if value == f.default and type(value) is type(f.default):
        return True, value, ""
    if kind == "INT":
        if number and isinstance(value, int):
            return _within(f, value)
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return _within(f, int(value))
        return False, None, f"{value!r} is not an integer"
    if kind in ("FLOAT", "NUMBER"):
        try:
            converted = float(value) if number or isinstance(value, str) else math.nan
        except ValueError:
            converted = math.nan
        if math.isfinite(converted):
            return _within(f, converted)
        return False, None, f"{value!r} is not a number"
    if kind in ("BOOLEAN", "SWITCH"):
        if isinstance(value, bool):
            return True, value, ""
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return True, value.strip().lower() == "true", ""
        return False, None, f"{value!r} is not true or false"
    if kind == "LIST":
        text = str(value) if number or isinstance(value, str) else None
        if text is not None and text in f.options:
            return True, text, ""
        return False, None, f"{value!r} not in {list(f.options)}"
    if kind in MEDIA_TYPES:
        if isinstance(value, str) and (value == f.default or media_ok(value)):
            return True, value, ""
        return (
            False,
            None,
            (
                f"{value!r} is neither a file uploaded here (/task/openapi/upload) "
                "nor a live http(s) URL"
            ),
        )
    if isinstance(value, str) or number:
        return True, str(value), ""
    return False, None, f"{value!r} is not text"


def _within(f: Field, value: float) -> tuple[bool, Any, str]:
    """A number checked against its input's range, as ComfyUI words it."""
    if f.minimum is not None and value < f.minimum:
        return False, None, f"Value {value} smaller than min of {f.minimum}"
    if f.maximum is not None and value > f.maximum:
        return False, None, f"Value {value} bigger than max of {f.maximum}"
    return True, value, ""


def applied(graph: dict[str, Any], values: list[tuple[Field, Any]]) -> dict[str, Any]:
    """A copy of ``graph`` with the checked values set."""
    out = copy.deepcopy(graph)
    for f, value in values:
        out[f.node_id]["inputs"][f.field_name] = value
    return out


def prompt_tips(outputs: list[str], node_errors: dict[str, Any]) -> str:
    """ComfyUI's answer to a prompt, as RunningHub passes it on in ``promptTips``."""
    if not node_errors:
        tips: dict[str, Any] = {
            "result": True,
            "error": None,
            "outputs_to_execute": outputs,
            "node_errors": {},
        }
    else:
        tips = {
            "result": False,
            "error": {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            },
            "outputs_to_execute": [],
            "node_errors": node_errors,
        }
    return json.dumps(tips, ensure_ascii=False)
