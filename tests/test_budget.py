"""The spending cap on its own: what it admits, holds, learns and lets go."""

from __future__ import annotations

import pytest

from rhbatch.runner.budget import Admit, Budget

E = "rhart-video/sparkvideo-2.0/multimodal-video"
F = "seedance-v1-lite/reference-to-video"


def test_without_a_cap_everything_goes_and_nothing_is_held() -> None:
    """No cap: every job is admitted; bills still add up."""
    budget = Budget(None)
    assert budget.admit("a", E, 1000.0) is Admit.GO
    budget.settle("a", 12.5)
    assert (budget.billed, budget.held, budget.left()) == (12.5, 0.0, None)


def test_a_job_goes_only_while_billed_plus_held_plus_its_price_fit() -> None:
    """The cap counts what is billed, what tasks in flight hold, and the job's own price."""
    budget = Budget(10.0, billed=4.0)
    assert budget.admit("a", E, 3.0) is Admit.GO  # 4 + 3 = 7
    budget.settle("a", 3.0)  # billed 7: E's ratio is now known (1.0)
    assert budget.admit("b", E, 2.0) is Admit.GO  # 7 + 2 = 9
    assert budget.admit("c", E, 1.5) is Admit.FULL  # 7 + 2 + 1.5 = 10.5
    assert budget.admit("d", E, 1.0) is Admit.GO  # exactly 10
    assert budget.left() == pytest.approx(0.0)


def test_one_task_of_an_endpoint_at_a_time_until_its_first_bill() -> None:
    """Before any task of an endpoint is billed, a second one waits; other endpoints go."""
    budget = Budget(100.0)
    assert budget.admit("a", E, 5.0) is Admit.GO
    assert budget.admit("b", E, 5.0) is Admit.WAIT
    assert budget.admit("c", F, 1.0) is Admit.GO
    budget.settle("a", 5.0)
    assert budget.changed.is_set()
    assert budget.admit("b", E, 5.0) is Admit.GO


def test_a_server_billing_more_than_quoted_is_learned() -> None:
    """Once an endpoint was billed 1.5 times its quote, its jobs hold 1.5 times theirs."""
    budget = Budget(20.0)
    assert budget.admit("a", E, 4.0) is Admit.GO
    budget.settle("a", 6.0)  # ratio 1.5
    assert budget.admit("b", E, 4.0) is Admit.GO
    assert budget.held == pytest.approx(6.0)
    assert budget.admit("c", E, 4.0) is Admit.GO  # 6 + 6 + 6 = 18
    assert budget.admit("d", E, 4.0) is Admit.FULL  # would be 24


def test_a_failed_task_lets_its_hold_go_and_teaches_nothing() -> None:
    """A task that is not billed frees what it held; the endpoint's ratio stays unknown."""
    budget = Budget(10.0)
    assert budget.admit("a", E, 6.0) is Admit.GO
    budget.settle("a", 0.0)
    assert (budget.billed, budget.held) == (0.0, 0.0)
    assert budget.admit("b", E, 6.0) is Admit.GO
    assert budget.admit("c", E, 1.0) is Admit.WAIT  # still no bill of E seen


def test_a_try_not_made_does_not_count_twice() -> None:
    """A job admitted again (its submit was refused) replaces its own earlier hold."""
    budget = Budget(10.0)
    assert budget.admit("a", E, 6.0) is Admit.GO
    assert budget.admit("a", E, 6.0) is Admit.GO
    assert budget.held == pytest.approx(6.0)
    budget.release("a")
    assert budget.held == 0.0


def test_an_unknown_outcome_stays_counted_as_maybe_billed() -> None:
    """A task whose outcome is unknown keeps what it held; so do unknown jobs of earlier
    runs."""
    budget = Budget(10.0)
    assert budget.admit("a", E, 4.0) is Admit.GO
    budget.keep("a")
    budget.maybe("old", 3.0)
    assert not budget.holding("a")
    assert budget.held == pytest.approx(7.0)
    assert budget.admit("b", F, 3.5) is Admit.FULL


def test_an_unpriced_job_goes_without_a_hold() -> None:
    """A job without a price (let through on purpose) holds nothing."""
    budget = Budget(1.0)
    assert budget.admit("a", E, None) is Admit.GO
    assert budget.held == 0.0


def test_resumed_tasks_hold_their_price_whatever_the_cap() -> None:
    """A task still running from an earlier run holds its price, even past the cap."""
    budget = Budget(5.0)
    budget.hold("a", E, 8.0)
    assert budget.held == pytest.approx(8.0)
    assert budget.admit("b", F, 0.1) is Admit.FULL
