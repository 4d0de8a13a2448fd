"""A pinned workflow's or AI app's inputs made an endpoint's JSON Schema.

The schema's parameters are ``<nodeId>.<fieldName>`` (and ``<node title>.<fieldName>``
where the title names one node only, as ``x-rhbatch-aliases``) plus the options
the start call takes; each input's type, range or choices come from its field
(``pin_fields.py``; an app's from ``app_inputs.py``). A workflow's schema also
carries what explains a name that is no input: the inputs fed by a link
(``x-rhbatch-links``), and its graph (``x-rhbatch-graph``: each node's class and
title, the titles several nodes share, the inputs no job can set), read back by
``schema.py``'s ``Graph``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from rhbatch.endpoints import app_inputs
from rhbatch.endpoints.pin_fields import MEDIA, Field, fields_of, fixed, is_link, node_title

UPLOAD_MAX_MB = 30  # the legacy upload's limit, which workflow and app inputs go through
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
# A workflow input's JSON type; a value written otherwise (the console's "8", a CSV cell)
# is made that type before it is checked (registry ``coerce``: a string's is "text").
_WORKFLOW_TYPES = {
    "INT": "integer",
    "FLOAT": "number",
    "NUMBER": "number",
    "BOOLEAN": "boolean",
    "STRING": "string",
}


def pin_schema(kind: str, content: Any) -> dict[str, Any]:
    """The JSON Schema of a pinned workflow's or app's job parameters (``content``: the
    workflow's graph, or the app's nodeInfoList)."""
    fields = fields_of(kind, content)
    properties: dict[str, Any] = {}
    for f in fields:
        properties[f.key] = _field_schema(f)
    titles: Counter[str] = Counter()
    if kind == "workflow":  # every node's title, settable inputs or not
        titles.update(node_title(node) for node in content.values())
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
    if kind == "workflow":
        properties.update(_WORKFLOW_OPTIONS)
        schema["x-rhbatch-links"] = _links(content, titles)
        schema["x-rhbatch-graph"] = _graph(content, titles)
    return schema


def _links(graph: Mapping[str, Any], titles: Counter[str]) -> dict[str, str]:
    """Inputs fed by another node's output: ``<node>.<field>`` (and ``<title>.<field>``
    where the title names one node) -> the node feeding it."""
    out = {}
    for node_id, node in graph.items():
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        title = node_title(node)
        for name, value in (inputs or {}).items():
            if is_link(value):
                out[f"{node_id}.{name}"] = str(value[0])
                if title and titles[title] == 1 and title != node_id:
                    out.setdefault(f"{title}.{name}", str(value[0]))
    return out


def _graph(graph: Mapping[str, Any], titles: Counter[str]) -> dict[str, Any]:
    """The graph as validation explains names by it: each node's class and title, the
    titles several nodes share, and the inputs no job can set (with why)."""
    nodes = {str(i): [str(n.get("class_type") or ""), node_title(n)] for i, n in graph.items()}
    shared: dict[str, list[str]] = {}
    for node_id, (_, title) in nodes.items():
        if title and titles[title] > 1:
            shared.setdefault(title, []).append(node_id)
    cannot = {}
    for node_id, node in graph.items():
        for name, value in (node.get("inputs") or {}).items():
            why = fixed(value)
            if why:
                cannot[f"{node_id}.{name}"] = why
                if titles[node_title(node)] == 1:
                    cannot.setdefault(f"{node_title(node)}.{name}", why)
    return {"nodes": nodes, "shared": shared, "fixed": cannot}


def _field_schema(f: Field) -> dict[str, Any]:
    where = f"node {f.node_id}" + (f" ({f.title})" if f.title else "")
    description = f"{where}: {f.description or f.name}, {f.type}"
    if f.rule is not None:
        if f.rule.choices:
            description += "; one of " + ", ".join(c.shown() for c in f.rule.choices)
        accept = _ACCEPT.get(MEDIA.get(f.type, ""), ())
        return app_inputs.schema(f.rule, description, UPLOAD_MAX_MB, accept)
    return _workflow_schema(f, description)


def _workflow_schema(f: Field, description: str) -> dict[str, Any]:
    """A pinned workflow's input: its type, range or choices (by definition or guess)."""
    how = f"typed by {f.typed_by}" if f.typed_by == "guess" else ""
    out: dict[str, Any] = {"description": description + (f" ({how})" if how else "")}
    if f.type in MEDIA:
        kind = MEDIA[f.type]
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
    json_type = _WORKFLOW_TYPES.get(f.type)
    if json_type is None:
        return out
    coerced = "text" if json_type == "string" else json_type
    out.update({"type": json_type, "x-rhbatch": {"coerce": coerced}})
    if f.minimum is not None:
        out["minimum"] = f.minimum
    if f.maximum is not None:
        out["maximum"] = f.maximum
    return out
