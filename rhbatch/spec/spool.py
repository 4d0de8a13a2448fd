"""A spec's jobs, expanded once and kept for every later step of a command.

Validation expands the spec and sees every job; a run needs them again: to
merge them into the state store, to split them into shards, to plan them
against a directory, to preview their prices. Expanding again costs as much as
the first time (tens of seconds at a million jobs), so validation writes each
valid job here as it sees it, as a compact row with its price and variables,
and every later step reads the rows back in the spec's order. Rows are kept in
memory up to 4 MiB and in a temporary file beyond (flat memory at any size);
the file is gone when the spool is closed.
"""

from __future__ import annotations

import marshal
import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import Any, NamedTuple

from rhbatch.endpoints.registry import Registry
from rhbatch.models import Job

# Bytes of rows kept in memory before they go to a temporary file: 10,000 jobs of a
# short spec fit; at 64 MiB a run's peak memory grew by 50 MB from 100,000 jobs to a
# million (the rows of the million went to the file only past 64 MiB).
IN_MEMORY = 4 << 20
BATCH = 1024  # rows written (and read) as one block


class Staged(NamedTuple):
    """One job of the spec as every step after validation reads it."""

    id: str
    idx: int  # its position in the spec (0-based)
    endpoint: str
    params: dict[str, Any]
    quoted: float | None  # its price by the public list; None: the list cannot price it
    uses: dict[str, str]  # {name: id} of the jobs whose results it takes
    vars: dict[str, Any]  # the variables it was made with that are not parameters


def job_vars(job: Job, reg: Registry) -> dict[str, Any]:
    """The variables a job was made with that are not parameters of its endpoint (the
    manifest's ``vars``): its entry's ``vars``, the columns of its row (``jobs_from``)
    and its matrix values, the later winning. The spec's own ``vars`` are the same for
    every job and left out."""
    schema = reg.schema(job.endpoint)
    found: dict[str, Any] = dict(job.entry.vars)
    if job.entry.row:
        found.update(job.entry.params)
    for point in job.combo:
        found.update(point.values)
    return {k: v for k, v in found.items() if k not in job.params and not schema.knows(k)}


class Spool:
    """The valid jobs of one expansion, in order: ``add`` while validating, then read
    them back (``iter(spool)``) as often as needed."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.count = 0
        self.piped = False  # some job takes results of others
        self._file = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115
        self._batch: list[tuple[Any, ...]] = []

    def add(self, job: Job, quoted: float | None) -> None:
        uses = dict(job.uses)
        self.piped = self.piped or bool(uses)
        row = (
            job.id,
            job.index,
            job.endpoint,
            job.params,
            quoted,
            uses,
            job_vars(job, self.registry),
        )
        self._batch.append(row)
        self.count += 1
        if len(self._batch) >= BATCH:
            self._flush()

    def __iter__(self) -> Iterator[Staged]:
        self._flush()
        self._file.seek(0)
        while head := self._file.read(4):
            block = self._file.read(int.from_bytes(head, "little"))
            for row in marshal.loads(block):
                yield Staged(*row)

    def _flush(self) -> None:
        if self._batch:
            block = marshal.dumps(self._batch)
            self._file.seek(0, 2)
            self._file.write(len(block).to_bytes(4, "little") + block)
            self._batch = []

    def close(self) -> None:
        self._batch = []
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
