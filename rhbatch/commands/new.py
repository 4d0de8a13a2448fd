"""``rhbatch new ENDPOINT`` and ``rhbatch new workflow|app ID --dir DIR``: a starter spec.

For an endpoint, every parameter is one line, described as ``rhbatch schema`` describes it
(``param_type``, ``allowed``): type, allowed values, media limits, default. The parameters
the endpoint requires are set: to its default or first allowed value where it takes a
closed set, else to a TODO only the user can fill: a text is ``"{TODO_<name>}"``, a
placeholder with no value, and a reference file is a ``TODO-...`` path that does not
exist. ``rhbatch validate`` refuses both, so nothing is sent before they are filled; once
they are, the spec is valid as it stands. The other parameters are commented out at their
default.

For a pinned workflow or AI app (``DIR/pins/<kind>-<id>.json``), every input is a
commented line at its pinned value, named ``NODE.FIELD`` (a media input's pinned value, a
file on RunningHub's side, is in its comment, the line holds a TODO file), then the options
of the start call: a job runs with what is pinned unless it sets an input. An app's pinned
values, text as apiCallDemo gives them, are written as the spec takes them (an INT's
``"8"`` as ``8``), a choice's comment names each option: uncommented, every line validates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from rhbatch.commands.schema import SCHEMA_COMMENT, allowed, param_type
from rhbatch.endpoints.app_inputs import default_value
from rhbatch.endpoints.describe import show
from rhbatch.endpoints.pins import PinProblem, pin_path, read_pin, schema_of
from rhbatch.endpoints.registry import EndpointSchema, registry
from rhbatch.errors import EXIT_OK, UsageError
from rhbatch.models import PINNED_KINDS
from rhbatch.store.files import write_text

_MEDIA_EXT = {"image": "png", "video": "mp4", "audio": "mp3"}
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*|[0-9]+[a-z]+")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}
_VALUE_COLUMN = 34  # where the comment of a parameter line starts, when the value is short


def run(args: argparse.Namespace) -> int:
    if args.target in PINNED_KINDS:
        if args.id is None:
            raise UsageError(f"rhbatch new {args.target} needs the {args.target}'s ID")
        base = Path(args.dir or ".")
        if args.out and Path(args.out).resolve().parent != base.resolve():
            raise UsageError(
                f"--out {args.out}: a spec of {args.target} {args.id} must sit in {base}, "
                "beside pins/, to find its pin"
            )
        text = pinned_spec(args.target, args.id, base, _spec_dir(args.out))
    else:
        if args.id is not None:
            raise UsageError(
                f"rhbatch new takes one endpoint; {args.id!r} is one too many "
                "(only workflow and app take an ID)"
            )
        if args.dir is not None:
            raise UsageError("--dir is for `rhbatch new workflow|app ID`; use --out FILE")
        text = endpoint_spec(args.target, _spec_dir(args.out), args.out or "SPEC")
    if args.out is None:
        sys.stdout.write(text)
        return EXIT_OK
    write(Path(args.out), text, args.force)
    todos = sum(1 for line in text.splitlines() if "TODO" in line.split("#")[0])
    told = f"fill in the TODO values on {todos} lines, then " if todos > 1 else ""
    told = "fill in the TODO values on 1 line, then " if todos == 1 else told
    print(f"wrote {args.out}: {told}`rhbatch validate {args.out}`")
    return EXIT_OK


def endpoint_spec(name: str, spec_dir: Path, file: str) -> str:
    """The starter spec of an endpoint (any accepted name)."""
    reg = registry()
    schema = reg.schema(reg.resolve(name))
    info = schema.info
    lines = [_line(n, sub, n in schema.required, schema) for n, sub in schema.properties.items()]
    todo = any("TODO" in value for value, _ in lines if not value.startswith("#"))
    out = [
        schema_comment(spec_dir),
        "#",
        f"# {info.title}: POST /openapi/v2/{info.endpoint}",
        f"# {info.task}, makes {info.output_type}. Written by `rhbatch new`;",
        f"# `rhbatch schema {info.title}` shows the same parameters as a table.",
        "#",
    ]
    if todo:
        out += [
            "# Fill in each TODO: a text ({TODO_...}) and a reference file (TODO-...: a path",
            "# relative to this file, or a URL). Until then `rhbatch validate` refuses the",
            "# spec, so nothing is sent by mistake.",
            "#",
        ]
    out += [
        "# The parameters the endpoint requires are set; the others are commented out at",
        "# their default: uncomment one to set it. More jobs: add items to `jobs`, or",
        "# multiply them with `matrix` and `repeat` (docs/spec.md).",
        "#",
        f"#   rhbatch validate {file}          check everything; nothing is sent",
        f"#   rhbatch run {file} --emulator    a rehearsal against the built-in emulator",
        "version: 1",
        f"endpoint: {yaml_value(info.title)}",
    ]
    if not lines:
        out.append("# The registry lists no parameters for this endpoint: its body is empty.")
    out += ["", "jobs:", "  - id: first"]
    out += [_join(value, comment) for value, comment in lines]
    return "\n".join(out) + "\n"


def pinned_spec(kind: str, ident: str, base: Path, spec_dir: Path) -> str:
    """The starter spec of a pinned workflow or AI app: every input, commented out."""
    try:
        pin = read_pin(pin_path(base, kind, ident), kind, ident)
    except PinProblem as exc:
        raise UsageError(str(exc)) from None
    schema = schema_of(pin)
    props: dict[str, Any] = schema["properties"]
    also = {key: alias for alias, key in schema["x-rhbatch-aliases"].items()}
    label = f"{kind} {ident}" + (f" ({pin.name})" if pin.name else "")
    out = [
        schema_comment(spec_dir),
        "#",
        f"# {label}",
        f"# pinned {pin.pinned_at or '(no date)'} in {pin.path}",
        f"# Written by `rhbatch new {kind} {ident} --dir {base}`.",
        f"# Keep this spec in {base}, beside pins/.",
        "#",
        "# Every input is below, commented out at its pinned value: a job runs",
        "# with what is pinned unless it sets an input. An input is NODE.FIELD, or NODE",
        "# TITLE.FIELD where the title names one node (docs/spec.md, Workflows and AI apps).",
        "#",
        "#   rhbatch validate SPEC          check every input against the pin; nothing is sent",
        "version: 1",
        f"{kind}: {json.dumps(ident)}",
        "",
        "jobs:",
        "  - id: first",
    ]
    keys = {f.key for f in pin.fields}
    for f in pin.fields:
        sub = props[f.key]
        where = f"node {f.node_id}" + (f" {f.title!r}" if f.title else "")
        where += f" ({f.node_class})" if f.node_class and f.node_class != f.title else ""
        where += f": {f.description}" if f.description else ""
        where += f", also {also[f.key]}" if f.key in also else ""
        parts = [where, param_type(sub), allowed(sub)]
        value = f.default
        if f.rule is not None:  # an app's value is text: "8" for an INT is written 8
            value = default_value(f.rule, "" if value is None else value)
        if "media" in sub.get("x-rhbatch", {}):  # a file name on RunningHub's side: not ours
            parts.append(f"pinned {show(f.default, 80)}")
            value = _example(f.key, sub, required=False)
        comment = "; ".join(p for p in parts if p)
        out.append(_join(f"# {f.key}: {yaml_value(value)}", comment))
    out.append("    # Options of the start call:")
    for name, sub in props.items():
        if name not in keys:
            said = (param_type(sub), allowed(sub), sub.get("description", ""))
            value = _example(name, sub, required=False)
            out.append(_join(f"# {name}: {yaml_value(value)}", "; ".join(p for p in said if p)))
    return "\n".join(out) + "\n"


def _line(
    name: str, sub: dict[str, Any], required: bool, schema: EndpointSchema
) -> tuple[str, str]:
    """One parameter: (``name: value``, commented out unless required; its comment)."""
    parts = ["required"] if required else []
    parts += [param_type(sub), allowed(sub)]
    if "default" in sub:
        text = sub.get("type") == "string" and "enum" not in sub
        parts.append(f"{'example' if text else 'default'} {show(sub['default'], 40)}")
    if name == "seed" and schema.seed_range is not None:
        parts.append("each copy of a `repeat` gets its own")
    value = f"{name}: {yaml_value(_example(name, sub, required))}"
    return (value if required else f"# {value}"), "; ".join(p for p in parts if p)


def _example(name: str, sub: dict[str, Any], required: bool) -> Any:
    """The value a parameter line starts with."""
    ext = sub.get("x-rhbatch", {})
    is_list = sub.get("type") == "array"
    if "media" in ext:
        accept = ext.get("accept") or [_MEDIA_EXT[ext["media"]]]
        files = [
            f"TODO-{name}-{i}.{accept[0]}" for i in range(1, max(1, sub.get("minItems", 0)) + 1)
        ]
        return files if is_list else f"TODO-{name}.{accept[0]}"
    todo = "{TODO_" + re.sub(r"\W", "_", name) + "}"
    if "default" in sub and ("enum" in sub or sub.get("type") != "string" or not required):
        return sub["default"]
    if "enum" in sub:
        return sub["enum"][0]
    kind = sub.get("type")
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        value = max(0, sub.get("minimum", 0))
        return min(value, sub["maximum"]) if "maximum" in sub else value
    if is_list:
        return [todo] * sub.get("minItems", 0) if required else []
    if kind == "string" and "pattern" in sub:
        return "https://TODO.example/hook"
    return todo if required else ""


def yaml_value(value: Any) -> str:
    """A value as YAML: plain where that cannot be misread, else JSON (which YAML reads)."""
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _join(value: str, comment: str) -> str:
    pad = max(_VALUE_COLUMN - len(value), 1)
    return f"    {value}{' ' * pad}# {comment}" if comment else f"    {value}"


def schema_comment(spec_dir: Path) -> str:
    """The editor's line naming the spec schema: the nearest ``spec.schema.json`` (or
    ``schemas/spec.schema.json``) up from the spec's directory, else how to make one."""
    spec_dir = spec_dir.resolve()
    for folder in (spec_dir, *spec_dir.parents):
        for found in (folder / "spec.schema.json", folder / "schemas" / "spec.schema.json"):
            if found.is_file():
                return SCHEMA_COMMENT + Path(os.path.relpath(found, spec_dir)).as_posix()
    return (
        "# Editors: `rhbatch schema --spec --write spec.schema.json` writes the schema of\n"
        f"# spec files; a first line `{SCHEMA_COMMENT}<its path>` checks this one as you type."
    )


def _spec_dir(out: str | None) -> Path:
    return Path(out).parent if out else Path.cwd()


def write(path: Path, text: str, force: bool) -> None:
    """Write the spec; an existing file is replaced only with --force."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give the spec's file name")
    if not force and os.path.lexists(path):
        raise UsageError(f"{path} exists; --force replaces it")
    try:
        write_text(path, text, parents=False)  # whole or not at all
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
