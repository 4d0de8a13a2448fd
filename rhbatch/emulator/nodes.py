"""The node classes the emulator's ComfyUI knows, from the published definitions.

The emulator reads the same data rhbatch ships (``schemas/comfyui-nodes.json``:
each class's inputs with their types, ranges and choices, built from the
sources of ComfyUI and the common node packs) with its own reader, and judges a
workflow's inputs by it as ComfyUI's validation would: an INT input takes a
whole number within its range, a FLOAT a number within its range, a COMBO one
of its choices (where they are known: a choice listed by files on the server
takes any name, and the graph's own value is always one). A class it does not
know is judged by the value its graph holds, leniently: a whole number takes a
float too (ComfyUI saves ``8.0`` as ``8``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

NODES_FILE = "comfyui-nodes.json"
_NUMBERS = ("INT", "FLOAT")


@dataclass(frozen=True)
class Widget:
    """One settable input of a known node class, as its definition gives it."""

    type: str  # INT, FLOAT, STRING, BOOLEAN, COMBO
    minimum: float | None
    maximum: float | None
    choices: tuple[str, ...] | None  # COMBO with a known list
    media: str | None


@cache
def definitions() -> dict[str, dict[str, Any]]:
    """Every known node class's inputs (as the file gives them), by class name."""
    bundled = resources.files("rhbatch") / "_schemas" / NODES_FILE
    path: Any = bundled if bundled.is_file() else _source_tree() / NODES_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    nodes = data.get("nodes") if isinstance(data, dict) else None
    return nodes if isinstance(nodes, dict) else {}


def _source_tree() -> Path:
    return Path(__file__).resolve().parents[2] / "schemas"


def widget(node_class: str, name: str) -> Widget | None:
    """The definition of input ``name`` of ``node_class`` when it is a settable widget."""
    node = definitions().get(node_class)
    raw = (node or {}).get("inputs", {}).get(name)
    if not isinstance(raw, dict) or raw.get("link"):
        return None
    kind = str(raw.get("type") or "")
    if kind not in (*_NUMBERS, "STRING", "BOOLEAN", "COMBO"):
        return None
    choices = raw.get("choices")
    return Widget(
        kind,
        _number(raw.get("min")),
        _number(raw.get("max")),
        tuple(str(c) for c in choices) if isinstance(choices, list) else None,
        # a folder on the server (VHS_LoadImages' directory) is a name, not a file to check
        raw.get("media")
        if isinstance(raw.get("media"), str) and raw.get("accepts") != "directory"
        else None,
    )


def output_kind(node_class: str) -> str | None:
    """What an output node of this class writes (image, video, audio), or None."""
    node = definitions().get(node_class) or {}
    kind = node.get("output_kind")
    return str(kind) if node.get("output_node") and kind else None


def _number(value: Any) -> float | None:
    """A bound as given: a whole number stays an int (2**64 - 1 is exact only so)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return value
    return value if math.isfinite(value) else None
