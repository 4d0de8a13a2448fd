"""``rhbatch pin workflow|app ID``: fetch a workflow's or AI app's inputs into ``pins/``.

The pin is what validation checks every job's inputs against, offline: node ids,
field names, value types, list options. Nothing is run or paid to make it: a
workflow's API-format graph comes from getJsonApiFormat, an app's editable
inputs from apiCallDemo. A run asks again once per pin before its first submit
(``check_pins``) and refuses a workflow or app that changed since it was pinned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rhbatch.api.client import Client
from rhbatch.commands.connection import connect
from rhbatch.endpoints.pins import (
    Field,
    Pin,
    PinProblem,
    app_fields,
    differences,
    digest_of,
    pin_path,
    pin_text,
    read_pin,
    workflow_fields,
)
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import InvalidInput, Problem, Rejected, UsageError
from rhbatch.models import pinned_kind
from rhbatch.runner.retry import retrying

TRIES = 4


def run(args: argparse.Namespace) -> int:
    kind, ident = args.kind, str(args.id).strip()
    if not ident.isdigit() or len(ident) > 30:
        raise UsageError(f"{kind} id {ident!r}: expected the digits of its id")
    path = pin_path(Path(args.dir), kind, ident)
    name, content = asyncio.run(_fetch(args, kind, ident))
    fields = workflow_fields(content) if kind == "workflow" else app_fields(content)
    before: Pin | None = None
    with contextlib.suppress(PinProblem):
        before = read_pin(path, kind, ident)
    if before is not None and before.digest == digest_of(content):
        print(f"{kind} {ident} is unchanged since {before.pinned_at}: {path}")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(pin_text(kind, ident, name, content, stamp), encoding="utf-8")
    tmp.replace(path)
    title = f" ({name})" if name else ""
    print(f"pinned {kind} {ident}{title}: {len(fields)} inputs -> {path}")
    for line in _table(fields):
        print(f"  {line}")
    if before is not None:
        print("changed since the last pin:")
        for line in differences(before.fields, fields):
            print(f"  {line}")
    print("Commit the pin beside the spec; jobs name these inputs as NODE.FIELD.")
    return 0


async def _fetch(args: argparse.Namespace, kind: str, ident: str) -> tuple[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        client, _ = await connect(args, stack)
        return await fetch(client, kind, ident)


async def fetch(client: Client, kind: str, ident: str) -> tuple[str, Any]:
    """(name, content) of a workflow (its graph) or an app (its nodeInfoList); an app
    that lists no inputs is refused with the reason."""
    try:
        if kind == "workflow":
            graph = await retrying(
                lambda: client.workflow_json(ident), tries=TRIES, sleep=asyncio.sleep, cap=4.0
            )
            return "", graph
        name, nodes = await retrying(
            lambda: client.app_inputs(ident), tries=TRIES, sleep=asyncio.sleep, cap=4.0
        )
    except Rejected as exc:
        raise UsageError(f"{kind} {ident}: RunningHub refused: {exc}") from None
    if not nodes:
        raise UsageError(
            f"app {ident} lists no inputs: RunningHub serves an app's inputs once it has "
            "been run on the website; run it there once, then pin it again"
        )
    return name, nodes


async def check_pins(client: Client, registry: Registry, endpoints: tuple[str, ...]) -> None:
    """Ask RunningHub for each pinned workflow and app of the batch: InvalidInput (nothing
    sent) when one no longer matches its pin."""
    problems = []
    for endpoint in endpoints:
        found = pinned_kind(endpoint)
        if found is None:
            continue
        kind, ident = found
        path = Path(registry.info(endpoint).file)
        pin = read_pin(path, kind, ident)
        _, content = await fetch(client, kind, ident)
        if digest_of(content) == pin.digest:
            continue
        fields = workflow_fields(content) if kind == "workflow" else app_fields(content)
        changes = "; ".join(differences(pin.fields, fields))
        message = (
            f"{kind} {ident} has changed on RunningHub since it was pinned ({pin.pinned_at}): "
            f"{changes}. Nothing was sent. Pin it again (`rhbatch pin {kind} {ident} --dir "
            f"{path.parent.parent}`), review the change, then run again"
        )
        problems.append(Problem(str(path), None, message, field=kind))
    if problems:
        raise InvalidInput(problems)


def _table(fields: list[Field]) -> list[str]:
    """A line per input: its name, type (a workflow's: ``def``, by the node class's published
    definition, or ``guess``, by the value saved in the graph), range or choices, node."""
    out = []
    for f in fields:
        title = f" ({f.title})" if f.title and f.title != f.node_class else ""
        shown = [c.shown() for c in f.rule.choices] if f.rule is not None else list(f.options)
        if len(shown) > 12:
            shown = [*shown[:12], f"... ({len(shown) - 12} more)"]
        choice = f" one of {', '.join(shown)}" if shown else ""
        if f.minimum is not None or f.maximum is not None:
            choice += f" {_bound(f.minimum)}..{_bound(f.maximum)}"
        if f.url:
            choice += " (a URL; a local file is uploaded)"
        by = {"definition": "def   ", "guess": "guess "}.get(f.typed_by, "")
        out.append(f"{f.key:<24} {by}{f.type:<8}{choice} {f.node_class}{title} = {f.default!r}")
    return out


def _bound(value: float | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:g}"
