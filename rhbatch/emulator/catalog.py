"""The workflows and AI apps the emulator knows: loaded, their fields, their outputs.

Samples ship in ``samples/workflows.json`` and ``samples/apps.json``; the config's
``workflows`` and ``apps`` (the same shape) replace a sample of the same id or add
new ones. A workflow is an API-format ComfyUI graph (``class_type``, ``inputs``,
``_meta.title`` per node); its settable fields are the inputs holding a value
(an input holding a link ``["4", 0]``, or an object or a list, a widget's own
state, cannot be set). Each is typed by its node class's published definition
(``rhbatch.endpoints.nodes``: INT and FLOAT with their ranges, COMBO with its
choices, the media of loaders), or, for a class not known, by the value its graph
holds (a number takes any number). Its results come from its output nodes (the
savers and previews of the definitions: images as many as the ``batch_size``
found upstream, a video, a sound), unless the entry lists ``outputs``. An app is
its ``nodeInfoList`` (what ``apiCallDemo`` shows) and the ``outputs`` it makes.
A start's nodeInfoList is checked against these fields in ``fields.py``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from rhbatch.emulator import app_inputs
from rhbatch.emulator.config import EmulatorConfig
from rhbatch.emulator.fields import Field, check
from rhbatch.endpoints.nodes import InputDef, node_defs
from rhbatch.models import OUTPUT_EXTENSIONS

# check (of fields.py) is named here too, for the callers outside the emulator that take it
# from here.
__all__ = ["App", "Catalog", "Field", "OutputSpec", "Workflow", "check"]

MAX_IMAGES = 8


@dataclass(frozen=True)
class OutputSpec:
    """An output node and what it makes."""

    node_id: str
    output_type: str  # image, video, audio, 3d, string
    count: int = 1


@dataclass
class Workflow:
    id: str
    name: str
    ran: bool  # saved and run once on the web (else 810)
    graph: dict[str, Any]
    outputs: tuple[OutputSpec, ...] | None = None  # None: from the graph's output nodes

    def find(self, node_id: str, name: str) -> Field | str:
        """The field ``node_id``.``name`` of the graph, or why it cannot be set."""
        return field_of(self.graph, node_id, name)


@dataclass
class App:
    id: str
    name: str
    ran: bool  # run once on the web (else apiCallDemo lists nothing and runs are refused)
    description: str
    description_en: str
    fields: tuple[Field, ...]
    outputs: tuple[OutputSpec, ...]
    tags: list[Any] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    nodes: tuple[dict[str, Any], ...] = ()  # the nodeInfoList as given, served as apiCallDemo does

    def find(self, node_id: str, name: str) -> Field | str:
        for f in self.fields:
            if (f.node_id, f.field_name) == (node_id, name):
                return f
        if any(f.node_id == node_id for f in self.fields):
            return f"node {node_id} has no field {name!r}"
        return f"the app has no node {node_id}"


class Catalog:
    """Every workflow and app, by id."""

    def __init__(self, workflows: dict[str, Workflow], apps: dict[str, App]) -> None:
        self.workflows, self.apps = workflows, apps

    @classmethod
    def load(cls, config: EmulatorConfig) -> Catalog:
        raw_workflows = {**_sample("workflows.json"), **config.workflows}
        raw_apps = {**_sample("apps.json"), **config.apps}
        workflows = {str(k): _workflow(str(k), v) for k, v in raw_workflows.items()}
        apps = {str(k): _app(str(k), v) for k, v in raw_apps.items()}
        return cls(workflows, apps)

    def refusal(self, origin: str, target: str) -> tuple[str, str] | None:
        """Why the workflow or app (``origin``) ``target`` cannot be started: its code and
        what is wrong (none such: 380 / 901; never run on the web: 810 / 803), or None."""
        workflow = origin == "workflow"
        entry = (self.workflows if workflow else self.apps).get(target)
        if entry is None:
            return ("380", f"no workflow {target}") if workflow else ("901", f"no AI app {target}")
        if not entry.ran:
            if workflow:
                return "810", f"workflow {target} was never run on the web"
            return "803", f"AI app {target} was never run on the web: it has no nodes"
        return None


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (resources.files("rhbatch.emulator") / "samples" / name).read_text(encoding="utf-8")
    )
    return data


def _workflow(wid: str, raw: Any) -> Workflow:
    where = f"workflows[{wid}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a workflow is a mapping with name, ran and prompt")
    outputs = _outputs(where, raw["outputs"]) if "outputs" in raw else None
    problem = graph_problem(raw.get("prompt"), needs_output=outputs is None)
    if problem:
        raise ValueError(f"{where}.prompt: {problem}")
    return Workflow(
        wid, str(raw.get("name", wid)), bool(raw.get("ran", True)), raw["prompt"], outputs
    )


def _app(aid: str, raw: Any) -> App:
    where = f"apps[{aid}]"
    app_inputs.check_app(where, raw)
    nodes = tuple(copy.deepcopy(dict(item)) for item in raw.get("nodeInfoList", []))
    fields = []
    for item in nodes:
        kind = item["fieldType"]
        rule = app_inputs.rule(kind, item.get("fieldData"), item["fieldValue"])
        fields.append(
            Field(
                str(item["nodeId"]),
                str(item.get("nodeName", "")),
                str(item["fieldName"]),
                kind,
                item["fieldValue"],
                rule.options,
                str(item.get("description", "")),
                str(item.get("descriptionEn", "")),
                rule,
            )
        )
    return App(
        aid,
        str(raw.get("name", aid)),
        bool(raw.get("ran", True)),
        str(raw.get("description", "")),
        str(raw.get("descriptionEn", "")),
        tuple(fields),
        _outputs(where, raw.get("outputs", [])),
        list(raw.get("tags", [])),
        dict(raw.get("statisticsInfo", {})),
        nodes,
    )


def _outputs(where: str, raw: Any) -> tuple[OutputSpec, ...]:
    out = []
    for n, item in enumerate(raw if isinstance(raw, list) else [None]):
        kind = item.get("outputType") if isinstance(item, dict) else None
        if kind not in OUTPUT_EXTENSIONS or "nodeId" not in item:
            raise ValueError(
                f"{where}.outputs[{n}]: needs nodeId and an outputType of "
                f"{', '.join(OUTPUT_EXTENSIONS)}"
            )
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f"{where}.outputs[{n}].count: a whole number, not {count!r}")
        out.append(OutputSpec(str(item["nodeId"]), kind, max(1, count)))
    return tuple(out)


def graph_problem(graph: Any, *, needs_output: bool = True) -> str | None:
    """Why ``graph`` is not an API-format graph (with an output node, unless the config
    says what it outputs), or None."""
    if not isinstance(graph, dict) or not graph:
        return "an API-format graph is a mapping of node ids to nodes"
    for node_id, node in graph.items():
        if (
            not isinstance(node, dict)
            or not isinstance(node.get("class_type"), str)
            or not isinstance(node.get("inputs"), dict)
        ):
            return f"node {node_id} needs a class_type and a mapping of inputs"
    if needs_output and not graph_outputs(graph):
        return (
            "no output node (a node that saves files: SaveImage, SaveVideo, VHS_VideoCombine, "
            "...); or give the workflow `outputs`"
        )
    return None


def field_of(graph: dict[str, Any], node_id: str, name: str) -> Field | str:
    node = graph.get(node_id)
    if node is None:
        return f"the workflow has no node {node_id}"
    inputs = node["inputs"]
    if name not in inputs:
        return f"node {node_id} ({node['class_type']}) has no input {name!r}"
    value = inputs[name]
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
        return f"node {node_id} input {name!r} is a link to another node, not a value"
    if isinstance(value, (list, dict)):  # the widget's own state (rgthree's image comparer)
        return f"node {node_id} input {name!r} holds a widget's own state, not a value to set"
    title = str((node.get("_meta") or {}).get("title", ""))
    field = Field(node_id, node["class_type"], name, "STRING", value, description=title)
    known = node_defs().input(node["class_type"], name)
    if known is not None and not known.link:  # a widget, with its published definition
        return _by_definition(field, known)
    if isinstance(value, bool):
        return replace(field, field_type="BOOLEAN")
    if isinstance(value, int | float):  # a class not known: a whole number takes a float
        return replace(field, field_type="NUMBER")
    return field


def _by_definition(field: Field, known: InputDef) -> Field:
    """A workflow input as its node class's published definition gives it."""
    if known.media:
        return replace(field, field_type="IMAGE" if known.media == "mask" else known.media.upper())
    if known.type == "COMBO":
        if known.choices is None:  # files on the server: any name
            return field
        saved = str(field.default)  # the graph's own value is one (a pack may add to a list)
        extra = () if saved in known.choices else (saved,)
        return replace(field, field_type="LIST", options=known.choices + extra)
    return replace(field, field_type=known.type, minimum=known.minimum, maximum=known.maximum)


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)


def graph_outputs(graph: dict[str, Any]) -> tuple[OutputSpec, ...]:
    """The output nodes of a graph, in node order, each making what its class makes (by
    the published definitions: SaveImage an image, SaveAnimatedWEBP a video, ...)."""
    out = []
    for node_id in sorted(graph, key=_node_order):
        node = node_defs().get(graph[node_id]["class_type"])
        if node is not None and node.output_node and node.output_kind:
            out.append(OutputSpec(node_id, node.output_kind))
    return tuple(out)


def image_count(graph: dict[str, Any], node_id: str) -> int:
    """The first ``batch_size`` upstream of an image output node (else 1), at most 8."""
    seen, todo = {node_id}, [node_id]
    while todo:
        node = graph.get(todo.pop(0)) or {"inputs": {}}
        size = node["inputs"].get("batch_size")
        if isinstance(size, int) and not isinstance(size, bool):
            return max(1, min(MAX_IMAGES, size))
        for value in node["inputs"].values():
            if isinstance(value, list) and value and str(value[0]) not in seen:
                seen.add(str(value[0]))
                todo.append(str(value[0]))
    return 1
