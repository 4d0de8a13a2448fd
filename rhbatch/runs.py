"""What a run made, read from Python: ``rhbatch.open(DIR)`` and what ``rhbatch.run``
returns.

A ``Run`` is an output directory (a run's, a merged one, or the ``--state`` of a
run into object storage) read through its ``manifest.jsonl``: its jobs as
``Job`` records, their counts and money, and the same as tables (pandas, a
Hugging Face dataset). Nothing here sends anything or changes the directory.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhbatch.errors import UsageError

__all__ = ["Job", "Run", "open_run"]


@dataclass(frozen=True)
class Job:
    """One job of a run, as its manifest records it."""

    id: str
    index: int
    status: str  # succeeded, failed, unknown, unfetched, pending, ...
    endpoint: str
    params: Mapping[str, Any]  # as sent (local files as the URLs they were uploaded to)
    prompt: str | None
    files: tuple[Path | str, ...]  # paths (or object URLs, with --out s3://...)
    cost: float | None  # CNY billed
    task_id: str | None
    error: str | None
    history: tuple[Mapping[str, Any], ...]  # earlier versions (the spec changed since)
    record: Mapping[str, Any] = field(repr=False)  # the manifest's whole record


class Run:
    """A run's output directory (``rhbatch.open(DIR)``, or what ``rhbatch.run`` returns):
    its jobs, counts and money, as tables. Reads ``manifest.jsonl`` (merged directories
    too), each time it is asked."""

    def __init__(self, directory: str | Path, *, exit_code: int = 0, url: str | None = None):
        self.dir = Path(directory)
        self.url = url  # --out s3://...: where the files are (self.dir holds the state)
        self.exit_code = exit_code  # rhbatch run's: 0 all succeeded, 1 not all, 3, 4, 130
        self.log = ""  # with progress=False: what rhbatch run would have printed
        if not (self.dir / "manifest.jsonl").is_file():
            raise UsageError(
                f"{self.dir}: no manifest.jsonl here; give the output directory of a run"
            )

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items()))
        return f"<rhbatch.Run {self.dir} ({counts}; {self.cost:.2f} CNY)>"

    def records(self) -> Iterator[dict[str, Any]]:
        from rhbatch import readers

        for _, line in readers.lines(self.dir / "manifest.jsonl"):
            if line.strip():
                record = readers.parse_json(line)
                if isinstance(record, dict):
                    yield record

    @property
    def jobs(self) -> list[Job]:
        from rhbatch.models import prompt_of

        field_name = self._run_info().get("promptField")
        history = self._history()
        out = []
        for r in self.records():
            params = r.get("params") or {}
            out.append(
                Job(
                    id=str(r.get("id")),
                    index=int(r.get("index") or 0),
                    status=str(r.get("status")),
                    endpoint=str(r.get("endpoint")),
                    params=params,
                    prompt=prompt_of(params, field_name) or None,
                    files=tuple(self._file(str(o["path"])) for o in r.get("outputs") or ()),
                    cost=r.get("cost"),
                    task_id=r.get("taskId"),
                    error=r.get("errorMessage") or r.get("errorCode"),
                    history=tuple(history.get(str(r.get("id")), ())),
                    record=r,
                )
            )
        return out

    def _file(self, path: str) -> Path | str:
        return f"{self.url}/{path}" if self.url else self.dir / path

    def _run_info(self) -> dict[str, Any]:
        with contextlib.suppress(Exception):
            from rhbatch.store.manifest import read_run

            return dict(read_run(self.dir))
        return {}

    def _history(self) -> dict[str, list[dict[str, Any]]]:
        """Earlier versions of each job, from the state store (none for a merged dir)."""
        from rhbatch.store.state import STATE_DIR, Store

        found: dict[str, list[dict[str, Any]]] = {}
        if not (self.dir / STATE_DIR / "state.db").is_file():
            return found
        with Store.open(self.dir, lock=False, create=False) as store:
            for v in store.versions():
                found.setdefault(v.job_id, []).append(
                    {
                        "version": v.v,
                        "status": v.status,
                        "cost": v.cost,
                        "task_id": v.task_id,
                        "files": [str(self.dir / o.path) for o in v.outputs],
                    }
                )
        return found

    @property
    def counts(self) -> dict[str, int]:
        """Jobs by status."""
        return dict(Counter(str(r.get("status")) for r in self.records()))

    @property
    def cost(self) -> float:
        """What the current jobs were billed (CNY)."""
        return round(sum(float(r.get("cost") or 0.0) for r in self.records()), 4)

    def to_pandas(self) -> Any:
        """A pandas DataFrame, a row per job (id, status, endpoint, prompt, cost, task_id,
        error, files, and each parameter as ``param.NAME``). Needs pandas."""
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise UsageError(
                "Run.to_pandas() needs pandas: pip install pandas (or 'rhbatch[dataset]')"
            ) from None
        rows = []
        for job in self.jobs:
            row: dict[str, Any] = {
                "id": job.id,
                "status": job.status,
                "endpoint": job.endpoint,
                "prompt": job.prompt,
                "cost": job.cost,
                "task_id": job.task_id,
                "error": job.error,
                "files": [str(f) for f in job.files],
            }
            for name, value in job.params.items():
                row[f"param.{name}"] = value
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dataset(self) -> Any:
        """A Hugging Face ``datasets.Dataset`` of the result files (``metadata.jsonl``,
        a row per file). Needs the ``dataset`` extra."""
        try:
            import datasets  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise UsageError(
                "Run.to_dataset() needs the dataset extra: pip install 'rhbatch[dataset]'"
            ) from None
        metadata = self.dir / "metadata.jsonl"
        if not metadata.is_file():
            raise UsageError(f"{self.dir}: no metadata.jsonl (a run of an older rhbatch?)")
        return datasets.Dataset.from_json(str(metadata))


def open_run(directory: str | Path) -> Run:
    """The run whose output is ``directory`` (a run's, a merged one, or the ``--state`` of
    a run into object storage)."""
    url = None
    with contextlib.suppress(Exception):
        from rhbatch.store.state import STATE_DIR, Store

        if (Path(directory) / STATE_DIR / "state.db").is_file():
            with Store.open(Path(directory), lock=False, create=False) as store:
                url = store.get_meta("out_url") or None
    return Run(directory, url=url)
