"""Pipelines: a job's results feed other jobs of the same spec, resumably, each node paid
once; graph mistakes are refused before anything is sent."""

from __future__ import annotations

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
EXAMPLE = ROOT / "examples" / "pipeline.yaml"


def by_id(out: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in manifest(out)}


def check_links(records: dict[str, dict[str, Any]]) -> None:
    """Each clip was sent its frame's image, each upscale its clip's video."""
    for job_id, record in records.items():
        if job_id.startswith("clip-"):
            frame = records[record["uses"]["frame"]]
            assert record["params"]["firstImageUrl"] == frame["outputs"][0]["url"]
        if job_id.startswith("hd-"):
            clip = records[record["uses"]["clip"]]
            assert record["params"]["videoUrl"] == clip["outputs"][0]["url"]


def test_the_pipeline_example_runs_end_to_end(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_clock: float
) -> None:
    """Three stages of three jobs: every job succeeds once, each fed by its own matrix
    twin's result, and a clip starts before the last frame has ended."""
    slow = {"alibaba/wan-2.7/text-to-image": {"kind": "uniform", "low": 20, "high": 4000}}
    out = tmp_path / "out"
    with emulator(monkeypatch, durations_by_endpoint=slow) as emu:
        result = cli("run", str(EXAMPLE), "--out", str(out), "-q")
        stats = emu.stats(tasks=True)
    assert result.code == 0, result.err
    records = by_id(out)
    assert [r["status"] for r in records.values()] == ["succeeded"] * 9
    check_links(records)
    assert records["clip-a-lighthouse-at-dusk"]["uses"] == {"frame": "frame-a-lighthouse-at-dusk"}
    assert stats["submissions"] == 9
    assert stats["duplicateSubmissions"] == {}
    tasks = stats["taskList"]
    frames_end = max(t["ended"] for t in tasks if t["endpoint"] == "alibaba/wan-2.7/text-to-image")
    first_clip = min(
        t["submitted"] for t in tasks if t["endpoint"] == "alibaba/wan-2.7/image-to-video"
    )
    assert first_clip < frames_end  # not stage by stage
    assert verify_files(out, list(records.values())) == 9


def test_plan_shows_the_stages(cli: Cli) -> None:
    result = cli("plan", str(EXAMPLE))
    assert result.code == 0, result.err
    assert "stages: 1: 3 jobs -> 2: 3 jobs -> 3: 3 jobs" in result.out


GRAPH_MISTAKES = """\
version: 1
jobs:
  - id: sheet
    endpoint: seedream-v4/text-to-image
    prompt: a character sheet
    maxImages: 12
  - id: clip
    endpoint: wan-2.7/image-to-video
    firstImageUrl: "{frame.url}"
    resolution: 720P
    duration: "5"
    uses: {frame: clip-src}
  - id: clip-src
    endpoint: wan-2.7/image-to-video
    uses: {other: clip}
    firstImageUrl: "{other.url}"
    resolution: 720P
    duration: "5"
  - id: many
    endpoint: seedance-2.0/multimodal-video
    uses: {s: sheet}
    prompt: "{s.text}"
    imageUrls: "{s.urls}"
  - id: ghost
    endpoint: wan-2.7/image-to-video
    uses: {f: nobody}
    firstImageUrl: "{f.url}"
    prompt: "{g.url}"
    resolution: 720P
    duration: "5"
"""


def test_graph_mistakes_are_refused_with_no_request(
    cli: Cli, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown jobs, a cycle, an image slot fed by a video job, more files than a list
    takes, text asked of an image job, a result of a job not in `uses`: each with its
    line, exit 2, and not one request."""
    write("g.yaml", GRAPH_MISTAKES)
    assert cli("validate", "g.yaml").code == 2
    with emulator(monkeypatch) as emu:
        result = cli("run", "g.yaml", "--out", "out")
        stats = emu.stats()
    assert result.code == 2
    assert stats["requests"] == {}
    err = result.err
    assert "g.yaml:9: job 2 (id clip): firstImageUrl: takes image, but job 3 (id clip-src)" in err
    assert "g.yaml:12: job 2 (id clip): uses: these jobs wait for each other's results" in err
    assert "g.yaml:22: job 4 (id many): prompt: {s.text}: job 1 (id sheet) makes image" in err
    assert "g.yaml:23: job 4 (id many): imageUrls: takes at most 9 files, but job 1" in err
    assert "g.yaml:26: job 5 (id ghost): uses.f: uses.f names job 'nobody'" in err
    assert "g.yaml:28: job 5: prompt: unknown placeholder {g.url}" in err


def test_a_failed_job_blocks_the_jobs_that_use_it_then_a_retry_finishes(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every frame fails (a code that is not retried): clips and upscales are blocked with
    the reason and sent nothing. With --retry-failed the frames run again and the graph
    finishes; no node is paid twice."""
    out = tmp_path / "out"
    faults = {"task_failed": {"rate": 1.0, "codes": ["1505"]}}
    with emulator(monkeypatch, faults=faults) as emu:
        first = cli("run", str(EXAMPLE), "--out", str(out), "-q")
        after_first = emu.stats()
        blocked = by_id(out)
        emu.call(lambda e: setattr(e.config.faults["task_failed"], "rate", 0.0))
        second = cli("run", str(EXAMPLE), "--out", str(out), "-q", "--retry-failed")
        stats = emu.stats()
    assert first.code == 1
    assert after_first["submissions"] == 3  # the frames only
    statuses = {k: v["status"] for k, v in blocked.items()}
    assert sorted(statuses.values()) == ["blocked"] * 6 + ["failed"] * 3
    clip = blocked["clip-a-red-fox-in-fresh-snow"]
    assert clip["errorCode"] == "BLOCKED"
    assert "job frame-a-red-fox-in-fresh-snow (uses.frame) is failed" in clip["errorMessage"]
    assert (
        "clip-a-red-fox-in-fresh-snow (uses.clip) is blocked"
        in (blocked["hd-a-red-fox-in-fresh-snow"]["errorMessage"])
    )
    assert "blocked   clip-a-red-fox-in-fresh-snow" in first.err
    assert second.code == 0, second.err
    records = by_id(out)
    assert {r["status"] for r in records.values()} == {"succeeded"}
    check_links(records)
    assert stats["submissions"] == 12  # 3 failed frames, then 9 that succeeded
    assert stats["paidTwice"] == {}


def test_old_result_urls_are_replaced_by_uploads(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run.url_max_age: 0 trusts no result URL: each used file is uploaded from the output
    directory (once per content) and the job is sent the upload's URL."""
    spec = tmp_path / "p.yaml"
    spec.write_text(EXAMPLE.read_text() + "run:\n  url_max_age: 0\n")
    out = tmp_path / "out"
    with emulator(monkeypatch) as emu:
        result = cli("run", str(spec), "--out", str(out), "-q")
        stats = emu.stats()
    assert result.code == 0, result.err
    records = by_id(out)
    clip = records["clip-a-red-fox-in-fresh-snow"]
    assert "/media/input/" in clip["params"]["firstImageUrl"]
    assert (
        "uploaded again from frame-a-red-fox-in-fresh-snow/1.png"
        in (clip["sources"]["firstImageUrl"])
    )
    assert stats["uploads"] == 6  # each frame and each clip, once


def test_a_workflow_takes_a_model_jobs_image(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow's image input fed by a text-to-image job gets the legacy upload's file
    name of the downloaded image, never a URL."""
    shutil.copytree(ROOT / "examples" / "pins", tmp_path / "pins")
    spec = tmp_path / "w.yaml"
    spec.write_text(
        "version: 1\njobs:\n"
        "  - id: still\n    endpoint: wan-2.7/text-to-image\n    prompt: a fox\n"
        '  - id: move\n    workflow: "1990000000000000002"\n    uses: {img: still}\n'
        '    Start frame.image: "{img.url}"\n    Prompt.text: the fox turns its head\n'
    )
    out = tmp_path / "out"
    with emulator(monkeypatch) as emu:
        result = cli("run", str(spec), "--out", str(out), "-q")
        stats = emu.stats()
    assert result.code == 0, result.err
    move = by_id(out)["move"]
    assert move["params"]["10.image"].startswith("api/")
    assert move["uses"] == {"img": "still"}
    assert stats["uploads"] == 1


def test_kill_9_between_and_inside_stages_pays_each_node_once(tmp_path: Path) -> None:
    """SIGKILL once as the frames end, once with clips running; the same command then
    finishes the graph: 9 submissions for 9 jobs, none paid twice."""
    shutil.copy(EXAMPLE, tmp_path / "p.yaml")
    slow = {
        "*/wan-2.7/*": {"kind": "uniform", "low": 600, "high": 1200},  # 0.3-0.6 s at 2000x
        "rhart-video/*": {"kind": "uniform", "low": 600, "high": 1200},
    }
    with EmulatorThread(emulator_config(durations_by_endpoint=slow)) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key}
        argv = [sys.executable, "-m", "rhbatch", "run", "p.yaml", "--out", "out", "-q"]

        def count(status: str, endpoint: str) -> int:
            listed = emu.stats(tasks=True)["taskList"]
            return sum(1 for t in listed if t["status"] == status and endpoint in t["endpoint"])

        def kill_when(ready: Callable[[], bool]) -> None:
            with subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.PIPE) as proc:
                end = time.monotonic() + 60
                while not ready():
                    assert proc.poll() is None, "the run ended before the kill"
                    assert time.monotonic() < end
                    time.sleep(0.005)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)

        def quiet() -> bool:
            """No submit for 0.1 s: none is on the wire (a kill then loses no answer)."""
            listed = emu.stats(tasks=True)["taskList"]
            last = max((t["submitted"] for t in listed), default=0.0)
            return bool(listed) and emu.call(lambda e: e.now()) - last > 0.1

        kill_when(lambda: count("SUCCESS", "text-to-image") >= 1 and quiet())  # between stages
        kill_when(lambda: count("RUNNING", "image-to-video") >= 1 and quiet())  # inside one
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=120)
        stats = emu.stats()
    assert done.returncode == 0, done.stderr
    assert stats["submissions"] == 9
    assert stats["duplicateSubmissions"] == {}
    assert stats["paidTwice"] == {}
    records = by_id(tmp_path / "out")
    assert {r["status"] for r in records.values()} == {"succeeded"}
    check_links(records)


def test_rows_name_the_jobs_they_use(
    cli: Cli, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV row takes another row's result through a uses.NAME column (JSON Lines: a
    "uses" mapping); plan shows two stages and the run feeds the clip its frame."""
    write(
        "shots.csv",
        "id,endpoint,prompt,firstImageUrl,uses.frame,resolution,duration\n"
        "frame-1,wan-2.7/text-to-image,a fox,,,,\n"
        "clip-1,wan-2.7/image-to-video,the fox runs,{frame.url},frame-1,720P,5\n",
    )
    write("bad.jsonl", '{"id": "x", "endpoint": "wan-2.7/text-to-image", "uses": ["frame"]}\n')
    write("r.yaml", "version: 1\njobs_from: shots.csv\n")
    write("bad.yaml", "version: 1\njobs_from: bad.jsonl\n")
    assert "stages: 1: 1 job -> 2: 1 job" in cli("plan", "r.yaml").out
    refused = cli("validate", "bad.yaml")
    assert refused.code == 2
    assert "bad.jsonl:1: uses: uses must map names to job ids" in refused.err
    with emulator(monkeypatch):
        result = cli("run", "r.yaml", "--out", "out", "-q")
    assert result.code == 0, result.err
    records = by_id(Path("out"))
    assert records["clip-1"]["params"]["firstImageUrl"] == records["frame-1"]["outputs"][0]["url"]


def test_a_caption_job_s_text_becomes_a_prompt(
    cli: Cli, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """{NAME.text} inside a longer prompt: the caption job's text, literal braces kept."""
    write(
        "c.yaml",
        """\
version: 1
jobs:
  - id: caption
    endpoint: rhart-text-g-25-flash/text-to-text
    prompt: describe a red fox in one line
  - id: still
    endpoint: wan-2.7/text-to-image
    uses: {cap: caption}
    prompt: "{cap.text}, in {{braces}}"
""",
    )
    with emulator(monkeypatch):
        result = cli("run", "c.yaml", "--out", "out", "-q")
    assert result.code == 0, result.err
    records = by_id(Path("out"))
    text = records["caption"]["results"][0]["text"]
    assert text
    assert records["still"]["params"]["prompt"] == f"{text}, in {{braces}}"
    assert records["still"]["sources"] == {"prompt": "job caption"}
