"""The ledger survives the machine: a run into object storage killed again and again, each
restart on a fresh, empty state directory (a rescheduled pod), pays nothing twice.

A real S3-compatible server (moto, started here) holds the results and the ledger; the
emulator runs on a thread of the test, apart from the runs it kills."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.thread import EmulatorThread
from tests.run_helpers import emulator_config
from tests.s3 import Gate

IMAGE = "alibaba/qwen-image-2.0/text-to-image"
JOBS = 40


def spec(path: Path, jobs: int = JOBS, name: str = "ledger") -> None:
    lines = ["version: 1", f"name: {name}", f"endpoint: {IMAGE}", "jobs:"]
    lines += [f"  - {{id: j-{i:02d}, prompt: 'a paper boat, {i}'}}" for i in range(jobs)]
    lines += ["run: {poll_interval: 0.05, timeout: 60, signal_interval: 0.05}"]
    path.write_text("\n".join(lines) + "\n")


def start(
    work: Path,
    emu: EmulatorThread,
    state: Path,
    *extra: str,
    spec: str = "s.yaml",
    out: str = "s3://ledger/batch",
    env_extra: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key}
    env.update(env_extra or {})
    argv = [sys.executable, "-m", "rhbatch", "run", spec, "--out", out]
    argv += ["--state", str(state), "-q", *extra]
    with (work / f"{state.name}.err").open("wb") as err:
        return subprocess.Popen(argv, cwd=work, env=env, stdout=err, stderr=err)


def wait_for(what: Any, limit: float = 60.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if what():
            return True
        time.sleep(0.02)
    return False


def kill_and_finish(
    work: Path, emu: EmulatorThread, kills: int, seed: int, extra: tuple[str, ...] = ()
) -> tuple[int, int]:
    """SIGKILL ``kills`` runs at random moments (after a random number of new submits, a
    random moment later), each on a fresh state directory; then one run to its end. The
    last run's exit code, and how many kills landed mid-run."""
    rng = random.Random(seed)
    landed = 0
    for k in range(kills):
        before = emu.stats()["submissions"]
        proc = start(work, emu, work / f"state-{k}", *extra)
        goal = before + rng.randint(1, 4)
        wait_for(lambda g=goal, p=proc: emu.stats()["submissions"] >= g or p.poll() is not None)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            landed += 1
        proc.wait(60)
    final = start(work, emu, work / "state-final", *extra)
    return final.wait(300), landed


def manifest(s3: Any) -> list[dict[str, Any]]:
    s3.invalidate_cache()
    return [json.loads(line) for line in s3.cat("ledger/batch/manifest.jsonl").splitlines()]


def test_a_run_killed_twelve_times_on_fresh_disks_pays_nothing_twice(
    tmp_path: Path, s3: Any
) -> None:
    """Twelve SIGKILLs at random moments, each restart with an empty --state as a
    rescheduled pod has: nothing paid twice, no more tasks than jobs, every job succeeded
    with its file in the bucket, but those a kill caught between sending a submit and its
    task id reaching the bucket: ``unknown``, at most one per kill (one submit at a
    time), each with exactly one task."""
    fresh_bucket(s3)
    spec(tmp_path / "s.yaml")
    config = emulator_config(
        speed=100.0, durations={"image": {"kind": "uniform", "low": 5, "high": 30}}
    )
    with EmulatorThread(config) as emu:
        code, landed = kill_and_finish(tmp_path, emu, 12, 2026, ("--concurrency", "1"))
        stats = emu.stats(tasks=True)
    err = (tmp_path / "state-final.err").read_text()
    assert landed >= 10, err
    assert stats["paidTwice"] == {}
    assert stats["tasks"] <= JOBS
    records = manifest(s3)
    assert len(records) == JOBS
    statuses = [r["status"] for r in records]
    unknown = [r for r in records if r["status"] == "unknown"]
    assert statuses.count("succeeded") + len(unknown) == JOBS, statuses
    assert len(unknown) <= landed
    assert all(not r["taskId"] for r in unknown)
    per_body = stats["submissionsPerBody"]
    assert all(n == 1 for n in per_body.values()), per_body
    assert code == (0 if not unknown else 1), err
    for record in records:
        for out in record["outputs"]:
            assert s3.info(f"ledger/batch/{out['path']}")["size"] == out["bytes"]


def fresh_bucket(s3: Any) -> None:
    """The bucket ``ledger``, with nothing under ``batch/`` (the server outlives a test)."""
    if not s3.exists("ledger"):
        s3.mkdir("ledger")
    if s3.exists("ledger/batch"):
        s3.rm("ledger/batch", recursive=True)
    s3.invalidate_cache()


def chaos_config() -> Any:
    return emulator_config(
        "chaos", speed=100.0, durations={"image": {"kind": "uniform", "low": 5, "high": 30}}
    )


def test_the_chaos_profile_killed_on_fresh_disks_pays_nothing_twice(
    tmp_path: Path, s3: Any
) -> None:
    """The same against an API that drops replies, fails tasks and answers 5xx, with
    several submits at a time: nothing paid twice."""
    fresh_bucket(s3)
    spec(tmp_path / "s.yaml", JOBS)
    with EmulatorThread(chaos_config()) as emu:
        code, landed = kill_and_finish(tmp_path, emu, 6, 7, ("--concurrency", "4"))
        stats = emu.stats()
    err = (tmp_path / "state-final.err").read_text()
    assert landed >= 4, err  # a run may end by itself: chaos ends jobs fast
    assert stats["paidTwice"] == {}
    assert code in (0, 1), err  # 1: jobs the chaos failed, or a kill left unknown
    records = manifest(s3)
    assert len(records) == JOBS
    assert {r["status"] for r in records} <= {"succeeded", "failed", "unknown"}, err


# --- faults and bad input ------------------------------------------------------------------


def run_once(tmp_path: Path, emu: EmulatorThread, state: str, **kwargs: Any) -> tuple[int, str]:
    proc = start(tmp_path, emu, tmp_path / state, **kwargs)
    code = proc.wait(120)
    return code, (tmp_path / f"{state}.err").read_text()


def test_an_unreachable_bucket_is_refused_before_anything_is_sent(tmp_path: Path, s3: Any) -> None:
    spec(tmp_path / "s.yaml", 3)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with EmulatorThread(emulator_config()) as emu:
        env = {"FSSPEC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_MAX_ATTEMPTS": "1"}
        code, err = run_once(tmp_path, emu, "state", env_extra=env)
        assert emu.stats()["submissions"] == 0
    assert code == 2, err
    assert "--out s3://ledger/batch cannot be written" in err


def test_another_specs_ledger_is_refused_with_both_names(tmp_path: Path, s3: Any) -> None:
    fresh_bucket(s3)
    spec(tmp_path / "s.yaml", 2)
    spec(tmp_path / "other.yaml", 2, name="other")
    with EmulatorThread(emulator_config()) as emu:
        assert run_once(tmp_path, emu, "first")[0] == 0
        before = emu.stats()["submissions"]
        code, err = run_once(tmp_path, emu, "second", spec="other.yaml")
        assert emu.stats()["submissions"] == before
    assert code == 3, err
    assert "s3://ledger/batch holds the ledger of spec 'ledger'; this is spec 'other'" in err


def damage(s3: Any, how: str) -> None:
    """Edit, cut or remove a segment of the ledger, as a hand might."""
    s3.invalidate_cache()
    names = sorted(s3.ls("ledger/batch/.rhbatch/ledger"))
    target = names[-1] if how != "gone" else names[len(names) // 2]
    data = s3.cat(target)
    if how == "edited":  # one letter of its first entry changed, as a hand might
        at = data.index(b"\n") + 3
        s3.pipe(target, data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
    elif how == "cut":
        s3.pipe(target, data[: len(data) // 2])
    else:
        s3.rm(target)


DAMAGES = {
    "edited": "does not match its checksum: it was edited after rhbatch wrote it",
    "cut": "is cut short (no end line): the ledger was damaged",
    "gone": "lacks segment",
}


def test_a_damaged_ledger_is_refused_and_nothing_is_sent(tmp_path: Path, s3: Any) -> None:
    """A segment edited by hand, cut short, or removed: a worker on a fresh disk refuses
    the ledger (exit 3), saying which object and what, and sends nothing."""
    fresh_bucket(s3)
    spec(tmp_path / "s.yaml", 3)
    with EmulatorThread(emulator_config()) as emu:
        # Two runs, the second after an edit of the spec: several segments to damage.
        assert run_once(tmp_path, emu, "first")[0] == 0
        spec(tmp_path / "s.yaml", 5)
        assert run_once(tmp_path, emu, "second")[0] == 0
        s3.invalidate_cache()
        whole = {path: s3.cat(path) for path in s3.find("ledger/batch")}
        spec(tmp_path / "s.yaml", 6)
        before = emu.stats()["submissions"]
        for how, said in DAMAGES.items():
            fresh_bucket(s3)
            s3.pipe(whole)
            damage(s3, how)
            code, err = run_once(tmp_path, emu, f"fresh-{how}")
            assert code == 3, err
            assert said in err, how
            assert "nothing was sent" in err
        assert emu.stats()["submissions"] == before


def test_a_second_worker_on_the_same_location_is_refused(tmp_path: Path, s3: Any) -> None:
    """Two workers on one --out by mistake: the second waits for the first's lease to
    lapse, sees it renewed, and stops without sending anything; the first finishes."""
    fresh_bucket(s3)
    spec(tmp_path / "s.yaml", 6)
    # Leases are real time. A lease of 5 s is renewed every 1.7 s, which a first worker on
    # a loaded machine still manages (at 2 s, renewed every 0.7 s, a starved worker once
    # let its lease lapse); its tasks outlast the second worker's wait (12 s > 5 s).
    slow = emulator_config(speed=100.0, durations={"image": {"kind": "fixed", "value": 1200}})
    env = {"RHBATCH_LEASE_SECONDS": "5"}
    with EmulatorThread(slow) as emu:
        first = start(tmp_path, emu, tmp_path / "first", env_extra=env)
        assert wait_for(lambda: emu.stats()["submissions"] >= 1)
        before = emu.stats()["submissions"]
        code, err = run_once(tmp_path, emu, "second", env_extra=env)
        assert code == 3, err
        assert "which keeps renewing its lease: two workers must not write one" in err
        assert first.wait(120) == 0
        assert emu.stats()["submissions"] == 6
        assert before <= 6
        assert emu.stats()["paidTwice"] == {}


def test_a_bucket_lost_mid_run_holds_the_submits_and_a_rerun_finishes(
    tmp_path: Path, s3: Any, s3_server: str
) -> None:
    """The bucket goes away mid-run: no submit goes out whose intent is not in the bucket
    (the submits wait, saying why); once it is back the run goes on, and a plain rerun
    puts what could not be put meanwhile; nothing is paid twice."""
    fresh_bucket(s3)
    spec(tmp_path / "s.yaml", 12)
    config = emulator_config(speed=100.0, durations={"image": {"kind": "fixed", "value": 20}})
    with Gate(s3_server) as gate, EmulatorThread(config) as emu:
        env = {"FSSPEC_S3_ENDPOINT_URL": gate.url, "AWS_MAX_ATTEMPTS": "1"}
        proc = start(tmp_path, emu, tmp_path / "run", "--concurrency", "2", env_extra=env)
        assert wait_for(lambda: emu.stats()["submissions"] >= 3)
        gate.close()
        shut_at = emu.stats()["submissions"]
        # Submits whose intent was already in the bucket may still go out; then none.
        assert wait_for(lambda: "nothing is submitted until it can" in read(tmp_path, "run"))
        held = emu.stats()["submissions"]
        assert held <= shut_at + 2
        for _ in range(20):  # a while longer (bounded): still nothing sent
            time.sleep(0.05)
        assert emu.stats()["submissions"] == held
        gate.reopen()
        code = proc.wait(120)
        assert code in (0, 1), read(tmp_path, "run")
        assert "the ledger is written to s3://ledger/batch again" in read(tmp_path, "run")
        again, err = run_once(tmp_path, emu, "run", env_extra=env)
        assert again == 0, err
        stats = emu.stats()
    assert stats["paidTwice"] == {}
    assert stats["submissions"] == 12
    assert {r["status"] for r in manifest(s3)} == {"succeeded"}


def read(work: Path, state: str) -> str:
    return (work / f"{state}.err").read_text(errors="replace")


# --- one writer at a time ------------------------------------------------------------------


class Clock:
    """Time for a lease, moved by hand (and by the waits the ledger asks for)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def ledger_of(store: Any, clock: Clock, said: list[str]) -> Any:
    from rhbatch.store.ledger import Ledger
    from rhbatch.store.remote import Remote

    ledger = Ledger(
        Remote("s3://ledger/fence").bucket(),
        store,
        spec="fence",
        shown="s3://ledger/fence",
        say=said.append,
        clock=clock,
        seconds=30,
    )
    ledger.sleep = clock.sleep
    return ledger


def test_a_lost_workers_lease_is_waited_for_and_a_zombie_is_fenced_off(
    tmp_path: Path, s3: Any
) -> None:
    """Worker A holds the lease and vanishes (as far as B can tell: another host). B
    waits for the lease to lapse, once, then takes it and rebuilds A's state. When A
    comes back to life, its next segment and its next renewal are refused: it stops,
    and nothing it would have sent guards a submit."""
    import asyncio

    from rhbatch.store.ledger import LedgerRefused
    from rhbatch.store.state import Store

    if not s3.exists("ledger"):
        s3.mkdir("ledger")
    if s3.exists("ledger/fence"):
        s3.rm("ledger/fence", recursive=True)
    clock, said = Clock(), []
    with Store.open(tmp_path / "a") as a_store, Store.open(tmp_path / "b") as b_store:
        a_store.sync([("j-1", 0, IMAGE, {"prompt": "a fox"}, 0.1, {})])
        a = ledger_of(a_store, clock, said)
        a.open()
        lease = json.loads(s3.cat("ledger/fence/.rhbatch/lease.json"))
        lease["host"] = "elsewhere"  # A's machine, as B sees it: not this one
        s3.pipe("ledger/fence/.rhbatch/lease.json", json.dumps(lease).encode())
        a.lease_tag = s3.info("ledger/fence/.rhbatch/lease.json")["ETag"]

        b = ledger_of(b_store, clock, said)
        b.open()
        assert len(clock.waits) == 1
        assert 30 <= clock.waits[0] <= 31
        assert "is leased by another rhbatch run (host elsewhere" in said[0]
        assert b_store.job("j-1").status.value == "pending"  # A's state, rebuilt

        a_store.begin_attempt("j-1", {"prompt": "a fox"}, {})
        with pytest.raises(LedgerRefused, match="another rhbatch run took the lease"):
            asyncio.run(a.flush())  # its lease has lapsed: renewing it is refused
        a.expires = clock.now + 100  # were its clock wrong, the segment itself is refused
        with pytest.raises(LedgerRefused, match="another rhbatch run writes the ledger"):
            asyncio.run(a.flush())
        assert b_store.job("j-1").status.value == "pending"


def test_a_segment_whose_reply_was_lost_is_known_as_its_own(tmp_path: Path, s3: Any) -> None:
    """A segment's put lands but its reply is lost (a cut connection): the retry finds the
    number taken, reads the segment, sees it is its own, and goes on, rather than taking
    itself for another writer and stopping the run."""
    import asyncio

    from rhbatch.store.bucket import Bucket
    from rhbatch.store.state import Store

    class LostReply(Bucket):
        lose = 0

        def create(self, name: str, data: bytes) -> str:
            tag = super().create(name, data)
            if self.lose:
                self.lose -= 1
                raise ConnectionResetError("the reply was lost")
            return tag

    if not s3.exists("ledger"):
        s3.mkdir("ledger")
    if s3.exists("ledger/fence"):
        s3.rm("ledger/fence", recursive=True)
    clock, said = Clock(), []
    with Store.open(tmp_path / "a") as store:
        store.sync([("j-1", 0, IMAGE, {"prompt": "a fox"}, 0.1, {})])
        ledger = ledger_of(store, clock, said)
        ledger.bucket = LostReply(ledger.bucket.fs, ledger.bucket.root)
        ledger.open()
        before = ledger.n
        store.begin_attempt("j-1", {"prompt": "a fox"}, {})
        ledger.bucket.lose = 1
        asyncio.run(ledger.flush())
        assert ledger.n == before + 1
        assert store.journal_changes(ledger.shipped)[1] == []  # all of it shipped
        assert "cannot write the ledger" in said[0]
        assert "the ledger is written to s3://ledger/fence again" in said[1]
