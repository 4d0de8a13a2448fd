"""Batches that change: a spec edited between runs into one directory.

The books are append-only (every version of every job, with its cost and files), the
spending cap covers them all, a plan against the directory says what an edit costs
before anything is sent, results name the spec version (and git commit) that made them,
and a directory written by the format before is migrated in place. Money is judged by
the emulator's ledger (what it charged), never by what rhbatch says.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.thread import EmulatorThread
from rhbatch.spec.provenance import provenance
from rhbatch.store.db import SCHEMA_VERSION
from rhbatch.store.state import Store
from tests.browser import DRAW_ALL, Tab, visit
from tests.helpers import ROOT, Result, tool
from tests.run_helpers import emulator, emulator_config, manifest

pytestmark = pytest.mark.usefixtures("virtual_clock")

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]
PRICE = 2.40  # seedance 2.0 multimodal video, 480p, 4 s
V4 = ROOT / "tests" / "data" / "store-v4"


def spec(prompts: dict[str, str], run: str = "") -> str:
    jobs = "".join(f"  - id: {i}\n    prompt: {json.dumps(p)}\n" for i, p in prompts.items())
    return (
        "version: 1\nname: edits\nendpoint: seedance-2.0/multimodal-video\n"
        "defaults: {resolution: 480p, duration: '4'}\n"
        f"jobs:\n{jobs}run:\n  poll_interval: 2\n  retries: 1\n{run}"
    )


FIRST = {"fox": "a red fox in the snow", "owl": "an owl at night", "cat": "a cat on a roof"}
FIRST |= {"elk": "an elk in a lake"}
EDITED = {k: v + ", at dawn" for k, v in FIRST.items()}


def git(where: Path, *argv: str) -> str:
    program = tool("git", install="Debian's git package")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@e"}
    done = subprocess.run(
        [program, *argv], cwd=where, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(where: Path, message: str) -> str:
    git(where, "add", "-A")
    git(where, "commit", "-q", "-m", message)
    return git(where, "rev-parse", "HEAD")


def charged(emu: EmulatorThread) -> float:
    return float(emu.stats()["charged"])


def status(cli: Cli, out: str = "out") -> dict[str, Any]:
    result = cli("status", out, "--json")
    assert result.code == 0, result.err
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def test_an_edit_between_runs_never_spends_past_the_cap(
    cli: Cli, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four jobs run under a cap of 15 (9.60); every prompt edited (9.60 more): the plan says
    so and sends nothing, the run stops at the cap with exit 4 having spent at most 15 in
    the directory, the stop names the cap that finishes the batch, and that cap does. The
    books equal the ledger, every version's files are kept, and results name the commit."""
    write("s.yaml", spec(FIRST))
    git(tmp_path, "init", "-q")
    first_commit = commit(tmp_path, "four jobs")
    with emulator(monkeypatch) as emu:
        one = cli("run", "s.yaml", "--out", "out", "--max-spend", "15", "-q")
        assert one.code == 0, one.err
        assert charged(emu) == pytest.approx(4 * PRICE)
        write("s.yaml", spec(EDITED))
        second_commit = commit(tmp_path, "every prompt at dawn")

        sent = emu.stats()["submissions"]
        plan = cli("run", "s.yaml", "--out", "out", "--max-spend", "15", "--dry-run")
        assert plan.code == 0, plan.err
        assert emu.stats()["submissions"] == sent  # nothing was sent
        assert "changed         4  9.60  fox, owl, cat, elk (runs again)" in plan.out
        assert '    prompt: "a red fox in the snow" -> "a red fox in the snow, at dawn"' in plan.out
        assert "this run: 4 jobs to submit, 9.60 CNY (public price list)" in plan.out
        assert (
            "the directory: 9.60 CNY spent so far; 19.20 CNY once this run is billed as quoted"
            in plan.out
        )
        assert (
            "spending cap 15.00 CNY: the run would stop at it (exit 4) before every job is "
            "sent; --max-spend 19.20 would let the whole batch run" in plan.out
        )
        planned = json.loads(cli("plan", "s.yaml", "--out", "out", "--json").out)
        assert [c["id"] for c in planned["changed"]["items"]] == ["fox", "owl", "cat", "elk"]
        assert planned["changed"]["amount"] == pytest.approx(9.6)
        assert planned["directory"]["afterRun"] == pytest.approx(19.2)

        two = cli("run", "s.yaml", "--out", "out", "--max-spend", "15")
        assert two.code == 4, two.err
        assert charged(emu) <= 15.0
        assert charged(emu) == pytest.approx(6 * PRICE)
        assert "rhbatch: warning: 9.60 CNY spent and 9.60 CNY quoted exceed the spending cap" in (
            two.err
        )
        assert "--max-spend 19.20" in two.err  # the cap that lets the rest run
        books = status(cli)["directory"]
        assert books["spent"] == pytest.approx(charged(emu))
        assert books["currentCost"] == pytest.approx(2 * PRICE)

        three = cli("run", "s.yaml", "--out", "out", "--max-spend", "19.20", "-q")
        assert three.code == 0, three.err
        assert charged(emu) == pytest.approx(8 * PRICE)
        assert emu.stats()["duplicateSubmissions"] == {}
    assert status(cli)["directory"]["spent"] == pytest.approx(8 * PRICE)
    versions = status(cli)["directory"]["versions"]
    assert [(v["id"], v["version"], v["status"]) for v in versions] == [
        (i, 1, "succeeded") for i in sorted(FIRST)
    ]
    for v in versions:  # the first version's file, kept where nothing overwrites it
        [path] = v["files"]
        assert path == f"history/{v['id']}/v1/{v['id']}/1.mp4"
        assert (tmp_path / "out" / path).stat().st_size > 0
    records = manifest(Path("out"))
    assert {r["version"] for r in records} == {2}
    assert {r["spec"]["commit"] for r in records} == {second_commit}
    assert {r["spec"]["dirty"] for r in records} == {False}
    run_json = json.loads(Path("out/run.json").read_text())
    assert run_json["specVersion"]["commit"] == second_commit
    assert run_json["money"]["spentInDirectory"] == pytest.approx(8 * PRICE)
    assert first_commit != second_commit
    check = cli("verify", "out")
    assert check.code == 0, check.err
    assert "8 files verified" in check.out


def test_a_job_dropped_and_one_without_an_id_edited_stay_in_the_books(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job removed from the spec, and a job without an id whose prompt changed (a new id):
    both earlier jobs stay in the directory, listed, their files kept and their cost
    counted in what the directory spent."""
    body = "version: 1\nendpoint: seedance-2.0/multimodal-video\n"
    body += "defaults: {resolution: 480p, duration: '4'}\njobs:\n"
    write(
        "s.yaml", body + "  - {id: keep, prompt: a}\n  - {id: drop, prompt: b}\n  - {prompt: c}\n"
    )
    with emulator(monkeypatch) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        write("s.yaml", body + "  - {id: keep, prompt: a}\n  - {prompt: c2}\n")
        plan = json.loads(cli("plan", "s.yaml", "--out", "out", "--json").out)
        again = cli("run", "s.yaml", "--out", "out")
        ledger = charged(emu)
    assert again.code == 0, again.err
    assert plan["new"]["jobs"] == 1
    gone = {item["id"] for item in plan["notInSpec"]["items"]}
    assert "drop" in gone
    assert len(gone) == 2
    assert "2 jobs in the directory the spec no longer names: kept as they are" in again.err
    books = status(cli)["directory"]
    assert books["spent"] == pytest.approx(ledger) == pytest.approx(4 * PRICE)
    assert {j["id"] for j in books["notInSpec"]} == gone
    assert Path("out/drop/1.mp4").exists()
    assert cli("verify", "out").out.endswith("4 files verified\n")


@pytest.fixture
def v4(tmp_path: Path) -> Path:
    """A copy of the directory rhbatch 0.1.0 wrote (state format 4), with its last spec."""
    shutil.copytree(V4, tmp_path / "v4")
    shutil.copy(tmp_path / "v4" / "v3.yaml", tmp_path / "v4" / "spec.yaml")
    return tmp_path / "v4"


def test_a_directory_of_the_format_before_is_migrated_in_place(
    cli: Cli, v4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Format 4 forgot a changed job's earlier version but for its task id: it becomes an
    earlier version whose bill is not known (held at the job's quote); every job keeps its
    state, cost and files; jobs out of the spec count in what the directory spent."""
    monkeypatch.chdir(v4)
    before = {r["id"]: r for r in manifest(Path("out"))}
    books = status(cli)
    with sqlite3.connect(v4 / "out" / ".rhbatch" / "state.db") as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (
            str(SCHEMA_VERSION),
        )
    assert {s: n for s, n in books["counts"].items() if n} == {"succeeded": 5, "unknown": 1}
    assert books["cost"] == pytest.approx(12.0)
    directory = books["directory"]
    assert directory["spent"] == pytest.approx(16.8)  # the jobs out of the spec too
    assert directory["maybeBilled"] == pytest.approx(4.8)  # eel's lost submit, fox's old task
    [fox] = directory["versions"]
    assert (fox["id"], fox["version"], fox["status"], fox["taskId"]) == (
        "fox",
        1,
        "unknown",
        "2013508786110730241",
    )
    assert {j["id"] for j in directory["notInSpec"]} == {"dog", "22c53af2699d"}
    check = cli("verify", "out")  # the files of the jobs out of the spec too
    assert (check.code, check.out) == (0, "out: 7 files verified\n")
    with emulator(monkeypatch) as emu:
        again = cli("run", "spec.yaml", "--out", "out")
        sent = emu.stats()["submissions"]
    assert sent == 0  # eel stays unknown until --resubmit-unknown; nothing else to do
    assert "asked about the tasks of 1 earlier version: 1 not answered" in again.err
    after = {r["id"]: r for r in manifest(Path("out"))}
    for job_id, record in before.items():
        assert after[job_id]["status"] == record["status"]
        assert after[job_id]["outputs"] == record["outputs"]
        assert after[job_id]["version"] == (2 if job_id == "fox" else 1)


def test_history_moves_a_killed_run_left_undone_are_finished(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store says where an earlier version's file belongs before it is moved: a run
    killed between the two leaves the file where it was; the next open moves it."""
    write("s.yaml", spec({"fox": "a fox"}))
    with emulator(monkeypatch):
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        write("s.yaml", spec({"fox": "a fox, again"}))
        with Store.open(Path("out")) as store:  # the sync of the next run, up to its commit
            store.sync(
                [
                    (
                        "fox",
                        0,
                        "rhart-video/sparkvideo-2.0/multimodal-video",
                        {"prompt": "a fox, again", "resolution": "480p", "duration": "4"},
                    )
                ]
            )
        kept = Path("out/history/fox/v1/fox/1.mp4")
        assert kept.exists()
        Path("out/fox").mkdir()
        os.replace(kept, "out/fox/1.mp4")  # as if killed before the move
        with Store.open(Path("out")) as store:
            store.conn.execute("UPDATE version_outputs SET was='fox/1.mp4'")
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
    assert kept.exists()
    assert cli("verify", "out").code == 0


def test_a_task_in_flight_when_its_job_changed_is_settled_later(
    write: Write, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C with a task running, the prompt edited, run again: the old task is asked about
    once; it succeeded meanwhile, so its bill is recorded and its file kept in history/."""
    write("s.yaml", spec({"fox": "a fox"}))
    # The emulator's clock stands still (its task runs on) until the test lets it go on,
    # ten seconds later (well within a result's lifetime), and from there at its own pace.
    moved: list[float] = []

    def clock() -> float:
        return 10.0 + time.monotonic() - moved[0] if moved else 0.0

    with EmulatorThread(emulator_config(), clock=clock) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url}
        env["RUNNINGHUB_API_KEY"] = emu.api_key
        argv = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out"]
        with subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.PIPE) as proc:
            deadline = time.monotonic() + 60
            while emu.stats()["submissions"] == 0:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
        write("s.yaml", spec({"fox": "a fox, again"}))
        moved.append(time.monotonic())  # the old task has ended meanwhile
        assert emu.stats()["byStatus"] == {"SUCCESS": 1}
        monkeypatch.setenv("RUNNINGHUB_BASE_URL", emu.base_url)
        monkeypatch.setenv("RUNNINGHUB_API_KEY", emu.api_key)
        again = cli("run", "s.yaml", "--out", "out")
        ledger = charged(emu)
    assert proc.returncode == 130
    assert again.code == 0, again.err
    assert "asked about the tasks of 1 earlier version: 1 succeeded (2.40 CNY billed" in again.err
    books = status(cli)["directory"]
    assert books["spent"] == pytest.approx(ledger) == pytest.approx(2 * PRICE)
    [old] = books["versions"]
    assert (old["status"], old["files"]) == ("succeeded", ["history/fox/v1/1.mp4"])
    assert cli("verify", "out").code == 0


def test_provenance_of_a_spec_in_and_out_of_git(tmp_path: Path) -> None:
    """Outside git: the sha256 only. A repository without commits: no commit. A commit:
    it, clean; an edit: dirty; an untracked spec: dirty; a detached HEAD: no branch."""
    path = tmp_path / "s.yaml"
    path.write_text("version: 1\n")
    outside = provenance(path)
    assert (outside.commit, outside.dirty, outside.branch) == (None, None, None)
    assert len(outside.sha256) == 64
    git(tmp_path, "init", "-q", "-b", "main")
    assert provenance(path).commit is None  # no commits yet: not an error
    (tmp_path / "other.txt").write_text("x")
    first = commit(tmp_path, "one")
    found = provenance(path)
    assert (found.commit, found.dirty, found.branch, found.repo_path) == (
        first,
        False,
        "main",
        "s.yaml",
    )
    path.write_text("version: 1\nname: edited\n")
    assert provenance(path).dirty is True
    git(tmp_path, "checkout", "-q", "--detach")
    detached = provenance(path)
    assert (detached.commit, detached.branch, detached.dirty) == (first, None, True)
    untracked = tmp_path / "new.yaml"
    untracked.write_text("version: 1\n")
    git(tmp_path, "checkout", "-q", "s.yaml")
    assert provenance(untracked).dirty is True  # its text is in no commit
    assert provenance(path).dirty is False


def test_the_report_shows_a_changed_job_s_versions_side_by_side(
    cli: Cli, write: Write, browser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In headless Chromium: the edited job's card holds both versions, oldest first, each
    with its own video, the prompt marked where it differs; the other jobs have none."""
    write("s.yaml", spec({"fox": "a red fox", "owl": "an owl"}))
    with emulator(monkeypatch):
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        write("s.yaml", spec({"fox": "a red fox, at dawn", "owl": "an owl"}))
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0

    async def scenario(tab: Tab) -> dict[str, Any]:
        await tab.js(DRAW_ALL)
        facts = await tab.js("""(() => {
          const c = document.querySelector(".card.has-versions");
          const cols = [...c.querySelectorAll(".vcol")];
          return {
            cards: document.querySelectorAll(".card.has-versions").length,
            heads: cols.map((x) => x.querySelector(".vhead").textContent),
            videos: cols.map((x) => x.querySelector("video").getAttribute("src")),
            marked: cols.map((x) => [...x.querySelectorAll("dd.diff")].map((d) => d.textContent)),
            plain: cols.map((x) => [...x.querySelectorAll("dd:not(.diff)")].length),
            totals: document.getElementById("totals").textContent,
          };
        })()""")
        return {**facts, "errors": tab.errors()}

    seen = visit(browser, Path("out/report.html").resolve(), scenario)
    assert seen["errors"] == []
    assert seen["cards"] == 1
    assert seen["heads"] == [
        "v1 · succeeded · billed 2.40 CNY",
        "v2 (current) · succeeded · billed 2.40 CNY",
    ]
    assert seen["videos"] == ["history/fox/v1/fox/1.mp4", "fox/1.mp4"]
    assert seen["marked"] == [["a red fox"], ["a red fox, at dawn"]]
    assert seen["plain"] == [2, 2]  # resolution and duration: the same in both
    assert "1 earlier version shown beside their jobs" in seen["totals"]
    assert "7.20 CNY spent in the directory in all" in seen["totals"]


def test_verify_never_calls_a_file_verified_that_could_not_be_fetched_again(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result file corrupted after the run, whose URL has expired since: the rerun cannot
    fetch it again (unfetched, with the reason); verify names the corrupt file and the job,
    and exits 1; it never says the directory's files are verified."""
    write("s.yaml", spec({"fox": "a fox", "owl": "an owl"}))
    with emulator(monkeypatch) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        Path("out/fox/1.mp4").write_bytes(b"not the video")
        emu.emulator.config.result_ttl = 1e-9  # every result URL has expired since
        again = cli("run", "s.yaml", "--out", "out")
    assert again.code == 1
    assert "unfetched fox:" in again.err
    check = cli("verify", "out")
    assert check.code == 1
    assert "corrupt  fox/1.mp4 (job fox): 13 bytes" in check.err
    assert "unfetched job fox: result 1" in check.err
    assert "verified" not in check.out
    assert "1 of 2 files missing or corrupt; 1 job(s) whose files could not be fetched" in check.out
    record = {r["id"]: r for r in manifest(Path("out"))}["fox"]
    assert record["status"] == "unfetched"
    assert "403" in record["errorMessage"]


def test_a_file_fetched_again_is_counted_once_in_the_progress(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deleted result is fetched again by a plain rerun, sending nothing; the progress
    line counts its job's cost once, not again."""
    write("s.yaml", spec({"fox": "a fox"}))
    with emulator(monkeypatch) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        Path("out/fox/1.mp4").unlink()
        again = cli("run", "s.yaml", "--out", "out")
        sent = emu.stats()["submissions"]
    assert again.code == 0, again.err
    assert sent == 1
    assert "1 job with missing or changed files: fetching again" in again.err
    last = [line for line in again.err.splitlines() if line.startswith("rhbatch: 1/1 done")][-1]
    assert "2.40 CNY" in last
    assert Path("out/fox/1.mp4").exists()


def test_an_id_given_to_other_content_keeps_the_job_it_named_before(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spec that names another job with an id the directory already knows (here another
    endpoint): the plan shows every field that changed, the run keeps what the id named
    before as its earlier version, and both bills count."""
    write("s.yaml", spec({"a": "a fox"}))
    other = (
        "version: 1\njobs:\n  - {id: a, endpoint: seedance-v1-lite/reference-to-video, "
        "prompt: a raft, imageUrls: ['https://example.com/a.png']}\n"
    )
    with emulator(monkeypatch) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        write("s.yaml", other)
        plan = json.loads(cli("plan", "s.yaml", "--out", "out", "--json").out)
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        ledger = charged(emu)
    [item] = plan["changed"]["items"]
    fields = [c["field"] for c in item["changes"]]
    assert fields[0] == "endpoint"
    assert {"prompt", "imageUrls", "resolution", "duration"} <= set(fields)
    books = status(cli)["directory"]
    assert books["spent"] == pytest.approx(ledger) == pytest.approx(PRICE + 0.75)
    assert [(v["id"], v["version"]) for v in books["versions"]] == [("a", 1)]


def test_a_history_folder_edited_by_hand(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of earlier versions deleted or changed by hand: verify names each one and
    exits 1; runs go on as before (history is never fetched again nor written over), and
    the books still count what those versions cost."""
    write("s.yaml", spec({"fox": "a fox", "owl": "an owl"}))
    with emulator(monkeypatch):
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        write("s.yaml", spec({"fox": "a fox, again", "owl": "an owl, again"}))
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        Path("out/history/fox/v1/fox/1.mp4").unlink()
        Path("out/history/owl/v1/owl/1.mp4").write_bytes(b"edited")
        (Path("out/history") / "notes.txt").write_text("mine")
        again = cli("run", "s.yaml", "--out", "out", "-q")
    assert again.code == 0, again.err
    check = cli("verify", "out")
    assert check.code == 1
    assert "missing  history/fox/v1/fox/1.mp4 (job fox v1)" in check.err
    assert "corrupt  history/owl/v1/owl/1.mp4 (job owl v1): 6 bytes" in check.err
    assert "2 file(s) of earlier versions missing or changed in history/" in check.out
    assert Path("out/history/notes.txt").read_text() == "mine"
    assert status(cli)["directory"]["spent"] == pytest.approx(4 * PRICE)
