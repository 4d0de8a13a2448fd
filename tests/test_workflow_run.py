"""Workflow and AI-app jobs through the runner, against the emulator over loopback: the
examples end to end, the legacy calls, node errors, a changed pin, and a kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.thread import EmulatorThread
from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, emulator_config, manifest, verify_files

Cli = Callable[..., Result]
EXAMPLES = ROOT / "examples"


def copy_example(tmp_path: Path, name: str, extra: str = "") -> Path:
    """The example with its pins and media in a directory of its own."""
    shutil.copytree(EXAMPLES / "pins", tmp_path / "pins")
    shutil.copytree(EXAMPLES / "media", tmp_path / "media")
    spec = tmp_path / name
    spec.write_text((EXAMPLES / name).read_text() + extra)
    return spec


def tasks(emu: EmulatorThread) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = emu.stats(tasks=True)["taskList"]
    return listed


def test_the_workflow_example_runs_end_to_end(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six jobs of two workflows: each paid once; the image-to-video jobs leave a clip from
    node 20 and a last frame from node 21; the one local start frame is uploaded once."""
    spec = copy_example(tmp_path, "comfyui-workflow.yaml")
    out = tmp_path / "out"
    with emulator(monkeypatch) as emu:
        result = cli("run", str(spec), "--out", str(out), "-q")
        stats = emu.stats()
    assert result.code == 0, result.err
    records = manifest(out)
    assert {r["status"] for r in records} == {"succeeded"}
    assert len(records) == 6 == stats["submissions"]
    assert stats["duplicateSubmissions"] == {}
    assert stats["paidTwice"] == {}
    assert stats["uploads"] == 1  # media/friends.png, for both clips
    clips = [r for r in records if r["id"].startswith("clip-")]
    assert len(clips) == 2
    for clip in clips:
        assert clip["endpoint"] == "workflow:1990000000000000002"
        assert [(o["nodeId"], o["type"]) for o in clip["outputs"]] == [("20", "mp4"), ("21", "png")]
        assert clip["params"]["10.image"].startswith("api/")  # the upload's file name
        assert clip["sources"] == {"10.image": "media/friends.png"}
    stills = [r for r in records if r["id"].startswith("still-")]
    assert {r["params"]["5.width"] for r in stills} == {1024, 1344}
    assert all(r["params"]["7.text"].startswith("blurry") for r in stills)  # by its title
    assert verify_files(out, records) == 8
    assert sum(r["cost"] for r in records) == pytest.approx(stats["charged"])


def test_the_app_example_runs_by_the_legacy_calls(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run.api: legacy starts with ai-app/run and follows with status and outputs; two
    distinct local images are uploaded once each."""
    spec = copy_example(tmp_path, "ai-app.yaml", "run: {api: legacy, poll_interval: 2}\n")
    out = tmp_path / "out"
    with emulator(monkeypatch) as emu:
        result = cli("run", str(spec), "--out", str(out), "-q")
        stats = emu.stats()
        listed = tasks(emu)
    assert result.code == 0, result.err
    records = manifest(out)
    assert [r["status"] for r in records] == ["succeeded"] * 3
    assert {t["api"] for t in listed} == {"legacy"}
    assert stats["uploads"] == 2
    assert all(r["outputs"][0]["nodeId"] == "40" for r in records)
    assert records[1]["params"]["3.duration"] == "10"
    assert records[0]["params"]["3.duration"] == "5"  # the default
    assert verify_files(out, records) == 3


def test_an_app_run_by_v2_calls(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = copy_example(tmp_path, "ai-app.yaml")
    with emulator(monkeypatch) as emu:
        result = cli("run", str(spec), "--out", str(tmp_path / "out"), "-q")
        listed = tasks(emu)
    assert result.code == 0, result.err
    assert {t["api"] for t in listed} == {"v2"}


def test_invalid_inputs_are_refused_by_run_with_no_request(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = copy_example(tmp_path, "ai-app.yaml")
    spec.write_text(spec.read_text().replace('3.duration: "10"', "3.duration: 10\n    9.x: 1"))
    with emulator(monkeypatch) as emu:
        result = cli("run", str(spec), "--out", str(tmp_path / "out"))
        stats = emu.stats()
    assert result.code == 2
    assert "3.duration" in result.err
    assert "unknown parameter '9.x'" in result.err
    assert stats["requests"] == {}
    assert stats["submissions"] == 0


def test_a_changed_workflow_is_not_run(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's graph differs from the pin: the run stops before its first submit,
    says what changed, and sends nothing."""
    spec = copy_example(tmp_path, "comfyui-workflow.yaml")
    sample = json.loads((ROOT / "rhbatch/emulator/samples/workflows.json").read_text())
    changed = sample["1990000000000000001"]
    changed["prompt"]["3"]["inputs"]["steps"] = 30
    with emulator(monkeypatch, workflows={"1990000000000000001": changed}) as emu:
        result = cli("run", str(spec), "--out", str(tmp_path / "out"))
        stats = emu.stats()
    assert result.code == 2
    assert "workflow 1990000000000000001 has changed on RunningHub" in result.err
    assert "input 3.steps defaults to 30 (was 20)" in result.err
    assert stats["submissions"] == 0


def test_node_errors_fail_the_job_unpaid(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start whose promptTips lists node errors: the job fails with them, nothing is
    charged, and it is not sent again."""
    spec = copy_example(tmp_path, "ai-app.yaml")
    with emulator(monkeypatch) as emu:
        dead = f"{emu.base_url}/media/input/{'0' * 64}.png"  # the emulator never issued it
        spec.write_text(spec.read_text().replace("media/friends.png", dead))
        result = cli("run", str(spec), "--out", str(tmp_path / "out"), "-q")
        stats = emu.stats()
    records = {r["id"]: r for r in manifest(tmp_path / "out")}
    assert result.code == 1
    bad = records["friends"]
    assert bad["status"] == "failed"
    assert "node errors: node 1" in bad["errorMessage"]
    assert bad["attempts"] == 1
    assert bad["cost"] in (None, 0, 0.0)
    assert records["hotpot"]["status"] == "succeeded"
    assert stats["submissions"] == 3


def test_kill_9_then_rerun_pays_each_workflow_job_once(tmp_path: Path) -> None:
    """A run of 12 workflow jobs killed with tasks in flight; the rerun follows them (by the
    legacy status calls) and finishes: each job's task made once."""
    shutil.copytree(EXAMPLES / "pins", tmp_path / "pins")
    subjects = ", ".join(f"subject {i}" for i in range(12))
    (tmp_path / "s.yaml").write_text(
        'version: 1\nworkflow: "1990000000000000001"\n'
        f"matrix:\n  subject: [{subjects}]\n"
        'jobs:\n  - id: "img-{subject}"\n    Positive.text: "{subject}"\n'
        "run:\n  api: legacy\n  concurrency: 4\n  poll_interval: 2\n  signal_interval: 0.05\n"
    )
    slow = {"image": {"kind": "uniform", "low": 1600, "high": 2400}}  # ~1 s at speed 2000
    with EmulatorThread(emulator_config(durations=slow)) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key}
        argv = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out", "-q"]
        with subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.PIPE) as proc:
            end = time.monotonic() + 60
            while emu.stats()["byStatus"].get("RUNNING", 0) < 4:
                assert time.monotonic() < end
                time.sleep(0.01)
            time.sleep(0.1)  # the task ids are in the store
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        before = emu.stats()["submissions"]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        stats = emu.stats()
        listed = tasks(emu)
    assert done.returncode == 0, done.stderr
    assert 4 <= before < 12
    assert stats["submissions"] == 12
    assert stats["duplicateSubmissions"] == {}
    assert stats["paidTwice"] == {}
    assert {t["api"] for t in listed} == {"legacy"}
    records = manifest(tmp_path / "out")
    assert {r["status"] for r in records} == {"succeeded"}
    assert verify_files(tmp_path / "out", records) == 12


@pytest.mark.parametrize("api", ["v2", "legacy"])
def test_webhooks_bring_workflow_ends(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """With --webhook-listen, every app task's end is posted to rhbatch's receiver (the v2
    task object, or the legacy outputs envelope) and taken: every job succeeds."""
    spec = copy_example(tmp_path, "ai-app.yaml", f"run: {{api: {api}, poll_interval: 60}}\n")
    with emulator(monkeypatch) as emu:
        result = cli(
            "run", str(spec), "--out", str(tmp_path / "out"), "--webhook-listen", "127.0.0.1:0",
            "--log-json",
        )  # fmt: skip
        hooks = emu.stats()["webhooks"]
    assert result.code == 0, result.err
    assert hooks.get("delivered") == 3, hooks
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    watched = next(e for e in events if e.get("event") == "watched")
    assert watched["webhooks"] == 3  # every end came by webhook, none had to be polled for
