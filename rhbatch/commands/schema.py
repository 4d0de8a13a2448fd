"""``rhbatch schema ENDPOINT`` and ``rhbatch schema --spec [--write PATH]``.

An endpoint's parameters as a readable table (or its JSON Schema), and the JSON Schema
of spec files, for editors (docs/editors.md). ``param_type`` and ``allowed`` describe
one parameter in words; ``rhbatch new`` writes its comments with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rhbatch.commands.table import cut, render
from rhbatch.endpoints.describe import show
from rhbatch.endpoints.registry import registry
from rhbatch.errors import EXIT_OK, UsageError
from rhbatch.store.files import write_text

SCHEMA_COMMENT = "# yaml-language-server: $schema="


def run(args: argparse.Namespace) -> int:
    if args.spec or args.write:
        if args.endpoint:
            raise UsageError("give an endpoint, or --spec for the schema of spec files; not both")
        return spec_schema(args.write)
    if not args.endpoint:
        raise UsageError("name an endpoint (`rhbatch endpoints` lists them), or --spec")
    reg = registry()
    if args.endpoint.strip().lower() == "spec" and reg.lookup(args.endpoint) is None:
        raise UsageError(
            "'spec' is not an endpoint: `rhbatch schema --spec` prints the schema of spec files"
        )
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


def spec_schema(write: str | None) -> int:
    """Print the JSON Schema of spec files, or write it to ``write`` (replacing it)."""
    text = json.dumps(registry().spec_schema(), ensure_ascii=False, indent=2) + "\n"
    if write is None:
        sys.stdout.write(text)
        return EXIT_OK
    target = Path(write)
    if target.is_dir():
        raise UsageError(
            f"{target} is a directory; give a file name, e.g. {target}/spec.schema.json"
        )
    try:
        write_text(target, text, parents=False)  # whole or not at all
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(
        f"wrote {target}; a spec whose first line is `{SCHEMA_COMMENT}PATH`, PATH being "
        f"{target.name} as seen from the spec, is checked as you type (docs/editors.md)"
    )
    return EXIT_OK


def _row(name: str, sub: dict[str, Any], required: bool) -> tuple[str, str, str, str, str]:
    default = cut(show(sub["default"]), 24) if "default" in sub else ""  # 24 columns
    return name, param_type(sub), "yes" if required else "", default, allowed(sub)


def param_type(sub: dict[str, Any]) -> str:
    """A parameter's type in a word or two: ``image list``, ``choice``, ``integer``."""
    ext = sub.get("x-rhbatch", {})
    if "media" in ext:
        return f"{ext['media']} list" if sub.get("type") == "array" else str(ext["media"])
    if "enum" in sub:
        return "choice"
    kind = sub.get("type", "any")
    return f"{sub.get('items', {}).get('type', 'any')} list" if kind == "array" else str(kind)


def allowed(sub: dict[str, Any]) -> str:
    """What values a parameter takes, in words (media: count, formats, size)."""
    ext = sub.get("x-rhbatch", {})
    parts = []
    if "enum" in sub:
        names = ext.get("shown") or {}  # an app's choice: the name the console shows
        parts.append(
            ", ".join(show(v) + (f" ({names[v]})" if v in names else "") for v in sub["enum"])
        )
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
        each = " each" if count else ""
        size = f", up to {ext['maxSizeMB']:g} MB{each}" if ext.get("maxSizeMB") else ""
        parts.append(f"{count}{what}" + (f"; {fmt}" if fmt else "") + size)
    return "; ".join(parts)
