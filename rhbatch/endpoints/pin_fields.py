"""The inputs a job may set in a pinned workflow or AI app, each with its type.

A workflow's inputs are the values of its API-format graph (getJsonApiFormat)
that are not links to another node's output, nor a widget's own state (an
object or a list). Each takes its type from its node class's published
definition where the class is known (``nodes.py``: "definition"), else from the
value saved in the graph, leniently ("guess"). An AI app's inputs are the
editable fields its call example lists (apiCallDemo), each read from its
fieldType and fieldData (``app_inputs.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rhbatch.endpoints import app_inputs
from rhbatch.endpoints.app_inputs import AppRule
from rhbatch.endpoints.describe import json_kind
from rhbatch.endpoints.nodes import InputDef, guessed_media, node_defs

# Field types as RunningHub names them (apiCallDemo's fieldType); an app's are read by
# app_inputs.py (a SWITCH is a selector: its value is an option's index).
TYPES = ("STRING", "INT", "FLOAT", "BOOLEAN", "SWITCH", "LIST", "IMAGE", "VIDEO", "AUDIO", "ANY")
# A workflow input of an unknown class saved as a number: a whole number takes a float too.
NUMBER = "NUMBER"
MEDIA = {"IMAGE": "image", "VIDEO": "video", "AUDIO": "audio"}  # media types, by kind
_WIDGET_TYPES = {"INT": "INT", "FLOAT": "FLOAT", "STRING": "STRING", "BOOLEAN": "BOOLEAN"}
_SAVED_TYPES = {"boolean": "BOOLEAN", "integer": "INT", "number": "FLOAT", "string": "STRING"}


@dataclass(frozen=True, slots=True)
class Field:
    """One input a job may set: its node, name, type, and what the pin holds for it."""

    node_id: str
    name: str
    type: str
    title: str
    node_class: str
    default: Any
    options: tuple[str, ...] = ()
    description: str = ""
    rule: AppRule | None = None  # an app's field: what its fieldData says it takes
    # A workflow's input: its range, and whether its type comes from the node class's
    # published definition ("definition") or from the value saved in the graph ("guess").
    minimum: float | None = None
    maximum: float | None = None
    typed_by: str = ""
    url: bool = False  # media given as a URL (or a path), not as an uploaded file's name

    @property
    def key(self) -> str:
        return f"{self.node_id}.{self.name}"


def fields_of(kind: str, content: Any) -> list[Field]:
    """The inputs of a pin's content: a workflow's graph, or an app's nodeInfoList."""
    return workflow_fields(content) if kind == "workflow" else app_fields(content)


def workflow_fields(graph: Mapping[str, Any]) -> list[Field]:
    """The inputs of an API-format graph a job can set: every input that is a value, not
    a link to another node's output."""
    out = []
    for node_id, node in graph.items():
        if not isinstance(node, Mapping):
            raise ValueError(f"node {node_id!r} is not an object")
        node_class = str(node.get("class_type") or "")
        title = node_title(node)
        inputs = node.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise ValueError(f"the inputs of node {node_id!r} are not an object")
        for name, value in inputs.items():
            if is_link(value) or fixed(value):
                continue
            field = Field(str(node_id), str(name), "ANY", title, node_class, value)
            known = node_defs().input(node_class, str(name))
            out.append(_by_definition(field, known) if known else _by_guess(field))
    return out


def _by_definition(f: Field, known: InputDef) -> Field:
    """A workflow input typed by its node class's published definition."""
    if known.media:
        kind = "IMAGE" if known.media == "mask" else known.media.upper()
        if kind in MEDIA:
            return replace(f, type=kind, typed_by="definition", url=known.url_or_path)
    if known.type == "COMBO":
        if known.choices is None:  # files on the server: any name
            return replace(f, type="STRING", typed_by="definition")
        # The graph's own value is a choice too: a node pack on the server may add to a
        # list (samplers, schedulers) that its published definition does not show.
        saved = () if f.default is None or str(f.default) in known.choices else (str(f.default),)
        return replace(f, type="LIST", options=known.choices + saved, typed_by="definition")
    widget = _WIDGET_TYPES.get(known.type)
    if widget is None:  # a link type holding a value: judged by the value
        return _by_guess(f)
    return replace(
        f, type=widget, minimum=known.minimum, maximum=known.maximum, typed_by="definition"
    )


def _by_guess(f: Field) -> Field:
    """A workflow input of a class the definitions do not know, typed by the value saved
    in the graph, leniently: a whole number takes a float too (ComfyUI saves 8.0 as 8); a
    text naming a file, in an input named like a media input, is that media."""
    value = f.default
    media = guessed_media(f.name, value, f.node_class)
    if media is not None:
        url = isinstance(value, str) and value.startswith(("http://", "https://"))
        url = url or any(w in f.name.lower() for w in ("url", "path"))
        return replace(f, type=media.upper(), typed_by="guess", url=url)
    kind = _SAVED_TYPES.get(json_kind(value) or "", "ANY")
    return replace(f, type=NUMBER if kind in ("INT", "FLOAT") else kind, typed_by="guess")


def app_fields(nodes: list[Any]) -> list[Field]:
    """The editable inputs an AI app's call example lists, each read from its fieldType
    and fieldData (app_inputs.py)."""
    out = []
    for i, item in enumerate(nodes):
        if not isinstance(item, Mapping) or "nodeId" not in item or "fieldName" not in item:
            raise ValueError(f"nodeInfoList[{i}] has no nodeId and fieldName")
        kind = str(item.get("fieldType") or "STRING").upper()
        kind = kind if kind in TYPES else "ANY"
        rule = app_inputs.rule_of(kind, item.get("fieldData"), item.get("fieldValue"))
        described = item.get("descriptionEn") or item.get("description") or ""
        out.append(
            Field(
                node_id=str(item["nodeId"]),
                name=str(item["fieldName"]),
                type=kind,
                title=str(item.get("nodeName") or ""),
                node_class=str(item.get("nodeName") or ""),
                default=item.get("fieldValue"),
                options=tuple(c.value for c in rule.choices),
                description=str(described),
                rule=rule,
            )
        )
    return out


def node_title(node: Any) -> str:
    """A graph node's title (its ``_meta.title``), "" when it has none."""
    meta = node.get("_meta") if isinstance(node, Mapping) else None
    return str(meta.get("title") or "") if isinstance(meta, Mapping) else ""


def fixed(value: Any) -> str | None:
    """Why a graph input that is not a link cannot be set by a job, or None. A widget
    whose value is an object or a list (rgthree's image comparer keeps its images so)
    is the widget's own state: nodeInfoList sets a field to one value."""
    if is_link(value):
        return None
    if isinstance(value, dict):
        return "holds an object (a widget's own state), not a value nodeInfoList can set"
    if isinstance(value, list):
        return "holds a list (a widget's own state), not a value nodeInfoList can set"
    return None


def is_link(value: Any) -> bool:
    """A graph input fed by another node's output: ``[node id, output index]``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    )
