"""``rhbatch schema ENDPOINT``: an endpoint's parameters as a readable table."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rhbatch.commands.table import render
from rhbatch.endpoints.describe import show
from rhbatch.endpoints.registry import registry
from rhbatch.errors import EXIT_OK


def run(args: argparse.Namespace) -> int:
    reg = registry()
    schema = reg.schema(reg.resolve(args.endpoint))
    if args.json:
        json.dump(schema.schema, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK
    info = schema.info
    print(f"{info.title}")
    print(f"  POST /openapi/v2/{info.endpoint}")
    print(f"  task: {info.task}   output: {info.output_type}   category: {info.category}")
    others = [a for a in info.aliases if a not in (info.endpoint, info.title)]
    if others:
        print("  also known as: " + ", ".join(others))
    for note in schema.schema.get("x-rhbatch", {}).get("corrections", []):
        print(f"  correction: {note}")
    print()
    rows = [_row(name, sub, name in schema.required) for name, sub in schema.properties.items()]
    if rows:
        print(render(("PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "ALLOWED"), rows, wrap=(4,)))
    else:
        print("(no parameters)")
    return EXIT_OK


def _row(name: str, sub: dict[str, Any], required: bool) -> tuple[str, str, str, str, str]:
    ext = sub.get("x-rhbatch", {})
    default = show(sub["default"], 24) if "default" in sub else ""
    return name, _type(sub, ext), "yes" if required else "", default, allowed(sub, ext)


def _type(sub: dict[str, Any], ext: dict[str, Any]) -> str:
    if "media" in ext:
        return f"{ext['media']} list" if sub.get("type") == "array" else ext["media"]
    if "enum" in sub:
        return "choice"
    kind = sub.get("type", "any")
    return f"{sub.get('items', {}).get('type', 'any')} list" if kind == "array" else str(kind)


def allowed(sub: dict[str, Any], ext: dict[str, Any]) -> str:
    """What values a parameter takes, in words."""
    parts = []
    if "enum" in sub:
        parts.append(", ".join(show(v) for v in sub["enum"]))
    if "minimum" in sub or "maximum" in sub:
        lo, hi = sub.get("minimum"), sub.get("maximum")
        parts.append(
            f"{lo} to {hi}"
            if lo is not None and hi is not None
            else (f"at least {lo}" if lo is not None else f"at most {hi}")
        )
    if "maxLength" in sub:
        parts.append(f"up to {sub['maxLength']:,} characters")
    if "media" in ext:
        count = ""
        if sub.get("type") == "array":
            lo = sub.get("minItems", 0)
            hi = sub.get("maxItems")
            count = f"{lo}-{hi} " if hi is not None else f"at least {lo} "
        what = "URL or local file" if not count else "URLs or local files"
        fmt = "/".join(a.upper() for a in ext.get("accept", ()))
        size = f", up to {ext['maxSizeMB']:g} MB each" if ext.get("maxSizeMB") else ""
        parts.append(f"{count}{what}" + (f"; {fmt}" if fmt else "") + size)
    return "; ".join(parts)
