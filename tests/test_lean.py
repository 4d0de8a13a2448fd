"""What the cuts of CPU per job rest on keeps its promises: the collector put back after a
run, one statement fewer only where no row can need it, texts too short to hold a secret
left alone, the usual promptTips not parsed, SQLite's page cache, and the profile's
categories (benchmarks/scenarios/profile.py)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from rhbatch.api.wire import node_errors
from rhbatch.models import RemoteStatus
from rhbatch.redact import clean, keep_secret
from rhbatch.runner.heap import YOUNG, run_heap
from rhbatch.store.db import CACHE_KIB
from rhbatch.store.state import Store
from tests.run_helpers import emulator

ENDPOINT = "seedance-2.0/multimodal-video"


def test_the_run_heap_is_put_back_as_it_was_even_after_an_error() -> None:
    """Inside: the young swept every YOUNG allocations, the older heap frozen; after, the
    thresholds a program had and nothing frozen, also when the run raised."""
    before = gc.get_threshold()
    inside: list[object] = []

    def a_run_that_fails() -> None:
        with run_heap():
            inside.extend([gc.get_threshold(), gc.get_freeze_count()])
            raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError):
        a_run_that_fails()
    assert inside[0] == (max(YOUNG, before[0]), *before[1:])
    assert isinstance(inside[1], int)
    assert inside[1] > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("virtual_clock")
def test_a_run_through_the_library_leaves_the_collector_as_it_found_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A notebook that runs a batch keeps its own collector settings."""
    import rhbatch

    monkeypatch.chdir(tmp_path)
    spec = {
        "version": 1,
        "name": "lean",
        "endpoint": "alibaba/qwen-image-2.0/text-to-image",
        "jobs": [{"id": "fox", "prompt": "a paper fox"}],
    }
    before = gc.get_threshold()
    gc.set_threshold(1234, 11, 12)
    try:
        with emulator(monkeypatch):
            run = rhbatch.run(spec, progress=False)
        assert run.counts == {"succeeded": 1}
        assert gc.get_threshold() == (1234, 11, 12)
        assert gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*before)


def _attempt_rows(store: Store, job_id: str) -> list[tuple[int, str | None]]:
    rows = store.conn.execute(
        "SELECT n, task_id FROM attempts WHERE job_id=? ORDER BY n", (job_id,)
    ).fetchall()
    return [(int(n), t) for n, t in rows]


def test_a_plain_submits_task_needs_no_attempt_row_and_a_hooked_one_gets_its_task(
    tmp_path: Path,
) -> None:
    """own_row=False (a submit without a webhook token) writes the task id to the job and
    leaves the attempts table as it was: empty. With a token, the attempt's row takes the
    task id (a webhook names its attempt by it)."""
    with Store.open(tmp_path / "out") as store:
        store.sync([("a", 0, ENDPOINT, {"prompt": "x"}), ("b", 1, ENDPOINT, {"prompt": "y"})])
        plain = store.begin_attempt("a", {"prompt": "x"}, {})
        store.record_task("a", plain, "1001", RemoteStatus.RUNNING, own_row=False)
        hooked = store.begin_attempt("b", {"prompt": "y"}, {}, hook="tok")
        store.record_task("b", hooked, "1002", RemoteStatus.RUNNING, own_row=True)
        assert store.job("a").task_id == "1001"
        assert _attempt_rows(store, "a") == []
        assert _attempt_rows(store, "b") == [(1, "1002")]


def test_the_state_store_keeps_its_pages_in_a_cache_of_its_own_size(tmp_path: Path) -> None:
    with Store.open(tmp_path / "out") as store:
        assert store.conn.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB


def test_texts_shorter_than_any_secret_are_kept_and_longer_ones_scrubbed() -> None:
    keep_secret("sk-lean-test-0123456789")
    assert clean("SUCCESS") == "SUCCESS"
    assert clean("") == ""
    assert clean("x" * 10, 4).startswith("xxxx...")  # still cut to its limit
    assert "sk-lean-test-0123456789" not in clean("key sk-lean-test-0123456789 echoed")
    assert "***" in clean("key sk-lean-test-0123456789 echoed")


@pytest.mark.parametrize(
    ("tips", "said"),
    [
        ("", None),
        (json.dumps({"result": True, "node_errors": {}}), None),
        ('{"result": true, "node_errors" : { } }', None),
        (
            json.dumps({"node_errors": {"4": {"errors": [{"message": "bad", "details": "x"}]}}}),
            "bad",
        ),
        # The empty one is nested; the one that counts is not empty: parsed, not skipped.
        (
            json.dumps({"x": {"node_errors": {}}, "node_errors": {"7": {"errors": []}}}),
            "node 7",
        ),
    ],
)
def test_prompt_tips_are_parsed_only_when_they_may_hold_errors(tips: str, said: str | None) -> None:
    found = node_errors({"promptTips": tips})
    if said is None:
        assert found is None
    else:
        assert found is not None
        assert said in found


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("RUNNING", RemoteStatus.RUNNING),
        (" cancelled ", RemoteStatus.CANCEL),
        ("Success", RemoteStatus.SUCCESS),
    ],
)
def test_a_status_is_read_whatever_its_case_and_spelling(word: str, status: RemoteStatus) -> None:
    assert RemoteStatus.parse(word) is status


def test_the_profile_puts_each_sample_in_the_first_category_it_belongs_to() -> None:
    from benchmarks.scenarios.profile import classify

    loop = "main (x.py:1);run_until_complete (asyncio/base_events.py:1)"
    lines = [
        "<module> (rhbatch/cli.py:1);check_spec (rhbatch/spec/validate.py:9) 5",
        f"{loop};Runner._keep_manifest (rhbatch/runner/loop.py:2);write_manifest (m.py:3) 4",
        f"{loop};JobRun.run (rhbatch/runner/job.py:1);begin_attempt (rhbatch/store/x.py:1) 3",
        f"{loop};JobRun.run (rhbatch/runner/job.py:1);Client.query (rhbatch/api/client.py:1) 2",
        f"{loop};Handle._run (asyncio/events.py:1);Watcher.run (rhbatch/runner/ends.py:1) 1",
        f"{loop};select (selectors.py:468) 100",
        f"{loop};worker (benchmarks/alternatives/floor.py:1);Books.intent (floor.py:2) 6",
    ]
    counts = classify(lines)
    assert counts == {
        "start-up and end": 5,
        "manifest and progress": 4,
        "store": 3 + 6,
        "HTTP path": 2,
        "scheduling and waits": 1,
    }


def test_metadata_skips_lines_without_files_unparsed_but_not_a_parameter_named_outputs(
    tmp_path: Path,
) -> None:
    """A line whose record has no files gives no row; a parameter named "outputs" holding
    an empty list does not hide the record's own files."""
    from rhbatch.store.result_rows import rows

    out = {"n": 1, "path": "b/1.png", "type": "png", "bytes": 3, "sha256": "ab", "url": None}
    lines = [
        {"id": "a", "endpoint": "e", "params": {"prompt": "x"}, "outputs": []},
        {"id": "b", "endpoint": "e", "params": {"outputs": []}, "outputs": [out]},
        {"id": "c", "endpoint": "e", "params": {"prompt": '"outputs": []'}, "outputs": [out]},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    found = [row["job_id"] for row, _, _ in rows(manifest)]
    assert found == ["b", "c"]
