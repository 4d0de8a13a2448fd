"""A job's id and its seeds: the content id of an entry without ``id``, an id template
filled with file-name safe values, and the seed of each copy of a repeated job.

A content id is the first 12 hex digits of the sha256 of the job's endpoint, its
parameters as the spec resolves them and its copy number. A variable's value in an id
(or a ``uses`` id) is made file-name safe: "16:9" is "16-9", "a fox" is "a-fox".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from rhbatch.models import canonical_json
from rhbatch.spec import templates

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def content_id(endpoint: str, params: Mapping[str, Any], copy: int) -> str:
    return hashlib.sha256(canonical_json([endpoint, params, copy]).encode()).hexdigest()[:12]


def fill_id(template: str, variables: Mapping[str, Any]) -> Any:
    """An id template filled in, its placeholders' values made file-name safe (a list or
    mapping is no value there); raises TemplateError as ``templates.fill`` does."""
    safe = {
        k: slug(variables[k])
        for k in templates.names(template)
        if k in variables and not isinstance(variables[k], (list, dict))
    }
    return templates.fill(template, safe)


def slug(value: Any) -> str:
    """A variable's value as it may appear in an id: "16:9" -> "16-9", "a fox" -> "a-fox"."""
    text = "true" if value is True else "false" if value is False else str(value)
    found = _slugs.get(text)
    if found is None:
        found = _UNSAFE.sub("-", text).strip("-") or "-"
        if len(_slugs) < 50_000:
            _slugs[text] = found
    return found


_slugs: dict[str, str] = {}


def seed(endpoint: str, params: Mapping[str, Any], copy: int, bounds: tuple[int, int]) -> int:
    """The seed of one copy of a repeated job, within ``bounds``: counting up from the
    seed the job sets, else drawn from its endpoint, parameters and copy number."""
    lo, hi = bounds
    span = hi - lo + 1
    base = params.get("seed")
    if isinstance(base, int) and not isinstance(base, bool):
        return lo + (base - lo + copy - 1) % span
    digest = hashlib.sha256(f"{canonical_json([endpoint, params])}#{copy}".encode()).hexdigest()
    return lo + int(digest[:15], 16) % span
