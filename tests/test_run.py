"""rhbatch run against the emulator over loopback: clean, flaky, back-pressure, failures, stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

import rhbatch.store.manifest as manifest_module
from rhbatch.emulator.config import DEFAULT_KEY
from rhbatch.store.state import Store
from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, manifest, occupy, spec_text, verify_files

pytestmark = pytest.mark.usefixtures("virtual_clock")

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def test_quickstart_with_the_built_in_emulator(cli: Cli, tmp_path: Path) -> None:
    """The README's first command: the quickstart runs to 4 MP4s, a manifest and run.json."""
    out = tmp_path / "q"
    result = cli(
        "run",
        str(ROOT / "specs/quickstart.yaml"),
        "--emulator",
        "--emulator-speed",
        "1000",
        "--out",
        str(out),
    )
    assert result.code == 0, result.err
    records = manifest(out)
    assert [r["id"] for r in records] == [
        "hotpot-wide",
        "hotpot-tall",
        "friends-wide",
        "friends-tall",
    ]
    assert all(r["status"] == "succeeded" for r in records)
    assert verify_files(out, records) == 4
    assert all((out / r["outputs"][0]["path"]).read_bytes()[4:8] == b"ftyp" for r in records)
    assert records[0]["sources"] == {
        "imageUrls": ["../examples/media/hotpot.jpg"],
        "videoUrls": ["../examples/media/steam.mp4"],
    }
    assert records[0]["params"]["imageUrls"][0].startswith("http://127.0.0.1:")
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["succeeded"] == 4
    assert run["totalCost"] == 24.0
    assert "quickstart: 4 succeeded of 4 jobs; 24.00 CNY" in result.out


def test_clean_batch_each_job_submitted_once(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 jobs at concurrency 5: all succeed, each submitted once, never more than 5 running."""
    write("s.yaml", spec_text(20, run="  concurrency: 5\n"))
    with emulator(monkeypatch) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert result.code == 0, result.err
    assert stats["submissions"] == 20
    assert stats["duplicateSubmissions"] == {}
    assert stats["peakRunning"] <= 5
    assert verify_files(Path("out"), manifest(Path("out"))) == 20


def test_flaky_profile(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the flaky profile every job still succeeds, once, with verified files."""
    write("s.yaml", spec_text(60, run="  concurrency: 10\n"))
    with emulator(monkeypatch, "flaky", seed=11) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert result.code == 0, result.err
    records = manifest(Path("out"))
    assert {r["status"] for r in records} == {"succeeded"}
    assert verify_files(Path("out"), records) == 60
    assert sum(stats["faults"].values()) > 10  # the faults did happen
    assert stats["paidTwice"] == {}
    # Retryable task failures are resubmitted: each body's submissions = its attempts.
    assert stats["submissions"] == sum(r["attempts"] for r in records)
    assert all(len(r["taskIds"]) == r["attempts"] for r in records)


def test_backpressure_waits_instead_of_failing(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client holds 2 of the account's 3 slots and the queue is off: submits beyond
    the free slot are refused with 421; the runner waits for room instead of failing."""
    write("s.yaml", spec_text(12, run="  concurrency: 3\n"))
    accounts = {DEFAULT_KEY: {"concurrency": 3, "queue_limit": 0}}
    slow = {"seedance-v1-lite/*": {"kind": "fixed", "value": 3000}}
    with emulator(monkeypatch, accounts=accounts, durations_by_endpoint=slow) as emu:
        asyncio.run(occupy(emu.base_url, emu.api_key, 2))
        result = cli("run", "s.yaml", "--out", "out", "--log-json")
        stats = emu.stats()
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    assert any(e["event"] == "backpressure" and e["code"] == "421" for e in events)
    assert stats["peakRunning"] <= 3
    # 12 jobs of ours and the other client's 2 tasks (which may still be running)
    assert stats["tasks"] == 14
    assert stats["byStatus"].get("SUCCESS", 0) >= 12
    assert stats["duplicateSubmissions"] == {}


def test_retryable_failures_are_resubmitted(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tasks failing with 1015 are resubmitted (up to retries) and the jobs succeed."""
    write("s.yaml", spec_text(30))
    with emulator(
        monkeypatch, faults={"task_failed": {"rate": 0.4, "codes": ["1015"]}}, seed=3
    ) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    records = manifest(Path("out"))
    retried = [r for r in records if r["attempts"] > 1]
    assert retried, "some task should have failed"
    assert all(len(r["taskIds"]) == r["attempts"] for r in records)
    assert stats["submissions"] == sum(r["attempts"] for r in records)
    ok = [r for r in records if r["status"] == "succeeded"]
    assert len(ok) >= 28  # at most 4 attempts each at a 40% failure rate
    assert result.code == (0 if len(ok) == 30 else 1)


def test_permanent_failures_are_not_resubmitted(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1505 is permanent: the job fails after one attempt; the run exits 1 and says why."""
    write("s.yaml", spec_text(20))
    with emulator(
        monkeypatch, faults={"task_failed": {"rate": 0.5, "codes": ["1505"]}}, seed=4
    ) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    records = manifest(Path("out"))
    failed = [r for r in records if r["status"] == "failed"]
    assert failed
    assert all(r["attempts"] == 1 and r["errorCode"] == "1505" for r in failed)
    assert stats["submissions"] == 20
    assert result.code == 1
    assert (
        f"failed    {failed[0]['id']}: 1505 Photorealistic real people are prohibited" in result.err
    )


def test_rejected_key_stops_before_any_job(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key the server refuses is a clear error (exit 3) and nothing is submitted."""
    write("s.yaml", spec_text(5))
    with emulator(monkeypatch) as emu:
        monkeypatch.setenv("RUNNINGHUB_API_KEY", "not-a-real-key-0000000000000000")
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert result.code == 3
    assert "the API key was refused" in result.err
    assert stats["submissions"] == 0


def test_missing_key(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key at all: a usage error (exit 2) with what to set, before anything is sent."""
    write("s.yaml", spec_text(2))
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    monkeypatch.delenv("RH_API_KEY", raising=False)
    result = cli("run", "s.yaml", "--out", "out")
    assert result.code == 2
    assert "no API key: set $RUNNINGHUB_API_KEY (or $RH_API_KEY)" in result.err
    assert "--emulator runs against the built-in emulator" in result.err


def test_attach_and_cancel_without_a_key(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """attach looks at the directory and the job before it asks for a key, and neither
    attach nor cancel offers --emulator, which they do not have (their tasks are remote).
    A directory that is not there and a missing key are usage errors (exit 2)."""
    out = tmp_path / "out"
    endpoint = "seedance-2.0/multimodal-video"
    with Store.open(out) as store:
        store.sync(
            [("shot-1", 0, endpoint, {"prompt": "a"}), ("shot-2", 1, endpoint, {"prompt": "b"})]
        )
        attempt = store.begin_attempt("shot-2", {"prompt": "b"}, {})
        store.record_task("shot-2", attempt, "2013508786110730241", "RUNNING")
    monkeypatch.delenv("RUNNINGHUB_API_KEY", raising=False)
    monkeypatch.delenv("RH_API_KEY", raising=False)
    nowhere = cli("attach", str(tmp_path / "nodir"), "shot-1", "123")
    assert nowhere.code == 2
    assert f"no such directory: {tmp_path / 'nodir'}" in nowhere.err
    for command in (("attach", str(out), "shot-1", "123"), ("cancel", str(out))):
        result = cli(*command)
        assert result.code == 2, (command, result.err)
        assert "no API key" in result.err
        assert "--emulator" not in result.err


def test_funds_stop_keeps_what_is_done(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Money for 4 tasks: the run stops with exit 3, 4 jobs done, the rest pending for later."""
    write("s.yaml", spec_text(10, run="  concurrency: 2\n"))
    accounts = {"rhemu000000000000000000000000000": {"balance": 4 * 2.4}}
    with emulator(monkeypatch, accounts=accounts) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert result.code == 3
    assert "the account cannot pay for more tasks" in result.err
    records = manifest(Path("out"))
    assert [r["status"] for r in records].count("succeeded") == 4
    assert {r["status"] for r in records} == {"succeeded", "pending"}
    assert stats["submissions"] == 4


def test_a_result_no_longer_served_is_unfetched_with_the_reason(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results that expire as their tasks end: refused (403) on a fresh URL too, each job
    is unfetched saying RunningHub no longer serves it; a rerun tries again, paying for
    nothing new."""
    write("s.yaml", spec_text(2))
    with emulator(monkeypatch, result_ttl=0) as emu:
        first = cli("run", "s.yaml", "--out", "out", "-q")
        again = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    records = manifest(Path("out"))
    assert (first.code, again.code) == (1, 1)
    reason = (
        "result 1: RunningHub no longer serves it (HTTP 403 on a fresh URL too); result URLs expire"
    )
    assert [(r["status"], r["errorMessage"]) for r in records] == [("unfetched", reason)] * 2
    assert stats["submissions"] == 2
    assert stats["byStatus"] == {"SUCCESS": 2}


def test_lost_submit_becomes_unknown_and_is_not_resent(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submit whose answer is lost leaves the job unknown; a rerun does not resend it;
    --resubmit-unknown does."""
    write("s.yaml", spec_text(12))
    with emulator(monkeypatch, faults={"lost_submit": {"rate": 0.3}}, seed=5) as emu:
        first = cli("run", "s.yaml", "--out", "out", "-q")
        after_first = emu.stats()["submissions"]
        unknown = [r["id"] for r in manifest(Path("out")) if r["status"] == "unknown"]
        again = cli("run", "s.yaml", "--out", "out", "-q")
        after_again = emu.stats()["submissions"]
        forced = cli("run", "s.yaml", "--out", "out", "-q", "--resubmit-unknown")
        after_forced = emu.stats()["submissions"]
    assert unknown
    assert first.code == 1
    assert "--resubmit-unknown" in first.err
    assert after_first == 12  # every job sent exactly once; the lost ones made tasks too
    assert again.code == 1
    assert after_again == after_first
    assert after_forced >= after_first + len(unknown)
    assert forced.code in (0, 1)


def test_truncated_downloads_are_fetched_again(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short bodies and 404s are retried until every file matches its length."""
    write("s.yaml", spec_text(20))
    faults = {"truncated": {"rate": 0.4}, "download_404": {"rate": 0.3, "times": 2}}
    with emulator(monkeypatch, faults=faults, seed=6, output_bytes={"video": 300_000}) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert result.code == 0, result.err
    assert verify_files(Path("out"), manifest(Path("out"))) == 20
    assert stats["faults"]["truncated"] > 0
    assert not list(Path("out").rglob("*.part"))


def test_rerun_of_finished_batch_sends_nothing(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun of a finished batch makes no request at all, and re-fetches a deleted file."""
    write("s.yaml", spec_text(6))
    with emulator(monkeypatch) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        before = emu.stats()["requests"]
        again = cli("run", "s.yaml", "--out", "out", "-q")
        assert emu.stats()["requests"] == before
        first = manifest(Path("out"))[0]["outputs"][0]
        (Path("out") / first["path"]).unlink()
        fixed = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert again.code == 0
    assert fixed.code == 0
    assert stats["submissions"] == 6
    assert stats["requests"].get("download", 0) == before.get("download", 0) + 1
    assert verify_files(Path("out"), manifest(Path("out"))) == 6


def test_a_manifest_the_run_could_not_write_is_written_by_the_next_run(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's own manifest writes fail (a fault of the disk): it stops with exit 3 and
    does not mark the stale manifest as current, so the next run, with nothing left to
    send, writes it and every job shows as succeeded."""

    real = manifest_module.write_lines
    written: list[Path] = []

    def refuse(path: Path, lines: Iterable[str]) -> None:
        """The manifest written before the first submit lands; every later one fails."""
        if path.name == "manifest.jsonl" and written:
            raise OSError(5, "Input/output error")
        written.append(path)
        real(path, lines)

    write("s.yaml", spec_text(3))
    with emulator(monkeypatch) as emu:
        with monkeypatch.context() as broken:
            broken.setattr(manifest_module, "write_lines", refuse)
            stopped = cli("run", "s.yaml", "--out", "out", "-q")
        assert stopped.code == 3, stopped.err
        assert "cannot write the manifest" in stopped.err
        assert {r["status"] for r in manifest(Path("out"))} == {"pending"}  # written before
        again = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert again.code == 0, again.err
    assert stats["submissions"] == 3
    assert [r["status"] for r in manifest(Path("out"))] == ["succeeded"] * 3


def test_a_manifest_that_cannot_be_written_at_the_start_stops_the_run_before_sending(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest is written before anything is sent; when that fails (here a directory
    stands where the file goes) the run says so and exits 3, not as a fault of rhbatch."""
    write("s.yaml", spec_text(2))
    (Path("out") / "manifest.jsonl").mkdir(parents=True)
    with emulator(monkeypatch) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert result.code == 3
    assert "cannot write the manifest in out" in result.err
    assert "internal error" not in result.err
    assert stats["submissions"] == 0


def test_changed_spec_runs_only_changed_jobs(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Editing one job and adding one runs exactly those two."""
    base = "version: 1\nendpoint: seedance-2.0/multimodal-video\njobs:\n  - prompt: one\n  - prompt: two\n  - prompt: three\n"
    write("s.yaml", base)
    with emulator(monkeypatch) as emu:
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        write("s.yaml", base.replace("prompt: two", "prompt: two, revised") + "  - prompt: four\n")
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        stats = emu.stats()
    assert stats["submissions"] == 5
    records = manifest(Path("out"))
    assert [r["params"]["prompt"] for r in records] == ["one", "two, revised", "three", "four"]


def test_the_key_appears_nowhere(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing under DIR, and nothing rhbatch prints, contains the API key."""
    write("s.yaml", spec_text(8))
    with emulator(monkeypatch, "flaky", seed=2) as emu:
        key = emu.api_key
        result = cli("run", "s.yaml", "--out", "out", "--log-json")
        status = cli("status", "out")
    assert result.code == 0, result.err
    for path in Path("out").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert key not in result.out + result.err + status.out + status.err


def test_status_verify_and_corruption(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status counts and costs; verify re-hashes and catches a corrupted file."""
    write("s.yaml", spec_text(4))
    with emulator(monkeypatch):
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
    status = cli("status", "out")
    assert "succeeded           4" in status.out
    assert "cost             9.60 CNY" in status.out
    assert cli("verify", "out").out == "out: 4 files verified\n"
    victim = Path("out") / manifest(Path("out"))[2]["outputs"][0]["path"]
    victim.write_bytes(b"x" * victim.stat().st_size)
    bad = cli("verify", "out")
    assert bad.code == 1
    assert f"corrupt  {victim.relative_to('out')}" in bad.err


def test_dry_run_sends_nothing(cli: Cli, write: Write) -> None:
    """--dry-run needs no key and says what a run would do."""
    write("s.yaml", spec_text(3))
    result = cli("run", "s.yaml", "--out", "out", "--dry-run")
    assert result.code == 0
    assert "this run: 3 jobs to submit, 7.20 CNY (public price list)" in result.out
    assert result.out.endswith("nothing was sent (--dry-run)\n")
    assert not Path("out").exists()


def test_second_run_on_the_same_directory_is_refused(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A locked output directory is a clear error, exit 3."""
    from rhbatch.store.state import Store

    write("s.yaml", spec_text(2))
    with emulator(monkeypatch), Store.open(Path("out")):
        result = cli("run", "s.yaml", "--out", "out", "-q")
    assert result.code == 3
    assert "is in use by another rhbatch run (pid " in result.err


def test_invalid_spec_sends_nothing(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One bad job: exit 2, the problem printed, no directory, no request."""
    write("s.yaml", spec_text(3).replace("resolution: 480p", "resolution: 481p"))
    with emulator(monkeypatch) as emu:
        result = cli("run", "s.yaml", "--out", "out")
        stats = emu.stats()
    assert result.code == 2
    assert '"481p" is not one of the allowed values' in result.err
    assert sum(stats["requests"].values()) == 0
    assert not Path("out").exists()


def test_stuck_task_times_out_and_is_cancelled(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task stuck RUNNING fails the job at its timeout; rhbatch cancels it remotely."""
    write("s.yaml", spec_text(6, run="").replace("timeout: 600", "timeout: 30"))
    with emulator(monkeypatch, faults={"stuck": {"rate": 0.5}}, seed=8) as emu:
        result = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    records = manifest(Path("out"))
    stuck = [r for r in records if r["status"] == "failed"]
    assert stuck
    assert all(r["errorCode"] == "TIMEOUT" for r in stuck)
    assert stats["byStatus"].get("CANCEL") == len(stuck)
    assert result.code == 1


def test_each_local_file_is_uploaded_once(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quickstart's 4 jobs name 4 distinct files (hotpot.jpg twice): 4 uploads; a rerun
    with a changed job reuses them."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "specs" / "q.yaml"
    spec.parent.mkdir()
    spec.write_text((ROOT / "specs/quickstart.yaml").read_text())
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    with emulator(monkeypatch) as emu:
        assert cli("run", str(spec), "--out", "out", "-q").code == 0
        first = emu.stats()["uploads"]
        spec.write_text(spec.read_text().replace("a bell rings", "a gong sounds"))
        assert cli("run", str(spec), "--out", "out", "-q").code == 0
        stats = emu.stats()
    assert first == 4
    assert stats["uploads"] == 4
    assert stats["submissions"] == 6


def test_text_results_are_saved_as_txt(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A string endpoint's result is stored as a .txt file holding the text."""
    write(
        "s.yaml",
        "version: 1\nendpoint: rhart-text-g-25-flash/text-to-text\njobs:\n  - {id: poem, prompt: a haiku about rain}\n",
    )
    with emulator(monkeypatch):
        result = cli("run", "s.yaml", "--out", "out", "-q")
    assert result.code == 0, result.err
    out = manifest(Path("out"))[0]["outputs"][0]
    assert out["path"] == "poem/1.txt"
    assert out["type"] == "txt"
    assert (Path("out") / "poem/1.txt").read_text().strip()


def test_custom_naming(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """output.naming places files; parameters fill placeholders, made file-name safe."""
    write(
        "s.yaml",
        spec_text(2).replace("run:\n", "output:\n  naming: '{resolution}/{id}-{n}.{ext}'\nrun:\n"),
    )
    with emulator(monkeypatch):
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
    assert sorted(p.as_posix() for p in Path("out").glob("480p/*")) == [
        "out/480p/shot-1-1.mp4",
        "out/480p/shot-2-1.mp4",
    ]


def test_cancel_in_flight_tasks(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """rhbatch cancel DIR cancels the tasks a stopped run left running."""
    from rhbatch.models import JobStatus
    from rhbatch.store.state import Store

    write("s.yaml", spec_text(3))
    slow = {"video": {"kind": "fixed", "value": 1e9}}
    with emulator(monkeypatch, durations=slow) as emu:
        # Record three running tasks as a stopped run would have left them.
        asyncio.run(occupy(emu.base_url, emu.api_key, 3))
        ids = [t["taskId"] for t in emu.stats(tasks=True)["taskList"]]
        with Store.open(Path("out")) as store:
            store.sync(
                (f"j{i}", i, "seedance-v1-lite/reference-to-video", {"n": i}) for i in range(3)
            )
            for i, task in enumerate(ids):
                attempt = store.begin_attempt(f"j{i}", {}, {})
                store.record_task(f"j{i}", attempt, task, "RUNNING")
            assert store.counts() == {JobStatus.RUNNING: 3}
        result = cli("cancel", "out")
        stats = emu.stats()
    assert result.code == 0, result.err
    assert result.out.count(": cancelled") == 3
    assert stats["byStatus"] == {"CANCEL": 3}
