"""The endpoint registry: every RunningHub endpoint rhbatch knows, by any of its names.

This module owns ``index.json`` and the schema files it lists:

- ``Registry`` reads ``index.json`` (names, aliases, task, output type) and
  resolves any accepted name (path, English name, doc title; any case) to the
  endpoint's path, with "did you mean" suggestions for names it does not know,
  and the reason for titles of RunningHub's docs that its public registry lacks.
- ``Registry.schema`` loads one endpoint's schema once, as an ``EndpointSchema``
  (``schema.py``: what its parameters accept, bodies checked against it); pinned
  workflows and apps are added beside the index (``Registry.add``).

With ``schema.py`` and ``describe.py``, the endpoints package is the only user of
``jsonschema`` at run time. The schemas ship inside the wheel as
``rhbatch/_schemas``; in a source checkout they are read from the repository's
``schemas/`` directory.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

# MB, EndpointSchema and MediaRule are schema.py's; spec/ and commands/ import them from here.
from rhbatch.endpoints.schema import MB, EndpointInfo, EndpointSchema, MediaRule
from rhbatch.errors import UnknownEndpoint

__all__ = [
    "MB",
    "EndpointInfo",
    "EndpointSchema",
    "MediaRule",
    "Registry",
    "UnlistedTitle",
    "registry",
    "schemas_root",
]


def schemas_root() -> Traversable:
    """Where the schemas are: inside the installed package, else the source tree."""
    bundled = resources.files("rhbatch") / "_schemas"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True, slots=True)
class UnlistedTitle:
    """A title of RunningHub's documentation whose model the public registry does not list."""

    title: str
    section: str
    note: str


class Registry:
    """Every endpoint rhbatch knows, by any of its names."""

    def __init__(self, root: Traversable | None = None) -> None:
        self.root = root if root is not None else schemas_root()
        index = json.loads((self.root / "index.json").read_text(encoding="utf-8"))
        self.version: str = index.get("registryVersion", "")
        self.endpoints: dict[str, EndpointInfo] = {}
        self._by_alias: dict[str, str] = {}
        for item in index["endpoints"]:
            info = EndpointInfo(
                endpoint=item["endpoint"],
                title=item.get("title") or item["endpoint"],
                name_en=item.get("nameEn") or "",
                doc_title=item.get("docTitle"),
                aliases=tuple(item.get("aliases", ())),
                task=item.get("task") or "",
                output_type=item.get("outputType") or "",
                category=item.get("category") or "",
                file=item["file"],
            )
            self.endpoints[info.endpoint] = info
            for alias in (info.endpoint, *info.aliases):
                self._by_alias.setdefault(alias.lower(), info.endpoint)
        for path in self.endpoints:  # the path itself always wins over another's alias
            self._by_alias[path.lower()] = path
        self.unlisted: dict[str, UnlistedTitle] = {
            item["title"].lower(): UnlistedTitle(item["title"], item["section"], item["note"])
            for item in index.get("unlisted", ())
        }
        self._schemas: dict[str, EndpointSchema] = {}
        self.pinned: dict[str, EndpointInfo] = {}  # workflows and apps of the specs loaded

    def __len__(self) -> int:
        return len(self.endpoints)

    def lookup(self, name: str) -> str | None:
        """The endpoint path for any accepted name, or None."""
        key = name.strip().strip("/").lower()
        if key.startswith("openapi/v2/"):
            key = key[len("openapi/v2/") :]
        return self._by_alias.get(key)

    def resolve(self, name: str) -> str:
        found = self.lookup(name)
        if found is None:
            reason = self.unlisted_reason(name)
            raise UnknownEndpoint(name, [] if reason else self.suggest(name), reason=reason)
        return found

    def unlisted_reason(self, name: str) -> str | None:
        """Why a title of RunningHub's docs names no endpoint here; None for other names."""
        found = self.unlisted.get(name.strip().strip("/").lower())
        if found is None:
            return None
        reason = (
            f"RunningHub's documentation lists it under {found.section}, but its public "
            f"model registry ({self.version}) does not, so rhbatch has no schema for it"
        )
        return f"{reason}; {found.note}" if found.note else reason

    def suggest(self, name: str, limit: int = 5) -> list[str]:
        """Names close to an unknown one: those containing it, else similar spellings."""
        key = name.strip().lower()
        out: list[str] = []
        if len(key) >= 3:
            for alias, path in self._by_alias.items():
                if key in alias and path not in out:
                    out.append(path)
        if not out:
            for alias in difflib.get_close_matches(key, list(self._by_alias), n=limit, cutoff=0.6):
                path = self._by_alias[alias]
                if path not in out:
                    out.append(path)
        return [self.endpoints[p].title for p in out[:limit]]

    def schema(self, endpoint: str) -> EndpointSchema:
        """The schema of a resolved endpoint path (loaded once)."""
        found = self._schemas.get(endpoint)
        if found is None:
            info = self.endpoints[endpoint]
            data = json.loads((self.root / info.file).read_text(encoding="utf-8"))
            found = self._schemas[endpoint] = EndpointSchema(info, data)
        return found

    def add(self, info: EndpointInfo, schema: dict[str, Any]) -> None:
        """Add (or replace) an endpoint that is not in the index: a pinned workflow or app,
        named ``workflow:<id>`` or ``app:<id>``. ``endpoints`` stays the index."""
        self.pinned[info.endpoint] = info
        self._schemas[info.endpoint] = EndpointSchema(info, schema)

    def info(self, endpoint: str) -> EndpointInfo:
        """The entry of a resolved endpoint: of the index, or a pinned workflow or app."""
        found = self.endpoints.get(endpoint)
        return found if found is not None else self.pinned[endpoint]

    def spec_schema(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.root / "spec.schema.json").read_text(encoding="utf-8")
        )
        return data


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The registry of the installed schemas, loaded once per process."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY
