"""Which jobs changed since the manifest was last written: what its periodic rewrite renders.

During a run the manifest is rewritten about every second. Rendering every job's
line each time costs in proportion to the whole spec; rendering only the jobs
that changed (and copying the other lines from the file as it was written) costs
in proportion to what happened. So every write of the store that changes what a
job's manifest line shows (its row, its attempts' task ids, its outputs) marks
the job here, and a write that changes many jobs at once, or whose reach is not
known (a sync, a recovery, a restore from a bucket, a transaction given up),
marks everything: the next write is then a full one. Marking more than changed
is always safe: a line rendered again is the line a full write gives.

``written`` says what this process last wrote (the file's size, time and inode,
its line count, the spec versions it named): an incremental rewrite checks the
file against it and falls back to a full write when anything differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Past this many marked jobs, everything: the set (and the list of their positions an
# incremental write sorts) stays within a couple of MB however long the spec, and a full
# write costs little more than rendering that many lines and copying the rest. A real
# run changes a few jobs a second; only a run of instant tasks reaches this between two
# writes (at 100,000 it held some 25 MB at a million jobs).
MAX_MARKED = 10_000


@dataclass(frozen=True)
class Written:
    """The manifest as this process last wrote it."""

    path: Path
    lines: int  # one per job of the spec
    rendered: int  # lines rendered from the store by that write (the others were copied)
    specs: dict[int, str]  # each spec version's record as the lines name it
    stat: tuple[int, int, int]  # the file's size, modification time (ns) and inode after it


class Changes:
    """The jobs marked since the manifest was last written (or everything)."""

    def __init__(self) -> None:
        # Everything, until a first write: nothing is known about the file yet.
        self._all = True
        self._ids: set[str] = set()
        self.written: Written | None = None

    def job(self, job_id: str) -> None:
        if not self._all:
            self._ids.add(job_id)
            if len(self._ids) > MAX_MARKED:
                self.everything()

    def everything(self) -> None:
        self._all, self._ids = True, set()

    def take(self) -> set[str] | None:
        """The jobs marked since the last take (None: everything), forgotten from here."""
        found = None if self._all else self._ids
        self._all, self._ids = False, set()
        return found
