"""A result directory read from its ``manifest.jsonl`` alone, where it has no state store.

A directory made by ``rhbatch merge`` holds the shards' records, their files,
``metadata.jsonl``, ``report.html`` and a ``run.json`` saying what was merged, but no
``.rhbatch/state.db``: ``status`` and ``verify`` read it from here (as they read a
run's bucket from its manifest), ``report`` and ``export`` read every directory so.
The same goes for a run's results copied without their ``.rhbatch/``.

Every record is taken as it is and read field by field, defensively: a record edited
by hand never stops the reading, a line that is not a JSON object is counted as
unreadable, and a value of the wrong type reads as absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.models import JobRow, JobStatus
from rhbatch.store.db import STATE_DIR

MANIFEST = "manifest.jsonl"


def has_state(out_dir: Path) -> bool:
    """Whether the directory has a state store (a run's, as opposed to a merge's)."""
    return (out_dir / STATE_DIR / "state.db").exists()


def manifest_only(out_dir: Path) -> bool:
    """Whether the directory is read from its manifest: one, and no state store."""
    return not has_state(out_dir) and (out_dir / MANIFEST).is_file()


def records(out_dir: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, record) of each line of the manifest; the record is None for a
    line that is not a JSON object. A manifest that cannot be read is FileProblem."""
    for number, line in readers.lines(out_dir / MANIFEST, errors="replace"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        yield number, record if isinstance(record, dict) else None


def status_of(record: dict[str, Any]) -> JobStatus | None:
    """The record's status, None when it is not one rhbatch knows."""
    value = record.get("status")
    try:
        return JobStatus(value) if isinstance(value, str) else None
    except ValueError:
        return None


def job_row(record: dict[str, Any], status: JobStatus) -> JobRow:
    """A record as the store would give its job (the fields ``status`` shows)."""
    uses = record.get("uses")
    params = record.get("params")
    return JobRow(
        id=text(record.get("id")) or "?",
        idx=record["index"] if isinstance(record.get("index"), int) else 0,
        endpoint=text(record.get("endpoint")) or "",
        params=params if isinstance(params, dict) else {},
        status=status,
        attempts=record["attempts"] if isinstance(record.get("attempts"), int) else 0,
        task_id=text(record.get("taskId")),
        remote_status=None,
        error_code=text(record.get("errorCode")),
        error_message=text(record.get("errorMessage")),
        results=(),
        cost=billed(record),
        quoted=number(record.get("quoted")),
        uses={str(k): str(v) for k, v in uses.items()} if isinstance(uses, dict) else {},
    )


def billed(record: dict[str, Any]) -> float | None:
    """What the job was billed (``billed``, or ``cost`` in older manifests)."""
    found = number(record.get("billed"))
    return found if found is not None else number(record.get("cost"))


def outputs(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's output entries (those that are objects)."""
    found = record.get("outputs")
    return [o for o in found if isinstance(o, dict)] if isinstance(found, list) else []


def text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
