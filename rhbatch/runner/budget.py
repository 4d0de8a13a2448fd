"""A hard cap on what a batch may spend: ``run --max-spend`` (or ``run.max_spend``).

The cap covers everything billed for the jobs of the output directory, over
all its runs. A task is submitted only if what is already billed, plus what
every task in flight may still be billed, plus its own price stays within the
cap. What a task may be billed is its quote times the most any task of its
endpoint has been billed over its quote so far (at least 1): a server that
bills more than it quoted is learned from. While no task of an endpoint has
been billed yet, that ratio is unknown, so one task of that endpoint is in
flight at a time until the first bill. A task whose outcome is unknown counts
as billed at what it holds. At the cap the run stops submitting
(``SpendCapReached``, exit 4); tasks in flight finish and are fetched, and a
rerun with a higher cap submits only the rest.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import Enum

EPSILON = 1e-9  # money in floats: forgive rounding dust


class Admit(Enum):
    GO = "go"  # submit: the price is held against the cap
    WAIT = "wait"  # a task of the endpoint is in flight and its billing is not known yet
    FULL = "full"  # over the cap: submit nothing more


@dataclass
class _Hold:
    endpoint: str
    amount: float  # what the task may be billed, held against the cap
    quoted: float


class Budget:
    def __init__(self, cap: float | None, billed: float = 0.0) -> None:
        self.cap = cap
        self.billed = billed  # billed so far for the batch's jobs
        self._holds: dict[str, _Hold] = {}  # job id -> what its task in flight holds
        self._kept = 0.0  # held by tasks whose outcome is unknown: maybe billed
        self._ratios: dict[str, float] = {}  # endpoint -> most billed / quoted seen
        self.changed = asyncio.Event()  # set when a hold is released or settled

    @property
    def held(self) -> float:
        return sum(h.amount for h in self._holds.values()) + self._kept

    def admit(self, job_id: str, endpoint: str, quoted: float | None) -> Admit:
        """May this job's task be submitted now? ``GO`` holds its price against the cap."""
        self.changed.clear()
        if self.cap is None or quoted is None:  # no cap, or an unpriced job let through
            return Admit.GO
        before = self._holds.pop(job_id, None)  # its own earlier hold (a try not made)
        ratio = self._ratios.get(endpoint)
        if ratio is None and any(h.endpoint == endpoint for h in self._holds.values()):
            return Admit.WAIT
        amount = quoted * max(1.0, ratio or 1.0)
        if self.billed + self.held + amount > self.cap + EPSILON:
            if before is not None:
                self.changed.set()
            return Admit.FULL
        self._holds[job_id] = _Hold(endpoint, amount, quoted)
        return Admit.GO

    def hold(self, job_id: str, endpoint: str, quoted: float | None) -> None:
        """A task in flight from an earlier run: it holds its price whatever the cap."""
        if quoted is not None:
            ratio = max(1.0, self._ratios.get(endpoint) or 1.0)
            self._holds[job_id] = _Hold(endpoint, quoted * ratio, quoted)

    def maybe(self, job_id: str, amount: float) -> None:
        """A task of an earlier run whose outcome is unknown: it may have been billed."""
        self._kept += amount

    def holding(self, job_id: str) -> bool:
        return job_id in self._holds

    def keep(self, job_id: str) -> None:
        """The task's outcome is unknown: what it holds stays counted as maybe billed. Jobs
        waiting for this endpoint's first bill may go now (one at a time still)."""
        found = self._holds.pop(job_id, None)
        if found is not None:
            self._kept += found.amount
            self.changed.set()

    def release(self, job_id: str) -> None:
        """No task was made (or it ended unbilled): it holds nothing more."""
        if self._holds.pop(job_id, None) is not None:
            self.changed.set()

    def settle(self, job_id: str, billed: float) -> None:
        """The task ended and was billed ``billed``."""
        self.billed += billed
        found = self._holds.pop(job_id, None)
        if found is not None and billed > 0 and found.quoted > 0:
            seen = self._ratios.get(found.endpoint, 0.0)
            self._ratios[found.endpoint] = max(seen, billed / found.quoted)
        self.changed.set()

    def left(self) -> float | None:
        """What may still be spent (None: no cap)."""
        if self.cap is None:
            return None
        return max(0.0, self.cap - self.billed - self.held)
