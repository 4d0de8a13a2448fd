"""The rows of a run's results table: one per result file that is there, and what each says.

A row's fixed columns (``COLUMNS``) come from the manifest's record of its job
(``rows``), or, for a file of an earlier version kept in ``history/``, from the
store (``history_rows``); each row comes with its job's parameters and variables,
which ``dataset.py`` turns into ``param.`` and ``var.`` columns. A file the
record names but the directory does not hold has no row (``presence`` tells;
``Tally`` counts them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.errors import StateError
from rhbatch.models import pinned_kind, prompt_of

COLUMNS = (
    "file_name",
    "media",
    "job_id",
    "n",
    "status",
    "endpoint",
    "kind",
    "prompt",
    "params",
    "task_id",
    "node_id",
    "sha256",
    "bytes",
    "cost",
    "made_from",
    "version",
    "current",
    "spec_commit",
)
MEDIA = {
    "image": ("png", "jpg", "jpeg", "webp", "gif", "bmp"),
    "video": ("mp4", "mov", "webm", "mkv", "avi"),
    "audio": ("wav", "mp3", "flac", "ogg", "m4a"),
    "text": ("txt",),
}
_MEDIA_OF = {ext: kind for kind, exts in MEDIA.items() for ext in exts}

# Whether the file of an output entry is there: (output entry, the job's record).
Present = Callable[[dict[str, Any], dict[str, Any]], bool]
# A row of the fixed columns, with the job's parameters and variables.
Entry = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


@dataclass
class Tally:
    """The recorded files left out of a table, counted as the rows are made."""

    left_out: int = 0


def on_disk(out_dir: Path) -> Present:
    """A file is there if the path its record names is a file under ``out_dir``."""

    def present(out: dict[str, Any], job: dict[str, Any]) -> bool:
        path = out.get("path")
        return isinstance(path, str) and bool(path) and (out_dir / path).is_file()

    return present


def presence(out_dir: Path) -> Present:
    """How to tell whether a recorded file is there: on disk; in the state directory of
    a run put in object storage, whose files are in the bucket, by its job's status (a
    job succeeds only once its files are put)."""
    if _out_url(out_dir):
        return lambda out, job: job.get("status") == "succeeded"
    return on_disk(out_dir)


def rows(
    manifest: Path,
    prompt_field: str | None = None,
    present: Present | None = None,
    tally: Tally | None = None,
) -> Iterator[Entry]:
    """One row per result file of the manifest that is there (``present``; all without
    it), in job order, with its job's parameters and variables. ``prompt_field``: the
    parameter the spec names as the prompt (``output.prompt``, in run.json)."""
    for _, line in readers.lines(manifest):
        if not line.strip() or _without_files(line):
            continue
        job = json.loads(line)
        outputs = job.get("outputs") or []
        if not outputs:
            continue
        params = job.get("params") or {}
        named = job.get("vars")
        shared = _job_columns(
            job.get("endpoint"),
            params,
            prompt_field,
            job_id=job["id"],
            status=job.get("status"),
            task_id=job.get("taskId"),
            cost=job.get("cost"),
            made_from=sorted(set((job.get("uses") or {}).values())),
            version=job.get("version") or 1,
            current=True,
            spec_commit=(job.get("spec") or {}).get("commit"),
        )
        for out in outputs:
            if present is not None and not present(out, job):
                if tally is not None:
                    tally.left_out += 1
                continue
            row = _row(
                shared,
                str(out["path"]).replace("\\", "/"),
                out.get("type"),
                n=out.get("n"),
                node_id=out.get("nodeId"),
                sha256=out.get("sha256"),
                bytes=out.get("bytes"),
            )
            yield row, _dict(params), _dict(named)


def _without_files(line: str) -> bool:
    """Whether a manifest line is of a job without files, seen without parsing it: its one
    ``"outputs"`` key (a quote inside a text is escaped, so this is the record's own key,
    unless a parameter has that name too: then the line is parsed) holds an empty list."""
    return '"outputs": []' in line and line.count('"outputs": ') == 1


def history_rows(
    out_dir: Path, present: Present | None = None, tally: Tally | None = None
) -> Iterator[Entry]:
    """One row per file of the earlier versions the directory keeps (``history/``) that
    is there, from its store; none without one."""
    from rhbatch.store.state import STATE_DIR, Store  # only an export with history reads it

    if not (out_dir / STATE_DIR / "state.db").exists():
        return
    with Store.open(out_dir, lock=False, create=False) as store:
        specs = store.spec_versions()
        versions = store.versions()
    for v in versions:
        params = json.loads(v.params) if v.params else {}
        origin = specs.get(v.spec or 0)
        shared = _job_columns(
            v.endpoint,
            params,
            None,
            job_id=v.job_id,
            status=v.status,
            task_id=v.task_id,
            cost=v.cost,
            made_from=[],
            version=v.v,
            current=False,
            spec_commit=origin.commit if origin is not None else None,
        )
        for out in v.outputs:
            if present is not None and not present(
                {"path": out.path, "bytes": out.bytes}, {"status": v.status}
            ):
                if tally is not None:
                    tally.left_out += 1
                continue
            row = _row(
                shared,
                out.path,
                out.type,
                n=out.n,
                node_id=None,
                sha256=out.sha256,
                bytes=out.bytes,
            )
            yield row, _dict(params), {}


def _job_columns(
    endpoint: str | None, params: Any, prompt_field: str | None, **given: Any
) -> dict[str, Any]:
    """The columns every file of a job shares: those ``given``, and the kind of its
    endpoint, its prompt and its parameters as JSON text."""
    pinned = pinned_kind(str(endpoint or ""))
    return {
        **given,
        "endpoint": endpoint,
        "kind": pinned[0] if pinned else "model",
        "prompt": prompt_of(params, prompt_field) or None,
        "params": json.dumps(params, ensure_ascii=False, sort_keys=True),
    }


def _row(shared: dict[str, Any], file_name: str, ext: object, **own: Any) -> dict[str, Any]:
    """One file's row, every fixed column in order: its job's ``shared`` columns, and its
    ``own`` (its media by its type, ``ext``)."""
    own |= {"file_name": file_name, "media": _MEDIA_OF.get(str(ext or "").lower(), "other")}
    return {name: own[name] if name in own else shared[name] for name in COLUMNS}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _out_url(out_dir: Path) -> str:
    """The bucket a run put its files in, when ``out_dir`` is its state directory."""
    from rhbatch.store.state import STATE_DIR, Store

    if not (out_dir / STATE_DIR / "state.db").exists():
        return ""
    try:
        with Store.open(out_dir, lock=False, create=False) as store:
            return store.get_meta("out_url") or ""
    except StateError:
        return ""
