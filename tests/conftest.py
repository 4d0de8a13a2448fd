"""Fixtures shared by every test: run the CLI in-process, write spec files, catch emulator bugs.

Helpers that test modules import (ROOT, DOC_BODIES, Result) live in ``tests/helpers.py``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rhbatch.cli import main
from tests.browser import start_browser
from tests.helpers import Result
from tests.slurm_cluster import Slurm, start_slurm
from tests.virtual_clock import VirtualClock, virtual_time

# Fixtures shared by several files: a real S3-compatible server (tests/s3.py).
pytest_plugins = ["tests.s3"]

# Modules whose tests start processes, kill runs, drive a browser or run big batches: the
# whole suite runs them, `python -m pytest -m "not slow" --no-cov` (the quick part, under a
# minute on 2 cores) leaves them out. Runs in this process are quick on ``virtual_clock``.
SLOW = frozenset(
    {
        "test_pipeline.py",
        "test_dataset.py",
        "test_run_kill.py",
        "test_workflow_run.py",
        "test_emulator_faults.py",
        "test_report.py",
        "test_specs.py",
        "test_packaging.py",
        "test_public_clients.py",
        "test_history.py",
        "test_slurm.py",
    }
)


# Single tests, long by nature, of modules otherwise quick (their other tests keep each
# area in the quick part): building a wheel (packaging, as test_packaging.py), a Jupyter
# kernel of its own, the example script in a process of its own, the starter of every one
# of the 299 endpoints validated, an S3 server, an emulator process stopped and started.
SLOW_TESTS = frozenset(
    {
        "test_emulator_media.py::test_wheel_carries_the_clip",
        "test_emulator_media.py::test_video_from_zipped_wheel",
        "test_emulator_families.py::test_samples_ship_in_the_wheel",
        "test_notebook.py::test_the_example_notebook_runs_in_a_kernel",
        "test_library.py::test_the_example_script_runs",
        "test_new.py::test_every_endpoints_starter_validates_once_filled",
        "test_storage.py::test_a_run_puts_verified_files_manifest_and_metadata_in_a_bucket",
        "test_storage.py::test_a_file_removed_from_the_bucket_is_fetched_and_put_again",
        "test_storage.py::test_bad_locations_are_refused_before_anything_is_sent",
        "test_storage.py::test_an_edited_job_keeps_its_earlier_file_in_the_bucket",
        "test_storage.py::test_verify_of_a_bucket_it_cannot_read_says_so",
        "test_emulator_state.py::test_ctrl_c_then_the_printed_command_finishes_an_emulator_run",
        "test_emulator_state.py::test_the_emulator_command_keeps_its_state",
    }
)


def _slow_module(path: Path) -> bool:
    return path.name in SLOW or path.parent.name == "reliability"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The quick part (``-m "not slow"``) does not even import the slow modules: importing
    test modules (their asserts rewritten) is much of its time."""
    quick = " ".join(str(config.getoption("markexpr") or "").split()) == "not slow"
    if quick and collection_path.suffix == ".py" and _slow_module(collection_path):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        if _slow_module(item.path) or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def no_emulator_bugs() -> Iterator[None]:
    """Any test fails if the emulator hit an error of its own (a 500 not injected as a fault)."""
    from rhbatch.emulator.api import INTERNAL_ERRORS

    INTERNAL_ERRORS.clear()
    yield
    assert INTERNAL_ERRORS == []


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*argv: str) -> Result:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Path]:
    """Write a file under a fresh working directory (tmp_path) and return its path."""
    monkeypatch.chdir(tmp_path)

    def put(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return put


@pytest.fixture
def virtual_clock() -> Iterator[VirtualClock]:
    """Every event loop this test makes (runs, emulators on threads) runs on virtual time,
    which jumps to the next timer whenever all of them wait on the clock alone: a run's
    polls, timeouts and backoffs take no real time, and their times are exact. Runs made
    in this process are at speed 1 (a run second is a virtual second)."""
    with virtual_time() as clock:
        yield clock


@pytest.fixture
def fast_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    """Runs made in this process pass their run's times (polls, timeouts, backoffs) 20
    times faster than real time: the same code, on a fast clock. For tests that need real
    time (a thread waited on without a loop, a process of its own); others take
    ``virtual_clock``."""
    speed = 20.0
    monkeypatch.setattr("rhbatch.runner.clock.SPEED", speed)
    return speed


@pytest.fixture(scope="module")
def browser() -> Iterator[str]:
    """One headless Chromium for the module: the websocket URL of its DevTools endpoint."""
    yield from start_browser()


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    """A single-node Slurm cluster for the module (munged, slurmctld, slurmd): skips, saying
    why, where it cannot start, unless ``RHBATCH_TESTS_REQUIRE`` names ``slurm``."""
    yield from start_slurm(tmp_path_factory.mktemp("slurm"))
