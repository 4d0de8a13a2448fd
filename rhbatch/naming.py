"""Where each result file goes inside the output directory: ``output.naming``.

The default is ``{id}/{n}.{ext}``. Placeholders: ``{id}``, ``{n}`` (1-based
result number), ``{ext}`` (from the result's type), ``{endpoint}`` (its path
with ``/`` as ``_``), ``{index}`` (1-based position in the spec) and any
parameter of the job (``{resolution}``). Values are made file-name safe.

``path_problem`` holds the rules a result path must follow (relative, no
``..``, no empty or overlong component, no control character, none of
rhbatch's own files). Validation applies them to every job's first result
before anything is sent; ``downloads.safe_path`` applies them again when a
file is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rhbatch import templates
from rhbatch.expand import slug

BUILTINS = frozenset({"id", "n", "ext", "endpoint", "index"})
MAX_COMPONENT = 200
# The extension of an endpoint's first result, by its output type, as RunningHub names them.
FIRST_EXT = {"video": "mp4", "image": "png", "audio": "wav", "3d": "glb", "string": "txt"}
# What rhbatch itself keeps in an output directory; no result may land there.
RESERVED_DIR = ".rhbatch"
RESERVED_FILES = frozenset({"manifest.jsonl", "run.json"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATORS = re.compile(r"[/\\]")


def unknown_names(naming: str, params: Mapping[str, Any]) -> set[str]:
    """Placeholders of ``naming`` that a job with these parameters cannot fill."""
    return {n for n in templates.names(naming) if n not in BUILTINS and n not in params}


def list_names(naming: str, params: Mapping[str, Any]) -> set[str]:
    """Placeholders of ``naming`` that name a list or mapping parameter (no file name)."""
    return {
        n
        for n in templates.names(naming)
        if n not in BUILTINS and isinstance(params.get(n), (list, dict))
    }


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
        k: slug(v) for k, v in params.items() if not isinstance(v, (list, dict))
    }
    values.update(
        id=job_id, n=n, ext=slug(ext) or "bin", endpoint=endpoint.replace("/", "_"), index=index + 1
    )
    name = templates.fill(naming, values)
    return str(name)


def path_problem(relative: str) -> str | None:
    """Why ``relative`` cannot be a result path inside the output directory, or None.

    Both "/" and "\\" separate components.
    """
    if not relative:
        return "it is empty"
    if _CONTROL.search(relative):
        return "it contains a control character"
    if relative[0] in "/\\":
        return "it is absolute"
    if _DRIVE.match(relative):
        return "it names a drive"
    parts = _SEPARATORS.split(relative)
    for part in parts:
        if part in ("", ".", ".."):
            return "it has an empty, '.' or '..' component"
        if len(part) > MAX_COMPONENT:
            return f"a component is longer than {MAX_COMPONENT} characters"
    if parts[0].casefold() == RESERVED_DIR or (len(parts) == 1 and parts[0] in RESERVED_FILES):
        return "it is one of rhbatch's own files (.rhbatch/, manifest.jsonl, run.json)"
    return None


def path_key(relative: str) -> str:
    """The same key for two paths that name one file on any common file system
    (either separator; letters compared without case, as macOS and Windows do)."""
    return "/".join(_SEPARATORS.split(relative)).casefold()


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
