"""Shards: one spec run by N workers, each taking the jobs whose stable id hashes to it.

``--shard i/N`` keeps the jobs of shard ``i`` (0-based): the first 16 hex
digits of the sha256 of a job's id, modulo N. Ids are stable, so every worker
that expands the same spec agrees on the split without talking to the others,
and a rerun of a shard resumes the same jobs. A job that uses others
(pipelines) goes with the job at the root of its chain, so that a whole chain
runs on one worker; a job whose inputs come from chains of different shards
cannot be sharded, and is refused before anything is sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from rhbatch.errors import UsageError


class Chained(Protocol):
    """A job as the split reads it (an expanded ``Job``, or one spooled)."""

    @property
    def id(self) -> str: ...

    @property
    def uses(self) -> Mapping[str, str]: ...


_SHARD = re.compile(r"^\s*(\d{1,6})\s*/\s*(\d{1,6})\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` as (i, N), 0 <= i < N; UsageError otherwise."""
    m = _SHARD.match(text or "")
    if m is None:
        raise UsageError(f"--shard wants I/N, e.g. 0/4 (the first of four), not {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text}: I must be from 0 to N-1, with N at least 1")
    return i, n


def shard_of(job_id: str, n: int) -> int:
    """The shard (0 to n-1) a job id belongs to."""
    return int(hashlib.sha256(job_id.encode()).hexdigest()[:16], 16) % n


class Sharder:
    """Tells which jobs belong to shard ``index`` of ``count``; ``uses`` maps each job that
    uses others to their ids (collected from the whole spec first)."""

    def __init__(self, index: int, count: int, uses: dict[str, dict[str, str]]) -> None:
        self.index, self.count, self.uses = index, count, uses

    @classmethod
    def of(cls, index: int, count: int, jobs: Iterable[Chained]) -> Sharder:
        return cls(index, count, {job.id: dict(job.uses) for job in jobs if job.uses})

    def root(self, job_id: str) -> str:
        """The job at the root of the chain a job belongs to (its first input's, and so on)."""
        seen = set()
        while job_id in self.uses and job_id not in seen:
            seen.add(job_id)
            job_id = sorted(self.uses[job_id].values())[0]
        return job_id

    def keeps(self, job: Chained) -> bool:
        shard = shard_of(self.root(job.id), self.count)
        for used in job.uses.values():
            other = shard_of(self.root(used), self.count)
            if other != shard:
                raise UsageError(
                    f"job {job.id} uses {used}, whose chain runs in shard {other}/{self.count} "
                    f"while its first input's runs in {shard}/{self.count}: a job's inputs "
                    "must come from one chain to be sharded (or run the spec unsharded)"
                )
        return shard == self.index
