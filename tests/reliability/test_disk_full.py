"""A disk that fills up stops the run and corrupts nothing: no partial file is accepted, no
job ends without its files, and once there is room the same command finishes the batch
without sending any body twice.

Two cases on a tmpfs: six results of 1.5 MB for 4 MB (a download meets the full disk),
and a disk another program fills while four tasks run (the state store's write, when
they end, meets it). The figures come from ``scenarios.disk_full`` and
``disk_full_store``. Mounting needs root (CI runs as root); the tests skip, saying why,
where it is refused.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.errors import StateError
from rhbatch.store.db import Database
from tests.reliability.scenarios import (
    MountRefused,
    Report,
    disk_full,
    disk_full_store,
    fill,
    tmpfs,
)

JOBS = 6


def _scenario(scenario: Callable[..., Report], work: Path, **size: Any) -> Report:
    try:
        return scenario(work, **size)
    except MountRefused as exc:
        pytest.skip(f"no tmpfs for a full disk: {exc}")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return _scenario(disk_full, Path(tmp_path_factory.mktemp("disk-full")), jobs=JOBS)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return _scenario(disk_full_store, Path(tmp_path_factory.mktemp("disk-full-store")), jobs=4)


def test_a_full_disk_stops_the_run_saying_so(results: Report) -> None:
    """The run exits 3 with 'No space left on device' and no traceback."""
    assert results["exit"] == 3
    assert results["message"], results.notes
    assert not results["traceback"], results.notes


def test_no_partial_result_is_accepted(results: Report) -> None:
    """When it stops, no job is succeeded or failed without its files, every result file
    has the emulator's size, no .part file is left, and the store is sound."""
    assert results["without_file"] == 0
    assert results["partial"] == 0
    assert results["parts_left"] == 0
    assert results["integrity"] == "ok"
    assert results["statuses_full"].get("downloading", 0) >= 1  # the disk did fill up


def test_with_room_the_same_command_finishes_without_submitting(results: Report) -> None:
    """Once there is room, the plain rerun exits 0, submits nothing and leaves every file,
    each the emulator's byte for byte."""
    assert results["submits"] == JOBS
    assert results["exit_again"] == 0
    assert results["new_submits"] == 0
    assert results["succeeded"] == JOBS
    assert results["files"] == results.want("files") == JOBS
    assert results["parts_left_after"] == 0
    assert results["paid_twice"] == 0


def test_a_disk_that_fills_while_tasks_run_stops_the_run(store: Report) -> None:
    """The disk fills up while every task runs; when the tasks end, the state store's write
    meets it: the run exits 3 saying the disk is full, the store passes its integrity
    check, the manifest lists every job, and nothing partial is left."""
    assert store["exit"] == 3
    assert store["message"], store.notes
    assert store["integrity"] == "ok"
    assert store["manifest"]
    assert store["statuses_full"] == {"running": 4}
    assert store["without_file"] == store["partial"] == store["parts_left"] == 0


def test_with_room_the_tasks_are_followed_not_sent_again(store: Report) -> None:
    """Once the disk has room, the same command follows the four tasks to their files and
    submits nothing; every file is the emulator's."""
    assert store["exit_again"] == 0
    assert store["new_submits"] == 0
    assert store["succeeded"] == store["files"] == store.want("files") == 4
    assert store["paid_twice"] == 0
    assert store["parts_left_after"] == 0


def test_a_full_store_prints_no_traceback(store: Report) -> None:
    """When the state store's write meets the full disk, stderr holds no traceback."""
    assert not store["traceback"], store.notes


def test_a_group_commit_that_meets_the_full_disk_leaves_the_store_usable(
    tmp_path: Path,
) -> None:
    """The runner groups its writes and commits them from its event loop. When the commit
    that ends the grouping meets the full disk, the grouping ends all the same (the loop
    that would commit is gone: a later write must not reach for it), the failed transaction
    is dropped, and once there is room the next write lands and lasts."""
    try:
        with tmpfs(tmp_path / "disk", "2m") as mount:
            calls: list[int] = []
            with Database.open(mount / "out") as db:
                db.grouped(lambda: calls.append(1))
                db.set_meta("big", "x" * 600_000)  # pages wait in the cache for the commit
                assert calls == [1]
                fill(mount / "filler")
                with pytest.raises(StateError, match="full"):
                    db.grouped(None)
                assert not db.conn.in_transaction
                with pytest.raises(StateError):
                    db.set_meta("small", "y" * 600_000)  # its own transaction, still no room
                assert calls == [1]  # the grouping is over
                (mount / "filler").unlink()
                db.set_meta("after", "room")
            with Database.open(mount / "out") as again:
                assert again.get_meta("after") == "room"
                assert again.get_meta("big") is None  # its commit failed: it never was
    except MountRefused as exc:
        pytest.skip(f"no tmpfs for a full disk: {exc}")


def test_a_disk_full_before_the_run_starts_is_said_as_such(tmp_path: Path) -> None:
    """No room for the state store at all: the run exits 3 naming the full disk (not as a
    fault of rhbatch), sends nothing, and runs once there is room."""
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "version: 1\nname: t\nendpoint: seedance-2.0/multimodal-video\n"
        "jobs:\n  - id: one\n    prompt: a paper boat\n"
    )
    command = [sys.executable, "-m", "rhbatch", "run", str(spec), "--emulator", "-q"]
    try:
        with tmpfs(tmp_path / "disk", "1m") as mount:
            command += ["--out", str(mount / "out")]
            fill(mount / "filler")
            full = subprocess.run(command, capture_output=True, text=True, timeout=120)
            (mount / "filler").unlink()
            room = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except MountRefused as exc:
        pytest.skip(f"no tmpfs for a full disk: {exc}")
    assert full.returncode == 3, full.stderr
    assert "disk is full" in full.stderr or "No space left" in full.stderr
    assert "internal error" not in full.stderr
    assert "Traceback" not in full.stderr
    assert room.returncode == 0, room.stderr
    assert "1 succeeded of 1 job" in room.stdout
