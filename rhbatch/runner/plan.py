"""What running a spec into a directory would do, and cost: the plan against the directory.

As ``terraform plan`` does for infrastructure, ``compare`` sets the spec's
jobs against what the directory's store holds, sending nothing: jobs that are
new, jobs whose parameters changed (each field, old value and new), jobs
unchanged (still to run, followed or fetched again, or done and skipped),
and jobs in the directory that the spec no longer names. Each group is priced
by the public price list; the plan adds this run's price to what the
directory has cost so far. ``rhbatch plan SPEC --out DIR`` and ``run
--dry-run`` print it (``commands/plan_report.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rhbatch.models import JobStatus, canonical_json
from rhbatch.runner.quote import Quote
from rhbatch.store.history import Change, fields_changed, shown_value
from rhbatch.store.seen import FirstSeen
from rhbatch.store.state import Store, chunks

CHUNK = 500  # jobs looked up in the store per query
EXAMPLES = 20  # ids kept per group for the text; --json lists them all


@dataclass
class Changed:
    """A job whose parameters changed: it runs again as a new version."""

    id: str
    changes: list[Change]
    quoted: float | None
    kept: bool  # its version that ran is kept as history (it had sent something)


@dataclass
class Planned:
    """The plan of a spec against a directory."""

    jobs: int = 0  # in the spec
    new: Quote = field(default_factory=Quote)
    changed: Quote = field(default_factory=Quote)
    changes: list[Changed] = field(default_factory=list)
    to_run: Quote = field(default_factory=Quote)  # unchanged, not yet run (or sent again)
    unchanged: Counter[JobStatus] = field(default_factory=Counter)  # by status, none to send
    followed: int = 0  # unchanged, with a task to follow or files to fetch: nothing sent
    gone: list[tuple[str, JobStatus, float | None]] = field(default_factory=list)
    spent: float = 0.0  # what the directory has been billed so far
    maybe: float = 0.0  # what tasks whose bill is not known may have cost
    versions: int = 0  # earlier versions the directory keeps
    new_ids: list[str] = field(default_factory=list)
    to_run_ids: list[str] = field(default_factory=list)

    @property
    def run(self) -> Quote:
        """Everything this run would submit."""
        out = Quote()
        for part in (self.new, self.changed, self.to_run):
            out.jobs += part.jobs
            out.total = round(out.total + part.total, 4)
            out.unpriced += part.unpriced
            for endpoint, amount in part.per_endpoint.items():
                out.per_endpoint[endpoint] = round(out.per_endpoint.get(endpoint, 0) + amount, 4)
            for endpoint, n in part.jobs_per_endpoint.items():
                out.jobs_per_endpoint[endpoint] = out.jobs_per_endpoint.get(endpoint, 0) + n
        return out

    @property
    def after(self) -> float:
        """What the directory would have cost once this run's jobs are billed as quoted."""
        return round(self.spent + self.run.total, 4)


JobLine = tuple[str, int, str, dict[str, Any], float | None, dict[str, str] | None]


def compare(
    store: Store | None,
    jobs: Iterable[JobLine],
    *,
    retry_failed: bool = False,
    resubmit_unknown: bool = False,
) -> Planned:
    """The plan of ``jobs`` ``(id, index, endpoint, params, quoted, uses)`` against
    ``store`` (None: a directory with nothing in it yet). Reads only."""
    plan = Planned()
    with FirstSeen() as named:
        for chunk in chunks(jobs, CHUNK):
            known = _known(store, [job[0] for job in chunk])
            for job in chunk:
                named.add(job[0], ())
                _place(plan, job, known.get(job[0]), retry_failed, resubmit_unknown)
        if store is not None:
            plan.gone.extend(_not_named(store, named))
            plan.spent = store.spent()
            plan.maybe = round(sum(q or 0.0 for _, q, _ in store.maybe_billed()), 4)
            plan.versions = store.version_count()
    return plan


_RUNS = {JobStatus.PENDING, JobStatus.BLOCKED}
_FOLLOWED = {JobStatus.RUNNING, JobStatus.DOWNLOADING, JobStatus.SUBMITTING, JobStatus.UNFETCHED}


def _place(
    plan: Planned,
    job: JobLine,
    before: tuple[str, str | None, JobStatus, int, str | None, str] | None,
    retry_failed: bool,
    resubmit_unknown: bool,
) -> None:
    job_id, _, endpoint, params, quoted, uses = job
    plan.jobs += 1
    if before is None:
        plan.new.add(job_id, endpoint, quoted)
        plan.new_ids.append(job_id)
        return
    old_params, old_uses, status, attempts, task_id, old_endpoint = before
    new_uses = canonical_json(uses) if uses else None
    if old_params != canonical_json(params) or old_uses != new_uses:
        changes = fields_changed(json.loads(old_params), params)
        if old_uses != new_uses:
            changes.append(Change("uses", shown_value(old_uses), shown_value(new_uses)))
        if old_endpoint != endpoint:
            changes.insert(0, Change("endpoint", old_endpoint, endpoint))
        plan.changed.add(job_id, endpoint, quoted)
        plan.changes.append(Changed(job_id, changes, quoted, attempts > 0))
        return
    again = (status is JobStatus.FAILED and retry_failed) or (
        status is JobStatus.UNKNOWN and task_id is None and resubmit_unknown
    )
    if status in _RUNS or again:
        plan.to_run.add(job_id, endpoint, quoted)
        plan.to_run_ids.append(job_id)
    elif status in _FOLLOWED or (status is JobStatus.UNKNOWN and task_id is not None):
        plan.followed += 1
    else:
        plan.unchanged[status] += 1


def _known(
    store: Store | None, ids: list[str]
) -> dict[str, tuple[str, str | None, JobStatus, int, str | None, str]]:
    if store is None:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.conn.execute(
        f"SELECT id, params, uses, status, attempts, task_id, endpoint FROM jobs "
        f"WHERE id IN ({marks})",
        ids,
    ).fetchall()
    return {r[0]: (r[1], r[2] or None, JobStatus(r[3]), int(r[4]), r[5], r[6]) for r in rows}


def _not_named(store: Store, named: FirstSeen) -> Iterator[tuple[str, JobStatus, float | None]]:
    """The jobs in the directory that this spec does not name: those its last run named
    first, then those earlier runs named."""
    for job_id, status, cost in store.conn.execute(
        "SELECT id, status, cost FROM jobs ORDER BY in_spec DESC, idx"
    ):
        if named.add(job_id, ()) is None:
            yield job_id, JobStatus(status), cost
