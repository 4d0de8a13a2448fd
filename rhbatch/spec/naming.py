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

import functools
import re
from collections.abc import Mapping
from typing import Any

from rhbatch.spec import templates
from rhbatch.spec.expand import slug

BUILTINS = frozenset({"id", "n", "ext", "endpoint", "index"})
MAX_COMPONENT = 200
# File systems allow 255 bytes per name; the ".<name>.part" a file is written to first takes 6.
MAX_COMPONENT_BYTES = 240
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
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            return f"a component is longer than {MAX_COMPONENT_BYTES} bytes in UTF-8"
    if parts[0].casefold() == RESERVED_DIR or (len(parts) == 1 and parts[0] in RESERVED_FILES):
        return "it is one of rhbatch's own files (.rhbatch/, manifest.jsonl, run.json)"
    return None


def path_key(relative: str) -> str:
    """The same key for two paths that name one file on any common file system
    (either separator; letters compared without case, as macOS and Windows do)."""
    return ("/".join(_SEPARATORS.split(relative)) if "\\" in relative else relative).casefold()


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
