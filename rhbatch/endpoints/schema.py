"""One endpoint's JSON Schema: what its parameters accept, and request bodies checked fast.

``EndpointSchema`` holds one endpoint's schema (a model's from ``schemas/``, or
a pinned workflow's or app's made by ``pin_schema.py``) and checks request
bodies against it. Generated schemas only use ``properties``, ``required`` and
``additionalProperties: false`` at the top level, so a body is valid exactly
when each present property is valid on its own: property values are checked
with jsonschema once per distinct value and cached, which keeps a 100,000-job
matrix fast. It also reads what the runner needs of the schema: each media
parameter's ``MediaRule``, the defaults of required choices, the seed's range,
and the values written in another form (``app_inputs.coerce``).

``Graph`` is what a pinned workflow's schema says of its graph, so that a name
that is no settable input is explained (a node that is not there, a title of
several nodes, an input no job can set).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from rhbatch.endpoints.app_inputs import coerce
from rhbatch.endpoints.describe import (
    best,
    describe,
    error_path,
    field_path,
    not_finite,
)

MB = 1024 * 1024
# Top-level keywords an endpoint schema may use for the per-property fast path to be exact.
_DECOMPOSABLE = {
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "x-rhbatch",
}


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    """An endpoint's entry in the index: its names and what it makes."""

    endpoint: str
    title: str
    name_en: str
    doc_title: str | None
    aliases: tuple[str, ...]
    task: str
    output_type: str
    category: str
    file: str


@dataclass(frozen=True, slots=True)
class MediaRule:
    """What a media parameter accepts: kind, one or many, size limit, formats."""

    kind: str  # image | video | audio
    multiple: bool
    max_bytes: int | None
    accept: tuple[str, ...]
    # A workflow input that takes a URL (or a path), not an uploaded file's name: a local
    # file goes up by the upload that answers a URL.
    url: bool = False
    empty: str | None = None  # a value that leaves the slot empty (an app's "None"), sent as is


class EndpointSchema:
    """One endpoint's schema, with cached per-property validation."""

    def __init__(self, info: EndpointInfo, schema: dict[str, Any]) -> None:
        self.info = info
        self.endpoint, self.label = info.endpoint, info.title  # its path, and its name to show
        self.schema = schema
        self.properties: dict[str, dict[str, Any]] = schema.get("properties", {})
        self.required: tuple[str, ...] = tuple(schema.get("required", ()))
        self.closed = schema.get("additionalProperties", True) is False
        # Other names of parameters (a pinned workflow's node titles): alias -> parameter.
        self.aliases: dict[str, str] = dict(schema.get("x-rhbatch-aliases", {}))
        self._links: dict[str, str] = dict(schema.get("x-rhbatch-links", {}))
        # A pinned workflow's graph, for what a name that is not an input means.
        self._graph = Graph.of(schema.get("x-rhbatch-graph"))
        self._exact = set(schema) - _EXTENSIONS <= _DECOMPOSABLE
        self._cache: dict[tuple[str, Any] | None, list[tuple[list[str | int], str]]] = {}
        # Parameters whose values are read in more than one form (an AI app's "8" for an
        # INT): name -> (how, names a choice may be written by); see app_inputs.coerce.
        self.coercions: dict[str, tuple[str, dict[str, str]]] = {
            name: (sub["x-rhbatch"]["coerce"], dict(sub["x-rhbatch"].get("names") or {}))
            for name, sub in self.properties.items()
            if "coerce" in sub.get("x-rhbatch", {})
        }
        # Free-text fields whose schema is only a type and a length: checked without
        # jsonschema when the value is plainly valid (a unique prompt per job would
        # otherwise fill the cache); any other value goes through jsonschema.
        self._text_limits = {
            name: int(sub.get("maxLength", 1 << 62))
            for name, sub in self.properties.items()
            if sub.get("type") == "string"
            and set(sub) <= _TEXT_ONLY
            and sub.get("minLength", 1) <= 1
        }

    # jsonschema is loaded on the first check, not on import: a run that only reads a
    # schema's media rules and defaults (the run stage) never loads it.
    @cached_property
    def _full(self) -> Any:
        import jsonschema

        return jsonschema.Draft202012Validator(self.schema)

    @cached_property
    def _validators(self) -> dict[str, Any]:
        import jsonschema

        return {name: jsonschema.Draft202012Validator(sub) for name, sub in self.properties.items()}

    @cached_property
    def media(self) -> dict[str, MediaRule]:
        rules = {}
        for name, sub in self.properties.items():
            ext = sub.get("x-rhbatch", {})
            if "media" not in ext:
                continue
            size = ext.get("maxSizeMB")
            rules[name] = MediaRule(
                kind=ext["media"],
                multiple=sub.get("type") == "array",
                max_bytes=int(size * MB) if size else None,
                accept=tuple(a.lower() for a in ext.get("accept", ())),
                url=bool(ext.get("url")),
                empty=ext.get("empty"),
            )
        return rules

    @cached_property
    def choice_defaults(self) -> dict[str, Any]:
        """Defaults filled in when a required choice is left out.

        Only for parameters with a closed set of values (lists, switches, numbers):
        a default prompt or reference image is an example, not a default.
        """
        out = {}
        for name in self.required:
            sub = self.properties.get(name, {})
            if "default" in sub and ("enum" in sub or sub.get("type") in _CHOICE_TYPES):
                out[name] = sub["default"]
        return out

    @cached_property
    def seed_range(self) -> tuple[int, int] | None:
        sub = self.properties.get("seed")
        if not sub or sub.get("type") != "integer":
            return None
        lo = max(int(sub.get("minimum", 0)), 0)
        hi = int(sub.get("maximum", 2**31 - 1))
        return lo, hi

    def coerce(self, params: dict[str, Any]) -> None:
        """Values written in another form than the one checked, made that form, in place."""
        for name, (how, names) in self.coercions.items():
            if name in params:
                params[name] = coerce(params[name], how, names)

    def knows(self, name: str) -> bool:
        """A parameter of the endpoint, by its name or an alias."""
        return name in self.properties or name in self.aliases

    def close_names(self, name: str) -> list[str]:
        names = [*self.properties, *self.aliases]
        return difflib.get_close_matches(name, names, n=3, cutoff=0.6)

    def check(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Every problem with a request body, as (field path, sentence) pairs."""
        if not self._exact:  # pragma: no cover - generated schemas are always decomposable
            return [
                (field_path(error_path(e)), describe(e)) for e in self._full.iter_errors(params)
            ]
        problems: list[tuple[str, str]] = []
        for name in self.required:
            if name not in params:
                problems.append((name, f"missing required parameter {name!r}"))
        for name, value in params.items():
            if type(value) not in (str, int, bool):
                odd = [(field_path([name, *at]), why) for at, why in not_finite(value)]
                if odd:  # what JSON Schema's number checks let through, said plainly
                    problems.extend(odd)
                    continue
            validator = self._validators.get(name)
            if validator is None:
                if self.closed:
                    problems.append((name, self._unknown(name)))
                continue
            limit = self._text_limits.get(name)
            if limit is not None and type(value) is str and 0 < len(value) <= limit:
                continue  # plain text within its length: valid, no need to ask jsonschema
            key = self._key(name, value)
            found = self._cache.get(key) if key is not None else None
            if found is None:
                found = [(error_path(e), describe(e)) for e in best(validator.iter_errors(value))]
                if key is not None:
                    self._cache[key] = found
            for path, message in found:
                problems.append((field_path([name, *path]), message))
        return problems

    def _key(self, name: str, value: Any) -> tuple[str, Any] | None:
        """The cache key of a value (None: validate uncached, the cache is full or the
        value holds a mapping)."""
        if len(self._cache) >= 200_000:
            return None
        try:
            return (name, _freeze(value))
        except TypeError:
            return None

    def check_full(self, params: Mapping[str, Any]) -> list[str]:
        """Plain jsonschema validation of a whole body (the reference ``check`` is tested
        against)."""
        return [describe(e) for e in self._full.iter_errors(params)]

    def _unknown(self, name: str) -> str:
        if name in self._links:
            return (
                f"{name} is a link from node {self._links[name]}'s output in {self.label}, "
                "not a value: it cannot be set"
            )
        told = self._graph.why_not(name, self.label, self.properties) if self._graph else None
        if told is not None:
            return told
        msg = f"unknown parameter {name!r} for {self.label}"
        close = self.close_names(name)
        if close:
            return (
                msg
                + "; did you mean "
                + " or ".join(repr(c) for c in close)
                + "? "
                + ("Allowed: " + ", ".join(self.properties))
            )
        return msg + "; allowed: " + ", ".join(self.properties)


_EXTENSIONS = {"x-rhbatch-aliases", "x-rhbatch-links", "x-rhbatch-graph"}


@dataclass(frozen=True)
class Graph:
    """What a pinned workflow's schema says of its graph: each node's class and title,
    titles shared by several nodes, and inputs that hold what no job can set."""

    nodes: dict[str, tuple[str, str]]  # id -> (class, title)
    shared: dict[str, list[str]]  # a title of several nodes -> their ids
    fixed: dict[str, str]  # "<node>.<input>" -> why it cannot be set

    @classmethod
    def of(cls, raw: Any) -> Graph | None:
        if not isinstance(raw, dict):
            return None
        nodes = {str(k): (str(v[0]), str(v[1])) for k, v in raw.get("nodes", {}).items()}
        return cls(nodes, dict(raw.get("shared", {})), dict(raw.get("fixed", {})))

    def why_not(self, name: str, label: str, inputs: Mapping[str, Any]) -> str | None:
        """What ``<node>.<input>`` names in the graph when it is no settable input: a node
        that is not there, a title of several nodes, an input no job can set."""
        node, dot, field = name.rpartition(".")
        if not dot:
            return None
        if name in self.fixed:
            return f"{name} in {label} {self.fixed[name]}: it cannot be set"
        ids = self.shared.get(node)
        if ids:
            nodes = ", ".join(f"{i} ({self.nodes[i][0]})" for i in ids if i in self.nodes)
            forms = " or ".join(f"'{i}.{field}'" for i in ids)
            return (
                f"{node!r} is the title of {len(ids)} nodes of {label}: {nodes}; name the "
                f"node by its id: {forms}"
            )
        node_id = node if node in self.nodes else self._by_title(node)
        if node_id is None:
            known = ", ".join(
                f"{i}" + (f" ({t})" if t else "") for i, (_, t) in list(self.nodes.items())[:20]
            )
            more = f", ... ({len(self.nodes) - 20} more)" if len(self.nodes) > 20 else ""
            return f"{label} has no node {node!r} (by id or title); its nodes: {known}{more}"
        own = sorted(k.partition(".")[2] for k in inputs if k.partition(".")[0] == node_id)
        kind, title = self.nodes[node_id]
        about = f"node {node_id} ({kind}" + (f", {title!r})" if title else ")")
        msg = f"{about} of {label} has no input {field!r} a job can set"
        listed = "its inputs: " + ", ".join(own) if own else "it has none"
        close = difflib.get_close_matches(field, own, n=3, cutoff=0.6)
        if close:
            guesses = " or ".join(repr(f"{node}.{c}") for c in close)
            return f"{msg}; did you mean {guesses}? {listed[0].upper()}{listed[1:]}"
        return f"{msg}; {listed}"

    def _by_title(self, title: str) -> str | None:
        found = [i for i, (_, t) in self.nodes.items() if t == title]
        return found[0] if len(found) == 1 else None


_CHOICE_TYPES = {"boolean", "integer", "number"}
_TEXT_ONLY = {"type", "maxLength", "minLength", "description", "default", "title", "x-rhbatch"}


def _freeze(value: Any) -> Any:
    """A hashable key that keeps 1, 1.0, True and "1" apart."""
    if isinstance(value, list):
        return ("list", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        raise TypeError("unhashable")
    return (type(value).__name__, value)
