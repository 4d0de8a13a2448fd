"""Where each result file goes inside the output directory: ``output.naming``.

The default is ``{id}/{n}.{ext}``. Placeholders: ``{id}``, ``{n}`` (1-based
result number), ``{ext}`` (from the result's type), ``{endpoint}`` (its path
with ``/`` as ``_``), ``{index}`` (1-based position in the spec) and any
parameter of the job (``{resolution}``). Values are made file-name safe; the
final path is checked to stay inside the output directory when it is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhbatch import templates
from rhbatch.expand import slug

BUILTINS = frozenset({"id", "n", "ext", "endpoint", "index"})


def unknown_names(naming: str, params: Mapping[str, Any]) -> set[str]:
    """Placeholders of ``naming`` that a job with these parameters cannot fill."""
    return {n for n in templates.names(naming) if n not in BUILTINS and n not in params}


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
