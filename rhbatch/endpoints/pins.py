"""Pinned ComfyUI workflows and AI apps: their inputs, fetched once and kept in git.

A workflow's inputs are the fields of its API-format graph (getJsonApiFormat);
an AI app's are the editable fields its call example lists (apiCallDemo).
``rhbatch pin`` writes what RunningHub answered into ``pins/<kind>-<id>.json``
beside the spec, with the sha256 of the answer; validation then checks every
input of every job offline against it, and a run asks RunningHub again once
per pin and refuses to use one that no longer matches.

This module owns the pin files (written, read back and checked) and makes a
pin an endpoint like any model's, named ``workflow:<id>`` or ``app:<id>``, so
defaults, matrix, templates, rows and repeat work for them unchanged. What a
pin's inputs are is ``pin_fields.py``'s; the schema they make, ``pin_schema.py``'s.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.endpoints.nodes import node_defs
from rhbatch.endpoints.pin_fields import Field, app_fields, fields_of, workflow_fields
from rhbatch.endpoints.pin_schema import pin_schema
from rhbatch.endpoints.registry import EndpointInfo, Registry
from rhbatch.models import canonical_json

# Field and its readers are pin_fields.py's; commands/pin.py imports them from here.
__all__ = [
    "MAX_PIN_BYTES",
    "PIN_DIR",
    "PIN_FORMAT",
    "Field",
    "Pin",
    "PinProblem",
    "app_fields",
    "differences",
    "digest_of",
    "output_type_of",
    "pin_path",
    "pin_text",
    "read_pin",
    "register",
    "schema_of",
    "workflow_fields",
]

PIN_FORMAT = "rhbatch-pin/1"
PIN_DIR = "pins"
MAX_PIN_BYTES = 16 * 1024 * 1024


class PinProblem(Exception):
    """A pin file that cannot be used; the message says why."""


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
        return fields_of(self.kind, self.content)


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
        fields = fields_of(kind, content)
    except (TypeError, ValueError, AttributeError) as exc:
        raise PinProblem(f"{path}: {exc}") from None
    if not fields:
        raise PinProblem(f"{path}: {kind} {ident} has no inputs a job could set")
    name, pinned_at = str(data.get("name") or ""), str(data.get("pinnedAt") or "")
    return Pin(kind, ident, name, pinned_at, digest, content, path)


def schema_of(pin: Pin) -> dict[str, Any]:
    """The JSON Schema of a pinned workflow's or app's job parameters."""
    return pin_schema(pin.kind, pin.content)


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
