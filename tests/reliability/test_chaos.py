"""Under the emulator's chaos profile, every job ends, nothing is paid twice, and every task
the emulator made is either in the manifest or belongs to a job that says a task may exist.

One run of 120 jobs on 20 slots with webhooks and one without (the account's counts
alone), side by side; the figures come from ``scenarios.chaos``, judged by the emulator's
ledger. ``python -m tests.reliability`` runs the same scenario at full size.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.scenarios import Report, chaos

JOBS = 120
SLOTS = 20
MODES = ("webhooks", "counts")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    """Both runs, at once (each against its own emulator)."""
    with ThreadPoolExecutor(len(MODES)) as pool:
        futures = {
            mode: pool.submit(
                chaos,
                Path(tmp_path_factory.mktemp(f"chaos-{mode}")),
                jobs=JOBS,
                concurrency=SLOTS,
                webhooks=mode == "webhooks",
                timeout=4.0,
            )
            for mode in MODES
        }
        return {mode: future.result() for mode, future in futures.items()}


@pytest.mark.parametrize("mode", MODES)
def test_the_chaos_was_real(reports: dict[str, Report], mode: str) -> None:
    """The emulator lost submit replies with and without a task, and failed tasks."""
    report = reports[mode]
    assert report["lost_task"] >= 1
    assert report["lost_none"] >= 1
    assert report["lost_seen"] >= report["lost_task"] + report["lost_none"]
    assert report["statuses"].get("failed", 0) >= 1


@pytest.mark.parametrize("mode", MODES)
def test_every_job_ends_in_the_manifest(reports: dict[str, Report], mode: str) -> None:
    """Every job has a final status in the manifest: none pending, running or downloading."""
    report = reports[mode]
    assert report["ended"] == JOBS, report["statuses"]
    assert report["exit"] == 1  # some jobs failed or are unknown: said by the exit code


@pytest.mark.parametrize("mode", MODES)
def test_statuses_tell_the_truth(reports: dict[str, Report], mode: str) -> None:
    """A failed job's tasks all failed or were cancelled; a succeeded job's task succeeded."""
    report = reports[mode]
    assert report["failed_not_so"] == 0
    assert report["succeeded_not_so"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_nothing_is_paid_twice(reports: dict[str, Report], mode: str) -> None:
    """No body succeeds twice, none has more tasks than rhbatch's submits, none is foreign."""
    report = reports[mode]
    assert report["paid_twice"] == 0
    assert report["over_attempts"] == 0
    assert report["strangers"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_every_result_file_is_the_emulators(reports: dict[str, Report], mode: str) -> None:
    """Every output of every succeeded job is on disk, byte for byte what the emulator made."""
    report = reports[mode]
    good, expected = report["files"], report.want("files")
    assert good == expected == report["statuses"]["succeeded"]


def test_with_webhooks_every_task_that_ended_is_known(reports: dict[str, Report]) -> None:
    """With webhooks, the manifest names every task that ended, and every paid one is kept."""
    report = reports["webhooks"]
    assert report["unknown_tasks_ended"] == 0, report.details["unknown_tasks"]
    assert report["paid_not_kept"] == 0


def test_with_webhooks_lost_replies_are_adopted(reports: dict[str, Report]) -> None:
    """With webhooks, each task a lost reply made and that ended was adopted by its job."""
    report = reports["webhooks"]
    assert report["adopted"] >= 1
    assert report["lost_task_unresolved"] == 0, report.details["lost_task_unresolved"]


def test_without_webhooks_nameless_tasks_are_unknown_jobs(reports: dict[str, Report]) -> None:
    """Without webhooks, a task the manifest does not know belongs to a job left unknown,
    never to one rhbatch sent again or settled."""
    report = reports["counts"]
    assert report["unknown_tasks"] >= 1  # the lost replies made tasks rhbatch cannot name
    assert report["unknown_tasks_settled"] == 0, report.details["unknown_tasks"]


@pytest.mark.parametrize("mode", MODES)
def test_every_goal_is_met(reports: dict[str, Report], mode: str) -> None:
    """No figure of the run misses its goal (the emulator made no error of its own)."""
    assert reports[mode].missed() == [], reports[mode].details["internal_errors"]
