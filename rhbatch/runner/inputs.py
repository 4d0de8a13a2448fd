"""A job's inputs from the jobs it uses (pipelines): when it may start, and what it is sent.

A job that names others in ``uses`` starts once each of them has succeeded (its
files are in); if one failed, is unknown, unfetched or blocked, the job is
``blocked`` with the reason and sent nothing (a later run looks again). Its
``{name.url}``, ``{name.urls}`` and ``{name.text}`` are filled just before the
submit, from the used job's results as the store has them. A result URL may
have expired by then (after a long stage, or on a resume days later): one older
than ``url_max_age`` is replaced by an upload of the downloaded file, and a
workflow's or app's input always takes the upload's file name. So a job is
never sent a dead URL while the file is on disk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from rhbatch.models import JobRow, JobStatus, RunSettings, pinned_kind
from rhbatch.runner.uploads import Uploader, UploadFailed
from rhbatch.spec import templates
from rhbatch.spec.pipes import refs_in
from rhbatch.store.state import Store

URL_MAX_AGE = RunSettings().url_max_age  # RunningHub seconds: older result URLs are uploaded afresh
# A used job in these may still succeed in this run: the job that uses it waits.
_WAITING = frozenset(
    {JobStatus.PENDING, JobStatus.SUBMITTING, JobStatus.RUNNING, JobStatus.DOWNLOADING}
)


class Readiness(Enum):
    """Whether a job that uses others may start."""

    READY = "ready"  # every job it uses succeeded
    WAIT = "wait"  # some it uses may still succeed in this run
    BLOCKED = "blocked"  # one it uses did not succeed (or is not in the store)


@dataclass(frozen=True)
class StartVerdict:
    """A job's ``readiness``; with WAIT, the ids of the used jobs it ``waits_for``; with
    BLOCKED, the ``reason`` (which job, and why)."""

    readiness: Readiness
    waits_for: tuple[str, ...] = ()
    reason: str = ""


READY = StartVerdict(Readiness.READY)


class Inputs:
    def __init__(
        self,
        store: Store,
        uploader: Uploader,
        out_dir: Path,
        *,
        speed: float = 1.0,
        url_max_age: float = URL_MAX_AGE,
    ) -> None:
        self.store, self.uploader, self.out_dir = store, uploader, out_dir
        self.speed, self.url_max_age = speed, url_max_age

    def verdict(self, row: JobRow) -> StartVerdict:
        """Whether the job may start: ready, waiting for the used jobs not done yet, or
        blocked by one that did not succeed."""
        waiting: list[str] = []
        for name, job_id in row.uses.items():
            try:
                used = self.store.job(job_id)
            except KeyError:
                why = f"uses.{name}: job {job_id} is not in the store"
                return StartVerdict(Readiness.BLOCKED, reason=why)
            if used.status is JobStatus.SUCCEEDED:
                continue
            if used.status in _WAITING:
                waiting.append(job_id)
                continue
            why = f": {used.error_message}" if used.error_message else ""
            why = f"job {job_id} (uses.{name}) is {used.status.value}{why}"
            return StartVerdict(Readiness.BLOCKED, reason=why)
        return StartVerdict(Readiness.WAIT, tuple(waiting)) if waiting else READY

    async def resolve(self, row: JobRow) -> tuple[dict[str, Any], dict[str, Any]]:
        """The job's parameters with the used jobs' results filled in, and where each came
        from (``{param: "job <id> result <n>"}``). UploadFailed when a result it names is
        missing or its file cannot be uploaded."""
        refs = refs_in(row.params, row.uses)
        pinned = pinned_kind(row.endpoint) is not None
        variables: dict[str, Any] = {}
        for name in {ref.name for ref in refs}:
            used = self.store.job(row.uses[name])
            files = await self._files(used, pinned)
            texts = [r.text for r in used.results if r.text is not None]
            variables[f"{name}.urls"] = [url for url, _ in files]
            variables[f"{name}.url"] = files[0][0] if files else None
            variables[f"{name}.text"] = texts[0] if texts else None
            variables[f"{name}.from"] = files[0][1] if files else f"job {used.id}"
        sources: dict[str, Any] = {}
        for ref in refs:
            if variables[f"{ref.name}.{ref.what}"] in (None, []):
                kind = "text" if ref.what == "text" else "file"
                used_id = row.uses[ref.name]
                raise UploadFailed("INPUT", f"job {used_id} made no {kind} for {ref.path}")
            key = ref.path.split("[")[0]
            sources[key] = (
                variables[f"{ref.name}.from"]
                if ref.what == "url"
                else (f"job {row.uses[ref.name]}")
            )
        # One pass over the template the expansion left: the results go in, literal braces
        # become single again; no text put in is read as a placeholder.
        params = {key: templates.fill(value, variables) for key, value in row.params.items()}
        return params, sources

    async def _files(self, used: JobRow, pinned: bool) -> list[tuple[str, str]]:
        """(URL or uploaded name, what it is) of each file a used job made, fresh."""
        outputs = {o.n: o for o in self.store.outputs(used.id)}
        age = (time.time() - (used.finished_at or time.time())) * self.speed
        out = []
        for n, result in enumerate(used.results, start=1):
            url = result.url
            if not url:
                continue
            shown = f"job {used.id} result {n}"
            saved = outputs.get(n)
            if saved is not None and (pinned or age > self.url_max_age):
                path = str((self.out_dir / saved.path).resolve())
                url = await self.uploader.upload_path(path, pinned)
                shown += f" (uploaded again from {saved.path})"
            out.append((str(url), shown))
        return out
