"""``rhbatch run`` against a hostile server: every case ends in time, tells the truth about
its job, keeps the good jobs, writes nothing outside DIR, leaks no key, stays small.

Each case runs as its own ``python -m rhbatch run`` (two well-behaved jobs around one
hostile job) in a fresh directory; the runs of the selected tests go in parallel,
once per module, and each test checks one property of every case's run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT
from tests.reliability.hostile import CASES, HostileServer, Ledger, Task

RUN_LIMIT = 60.0  # seconds a run may take before it counts as hung (and is killed)
PARALLEL = 8  # runs at once
MAX_RSS = 250 << 20
SPAWN = ROOT / "benchmarks" / "spawn.py"  # runs a command, writes its own resource usage
MAX_MESSAGE = 2_100  # characters of an errorMessage kept in the manifest
MAX_LINE = 2_500  # characters of one line rhbatch prints
# Bytes one endless or oversized reply may have been sent before rhbatch hangs up: its
# limits (8 MiB for an API reply, max_download_mb for a file) plus the socket buffers.
ABANDON = 32 << 20
SUSPICIOUS = ("evil", "passwd")
GOOD = ("good-1", "good-2")
NONE = "none"  # the control: the middle job behaves well too


@dataclass(frozen=True)
class Expect:
    """What the hostile job's manifest record must say."""

    status: str
    code: str | None = None
    reasons: tuple[str, ...] = ()  # one of them is in its errorMessage (any case)
    exit: int = 1


UNFETCHED = Expect("unfetched", "DOWNLOAD")
NOT_HTTP = Expect("unfetched", "DOWNLOAD", ("not an http",))
TOO_BIG = Expect("unfetched", "DOWNLOAD", ("larger than",))
FINE = Expect("succeeded", exit=0)
UNKNOWN = Expect("unknown", "UNKNOWN")
FAILED = Expect("failed", "1501")

EXPECT: dict[str, Expect] = {
    NONE: FINE,
    # a result that cannot be fetched: paid for, not fetched, a rerun tries again
    "url-file": NOT_HTTP,
    "url-ftp": NOT_HTTP,
    "url-javascript": NOT_HTTP,
    "url-data": NOT_HTTP,
    "redirect-loop": Expect("unfetched", "DOWNLOAD", ("redirect",)),
    "redirect-file": Expect("unfetched", "DOWNLOAD", ("redirect", "not an http")),
    "endless-download": TOO_BIG,
    "oversized": TOO_BIG,
    "long-body": UNFETCHED,
    "trickle": Expect("unfetched", "DOWNLOAD", ("too slow", "deadline", "timed out")),
    "key-html-download": UNFETCHED,
    # path tricks: the file lands inside DIR anyway
    "ot-dotdot": FINE,
    "ot-deep-dotdot": FINE,
    "ot-absolute": FINE,
    "ot-backslash": FINE,
    "ot-nul": FINE,
    "ot-long": FINE,
    "url-dotdot": FINE,
    "url-encoded": FINE,
    "url-backslash": FINE,
    "url-noext": FINE,
    "key-url": FINE,
    "key-location": FINE,
    # a submit answer that cannot be read: a task may exist
    "taskid-dotdot": UNKNOWN,
    "taskid-long": UNKNOWN,
    "taskid-object": UNKNOWN,
    "taskid-negative": UNKNOWN,
    "taskid-float": UNKNOWN,
    "submit-html": UNKNOWN,
    "submit-endless": UNKNOWN,
    # a submit refused with the key in the answer: nothing was made
    "key-html-submit": Expect("failed"),
    "key-submit-error": Expect("failed", "1007", ("***",)),
    # a FAILED task with a huge or leaky error: failed, the message cut and scrubbed
    "error-1mb": FAILED,
    "reason-1mb": FAILED,
    "key-error": Expect("failed", "1501", ("***",)),
    "key-reason": FAILED,
    "key-upper": Expect("failed", "1501", ("invalid credential ***",)),
    "key-base64": Expect("failed", "1501", ("authorization: basic ***",)),
    # a task whose state cannot be read
    "error-10mb": UNKNOWN,
    "query-50mb": UNKNOWN,
    "query-endless": UNKNOWN,
    "status-weird": UNKNOWN,
    "status-null": UNKNOWN,
    "query-html": UNKNOWN,
}
ALL = sorted(EXPECT)
ENDLESS = {  # the route of each endless body, and of each reply much bigger than any limit
    "endless-download": "download",
    "oversized": "download",
    "submit-endless": "submit",
    "query-endless": "query",
    "query-50mb": "query",
}


# --- one run --------------------------------------------------------------------------


@dataclass
class Run:
    """One ``rhbatch run`` of a case, as it ended."""

    case: str
    tag: str
    key: str
    root: Path  # a fresh directory: the spec in work/, DIR is work/out; logs/, cache/ beside
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss: int  # bytes
    hung: bool
    created: set[str]  # files that appeared under root, outside DIR, logs/ and cache/
    ledger: Ledger  # the server's ledger when the run ended

    @property
    def out(self) -> Path:
        return self.root / "work" / "out"

    @property
    def cache(self) -> Path:
        """$XDG_CACHE_HOME of the run: where rhbatch logs its own faults outside a run."""
        return self.root / "cache"

    def records(self) -> dict[str, dict[str, Any]]:
        path = self.out / "manifest.jsonl"
        if not path.exists():
            return {}
        lines = path.read_text(encoding="utf-8").splitlines()
        return {r["id"]: r for r in map(json.loads, lines)}

    def record(self, job: str) -> dict[str, Any]:
        records = self.records()
        assert job in records, f"{job} is not in the manifest; stderr: {self.stderr[-2000:]}"
        return records[job]

    def task(self, job: str) -> Task:
        """The server's task for ``job`` of this run (each job is submitted once)."""
        tasks = [t for t in self.ledger.tasks_of(self.tag) if f"job:{job} " in t.prompt]
        assert len(tasks) == 1, f"{job}: {len(tasks)} tasks at the server"
        return tasks[0]


def spec(case: str, tag: str) -> str:
    marker = "" if case == NONE else f" case:{case}"
    return (
        "version: 1\n"
        "name: hostile\n"
        "endpoint: seedance-2.0/multimodal-video\n"
        "defaults:\n"
        "  resolution: 480p\n"
        "  duration: '4'\n"
        "jobs:\n"
        f"  - id: good-1\n    prompt: 'a calm lake at dawn job:good-1 run:{tag}'\n"
        f"  - id: hostile\n    prompt: 'a paper boat job:hostile{marker} run:{tag}'\n"
        f"  - id: good-2\n    prompt: 'a red kite over a field job:good-2 run:{tag}'\n"
        "run:\n"
        "  poll_interval: 0.2\n"
        "  timeout: 5\n"
        "  retries: 1\n"
        "  download_timeout: 2\n"
        "  max_download_mb: 1\n"
        "  download_min_rate: 0\n"
    )


def files_under(root: Path, *skip: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if not p.is_dir() and not any(p.is_relative_to(s) for s in skip)
    }


def execute(server: HostileServer, case: str, root: Path, tag: str, key: str) -> Run:
    """Run the case's spec (written to ``root/work`` if it is not there yet) as a
    subprocess in ``root/work``, with ``key`` as the API key."""
    work, logs, cache = root / "work", root / "logs", root / "cache"
    work.mkdir(parents=True, exist_ok=True)
    logs.mkdir(exist_ok=True)
    spec_file = work / "s.yaml"
    if not spec_file.exists():
        spec_file.write_text(spec(case, tag), encoding="utf-8")
    before = files_under(root, work / "out", logs, cache)
    env = {k: v for k, v in os.environ.items() if k not in ("RH_API_KEY", "COVERAGE_PROCESS_START")}
    env |= {
        "RUNNINGHUB_BASE_URL": server.base_url,
        "RUNNINGHUB_API_KEY": key,
        "XDG_CACHE_HOME": str(cache),
    }
    argv = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out", "-q"]
    usage = logs / "usage.json"
    usage.unlink(missing_ok=True)
    began = time.monotonic()
    with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(SPAWN), str(usage), *argv],
            cwd=work,
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,  # a hung run is killed with its spawner, as a group
        )
        code, max_rss, hung = reap(proc, usage, RUN_LIMIT)
    return Run(
        case=case,
        tag=tag,
        key=key,
        root=root,
        code=code,
        stdout=(logs / "stdout").read_text(encoding="utf-8", errors="replace"),
        stderr=(logs / "stderr").read_text(encoding="utf-8", errors="replace"),
        seconds=time.monotonic() - began,
        max_rss=max_rss,
        hung=hung,
        created=files_under(root, work / "out", logs, cache) - before,
        ledger=server.ledger(),
    )


def reap(proc: subprocess.Popen[bytes], usage: Path, limit: float) -> tuple[int, int, bool]:
    """Wait for ``proc`` (killing its group after ``limit`` seconds): the run's exit code,
    its peak RSS in bytes, and whether it had to be killed.

    The run is started by ``benchmarks/spawn.py``, a small process of its own: Linux
    charges a child with the peak memory of the process it was forked from, so a run
    forked by this test process (hundreds of MiB once many tests have run in it) would
    be charged with the test process's size, not its own."""
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        return proc.returncode, 0, True
    done = json.loads(usage.read_text(encoding="utf-8"))
    return int(done["code"]), int(done["max_rss_kb"]) * 1024, False


# --- every case, once per module --------------------------------------------------------


@dataclass
class Batch:
    runs: dict[str, Run]
    strays: list[Path]  # suspicious files outside every run's DIR, new since the batch began
    passwd: tuple[float, int]  # /etc/passwd's mtime and size before the batch

    def strays_of(self, run: Run) -> list[Path]:
        """Strays under this run's directory, or under no run's directory at all."""
        roots = [r.root for r in self.runs.values()]
        return [
            p
            for p in self.strays
            if p.is_relative_to(run.root) or not any(p.is_relative_to(r) for r in roots)
        ]


def suspicious_files(
    since: float, tops: list[Path], dirs: list[Path], shallow: list[Path]
) -> list[Path]:
    """Files under ``tops`` (and directly in ``shallow``: a shared /tmp is not walked, so
    other programs' files deep in it cannot raise a false alarm) named like a path
    trick's target and changed since ``since``, that are not inside one of ``dirs``."""
    candidates = [p for d in shallow for p in d.iterdir()]
    for top in tops:
        candidates += [Path(parent) / name for parent, _, names in os.walk(top) for name in names]
    found: set[Path] = set()
    for path in candidates:
        if not any(s in path.name.lower() for s in SUSPICIOUS):
            continue
        if any(path.is_relative_to(d) for d in dirs):
            continue
        try:
            if path.lstat().st_mtime >= since:
                found.add(path)
        except OSError:
            continue
    return sorted(found)


def passwd_state() -> tuple[float, int]:
    info = Path("/etc/passwd").stat()
    return info.st_mtime, info.st_size


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


@pytest.fixture(scope="module")
def batch(
    request: pytest.FixtureRequest,
    server: HostileServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Batch:
    """Every case that a selected test asks for, run once, in parallel."""
    wanted: set[str] = set()
    for item in request.session.items:
        if not isinstance(item, pytest.Function) or item.module is not request.module:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "batch" in item.fixturenames and "case" in params:
            wanted.add(params["case"])
    started = time.time() - 1  # file times may be a little behind the clock
    passwd = passwd_state()

    cases = sorted(wanted)
    roots = {case: tmp_path_factory.mktemp(f"case-{case}") for case in cases}  # not thread-safe

    def one(case: str) -> Run:
        return execute(server, case, roots[case], uuid.uuid4().hex[:12], server.new_key())

    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = dict(zip(cases, pool.map(one, cases), strict=True))
    base = tmp_path_factory.getbasetemp()
    shallow = sorted({Path(tempfile.gettempdir()), Path("/tmp"), base.parent})
    strays = suspicious_files(started, [base], [r.out for r in runs.values()], shallow)
    return Batch(runs, strays, passwd)


@pytest.fixture
def run(batch: Batch, case: str) -> Run:
    return batch.runs[case]


def test_every_case_has_an_expectation() -> None:
    """The server's cases and this file's expectations name the same cases."""
    assert set(EXPECT) == CASES | {NONE}


# --- every case: how the run ends --------------------------------------------------------


@pytest.mark.parametrize("case", ALL)
def test_run_ends_in_time(run: Run, case: str) -> None:
    """The run ends by itself, well before the limit."""
    assert not run.hung, f"still running after {RUN_LIMIT:g} s: {run.stderr[-2000:]}"


@pytest.mark.parametrize("case", ALL)
def test_exit_code(run: Run, case: str) -> None:
    """Exit 1 when the hostile job did not succeed, 0 when it was harmless."""
    assert run.code == EXPECT[case].exit, run.stderr[-2000:]


@pytest.mark.parametrize("case", ALL)
def test_no_traceback_or_leaked_session(run: Run, case: str) -> None:
    """Nothing on stdout or stderr is a traceback or an unclosed aiohttp session."""
    for text in (run.stdout, run.stderr):
        assert "Traceback" not in text, text[-3000:]
        assert "Unclosed client session" not in text, text[-3000:]


@pytest.mark.parametrize("case", ALL)
def test_output_lines_are_short(run: Run, case: str) -> None:
    """No line rhbatch prints is longer than 2,500 characters."""
    for text in (run.stdout, run.stderr):
        longest = max(text.splitlines(), key=len, default="")
        assert len(longest) <= MAX_LINE, f"a {len(longest):,}-character line: {longest[:300]}"


@pytest.mark.parametrize("case", ALL)
def test_memory_stays_bounded(run: Run, case: str) -> None:
    """The run's peak RSS stays under 250 MB."""
    assert run.max_rss < MAX_RSS, f"peak RSS {run.max_rss / 2**20:.0f} MiB"


# --- every case: what the run leaves behind ------------------------------------------------


@pytest.mark.parametrize("case", ALL)
def test_good_jobs_succeed(run: Run, case: str) -> None:
    """The two well-behaved jobs succeed with the files the server sent, as recorded."""
    for job in GOOD:
        record = run.record(job)
        assert record["status"] == "succeeded", record
        [output] = record["outputs"]
        data = (run.out / output["path"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (output["bytes"], output["sha256"])
        assert output["sha256"] == run.task(job).sha256


@pytest.mark.parametrize("case", ALL)
def test_each_job_is_submitted_once(run: Run, case: str) -> None:
    """Nothing is paid twice: the server saw one submit per job."""
    assert run.ledger.submits(run.tag) == 3
    if case != NONE:
        assert run.ledger.submits(run.tag, case) == 1


@pytest.mark.parametrize("case", ALL)
def test_nothing_written_outside_dir(batch: Batch, run: Run, case: str) -> None:
    """No file appears beside DIR or anywhere under /tmp with a trick's name; every file
    in DIR resolves inside it; no .part file is left; /etc/passwd is untouched."""
    assert run.created == set(), "files appeared beside DIR"
    assert batch.strays_of(run) == [], "files named like a trick's target, outside DIR"
    inside = run.out.resolve()
    for path in run.out.rglob("*"):
        assert path.resolve().is_relative_to(inside), f"{path} leads outside DIR"
        assert not path.name.endswith(".part"), f"{path} was left behind"
    assert passwd_state() == batch.passwd, "/etc/passwd changed"


@pytest.mark.parametrize("case", ALL)
def test_key_appears_nowhere(run: Run, case: str) -> None:
    """The API key is in no file under DIR (state.db included) or rhbatch's cache, nor on
    stdout or stderr."""
    forms = key_forms(run.key)
    for path in [*run.out.rglob("*"), *run.cache.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert not [f for f in forms if f.encode() in data], path
    assert not [f for f in forms if f in run.stdout or f in run.stderr]


def key_forms(key: str) -> list[str]:
    """The key as a server may echo it: as it is, in other letter case, in base64."""
    raw = key.encode()
    encoded = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return [key, key.upper(), key.lower(), *encoded, *(e.rstrip("=") for e in encoded)]


@pytest.mark.parametrize("case", ALL)
def test_rhbatch_meets_no_fault_of_its_own(run: Run, case: str) -> None:
    """A hostile server is handled, not a bug: rhbatch logged no fault of its own."""
    for log in (run.out / ".rhbatch" / "log", run.cache / "rhbatch" / "log"):
        assert not log.exists(), log.read_text(encoding="utf-8", errors="replace")[-3000:]


# --- every case: the truth about the hostile job -------------------------------------------


@pytest.mark.parametrize("case", ALL)
def test_hostile_job_record(run: Run, case: str) -> None:
    """The hostile job's status, errorCode and errorMessage say what happened."""
    expect = EXPECT[case]
    record = run.record("hostile")
    summary = {k: record[k] for k in ("status", "errorCode")}
    summary["errorMessage"] = str(record["errorMessage"])[:300]
    assert record["status"] == expect.status, summary
    if expect.code is not None:
        assert record["errorCode"] == expect.code, summary
    if expect.reasons:
        message = str(record["errorMessage"]).lower()
        assert any(r in message for r in expect.reasons), summary
    assert len(str(record["errorMessage"] or "")) <= MAX_MESSAGE, summary


@pytest.mark.parametrize("case", [c for c in ALL if EXPECT[c].status == "succeeded"])
def test_hostile_job_file_is_inside_dir(run: Run, case: str) -> None:
    """A harmless trick still gives the server's file, stored inside DIR as recorded."""
    [output] = run.record("hostile")["outputs"]
    path = run.out / output["path"]
    assert path.resolve().is_relative_to(run.out.resolve()), output["path"]
    data = path.read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (output["bytes"], output["sha256"])
    assert output["sha256"] == run.task("hostile").sha256


@pytest.mark.parametrize("case", [c for c in ALL if EXPECT[c].status == "unfetched"])
def test_unfetched_job_keeps_no_file(run: Run, case: str) -> None:
    """A result that could not be fetched is not kept as a file, not even in part."""
    record = run.record("hostile")
    assert record["outputs"] == []
    job_dir = run.out / "hostile"
    assert not job_dir.exists() or not any(p.is_file() for p in job_dir.rglob("*"))


@pytest.mark.parametrize("case", sorted(ENDLESS))
def test_endless_bodies_are_abandoned_early(run: Run, case: str) -> None:
    """rhbatch hangs up on a reply past its limits instead of reading it all."""
    assert run.ledger.largest(ENDLESS[case], run.tag) < ABANDON


# --- a rerun ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flaw", ["redirect-loop", "oversized"])
def test_rerun_fetches_unfetched_files_without_submitting(flaw: str, tmp_path: Path) -> None:
    """Once the server behaves, a second run fetches the unfetched job's file and submits
    nothing."""
    tag = uuid.uuid4().hex[:12]
    with HostileServer() as hostile:
        key = hostile.new_key()
        first = execute(hostile, flaw, tmp_path, tag, key)
        assert first.record("hostile")["status"] == "unfetched", first.stderr[-2000:]
        hostile.hostile = False
        second = execute(hostile, flaw, tmp_path, tag, key)
    assert second.code == 0, second.stderr[-2000:]
    assert second.ledger.submits(tag) == first.ledger.submits(tag) == 3
    record = second.record("hostile")
    assert record["status"] == "succeeded", record
    [output] = record["outputs"]
    data = (second.out / output["path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == output["sha256"] == second.task("hostile").sha256
