"""The emulator's state directory: tasks and uploads outlive the emulator, as on RunningHub.

Unit tests start an ``Emulator`` on a directory, stop it and start another on the
same directory, talking to both over loopback. Time away is made by moving the
journal's wall-clock stamps back, not by waiting. The end-to-end tests run the real
CLI (``rhbatch run --emulator``, ``rhbatch emulator --state``) in a subprocess, stop
it, and type the command it printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rhbatch import __version__
from rhbatch.emulator import Emulator, EmulatorConfig
from rhbatch.emulator.config import DEFAULT_KEY
from rhbatch.emulator.journal import JOURNAL
from rhbatch.emulator.thread import EmulatorThread
from rhbatch.errors import StateError
from tests.emu_helpers import V1_LITE, Api, doc_body, run
from tests.helpers import Result
from tests.run_helpers import emulator_config, manifest, spec_text, verify_files

SHORT, LONG = "rhart-video/*", "seedance-v1-lite/*"  # MULTIMODAL's and V1_LITE's patterns
I2V_WORKFLOW = "1990000000000000002"  # its node "10" is a LoadImage


def config(speed: float = 100.0, short: float = 1.0, long: float = 100_000.0, **kw: Any) -> Any:
    """MULTIMODAL tasks take ``short``, V1_LITE tasks ``long`` seconds of RunningHub time."""
    durations = {
        SHORT: {"kind": "fixed", "value": short},
        LONG: {"kind": "fixed", "value": long},
    }
    return EmulatorConfig.from_dict({"speed": speed, "durations_by_endpoint": durations, **kw})


def long_body(n: int) -> dict[str, Any]:
    return doc_body("seedance-v1-lite-reference-to-video") | {"prompt": f"a long one, {n}"}


def tasks_by_id(emu: Emulator) -> dict[str, dict[str, Any]]:
    return {t["taskId"]: t for t in emu.stats(tasks=True)["taskList"]}


def end_wall(emu: Emulator, task: dict[str, Any]) -> float:
    """When a running task will end, as Unix time."""
    return emu.wall_exact(task["started"] + task["duration"])


def journal_lines(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / JOURNAL).read_text().splitlines()]


def move_back(state: Path, seconds: float) -> None:
    """Pretend the journal was written ``seconds`` earlier: the emulator was away that long."""
    lines = journal_lines(state)
    for record in lines:
        for key in ("wall", "created", "expires"):
            if isinstance(record.get(key), float):
                record[key] -= seconds
    (state / JOURNAL).write_text("".join(json.dumps(r) + "\n" for r in lines))


async def upload(api: Api, data: bytes, name: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="image/png")
    _, reply = await api.post("/openapi/v2/media/upload/binary", data=form)
    assert reply["code"] == 0, reply
    data_: dict[str, Any] = reply["data"]
    return data_


async def legacy_upload(api: Api, data: bytes, name: str) -> str:
    form = aiohttp.FormData()
    form.add_field("apiKey", api.key)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    _, reply = await api.post("/task/openapi/upload", data=form)
    assert reply["code"] == 0, reply
    file_name: str = reply["data"]["fileName"]
    return file_name


# --- the emulator on a state directory -----------------------------------------------------


def test_tasks_and_uploads_outlive_the_emulator(tmp_path: Path) -> None:
    """A second emulator on the same directory serves the first one's tasks (finished
    ones SUCCESS with downloadable results, a running one running to the same end, a
    cancelled one cancelled), its upload URL and issued fileNames, the same ledger, and
    gives the next task an id above them all, on the same port."""
    state = tmp_path / "state"

    async def before() -> dict[str, Any]:
        async with Emulator(config(), state_dir=state) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            _, done = await api.submit(doc_body())
            _, running = await api.submit(long_body(1), V1_LITE)
            _, cancelled = await api.submit(long_body(2), V1_LITE)
            await api.post("/task/openapi/cancel", {"taskId": cancelled["taskId"]})
            uploaded = await upload(api, b"\x89PNG a picture", "ref.png")
            file_name = await legacy_upload(api, b"\x89PNG another", "start.png")
            finished = await api.wait(done["taskId"])
            _, result = await api.get(finished["results"][0]["url"])
            ids = {"done": done["taskId"], "running": running["taskId"]}
            return {
                "ids": ids | {"cancelled": cancelled["taskId"]},
                "port": emu.port,
                "result": result,
                "upload_url": uploaded["download_url"],
                "file_name": file_name,
                "ends": end_wall(emu, tasks_by_id(emu)[running["taskId"]]),
                "ledger": emu.stats(),
            }

    async def after(first: dict[str, Any]) -> dict[str, Any]:
        async with Emulator(config(), state_dir=state) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            ids = first["ids"]
            ledger = emu.stats()
            statuses = {name: (await api.query(i))["status"] for name, i in ids.items()}
            done = await api.query(ids["done"])
            _, result = await api.get(done["results"][0]["url"])
            upload_status, uploaded = await api.get(first["upload_url"])
            node = {"nodeId": "10", "fieldName": "image", "fieldValue": first["file_name"]}
            _, started = await api.post(
                f"/openapi/v2/run/workflow/{I2V_WORKFLOW}", {"nodeInfoList": [node]}
            )
            _, new = await api.submit(doc_body() | {"prompt": "a new one"})
            return {
                "port": emu.port,
                "statuses": statuses,
                "result": result,
                "upload": (upload_status, uploaded),
                "workflow": started["status"],
                "new_id": new["taskId"],
                "ends": end_wall(emu, tasks_by_id(emu)[ids["running"]]),
                "ledger": ledger,
            }

    first = run(before)
    second = run(lambda: after(first))
    assert second["port"] == first["port"]
    assert second["statuses"] == {"done": "SUCCESS", "running": "RUNNING", "cancelled": "CANCEL"}
    assert second["result"] == first["result"]
    assert first["result"][4:8] == b"ftyp"
    assert second["upload"] == (200, b"\x89PNG a picture")
    assert second["workflow"] in ("RUNNING", "QUEUED")  # the fileName is still one it issued
    assert int(second["new_id"]) > max(int(i) for i in first["ids"].values())
    assert abs(second["ends"] - first["ends"]) < 0.05
    for key in ("tasks", "byStatus", "submissionsPerBody", "charged", "uploads", "uploadBytes"):
        assert second["ledger"][key] == first["ledger"][key], key
    assert second["ledger"]["charged"] > 0
    assert second["ledger"]["state"]["restored"] == {"tasks": 3, "cancels": 1, "uploads": 2}


def test_time_away_counts_as_running_time(tmp_path: Path) -> None:
    """Tasks go on while the emulator is away: 40 real seconds later (at speed 60) the
    first of two 30-second tasks on one slot has succeeded and been charged, and the
    second, queued behind it, has run for 10 seconds and runs 20 more."""
    state = tmp_path / "state"
    accounts = {DEFAULT_KEY: {"concurrency": 1}}
    cfg = config(speed=60.0, long=1800.0, accounts=accounts)  # 30 real seconds each

    async def submit() -> list[str]:
        async with Emulator(cfg, state_dir=state) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            replies = [(await api.submit(long_body(n), V1_LITE))[1] for n in (1, 2)]
            assert [r["status"] for r in replies] == ["RUNNING", "QUEUED"]
            return [r["taskId"] for r in replies]

    async def later(ids: list[str]) -> tuple[list[str], float, dict[str, Any]]:
        async with Emulator(cfg, state_dir=state) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            statuses = [(await api.query(i))["status"] for i in ids]
            second = tasks_by_id(emu)[ids[1]]
            left = second["started"] + second["duration"] - emu.now()
            return statuses, left, emu.stats()

    ids = run(submit)
    move_back(state, 40.0)
    statuses, left, ledger = run(lambda: later(ids))
    assert statuses == ["SUCCESS", "RUNNING"]
    assert 19.0 < left <= 20.5
    assert ledger["byStatus"] == {"SUCCESS": 1, "RUNNING": 1}
    assert ledger["charged"] > 0
    # the running one's price is reserved, the same as the first one's charge
    assert ledger["accounts"][DEFAULT_KEY[:4] + "…"]["reserved"] == ledger["charged"]


@pytest.mark.parametrize(
    "tail",
    [b'{"event":"task","kind":"accepted","wall":17', b"not a record\n"],
    ids=["cut-short", "not-json"],
)
def test_a_spoilt_last_line_is_skipped(tmp_path: Path, tail: bytes) -> None:
    """A last line a kill cut short (or that is not JSON) is dropped: the tasks before it
    are served, the next task gets a new id, and the journal stays readable after."""
    state = tmp_path / "state"

    async def session(prompt: str) -> tuple[list[str], str]:
        async with Emulator(config(), state_dir=state) as emu, aiohttp.ClientSession() as s:
            api = Api(emu, s)
            known = sorted(emu.stats(tasks=True)["pollsPerTask"])
            served = [t for t in known if (await api.query(t))["errorCode"] != "1004"]
            _, new = await api.submit(doc_body() | {"prompt": prompt})
            return served, new["taskId"]

    _, first = run(lambda: session("one"))
    with (state / JOURNAL).open("ab") as fh:
        fh.write(tail)
    served, second = run(lambda: session("two"))
    served_again, third = run(lambda: session("three"))
    assert served == [first]
    assert int(second) > int(first)
    assert served_again == sorted([first, second])
    assert int(third) > int(second)
    assert all(isinstance(r, dict) for r in journal_lines(state))


def test_a_journal_of_another_format_is_refused(tmp_path: Path, cli: Callable[..., Result]) -> None:
    """A journal written in another format is refused with what to do, by the emulator
    and by `rhbatch run --emulator` (exit 3), never misread."""
    header = {"journal": "rhbatch-emulator-journal", "format": 99, "rhbatch": "9.0.0"}
    state = tmp_path / "out" / ".rhbatch" / "emulator"
    state.mkdir(parents=True)
    (state / JOURNAL).write_text(json.dumps(header) + "\n")
    expected = (
        f"{state / JOURNAL} was written by rhbatch 9.0.0 in journal format 99; this rhbatch "
        f"({__version__}) reads format 1. Use that version, or move the directory away to "
        "start afresh"
    )

    async def start() -> None:
        async with Emulator(config(), state_dir=state):
            pass

    with pytest.raises(StateError) as refused:
        run(start)
    assert str(refused.value) == expected
    (tmp_path / "s.yaml").write_text(spec_text(1))
    result = cli("run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--emulator")
    assert result.code == 3
    assert expected in result.err


def test_a_spoilt_line_before_the_last_is_refused(tmp_path: Path) -> None:
    """Only the last line can be cut short by a kill: a bad line before it is refused."""
    state = tmp_path / "state"

    async def start() -> None:
        async with Emulator(config(), state_dir=state):
            pass

    run(start)  # the header, and the port it listened on
    with (state / JOURNAL).open("a") as fh:
        fh.write('{"event": "task", "wa\n{"event": "listen", "wall": 1.0, "port": 1}\n')
    with pytest.raises(StateError, match=r"line 3 is not a journal record"):
        run(start)


def test_the_last_port_again_or_a_free_one(tmp_path: Path) -> None:
    """An emulator listens on its directory's last port; when that is taken, on a free one,
    which the next emulator takes again."""
    state = tmp_path / "state"

    async def port() -> int:
        async with Emulator(config(), state_dir=state) as emu, aiohttp.ClientSession() as s:
            assert (await Api(emu, s).query("1"))["errorCode"] == "1004"  # it answers
            return emu.port

    first = run(port)
    with taken(first):
        second = run(port)
    third = run(port)
    assert second != first
    assert third == second


def test_one_emulator_at_a_time_on_a_directory(tmp_path: Path) -> None:
    """A second emulator on a directory in use is refused; the first goes on."""
    state = tmp_path / "state"

    async def both() -> str:
        async with Emulator(config(), state_dir=state) as emu, aiohttp.ClientSession() as s:
            with pytest.raises(StateError) as refused:
                await Emulator(config(), state_dir=state).start()
            _, sub = await Api(emu, s).submit(doc_body())
            assert sub["errorCode"] == ""
            return str(refused.value)

    assert run(both) == f"{state} is in use by another emulator"


@contextlib.contextmanager
def taken(port: int) -> Iterator[None]:
    """Hold ``port`` without listening on it: no one else can listen there, and a
    connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        yield


# --- rhbatch over a state directory ----------------------------------------------------------


@pytest.mark.usefixtures("fast_clock")
def test_a_result_is_fetched_from_a_restarted_emulator_on_another_port(
    cli: Callable[..., Result], write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator comes back on another port: a deleted result file is fetched again
    from a fresh URL (its old host refuses connections), and nothing is submitted."""
    write("s.yaml", spec_text(2))
    state = Path("emu-state")
    with EmulatorThread(emulator_config(), state_dir=state) as emu:
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", emu.base_url)
        monkeypatch.setenv("RUNNINGHUB_API_KEY", emu.api_key)
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
    records = manifest(Path("out"))
    path = Path("out") / records[0]["outputs"][0]["path"]
    path.unlink()
    with taken(emu.emulator.port), EmulatorThread(emulator_config(), state_dir=state) as again:
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", again.base_url)
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = again.stats()
    assert again.base_url != emu.base_url
    assert result.code == 0, result.err
    assert verify_files(Path("out"), manifest(Path("out"))) == 2
    assert stats["submissions"] == 2  # the first emulator's two, none new
    assert stats["downloads"] == 1
    assert stats["state"]["restored"] == {"tasks": 2}


JOBS = 6


def journal_tasks(out: Path) -> list[dict[str, Any]]:
    path = out / ".rhbatch" / "emulator" / JOURNAL
    if not path.exists():
        return []
    tasks = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line being written
            record = json.loads(line)
            if record.get("event") == "task":
                tasks.append(record["task"])
    return tasks


def wait_until(check: Callable[[], bool], limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_ctrl_c_then_the_printed_command_finishes_an_emulator_run(tmp_path: Path) -> None:
    """`rhbatch run --emulator`, Ctrl-C with tasks running: the command it prints, typed,
    follows those tasks to their end (none unknown) and pays for no job twice. Deleted
    result files are fetched again by the same command, with nothing submitted: on the
    emulator's last port, and from another when that one is taken."""
    (tmp_path / "s.yaml").write_text(spec_text(JOBS, run="  concurrency: 3\n"))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNINGHUB_", "RH_"))}
    command = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out", "--emulator"]
    command += ["--emulator-speed", "40", "-q"]  # tasks of 0.75 to 4.5 real seconds
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        wait_until(lambda: len(journal_tasks(out)) >= 3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    interrupted = {r["id"]: r["status"] for r in manifest(out)}
    resume = err.split("resume with: ", 1)[1].strip()

    def again() -> subprocess.CompletedProcess[str]:
        argv = shlex.split(resume)
        assert argv[0] == "rhbatch"
        return subprocess.run(
            [sys.executable, "-m", "rhbatch", *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    resumed = again()
    records = manifest(out)
    paid = journal_tasks(out)
    assert "running" in interrupted.values()  # the resume had tasks of the first run to follow
    assert resumed.returncode == 0, resumed.stderr
    assert [r["status"] for r in records] == ["succeeded"] * JOBS
    assert verify_files(out, records) == JOBS
    assert len(paid) == JOBS
    assert set(Counter(t["body_hash"] for t in paid).values()) == {1}  # each body once
    assert sorted(t["id"] for t in paid) == sorted(i for r in records for i in r["taskIds"])

    for n in (0, 1):  # the last port free, then taken
        (out / records[n]["outputs"][0]["path"]).unlink()
        listened = journal_lines(out / ".rhbatch" / "emulator")
        port = [r["port"] for r in listened if r.get("event") == "listen"][-1]
        with taken(port) if n else contextlib.nullcontext():
            fetched = again()
        assert fetched.returncode == 0, fetched.stderr
        assert verify_files(out, manifest(out)) == JOBS
        assert len(journal_tasks(out)) == JOBS  # nothing new submitted


def test_the_emulator_command_keeps_its_state(tmp_path: Path) -> None:
    """`rhbatch emulator --state DIR`, stopped and started again, knows its tasks and
    listens where it did."""
    command = [sys.executable, "-m", "rhbatch", "emulator", "--port", "0", "--speed", "100"]
    command += ["--state", str(tmp_path / "state")]

    def serve(work: Callable[[str], Any]) -> tuple[list[str], Any]:
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
            try:
                assert proc.stdout is not None
                lines = [proc.stdout.readline() for _ in range(6)]
                return lines, run(lambda: work(lines[0].split()[3]))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)

    async def submit(url: str) -> str:
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
            async with s.post(
                f"{url}/openapi/v2/{V1_LITE}", json=long_body(1), headers=headers
            ) as r:
                task_id: str = (await r.json())["taskId"]
                return task_id

    async def query(url: str, task_id: str) -> str:
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
            body = {"taskId": task_id}
            async with s.post(f"{url}/openapi/v2/query", json=body, headers=headers) as r:
                status: str = (await r.json())["status"]
                return status

    first, task_id = serve(submit)
    second, status = serve(lambda url: query(url, task_id))
    assert second[0].split()[3] == first[0].split()[3]  # the same URL
    kept = f"State kept in {tmp_path / 'state'} (1 task and 0 uploads taken up again)\n"
    assert second[4] == kept
    assert status in ("RUNNING", "SUCCESS")
