"""How a run stops: the two events every wait watches, and the error that stopped it.

``closed`` ends submitting (tasks in flight go on, so no money is lost);
``stopping`` ends everything now (Ctrl-C, a rejected key). ``halt`` is how a job,
a download or a chore tells the run of a systemic failure: out of money, the
tasks in flight are finished; anything else stops the run at once. The first
error is the one the run raises at its end.
"""

from __future__ import annotations

from rhbatch.errors import FatalError, FundsError, SpendCapReached
from rhbatch.runner.clock import Flag
from rhbatch.runner.progress import Reporter


class Stops:
    def __init__(self, report: Reporter) -> None:
        self.report = report
        self.stopping = Flag()  # set: everything winds down now (Ctrl-C, a rejected key)
        self.closed = Flag()  # set: no new submits; tasks in flight go on (no money)
        self.fatal: FatalError | None = None

    def stop(self) -> None:
        """Stop starting jobs; jobs in flight wind down at their next step."""
        self.closed.set()
        self.stopping.set()

    def drain(self) -> None:
        """Submit nothing more, but see the tasks in flight through to their files."""
        self.closed.set()

    def halt(self, error: FatalError) -> None:
        """A systemic failure: out of money, finish what is in flight; otherwise stop now."""
        draining = isinstance(error, FundsError | SpendCapReached)
        if self.fatal is None:
            self.fatal = error
            if draining:
                self.report.message(f"rhbatch: {error}; finishing the tasks in flight")
            else:
                self.report.message(f"rhbatch: stopping: {error}")
        if draining:
            self.drain()
        else:
            self.stop()
