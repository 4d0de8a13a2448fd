"""What an output directory holds beyond its spec's current jobs: ``rhbatch status`` shows it.

The money of every version ever run into the directory (what the current
versions cost, what the whole directory cost, what may still be billed), the
spec versions the current results come from (git commits where there are
some), the earlier versions kept in ``history/``, and the jobs the spec no
longer names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rhbatch.commands.common import plural
from rhbatch.runner.quote import money
from rhbatch.store.history import SpecVersion, VersionRow
from rhbatch.store.state import Store

SHOWN = 10  # versions and dropped jobs listed in text


@dataclass
class Directory:
    current: float  # what the current versions of the spec's jobs were billed
    spent: float  # what the whole directory was billed
    maybe: list[tuple[str, float | None, str]]  # tasks whose bill is not known
    specs: dict[int, SpecVersion]
    sources: dict[int, int]  # spec version -> succeeded current jobs it made
    versions: list[VersionRow]
    gone: list[tuple[str, str, float | None]] = field(default_factory=list)  # id, status, billed

    @classmethod
    def of(cls, store: Store) -> Directory:
        gone = [
            (str(r[0]), str(r[1]), r[2])
            for r in store.conn.execute(
                "SELECT id, status, cost FROM jobs WHERE in_spec=0 ORDER BY idx"
            )
        ]
        return cls(
            current=store.current_cost(),
            spent=store.spent(),
            maybe=store.maybe_billed(),
            specs=store.spec_versions(),
            sources=store.current_specs(),
            versions=store.versions(),
            gone=gone,
        )

    @property
    def maybe_total(self) -> float:
        return round(sum(q or 0.0 for _, q, _ in self.maybe), 4)

    def record(self) -> dict[str, Any]:
        """As ``status --json`` shows it."""
        return {
            "currentCost": self.current,
            "spent": self.spent,
            "maybeBilled": self.maybe_total,
            "tasksOfUnknownBill": [{"id": i, "quoted": q, "why": why} for i, q, why in self.maybe],
            "specVersions": [v.record() | {"n": n} for n, v in sorted(self.specs.items())],
            "currentResultsFrom": [
                {"specVersion": n or None, "jobs": jobs} for n, jobs in sorted(self.sources.items())
            ],
            "versions": [
                {
                    "id": v.job_id,
                    "version": v.v,
                    "status": v.status,
                    "taskId": v.task_id,
                    "billed": v.cost,
                    "quoted": v.quoted,
                    "specVersion": v.spec,
                    "files": [o.path for o in v.outputs],
                }
                for v in self.versions
            ],
            "notInSpec": [{"id": i, "status": s, "billed": b} for i, s, b in self.gone],
        }

    def show(self) -> None:
        """As ``status`` prints it (only what there is to say)."""
        if self.spent > self.current + 0.005 or self.maybe:
            line = f"spent in this directory: {money(self.spent)} in all"
            if self.maybe:
                line += (
                    f"; up to {money(self.maybe_total)} more for "
                    f"{plural(len(self.maybe), 'task')} whose bill is not known"
                )
            print(line)
        if self.sources:
            sources = "; ".join(self._source(n, k) for n, k in self._order())
            print(f"current results from: {sources}")
        if self.versions:
            states = Counter(v.status for v in self.versions)
            billed = round(sum(v.cost or 0.0 for v in self.versions), 4)
            print(
                f"earlier versions kept: {len(self.versions):,} "
                f"({', '.join(f'{n} {s}' for s, n in states.most_common())}; "
                f"{money(billed)} billed), in history/:"
            )
            for v in self.versions[:SHOWN]:
                bill = "bill not known" if v.cost is None else money(v.cost)
                files = plural(len(v.outputs), "file")
                print(f"  {v.job_id} v{v.v}: {v.status}, {bill}, {files}")
            if len(self.versions) > SHOWN:
                print(f"  ... and {len(self.versions) - SHOWN:,} more (rhbatch status --json)")
        if self.gone:
            gone_billed = round(sum(b or 0.0 for *_, b in self.gone), 4)
            print(
                f"in the directory, not in the spec now: {plural(len(self.gone), 'job')} "
                f"({money(gone_billed)} billed; kept, not run)"
            )
            for job_id, status, cost in self.gone[:SHOWN]:
                print(f"  {job_id}: {status}" + ("" if cost is None else f", {money(cost)}"))
            if len(self.gone) > SHOWN:
                print(f"  ... and {len(self.gone) - SHOWN:,} more (rhbatch status --json)")

    def _order(self) -> list[tuple[int, int]]:
        return sorted(self.sources.items(), key=lambda kv: -kv[1])

    def _source(self, n: int, jobs: int) -> str:
        found = self.specs.get(n)
        where = found.label() if found is not None else "an earlier rhbatch (no record)"
        return f"{where}: {plural(jobs, 'job')}"
