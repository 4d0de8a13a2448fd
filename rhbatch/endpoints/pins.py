"""Pinned ComfyUI workflows and AI apps: their inputs, fetched once and kept in git.

A workflow's inputs are the fields of its API-format graph (getJsonApiFormat);
an AI app's are the editable fields its call example lists (apiCallDemo).
``rhbatch pin`` writes what RunningHub answered into ``pins/<kind>-<id>.json``
beside the spec, with the sha256 of the answer; validation then checks every
input of every job offline against it, and a run asks RunningHub again once
per pin and refuses to use one that no longer matches.

A pin becomes an endpoint schema like any model's, named ``workflow:<id>`` or
``app:<id>``, whose parameters are ``<nodeId>.<fieldName>`` (and
``<node title>.<fieldName>`` where the title names one node only) plus the
options the start call takes. So defaults, matrix, templates, rows and repeat
work for them unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.endpoints import app_inputs
from rhbatch.endpoints.app_inputs import AppRule
from rhbatch.endpoints.nodes import InputDef, guessed_media, node_defs
from rhbatch.endpoints.registry import EndpointInfo, Registry
from rhbatch.models import canonical_json

PIN_FORMAT = "rhbatch-pin/1"
PIN_DIR = "pins"
MAX_PIN_BYTES = 16 * 1024 * 1024
UPLOAD_MAX_MB = 30  # the legacy upload's limit, which workflow and app inputs go through

# Field types as RunningHub names them (apiCallDemo's fieldType); an app's are read by
# app_inputs.py (a SWITCH is a selector: its value is an option's index).
TYPES = ("STRING", "INT", "FLOAT", "BOOLEAN", "SWITCH", "LIST", "IMAGE", "VIDEO", "AUDIO", "ANY")
# A workflow input of an unknown class saved as a number: a whole number takes a float too.
NUMBER = "NUMBER"
_MEDIA = {"IMAGE": "image", "VIDEO": "video", "AUDIO": "audio"}
_ACCEPT = {
    "image": ("jpg", "jpeg", "png", "webp"),
    "video": ("mp4", "avi", "mov", "mkv"),
    "audio": ("mp3", "wav", "flac"),
}
# Options of the start calls (RunningHub's documentation of them), besides nodeInfoList.
_OPTIONS: dict[str, dict[str, Any]] = {
    "instanceType": {
        "enum": ["default", "plus"],
        "description": "GPU of the run: default (24 GB) or plus (48 GB)",
    },
    "usePersonalQueue": {
        "type": "boolean",
        "description": "exclusive keys: queue on the server when every machine is busy",
    },
    "retainSeconds": {
        "type": "integer",
        "minimum": 0,
        "description": "seconds to keep the machine warm after the task (enterprise-shared)",
    },
    "webhookUrl": {
        "type": "string",
        "pattern": "^https?://",
        "description": "RunningHub posts the task's end here (instead of rhbatch's receiver)",
    },
}
_WORKFLOW_OPTIONS = {
    "addMetadata": {"type": "boolean", "description": "embed the workflow in result images"},
}
OPTION_NAMES = frozenset(_OPTIONS) | frozenset(_WORKFLOW_OPTIONS)


class PinProblem(Exception):
    """A pin file that cannot be used; the message says why."""


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


@dataclass(frozen=True)
class Pin:
    kind: str  # workflow | app
    id: str
    name: str
    pinned_at: str
    digest: str  # sha256 of the content as RunningHub answered it
    content: Any  # the workflow graph, or the app's nodeInfoList
    path: Path

    @property
    def endpoint(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def fields(self) -> list[Field]:
        if self.kind == "workflow":
            return workflow_fields(self.content)
        return app_fields(self.content)


def pin_path(base_dir: Path, kind: str, ident: str) -> Path:
    return base_dir / PIN_DIR / f"{kind}-{ident}.json"


def digest_of(content: Any) -> str:
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def pin_text(kind: str, ident: str, name: str, content: Any, pinned_at: str) -> str:
    """The pin file: stable key order and indentation, so that a change reads as a diff."""
    data = {
        "format": PIN_FORMAT,
        "kind": kind,
        "id": ident,
        "name": name,
        "pinnedAt": pinned_at,
        "sha256": digest_of(content),
        "workflow" if kind == "workflow" else "nodeInfoList": content,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def read_pin(path: Path, kind: str, ident: str) -> Pin:
    """The pin at ``path``; PinProblem when it is missing, unreadable or not this one's."""
    try:  # bounded: a regular file (not a FIFO, nor a link to a device), its size, its depth
        data = readers.read_json(path, MAX_PIN_BYTES)
    except readers.FileProblem as exc:
        if exc.missing:
            raise PinProblem(
                f"{kind} {ident} is not pinned: no {path}; run `rhbatch pin {kind} {ident} "
                f"--dir {path.parent.parent}` to fetch its inputs (nothing is run or paid)"
            ) from None
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise PinProblem(f"{where} {exc.reason}") from None
    if not isinstance(data, dict) or data.get("format") != PIN_FORMAT:
        raise PinProblem(f'{path} is not an rhbatch pin (no "format": "{PIN_FORMAT}")')
    if data.get("kind") != kind or str(data.get("id")) != ident:
        raise PinProblem(
            f"{path} pins {data.get('kind')} {data.get('id')}, not {kind} {ident}; "
            f"run `rhbatch pin {kind} {ident}` again"
        )
    content: Any = data.get("workflow" if kind == "workflow" else "nodeInfoList")
    shape_ok = isinstance(content, dict) if kind == "workflow" else isinstance(content, list)
    if not shape_ok:
        raise PinProblem(f"{path} holds no {kind} inputs")
    digest = str(data.get("sha256") or "")
    if digest != digest_of(content):
        raise PinProblem(
            f"{path} was edited by hand (its sha256 does not match its content); "
            f"run `rhbatch pin {kind} {ident}` again rather than editing it"
        )
    try:
        fields = workflow_fields(content) if kind == "workflow" else app_fields(content)
    except (TypeError, ValueError, AttributeError) as exc:
        raise PinProblem(f"{path}: {exc}") from None
    if not fields:
        raise PinProblem(f"{path}: {kind} {ident} has no inputs a job could set")
    name, pinned_at = str(data.get("name") or ""), str(data.get("pinnedAt") or "")
    return Pin(kind, ident, name, pinned_at, digest, content, path)


def workflow_fields(graph: Mapping[str, Any]) -> list[Field]:
    """The inputs of an API-format graph a job can set: every input that is a value, not
    a link to another node's output."""
    out = []
    for node_id, node in graph.items():
        if not isinstance(node, Mapping):
            raise ValueError(f"node {node_id!r} is not an object")
        node_class = str(node.get("class_type") or "")
        meta = node.get("_meta")
        title = str(meta.get("title") or "") if isinstance(meta, Mapping) else ""
        inputs = node.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise ValueError(f"the inputs of node {node_id!r} are not an object")
        for name, value in inputs.items():
            if _is_link(value) or _fixed(value):
                continue
            field = Field(str(node_id), str(name), "ANY", title, node_class, value)
            known = node_defs().input(node_class, str(name))
            out.append(_by_definition(field, known) if known else _by_guess(field))
    return out


_WIDGET_TYPES = {"INT": "INT", "FLOAT": "FLOAT", "STRING": "STRING", "BOOLEAN": "BOOLEAN"}


def _by_definition(f: Field, known: InputDef) -> Field:
    """A workflow input typed by its node class's published definition."""
    if known.media:
        kind = "IMAGE" if known.media == "mask" else known.media.upper()
        if kind in _MEDIA:
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
    kind = _type_of(value)
    return replace(f, type="NUMBER" if kind in ("INT", "FLOAT") else kind, typed_by="guess")


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


def schema_of(pin: Pin) -> dict[str, Any]:
    """The JSON Schema of a pinned workflow's or app's job parameters."""
    fields = pin.fields
    properties: dict[str, Any] = {}
    for f in fields:
        properties[f.key] = _field_schema(f)
    titles: Counter[str] = Counter()
    if pin.kind == "workflow":  # every node's title, settable inputs or not
        titles.update(_title(node) for node in pin.content.values())
    else:
        titles.update(f.title for f in {(f.node_id, f.title): f for f in fields}.values())
    aliases: dict[str, str] = {}
    for f in fields:
        if f.title and titles[f.title] == 1 and f.title != f.node_id:
            alias = f"{f.title}.{f.name}"
            if alias not in properties:
                aliases[alias] = f.key
    properties.update(_OPTIONS)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "x-rhbatch-aliases": aliases,
        "x-rhbatch-links": {},
    }
    if pin.kind == "workflow":
        properties.update(_WORKFLOW_OPTIONS)
        schema["x-rhbatch-links"] = _links(pin.content, titles)
        schema["x-rhbatch-graph"] = _graph(pin.content, titles)
    return schema


def _title(node: Any) -> str:
    meta = node.get("_meta") if isinstance(node, Mapping) else None
    return str(meta.get("title") or "") if isinstance(meta, Mapping) else ""


def _links(graph: Mapping[str, Any], titles: Counter[str]) -> dict[str, str]:
    """Inputs fed by another node's output: ``<node>.<field>`` (and ``<title>.<field>``
    where the title names one node) -> the node feeding it."""
    out = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        title = _title(node)
        for name, value in (inputs or {}).items():
            if _is_link(value):
                out[f"{node_id}.{name}"] = str(value[0])
                if title and titles[title] == 1 and title != node_id:
                    out.setdefault(f"{title}.{name}", str(value[0]))
    return out


def _graph(graph: Mapping[str, Any], titles: Counter[str]) -> dict[str, Any]:
    """The graph as validation explains names by it: each node's class and title, the
    titles several nodes share, and the inputs no job can set (with why)."""
    nodes = {str(i): [str(n.get("class_type") or ""), _title(n)] for i, n in graph.items()}
    shared: dict[str, list[str]] = {}
    for node_id, (_, title) in nodes.items():
        if title and titles[title] > 1:
            shared.setdefault(title, []).append(node_id)
    fixed = {}
    for node_id, node in graph.items():
        for name, value in (node.get("inputs") or {}).items():
            why = _fixed(value)
            if why:
                fixed[f"{node_id}.{name}"] = why
                if titles[_title(node)] == 1:
                    fixed.setdefault(f"{_title(node)}.{name}", why)
    return {"nodes": nodes, "shared": shared, "fixed": fixed}


def _fixed(value: Any) -> str | None:
    """Why a graph input that is not a link cannot be set by a job, or None. A widget
    whose value is an object or a list (rgthree's image comparer keeps its images so)
    is the widget's own state: nodeInfoList sets a field to one value."""
    if _is_link(value):
        return None
    if isinstance(value, dict):
        return "holds an object (a widget's own state), not a value nodeInfoList can set"
    if isinstance(value, list):
        return "holds a list (a widget's own state), not a value nodeInfoList can set"
    return None


def output_type_of(pin: Pin) -> str:
    """What a pinned workflow makes, judged by its output nodes ("" when not told)."""
    if pin.kind != "workflow":
        return ""
    defs = node_defs()
    found = [
        node.output_kind if node is not None and node.output_node else None
        for node in (defs.get(str(n.get("class_type"))) for n in pin.content.values())
    ]
    for kind in ("video", "image", "audio"):
        if kind in found:
            return kind
    return ""


def register(registry: Registry, pin: Pin) -> str:
    """Make the pin an endpoint of ``registry``; its name (``workflow:<id>``)."""
    label = f"{pin.kind} {pin.id}" + (f" ({pin.name})" if pin.name else "")
    info = EndpointInfo(
        endpoint=pin.endpoint,
        title=label,
        name_en=pin.name,
        doc_title=None,
        aliases=(),
        task=pin.kind,
        output_type=output_type_of(pin),
        category=pin.kind,
        file=str(pin.path),
    )
    registry.add(info, schema_of(pin))
    return pin.endpoint


def differences(old: list[Field], new: list[Field]) -> list[str]:
    """What changed between two pins' inputs, one sentence each (at most 10)."""
    before = {f.key: f for f in old}
    after = {f.key: f for f in new}
    out = [f"input {k} is gone" for k in before if k not in after]
    out += [f"input {k} is new" for k in after if k not in before]
    for key in before.keys() & after.keys():
        a, b = before[key], after[key]
        if a.type != b.type:
            out.append(f"input {key} was {a.type}, is {b.type}")
        elif a.options != b.options:
            out.append(f"input {key} now takes {', '.join(b.options) or 'anything'}")
        elif a.default != b.default:
            out.append(f"input {key} defaults to {b.default!r} (was {a.default!r})")
    if not out:
        out.append("its graph changed (nodes or links, not the inputs a job sets)")
    return sorted(out)[:10]


def _field_schema(f: Field) -> dict[str, Any]:
    where = f"node {f.node_id}" + (f" ({f.title})" if f.title else "")
    description = f"{where}: {f.description or f.name}, {f.type}"
    if f.rule is not None:
        if f.rule.choices:
            description += "; one of " + ", ".join(c.shown() for c in f.rule.choices)
        accept = _ACCEPT.get(_MEDIA.get(f.type, ""), ())
        return app_inputs.schema(f.rule, description, UPLOAD_MAX_MB, accept)
    return _workflow_schema(f, description)


# A workflow input's JSON type, and how a value written otherwise (the console's "8", a
# CSV cell) is made that type before it is checked (registry ``coerce``).
_WORKFLOW_TYPES = {
    "INT": ("integer", "integer"),
    "FLOAT": ("number", "number"),
    "NUMBER": ("number", "number"),
    "BOOLEAN": ("boolean", "boolean"),
    "STRING": ("string", "text"),
}


def _workflow_schema(f: Field, description: str) -> dict[str, Any]:
    """A pinned workflow's input: its type, range or choices (by definition or guess)."""
    how = f"typed by {f.typed_by}" if f.typed_by == "guess" else ""
    out: dict[str, Any] = {"description": description + (f" ({how})" if how else "")}
    if f.type in _MEDIA:
        kind = _MEDIA[f.type]
        shown = "a local file or a URL" if f.url else "a local file, an uploaded api/ file or a URL"
        rule: dict[str, Any] = {"media": kind, "maxSizeMB": UPLOAD_MAX_MB, "accept": _ACCEPT[kind]}
        if f.url:
            rule["url"] = True
        return {
            **out,
            "type": "string",
            "minLength": 1,
            "description": f"{description} ({shown})",
            "x-rhbatch": rule,
        }
    if f.type == "LIST":
        return {**out, "enum": list(f.options), "x-rhbatch": {"coerce": "text"}}
    json_type, how_coerced = _WORKFLOW_TYPES.get(f.type, ("", ""))
    if not json_type:
        return out
    out.update({"type": json_type, "x-rhbatch": {"coerce": how_coerced}})
    if f.minimum is not None:
        out["minimum"] = f.minimum
    if f.maximum is not None:
        out["maximum"] = f.maximum
    return out


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    )


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INT"
    if isinstance(value, float):
        return "FLOAT"
    if isinstance(value, str):
        return "STRING"
    return "ANY"
