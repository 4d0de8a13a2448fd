"""What rhbatch promises with money at stake, each promise against the fault that broke it.

Each test here failed on rhbatch 0.x before the money-safety work; the issue's nine
failures map to tests as follows (the others live beside this file):

1. a succeeded task reported failed at the timeout    -> test_timeout_*, test_retry_failed_*
2. tasks made by lost replies paid for nothing        -> test_lost_replies_*
3. an outage fails every job                          -> test_outage_*
4. unbounded reads                                    -> test_hostile.py
5. one job's fault kills the run                      -> test_one_jobs_fault_*, test_hostile.py
6. paid, then refused (naming outside the directory)  -> test_bad_input.py
7. the key leaks through the server                   -> test_hostile.py
8. expansion and input without limits                 -> test_bad_input.py
9. what a user sees when things stall                 -> test_stall_*, test_sigterm_*, ...
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rhbatch.emulator.config import DEFAULT_KEY
from rhbatch.emulator.thread import EmulatorThread
from rhbatch.runner.progress import Lines
from tests.helpers import Result
from tests.run_helpers import emulator, emulator_config, manifest, spec_text, verify_files

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def spec_with(jobs: int, run: dict[str, Any], extra: str = "") -> str:
    """``spec_text`` with its run settings replaced by ``run``."""
    text = spec_text(jobs, extra=extra)
    head = text[: text.index("run:\n")]
    lines = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in run.items())
    return f"{head}run:\n{lines}"


def task_list(emu: EmulatorThread) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = emu.stats(tasks=True)["taskList"]
    return tasks


def known_tasks(out: Path) -> set[str]:
    """Every task id the run's manifest knows, current or earlier."""
    return {t for r in manifest(out) for t in r["taskIds"]}


# --- 1. a task is failed only when it is known to have failed ------------------------------


@pytest.mark.usefixtures("virtual_clock")  # 55 ms against 70 ms: exact on virtual time only
def test_timeout_takes_a_task_that_ended_just_before(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks that end between the last poll and the timeout are succeeded (and fetched),
    not failed: the runner asks once more before giving up. --retry-failed then pays
    nothing more."""
    # 55 ms tasks, a 70 ms timeout, polls at most 50 ms apart and no account counts: the
    # last poll before the timeout sees every task still running.
    write("s.yaml", spec_with(4, {"poll_interval": 0.05, "timeout": 0.07, "signal_interval": 0}))
    fixed = {"video": {"kind": "fixed", "value": 5.5}}
    with emulator(monkeypatch, speed=100, durations=fixed) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        again = cli("run", "s.yaml", "--out", "out", "-q", "--retry-failed")
        stats = emu.stats()
    records = manifest(Path("out"))
    assert result.code == 0, result.err
    assert [r["status"] for r in records] == ["succeeded"] * 4
    assert verify_files(Path("out"), records) == 4
    assert sum(r["cost"] for r in records) == pytest.approx(4 * 2.4)
    assert again.code == 0
    assert stats["submissions"] == 4
    assert stats["byStatus"] == {"SUCCESS": 4}


def test_timeout_with_a_cancel_that_fails_leaves_the_job_unknown(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stuck task whose cancel the server refuses is not reported cancelled: its job is
    unknown (never failed) with its task id, and the next run asks again, cancels it and
    confirms: only then is the job failed (TIMEOUT), and nothing was submitted twice."""
    write("s.yaml", spec_with(3, {"poll_interval": 0.02, "timeout": 0.2, "signal_interval": 0}))
    faults = {
        "stuck": {"rate": 1.0},
        "http_503": {"rate": 1.0, "routes": ["other"]},  # cancel (and the account calls)
    }
    with emulator(monkeypatch, faults=faults) as emu:
        first = cli("run", "s.yaml", "--out", "out", "-q")
        after_first = {t["taskId"]: t["status"] for t in task_list(emu)}
        unknown = manifest(Path("out"))
        emu.call(lambda e: setattr(e.config.faults["http_503"], "rate", 0.0))
        second = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert first.code == 1
    assert [r["status"] for r in unknown] == ["unknown"] * 3
    assert all(after_first[r["taskId"]] == "RUNNING" for r in unknown)
    assert all("and it could not be cancelled" in r["errorMessage"] for r in unknown)
    assert "have a task whose end is not known yet; the next run asks again" in first.err
    assert second.code == 1
    records = manifest(Path("out"))
    assert [(r["status"], r["errorCode"]) for r in records] == [("failed", "TIMEOUT")] * 3
    assert all("cancelled (confirmed)" in r["errorMessage"] for r in records)
    assert stats["submissions"] == 3
    assert stats["byStatus"] == {"CANCEL": 3}


def test_retry_failed_adopts_an_earlier_task_that_succeeded(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--retry-failed first asks about every earlier task of a failed job that might still
    succeed: one that did is taken (its files fetched), and nothing is submitted."""
    write("s.yaml", spec_text(2))
    with emulator(monkeypatch, faults={"task_failed": {"rate": 1.0, "codes": ["1505"]}}) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 1
        emu.call(lambda e: setattr(e.config.faults["task_failed"], "rate", 0.0))
        # A task of shot-1 that this directory's store knows but whose end it never saw
        # (as an older rhbatch left such tasks): it succeeded meanwhile.
        sent = manifest(Path("out"))[0]["params"]
        stray = asyncio.run(_submit(emu, sent))
        _wait_for(lambda: {t["taskId"]: t["status"] for t in task_list(emu)}[stray] == "SUCCESS")
        with sqlite3.connect(Path("out/.rhbatch/state.db")) as db:
            db.execute(
                "INSERT INTO attempts (job_id, n, task_id, started_at) VALUES (?, 9, ?, ?)",
                ("shot-1", stray, time.time()),
            )
        before = emu.stats()["submissions"]
        result = cli("run", "s.yaml", "--out", "out", "-q", "--retry-failed")
        stats = emu.stats()
    records = manifest(Path("out"))
    assert records[0]["status"] == "succeeded"
    assert records[0]["taskId"] == stray
    assert verify_files(Path("out"), records[:1]) == 1
    # shot-2 had no other task: it alone is sent again.
    assert stats["submissions"] == before + 1
    assert result.code == 0, result.err


# --- 2. tasks made by lost replies are adopted, or proven absent ----------------------------


def test_lost_replies_with_webhooks_are_adopted(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every submit whose answer is lost after the task was made: with webhooks on, each
    task announces itself with its attempt's token and its job adopts it. Every job
    succeeds, each paid once, and the run knows every task the server made."""
    write("s.yaml", spec_text(30, run="  concurrency: 6\n"))
    faults = {
        "lost_submit": {"rate": 0.3},
        "http_502": {"rate": 0.2, "stage": "after", "routes": ["submit"]},
    }
    with emulator(monkeypatch, faults=faults, seed=21) as emu:
        result = cli("run", "s.yaml", "--out", "out", "--log-json", "--webhook-listen", "0")
        stats = emu.stats(tasks=True)
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    adopted = [e for e in events if e["event"] == "adopted"]
    assert result.code == 0, result.err[-2000:]
    assert stats["faults"]["lost_submit"] + stats["faults"]["http_502"] == len(adopted) > 3
    records = manifest(Path("out"))
    assert {r["status"] for r in records} == {"succeeded"}
    assert verify_files(Path("out"), records) == 30
    assert stats["paidTwice"] == {}
    assert stats["submissions"] == 30
    assert {t["taskId"] for t in stats["taskList"]} <= known_tasks(Path("out"))


def test_lost_replies_without_webhooks_resent_only_when_counts_prove_no_task(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without webhooks: a submit answered 500 before any task was made is proven empty
    by the account's counts and sent again; a submit whose task was made (its answer
    lost after) is never sent again: its job stays unknown, and the summary says how
    to attach the task."""
    # Counts every 10 ms: the runner sees each task alive many times, so it knows how long
    # tasks of the endpoint live at least (150 ms here), and reads the counts well within.
    write(
        "s.yaml",
        spec_with(24, {"concurrency": 4, "poll_interval": 0.05, "signal_interval": 0.01}),
    )
    faults = {"http_500": {"rate": 0.25, "routes": ["submit"]}, "lost_submit": {"rate": 0.15}}
    slow = {"video": {"kind": "uniform", "low": 30, "high": 60}}  # 150-300 ms at speed 200
    with emulator(monkeypatch, faults=faults, seed=5, speed=200, durations=slow) as emu:
        result = cli("run", "s.yaml", "--out", "out", "--log-json")
        stats = emu.stats(tasks=True)
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    resent = {e["job"] for e in events if e["event"] == "resend"}
    records = {r["id"]: r for r in manifest(Path("out"))}
    unknown = [r for r in records.values() if r["status"] == "unknown"]
    made = {t["taskId"] for t in stats["taskList"]}
    assert stats["faults"]["http_500"] >= 4
    assert resent, "no lost reply was proven empty"
    # (a resent job may lose its answer again: then it is judged again)
    assert any(records[j]["status"] == "succeeded" for j in resent)
    # A body is never sent twice once a task exists: each has at most one task, and
    # every job whose lost submit made a task is unknown (never resent).
    assert stats["paidTwice"] == {}
    assert all(n == 1 for n in stats["submissionsPerBody"].values())
    succeeded = [r for r in records.values() if r["status"] == "succeeded"]
    assert {r["status"] for r in records.values()} == {"succeeded", "unknown"}
    assert len(unknown) >= stats["faults"]["lost_submit"] >= 1
    assert len(made) == len(succeeded) + stats["faults"]["lost_submit"]
    assert "rhbatch attach out JOB TASK_ID" in result.err
    assert result.code == 1


def test_attach_fetches_the_task_of_a_lost_reply(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rhbatch attach DIR JOB TASK_ID gives an unknown job the task found elsewhere: its
    files are fetched, the job succeeds, and nothing is submitted."""
    write("s.yaml", spec_text(3))
    with emulator(monkeypatch, faults={"lost_submit": {"rate": 1.0}}) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 1
        ids = {t["bodyHash"]: t["taskId"] for t in task_list(emu)}
        emu.call(lambda e: setattr(e.config.faults["lost_submit"], "rate", 0.0))
        _wait_for(lambda: {t["status"] for t in task_list(emu)} == {"SUCCESS"})
        task = next(iter(ids.values()))
        job = _job_of(emu, task)
        attached = cli("attach", "out", job, task)
        refused = cli("attach", "out", job, task)
        missing = cli("attach", "out", "shot-2", "9999999999999999999")
        stats = emu.stats()
    assert attached.code == 0, attached.err
    assert f"job {job}: task {task} succeeded; 1 file saved in out" in attached.out
    record = next(r for r in manifest(Path("out")) if r["id"] == job)
    assert (record["status"], record["taskId"]) == ("succeeded", task)
    assert verify_files(Path("out"), [record]) == 1
    assert refused.code == 2
    assert f"job {job} is succeeded and task {task}" in refused.err
    assert missing.code == 2
    assert "RunningHub knows no task 9999999999999999999 for this key" in missing.err
    assert stats["submissions"] == 3


# --- 3. an outage stops the run and fails no job -------------------------------------------


def test_outage_stops_the_run_and_a_plain_rerun_continues(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Nothing listens at the base URL: exit 3 with the reason and the command to resume;
    every job is still pending. The same command, once the API is back, runs them all."""
    write("s.yaml", spec_with(60, {"poll_interval": 0.05}))
    with emulator(monkeypatch) as emu:
        real = emu.base_url
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
        down = cli("run", "s.yaml", "--out", "out", "-q")
        pending = manifest(Path("out"))
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", real)
        back = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert down.code == 3
    assert "stopped: cannot reach http://127.0.0.1:" in down.err
    assert "every job is kept as it was: once it is reachable, run the same command again: " in (
        down.err
    )
    assert "Traceback" not in down.err
    assert [r["status"] for r in pending] == ["pending"] * 60
    assert back.code == 0, back.err
    assert stats["submissions"] == 60


def test_outage_mid_run_keeps_every_job(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API goes away during a run: the run stops (exit 3) within a few poll intervals,
    no job is failed, tasks in flight stay followed; the rerun finishes without a flag
    and without paying twice."""
    write("s.yaml", spec_with(40, {"poll_interval": 0.05, "concurrency": 5}))
    slow = {"video": {"kind": "fixed", "value": 600}}  # 0.3 s at speed 2000
    with EmulatorThread(emulator_config(durations=slow)) as emu:
        port = _closed_port()
        proxy = _Proxy(emu.base_url, port)
        with proxy:
            monkeypatch.setenv("RUNNINGHUB_BASE_URL", f"http://127.0.0.1:{port}")
            monkeypatch.setenv("RUNNINGHUB_API_KEY", emu.api_key)
            proc = _start(Path.cwd(), monkeypatch)
            _wait_for(lambda: emu.stats()["submissions"] >= 8 and _quiet(emu, 5))
        # The proxy is gone: nothing listens any more.
        _out, err = proc.communicate(timeout=60)
        down = manifest(Path("out"))
        with _Proxy(emu.base_url, port):
            back = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert proc.returncode == 3, err
    assert "cannot reach" in err
    assert not [r for r in down if r["status"] in ("failed", "unknown")]
    assert back.code == 0, back.err
    assert stats["duplicateSubmissions"] == {}
    assert stats["submissions"] == 40


# --- 5. one job's fault is that job's ------------------------------------------------------


def test_one_jobs_fault_is_that_jobs_alone(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of rhbatch itself while one job's files are saved (a bug, injected here)
    leaves that job unfetched with the reason and the traceback in .rhbatch/log; every
    other job succeeds and the manifest is written."""
    from rhbatch.runner import fetch

    original = fetch.Fetcher.destination

    def broken(self: fetch.Fetcher, row: Any, n: int, result: Any) -> tuple[str, str]:
        if row.id == "shot-3":
            raise ZeroDivisionError("an injected fault")
        return original(self, row, n, result)

    monkeypatch.setattr(fetch.Fetcher, "destination", broken)
    write("s.yaml", spec_text(6))
    with emulator(monkeypatch):
        result = cli("run", "s.yaml", "--out", "out", "-q")
    records = {r["id"]: r for r in manifest(Path("out"))}
    assert result.code == 1
    assert records["shot-3"]["status"] == "unfetched"
    assert (
        "internal error: ZeroDivisionError: an injected fault" in records["shot-3"]["errorMessage"]
    )
    assert [r["status"] for k, r in records.items() if k != "shot-3"] == ["succeeded"] * 5
    log = Path("out/.rhbatch/log").read_text()
    assert "Traceback" in log
    assert "an injected fault" in log
    assert "Traceback" not in result.err


def test_an_internal_error_is_one_line_and_a_log(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fault of rhbatch outside any job reaches the user as one line and exit 3; the
    traceback goes to the log."""
    from rhbatch.commands import status

    def broken(args: object) -> int:
        raise RuntimeError("an injected fault")

    monkeypatch.setattr(status, "run", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    Path("out").mkdir()  # a directory that is not there is refused before the command runs
    result = cli("status", "out")
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert (
        "rhbatch: internal error (RuntimeError: an injected fault); the details are in"
        in result.err
    )
    assert "an injected fault" in (tmp_path / "cache/rhbatch/log").read_text()


# --- 9. what a user sees when a run stalls or is stopped ------------------------------------


def test_stall_the_manifest_exists_before_the_first_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest of every job is written before anything is sent: killed while its first
    submit hangs, the run leaves a valid manifest of 10 pending-or-submitting jobs."""
    (tmp_path / "s.yaml").write_text(spec_text(10))
    config = emulator_config(faults={"slow": {"rate": 1.0, "seconds": 4000, "routes": ["submit"]}})
    with EmulatorThread(config) as emu:
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", emu.base_url)
        monkeypatch.setenv("RUNNINGHUB_API_KEY", emu.api_key)
        proc = _start(tmp_path, monkeypatch)
        _wait_for(lambda: emu.stats()["tasks"] >= 1)
        proc.kill()
        proc.communicate(timeout=10)
    records = manifest(tmp_path / "out")
    assert len(records) == 10
    assert {r["status"] for r in records} <= {"pending", "submitting"}


def test_stall_the_progress_line_shows_the_oldest_task() -> None:
    """The plain progress line says how long the oldest task in flight has run, even when
    nothing else happens (it ticks)."""
    from io import StringIO

    stream = StringIO()
    lines = Lines(stream, every=0)
    lines.sources(running=lambda: 3, oldest=lambda: 187.0)
    lines.start(10, 2, 4.8)
    lines.tick()
    assert stream.getvalue().startswith("rhbatch: 2/10 done, 3 running (oldest 3m07s), 4.80 CNY, ")


@pytest.mark.parametrize("how", ["sigterm", "double-ctrl-c"])
def test_sigterm_and_a_second_ctrl_c_exit_cleanly(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM winds the run down; a second Ctrl-C stops it at once, even while a submit
    hangs. Either way: no traceback, no unclosed session, the command that resumes it,
    and the resume pays nothing twice (a submit cut off stays unknown, never resent)."""
    (tmp_path / "s.yaml").write_text(
        spec_text(30, run="  concurrency: 5\n  signal_interval: 0.05\n")
    )
    slow = {"video": {"kind": "uniform", "low": 400, "high": 800}}
    # Submit replies held (6 s for a double Ctrl-C to cut short; 1 s for SIGTERM to wait for)
    held = 12000 if how == "double-ctrl-c" else 2000
    hang = {"slow": {"rate": 0.3, "seconds": held, "routes": ["submit"]}}
    with EmulatorThread(emulator_config(durations=slow, faults=hang, seed=2)) as emu:
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", emu.base_url)
        monkeypatch.setenv("RUNNINGHUB_API_KEY", emu.api_key)
        proc = _start(tmp_path, monkeypatch)
        _wait_for(lambda: emu.stats()["tasks"] >= 5)
        began = time.monotonic()
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - began
        emu.call(lambda e: setattr(e.config.faults["slow"], "rate", 0.0))
        again = _start(tmp_path, monkeypatch)
        _out2, err2 = again.communicate(timeout=120)
        stats = emu.stats()
    assert proc.returncode == 130, err
    assert "resume with: rhbatch run s.yaml --out out" in err
    assert "Traceback" not in err
    assert "Unclosed" not in err
    if how == "double-ctrl-c":
        assert stopped_in < 4  # it did not wait for the hanging submit (6 s)
    assert again.returncode in (0, 1), err2
    records = manifest(tmp_path / "out")
    assert {r["status"] for r in records} <= {"succeeded", "unknown"}
    assert stats["duplicateSubmissions"] == {}


def test_cancel_retries_passing_trouble(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rhbatch cancel does not give up on a 503: every task in flight is cancelled."""
    write("s.yaml", spec_text(4, run="  concurrency: 4\n"))
    slow = {"video": {"kind": "fixed", "value": 1e9}}
    faults = {"http_503": {"rate": 0.4, "routes": ["other"]}}
    with emulator(monkeypatch, durations=slow, seed=3) as emu:
        proc = _start(Path.cwd(), monkeypatch)
        _wait_for(lambda: emu.stats()["byStatus"].get("RUNNING", 0) == 4)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        emu.call(lambda e: e.config.faults.update(emulator_config(faults=faults).faults))
        result = cli("cancel", "out")
        stats = emu.stats()
    assert result.code == 0, result.err
    assert result.out.count(": cancelled") == 4
    assert stats["byStatus"] == {"CANCEL": 4}
    assert stats["faults"]["http_503"] >= 1


# --- helpers ---------------------------------------------------------------------------------


def _start(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out", "-q"],
        cwd=cwd,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(check: Callable[[], bool], limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def _quiet(emu: EmulatorThread, slots: int) -> bool:
    """Every slot busy and no submit for a while: nothing but queries is on the wire."""
    stats = emu.stats(tasks=True)
    last = max((t["submitted"] for t in stats["taskList"]), default=0.0)
    now = emu.call(lambda e: e.now())
    return bool(stats["byStatus"].get("RUNNING", 0) == slots and now - last > 0.05)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _submit(emu: EmulatorThread, body: dict[str, Any]) -> str:
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{emu.base_url}/openapi/v2/rhart-video/sparkvideo-2.0/multimodal-video",
            json=body,
            headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
        ) as r,
    ):
        reply = await r.json()
    task: str = reply["taskId"]
    return task


def _job_of(emu: EmulatorThread, task_id: str) -> str:
    """The job id a task was made for (its prompt names the take)."""
    body = emu.call(lambda e: e.board.tasks[task_id].body)
    take = str(body["prompt"]).rsplit(" ", 1)[-1]
    return f"shot-{take}"


class _Proxy:
    """A TCP relay from ``port`` to the emulator on a thread: closing it makes the API
    unreachable (connection refused) while the emulator and its tasks live on."""

    def __init__(self, base_url: str, port: int) -> None:
        self.target = base_url.rsplit(":", 1)[1]
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread: Any = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(self.target))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def __enter__(self) -> _Proxy:
        import threading

        async def start() -> None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

        self._loop.run_until_complete(start())
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
