"""rhbatch as a Python library: run, run_async, validate, plan, open, InvalidSpec, events,
against the emulator over loopback, into real directories."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rhbatch
from rhbatch.runner.events import EVENTS
from tests.run_helpers import emulator

IMAGE = "alibaba/qwen-image-2.0/text-to-image"
SPEC: dict[str, Any] = {
    "version": 1,
    "name": "lib",
    "endpoint": IMAGE,
    "matrix": {"animal": ["fox", "owl"]},
    "jobs": [{"id": "{animal}", "prompt": "a paper {animal}"}],
}


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_import_is_light_and_names_its_api() -> None:
    """`import rhbatch` loads neither aiohttp nor the engine; the API is there on use."""
    code = (
        "import sys, rhbatch; assert 'aiohttp' not in sys.modules, 'aiohttp'; "
        "assert 'rhbatch.library' not in sys.modules; "
        "print(sorted(n for n in rhbatch.__all__ if not n.startswith('_')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in ("run", "run_async", "validate", "plan", "open", "Run", "InvalidSpec", "Event"):
        assert name in done.stdout
        assert getattr(rhbatch, name) is not None


@pytest.mark.usefixtures("virtual_clock")
def test_run_a_dict_spec_and_read_it_back(monkeypatch: pytest.MonkeyPatch, here: Path) -> None:
    seen: list[rhbatch.Event] = []
    with emulator(monkeypatch):
        run = rhbatch.run(SPEC, progress=False, on_event=seen.append)
    assert run.exit_code == 0
    assert run.counts == {"succeeded": 2}
    assert run.dir == Path("out/lib")
    fox = run.jobs[0]
    assert (fox.id, fox.status, fox.endpoint) == ("fox", "succeeded", IMAGE)
    assert fox.prompt == "a paper fox"
    assert fox.params["prompt"] == "a paper fox"
    assert fox.task_id
    assert fox.cost is not None
    assert fox.cost > 0
    assert isinstance(fox.files[0], Path)
    assert fox.files[0].is_file()
    assert run.cost == pytest.approx(sum(j.cost or 0 for j in run.jobs))
    assert "lib: 2 succeeded of 2 jobs" in run.log  # the summary, kept: progress=False
    # The dict is kept as the spec the run records, beside the work.
    kept = here / ".lib.rhbatch-spec.yaml"
    assert kept.is_file()
    names = {e.name for e in seen}
    assert {"submitted", "task_succeeded", "downloaded", "succeeded", "watched"} <= names
    assert all(e.name in EVENTS for e in seen)
    done = [e for e in seen if e.name == "succeeded"]
    assert {e.job for e in done} == {"fox", "owl"}
    assert done[0]["cost"] > 0

    again = rhbatch.open(run.dir)
    assert [j.id for j in again.jobs] == ["fox", "owl"]
    frame = again.to_pandas()
    assert list(frame["id"]) == ["fox", "owl"]
    assert list(frame["param.prompt"]) == ["a paper fox", "a paper owl"]
    dataset = again.to_dataset()
    assert dataset.num_rows == 2


@pytest.mark.usefixtures("virtual_clock")
def test_a_rerun_from_python_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with emulator(monkeypatch) as emu:
        rhbatch.run(SPEC, progress=False)
        before = emu.stats()["submissions"]
        again = rhbatch.run(SPEC, progress=False)
        assert emu.stats()["submissions"] == before
    assert again.counts == {"succeeded": 2}


# Real time, 20 times faster: rhbatch.run inside a running loop blocks that loop in a
# thread's join, which virtual time cannot see through.
@pytest.mark.usefixtures("fast_clock")
def test_run_async_inside_a_running_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> tuple[rhbatch.Run, rhbatch.Run, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        first = await rhbatch.run_async(SPEC, progress=False)
        # rhbatch.run() where a loop is running (as in Jupyter) blocks, and works.
        second = rhbatch.run(SPEC, progress=False, out="out/second")
        ticker.cancel()
        return first, second, ticks

    with emulator(monkeypatch):
        first, second, ticks = asyncio.run(main())
    assert first.counts == second.counts == {"succeeded": 2}
    assert second.dir == Path("out/second")
    assert ticks > 0  # the caller's loop went on while the batch ran


@pytest.mark.usefixtures("virtual_clock")
def test_an_api_key_given_in_python_is_used_and_never_written(
    monkeypatch: pytest.MonkeyPatch, here: Path
) -> None:
    with emulator(monkeypatch) as emu:
        monkeypatch.delenv("RUNNINGHUB_API_KEY")
        run = rhbatch.run(SPEC, progress=False, api_key=emu.api_key)
    assert run.counts == {"succeeded": 2}
    for path in here.rglob("*"):
        if path.is_file():
            assert emu.api_key.encode() not in path.read_bytes(), path


@pytest.mark.usefixtures("virtual_clock")
def test_invalid_spec_lists_every_problem_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = {**SPEC, "jobs": [{"id": "{animal}", "promt": "typo"}, {"id": "x-{animal}", "prompt": 1}]}
    with emulator(monkeypatch) as emu:
        with pytest.raises(rhbatch.InvalidSpec) as caught:
            rhbatch.run(bad, progress=False)
        assert emu.stats()["submissions"] == 0
    problems = caught.value.problems
    assert len(problems) >= 2
    assert all(isinstance(p, rhbatch.Problem) for p in problems)
    rendered = [p.render() for p in problems]
    assert any("promt" in line for line in rendered), rendered
    assert all(p.file == ".lib.rhbatch-spec.yaml" for p in problems)
    assert any(p.line is not None for p in problems)
    with pytest.raises(rhbatch.InvalidSpec):
        rhbatch.validate(bad)


@pytest.mark.usefixtures("virtual_clock")
def test_validate_and_plan_return_typed_results(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = rhbatch.validate(SPEC)
    assert checked.jobs == 2
    assert dict(checked.endpoints) == {IMAGE: 2}
    assert checked.estimated_cost is not None
    assert checked.estimated_cost > 0
    planned = rhbatch.plan(SPEC)
    assert planned.jobs == 2
    assert planned.new.jobs == 2
    with emulator(monkeypatch):
        rhbatch.run(SPEC, progress=False)
    changed = {**SPEC, "jobs": [{"id": "{animal}", "prompt": "a red paper {animal}"}]}
    after = rhbatch.plan(changed, out="out/lib")
    assert after.changed.jobs == 2
    assert sorted(c.id for c in after.changes) == ["fox", "owl"]


def test_unknown_options_and_dry_run_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown option 'concurency'"):
        rhbatch.run(SPEC, concurency=3)
    with pytest.raises(rhbatch.UsageError, match=r"rhbatch.plan\(spec, out=...\)"):
        rhbatch.run(SPEC, dry_run=True)
    with pytest.raises(rhbatch.UsageError, match=r"no manifest\.jsonl"):
        rhbatch.open("nowhere")


@pytest.mark.usefixtures("virtual_clock")
def test_every_event_a_run_emits_is_documented(monkeypatch: pytest.MonkeyPatch, here: Path) -> None:
    """The events of a run with faults (retries, lost replies, failures) are all in
    EVENTS, and docs/events.md is the page EVENTS makes."""
    from rhbatch.runner.events import page
    from tests.helpers import ROOT

    spec = {**SPEC, "matrix": {"animal": [f"a{i}" for i in range(30)]}}
    seen: list[rhbatch.Event] = []
    with emulator(monkeypatch, "chaos"):
        rhbatch.run(spec, progress=False, on_event=seen.append)
    names = {e.name for e in seen}
    assert names <= set(EVENTS), names - set(EVENTS)
    assert len(names) >= 6
    assert (ROOT / "docs" / "events.md").read_text() == page()
    logged = subprocess.run(
        [
            sys.executable,
            "-m",
            "rhbatch",
            "run",
            ".lib.rhbatch-spec.yaml",
            "--emulator",
            "--emulator-speed",
            "1000",
            "--out",
            "json",
            "--log-json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    events = [json.loads(x)["event"] for x in logged.stderr.splitlines() if x.startswith("{")]
    assert events
    assert set(events) <= set(EVENTS)


def test_the_example_script_runs(here: Path) -> None:
    from tests.helpers import ROOT

    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "library.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "fox succeeded 0.13" in done.stdout
    assert "'succeeded': 2" in done.stdout
