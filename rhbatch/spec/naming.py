"""Where each result file goes inside the output directory: ``output.naming``.

The default is ``{id}/{n}.{ext}``. Placeholders: ``{id}``, ``{n}`` (1-based
result number), ``{ext}`` (from the result's type), ``{endpoint}`` (its path
with ``/`` as ``_``), ``{index}`` (1-based position in the spec) and any
parameter of the job (``{resolution}``). Values are made file-name safe.

The rules a result path must follow (relative, no ``..``, no empty or overlong
component, no control character, none of rhbatch's own files) are
``store.files.path_problem``: validation applies them to every job's first
result before anything is sent, and ``store.files.safe_path`` again when a file
is written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from rhbatch.spec import templates
from rhbatch.spec.ids import slug
from rhbatch.store.files import path_problem

DEFAULT_NAMING = "{id}/{n}.{ext}"  # a job's results in a folder of its own, numbered
BUILTINS = frozenset({"id", "n", "ext", "endpoint", "index"})


def unknown_names(naming: str, params: Mapping[str, Any]) -> set[str]:
    """Placeholders of ``naming`` that a job with these parameters cannot fill."""
    return {n for n in placeholders(naming) if n not in params}


def list_names(naming: str, params: Mapping[str, Any]) -> set[str]:
    """Placeholders of ``naming`` that name a list or mapping parameter (no file name)."""
    return {n for n in placeholders(naming) if isinstance(params.get(n), (list, dict))}


@functools.lru_cache(maxsize=64)
def placeholders(naming: str) -> tuple[str, ...]:
    """The names ``naming`` takes from a job's parameters (not the built-in ones)."""
    return tuple(sorted(templates.names(naming) - BUILTINS))


def output_name(
    naming: str,
    *,
    job_id: str,
    n: int,
    ext: str,
    endpoint: str,
    index: int,
    params: Mapping[str, Any],
) -> str:
    values: dict[str, Any] = {
        "id": job_id,
        "n": n,
        "ext": slug(ext) or "bin",
        "endpoint": endpoint.replace("/", "_"),
        "index": index + 1,
    }
    for name in placeholders(naming):
        value = params.get(name)
        if name in params and not isinstance(value, (list, dict)):
            values[name] = slug(value)
    templates.parse(naming)  # cached; raises TemplateError unless every field is a plain name
    try:  # so str.format fills it as templates.fill would, only faster
        return naming.format_map(values)
    except (KeyError, ValueError, IndexError):
        return str(templates.fill(naming, values))  # raises the TemplateError that says why


def template_problem(naming: str) -> str | None:
    """What is wrong with ``naming`` whatever the job: bad braces, or a path that
    leaves the output directory by its literal text alone."""
    try:
        names = {name for _, name in templates.parse(naming) if name is not None}
    except templates.TemplateError as exc:
        return str(exc)
    sample = templates.fill(naming, dict.fromkeys(names, "x"))
    problem = path_problem(str(sample))
    if problem is None:
        return None
    return f"{naming!r} is not a path inside the output directory: {problem}"
