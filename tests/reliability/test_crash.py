"""A run killed at any moment loses nothing: after every SIGKILL the manifest is whole and
the state store sound; the same command, run again, finishes every job; nothing is paid
twice and nothing half-written is left.

One batch of 80 jobs on 10 slots (every fourth a 5 MB video, the rest fast images) is
stopped by SIGTERM and by a double Ctrl-C, killed four times (mid-download, among bursts
of commits, at startup), then run to its end; the figures come from ``scenarios.crash``,
judged by the emulator's ledger and the files left. ``python -m tests.reliability`` runs
it at full size.
"""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.config import EmulatorConfig
from rhbatch.emulator.thread import EmulatorThread
from tests.emu_helpers import doc_body
from tests.reliability.scenarios import Report, crash

JOBS = 80
KILLS = 4


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return crash(
        Path(tmp_path_factory.mktemp("crash")),
        jobs=JOBS,
        kills=KILLS,
        concurrency=10,
        video_bytes=5_000_000,
        video_every=4,
        limit=120,
    )


def test_the_kills_landed_where_they_were_aimed(report: Report) -> None:
    """Every planned SIGKILL happened, one while a result was being written and one while
    a job was between its intent to submit and its task id."""
    assert report["kills"] == KILLS
    assert report["kills_part"] >= 1
    assert report["kills_submitting"] >= 1


def test_every_kill_leaves_a_whole_manifest_and_a_sound_store(report: Report) -> None:
    """After each kill, manifest.jsonl exists, parses and lists every job, and the state
    store passes SQLite's integrity check."""
    assert report["manifests"] == KILLS, report.details["kills"]
    assert report["integrity"] == KILLS, report.details["kills"]


@pytest.mark.parametrize("how", ["sigterm", "double-ctrl-c"])
def test_a_stop_mid_run_exits_cleanly(report: Report, how: str) -> None:
    """SIGTERM, or Ctrl-C twice, mid-run: exit 130 with the command that resumes, and no
    traceback or unclosed session on stderr."""
    assert report[f"{how}_clean"], report.details["stops"].get(how)


def test_the_same_command_finishes_every_job(report: Report) -> None:
    """The plain rerun ends every job: succeeded, or unknown where a kill caught its submit;
    none failed."""
    assert report["ended"] == JOBS
    assert set(report["statuses"]) <= {"succeeded", "unknown"}
    assert report["statuses"].get("unknown", 0) == report["caught"]
    assert report["succeeded_not_so"] == 0


def test_nothing_is_paid_twice(report: Report) -> None:
    """No body succeeded twice, none has more tasks than rhbatch's submits, and every task the
    manifest does not know belongs to a job that says a task may exist."""
    assert report["paid_twice"] == 0
    assert report["over_attempts"] == 0
    assert report["strangers"] == 0
    assert report["unknown_tasks_settled"] == 0


def test_nothing_half_written_is_left(report: Report) -> None:
    """No .part file or interrupted manifest write is left, and every result file is the
    emulator's, byte for byte."""
    assert report["temporaries"] == 0
    assert report["files"] == report.want("files") == report["statuses"]["succeeded"]


def test_caught_submits_are_settled_without_paying_twice(report: Report) -> None:
    """The jobs a kill caught mid-submit: attach gives each its task, --resubmit-unknown sends
    the ones that made none; then every job has succeeded with exactly one task."""
    assert report["attached"] == report["caught_made"]
    assert report["resubmitted"] == report["caught"] - report["caught_made"]
    assert report["succeeded_end"] == report["tasks_end"] == JOBS
    assert report["paid_twice_end"] == 0
    assert report["files_end"] == report.want("files_end")


def test_every_goal_is_met(report: Report) -> None:
    """No figure of the scenario misses its goal (the emulator made no error of its own)."""
    assert report.missed() == []


def test_a_download_its_client_hangs_up_on_is_no_emulator_error() -> None:
    """A client that goes away mid-download (as a killed rhbatch does) is not a fault of the
    emulator: its internal-error count stays at zero."""
    from rhbatch.emulator.api import INTERNAL_ERRORS

    config = EmulatorConfig.load(
        "clean", durations={"video": {"kind": "fixed", "value": 0}}, output_bytes={"video": 8 << 20}
    )
    with EmulatorThread(config) as emu:
        answer = _post(emu, "/openapi/v2/rhart-video/sparkvideo-2.0/multimodal-video", doc_body())
        url = answer["results"][0]["url"]
        _hang_up_during(url)
        time.sleep(0.3)
        counted = emu.stats()["requests"].get("internal_error", 0)
    seen = list(INTERNAL_ERRORS)
    INTERNAL_ERRORS.clear()  # provoked here: the suite's guard would report them twice
    assert counted == 0, seen


def _post(emu: EmulatorThread, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        emu.base_url + path,
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {emu.api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        found: dict[str, Any] = json.load(reply)
    return found


def _hang_up_during(url: str) -> None:
    """Start downloading ``url``, read a little, then reset the connection."""
    rest = url.split("://", 1)[1]
    hostport, path = rest.split("/", 1)
    host, port = hostport.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\n\r\n".encode())
        sock.recv(1 << 16)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
