"""The reliability scenarios: chaos, crashes and a full disk, at any size, judged by the ledger.

Each scenario runs ``python -m rhbatch run`` as its own process against the emulator
(on a thread of this process, so that its ledger, its tasks and the faults it injected
can be read directly) and returns a ``Report``: figures with their goals, the emulator
settings and seed, the commands it ran. Nothing rhbatch says about itself is taken as
proof: what was made, paid and served comes from the emulator; what rhbatch kept comes
from the files it left (``manifest.jsonl``, the result files, ``.rhbatch/state.db``).

The tests (``test_chaos.py``, ``test_crash.py``, ``test_disk_full.py``) run these small
and assert the goals; ``python -m tests.reliability`` runs them at full size and writes
``docs/reliability.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhbatch.emulator.config import DEFAULT_KEY, EmulatorConfig
from rhbatch.emulator.outputs import make_media
from rhbatch.emulator.server import Emulator, body_hash
from rhbatch.emulator.thread import EmulatorThread

VIDEO = "seedance-2.0/multimodal-video"
IMAGE = "alibaba/qwen-image-2.0/text-to-image"
ENDED = ("succeeded", "failed", "unknown", "unfetched")  # what a job is once a run is over
IN_FLIGHT = ("pending", "submitting", "running", "downloading")
PAID = ("succeeded", "unfetched")  # a job whose task's success it knows of
RICH = {DEFAULT_KEY: {"balance": 1e9, "concurrency": 50, "queue_limit": 1000}}


# --- figures ------------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured value, with its goal when there is one."""

    key: str
    label: str
    value: Any
    goal: str | None = None
    met: bool | None = None
    want: Any = None  # the value it must have, when the goal is one value


@dataclass
class Report:
    """What a scenario found: its figures, and how to run it again."""

    name: str
    title: str
    command: str  # the driver's command that runs this scenario again
    runs: list[str] = field(default_factory=list)  # the rhbatch commands it ran
    settings: dict[str, Any] = field(default_factory=dict)  # the emulator's, and the spec's
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # what explains a missed goal
    seconds: float = 0.0

    def add(
        self,
        key: str,
        label: str,
        value: Any,
        want: Any = None,
        *,
        goal: str | None = None,
        met: bool | None = None,
    ) -> None:
        """A figure; ``want``: the value it must have (or ``goal`` and ``met`` say how)."""
        if want is not None:
            goal = goal if goal is not None else shown_value(want)
            met = value == want
        self.figures.append(Figure(key, label, value, goal, met, want))

    def __getitem__(self, key: str) -> Any:
        return next(f.value for f in self.figures if f.key == key)

    def want(self, key: str) -> Any:
        """The value a figure must have."""
        return next(f.want for f in self.figures if f.key == key)

    def missed(self) -> list[str]:
        """The figures that miss their goal, each as 'label: value (goal ...)'."""
        return [
            f"{f.label}: {shown_value(f.value)} (goal {f.goal})"
            for f in self.figures
            if f.met is False
        ]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def load(cls, data: dict[str, Any]) -> Report:
        """A report from its ``to_dict``."""
        figures = [Figure(**f) for f in data["figures"]]
        return cls(**{**data, "figures": figures})


def shown_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {shown_value(v)}" for k, v in value.items()) or "none"
    return str(value)


# --- the emulator, and what it knows -----------------------------------------------------


class Ledger:
    """The emulator on a thread, with the faults it injected counted by kind and route.

    The emulator counts faults by kind only; a lost submit reply and a lost query reply
    are both ``http_502``. The tally here adds the route, and keeps the request key of
    each fault on a submit (the body's hash, then ``#`` and how many times that body came
    before), so each lost reply can be traced to its job.
    """

    def __init__(self, profile: str, settings: dict[str, Any]) -> None:
        self.profile, self.settings = profile, settings
        self.config = EmulatorConfig.load(profile, **settings)
        self.thread = EmulatorThread(self.config)
        self.by_route: Counter[tuple[str, str]] = Counter()
        self.submit_faults: list[tuple[str, str, str]] = []  # (kind, stage, request key)
        self._errors_from = 0
        self.errors: list[str] = []  # the emulator's own failures, once counted

    def __enter__(self) -> Ledger:
        from rhbatch.emulator.api import INTERNAL_ERRORS

        self._errors_from = len(INTERNAL_ERRORS)
        self.thread.__enter__()
        self.thread.call(self._tally)
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.__exit__(None, None, None)

    def _tally(self, emu: Emulator) -> None:
        original = emu.faults.hit

        def hit(kind: str, route: str, key: str) -> Any:
            found = original(kind, route, key)
            if found is not None:
                self.by_route[(kind, route)] += 1
                if route == "submit":
                    self.submit_faults.append((kind, found.stage, key))
            return found

        emu.faults.hit = hit  # type: ignore[method-assign]

    @property
    def base_url(self) -> str:
        return self.thread.base_url

    def env(self, work: Path) -> dict[str, str]:
        return {
            **os.environ,
            "RUNNINGHUB_BASE_URL": self.thread.base_url,
            "RUNNINGHUB_API_KEY": self.thread.api_key,
            "XDG_CACHE_HOME": str(work / "cache"),  # rhbatch's own log, kept with the scenario
        }

    def stats(self, tasks: bool = False) -> dict[str, Any]:
        return self.thread.stats(tasks=tasks)

    def submits_seen(self) -> int:
        """Submit requests the emulator has received (answered or not)."""
        return self.thread.call(lambda e: e.requests["submit"])

    def lost_with_task(self) -> list[str]:
        """Request keys of submits whose task was made and whose answer was then lost: the
        connection dropped (``lost_submit``) or a 5xx sent after the task was made. (A
        5xx planned for after could still meet a refusal first, which is answered as
        such; the scenarios give the account money and room enough that none comes.)"""
        return [
            key
            for kind, stage, key in self.submit_faults
            if kind == "lost_submit" or (kind.startswith("http_5") and stage == "after")
        ]

    def lost_without_task(self) -> list[str]:
        """Request keys of submits answered with a 500 or 502 before any task was made."""
        return [
            key
            for kind, stage, key in self.submit_faults
            if kind in ("http_500", "http_502") and stage == "before"
        ]

    def outputs(self, task_ids: list[str]) -> dict[str, list[tuple[str, str, str | None]]]:
        """Each task's result files as the emulator makes them: (output type, key, text)."""

        def read(emu: Emulator) -> dict[str, list[tuple[str, str, str | None]]]:
            return {
                t: [(o.output_type, o.key, o.text) for o in emu.board.tasks[t].outputs]
                for t in task_ids
                if t in emu.board.tasks
            }

        return self.thread.call(read)

    def internal_errors(self) -> tuple[int, int]:
        """(failures of the emulator's own, replies whose client hung up while they were
        written: a killed rhbatch mid-download, a query rhbatch stopped waiting for; the
        emulator counts these apart, as ``requests.hangup``, for they are no fault of its).
        A hang-up that still shows up among its internal errors counts as one of them."""
        from rhbatch.emulator.api import INTERNAL_ERRORS

        self.errors = INTERNAL_ERRORS[self._errors_from :]
        hangups = self.thread.call(lambda emu: emu.requests.get("hangup", 0))
        return len(self.errors), hangups


# --- running rhbatch ------------------------------------------------------------------------


@dataclass
class Run:
    """One ``rhbatch run`` process, its output in files (a pipe could fill and block it)."""

    argv: list[str]
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def code(self) -> int | None:
        return self.proc.returncode

    def wait(self, limit: float) -> int:
        try:
            return self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"rhbatch did not end within {limit:g} s: {self.tail()}") from None

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def tail(self, n: int = 3000) -> str:
        return (self.stdout() + self.stderr())[-n:]

    def events(self) -> list[dict[str, Any]]:
        """The JSON events of a ``--log-json`` run."""
        found = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    found.append(json.loads(line))
        return found


def start(work: Path, ledger: Ledger, *args: str, tag: str) -> Run:
    """``python -m rhbatch run ARGS`` in ``work``, against the ledger's emulator."""
    argv = [sys.executable, "-m", "rhbatch", "run", *args]
    out, err = work / f"{tag}.out", work / f"{tag}.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(argv, cwd=work, env=ledger.env(work), stdout=o, stderr=e)
    return Run(argv, proc, out, err)


def shown_command(argv: list[str]) -> str:
    import shlex

    return shlex.join(["python" if a == sys.executable else a for a in argv])


def wait_for(check: Callable[[], bool], limit: float, every: float = 0.005) -> bool:
    """Poll ``check`` until it holds (True) or ``limit`` seconds pass (False)."""
    end = time.monotonic() + limit
    while not check():
        if time.monotonic() >= end:
            return False
        time.sleep(every)
    return True


# --- specs --------------------------------------------------------------------------------


def write_spec(path: Path, jobs: list[tuple[str, str]], run: dict[str, Any]) -> Path:
    """A spec of the given (id, endpoint) jobs, each with a prompt of its own."""
    lines = [
        "version: 1",
        f"name: {path.stem}",
        f"endpoint: {VIDEO}",
        'defaults: {resolution: 480p, duration: "4"}',
        "jobs:",
    ]
    for job_id, endpoint in jobs:
        lines.append(
            f"  - {{id: {job_id}, endpoint: {endpoint}, prompt: 'a paper boat, {job_id}'}}"
        )
    lines.append("run: " + json.dumps(run))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- what a run left behind -----------------------------------------------------------------


def read_manifest(out: Path) -> list[dict[str, Any]]:
    """Every record of ``out/manifest.jsonl`` (raises if it is missing or a line is not JSON)."""
    text = (out / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def manifest_problem(out: Path, ids: list[str]) -> str | None:
    """Why the manifest is not whole (missing, a line that does not parse, jobs missing or
    extra); None when it lists exactly ``ids``, in order."""
    try:
        records = read_manifest(out)
    except FileNotFoundError:
        return "no manifest.jsonl"
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"manifest.jsonl does not parse: {exc}"
    found = [r.get("id") for r in records]
    if found != ids:
        return f"manifest.jsonl lists {len(found)} jobs, not the spec's {len(ids)}"
    return None


def integrity(out: Path) -> str:
    """``PRAGMA integrity_check`` of the state store, read-only ('ok' when sound)."""
    path = out / ".rhbatch" / "state.db"
    if not path.exists():
        return "no state.db"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return ";".join(str(r[0]) for r in db.execute("PRAGMA integrity_check"))
    except sqlite3.Error as exc:
        return f"{type(exc).__name__}: {exc}"


def _submitting(out: Path) -> bool:
    """Whether a job of the store is between its intent to submit and its task id."""
    path = out / ".rhbatch" / "state.db"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT 1 FROM jobs WHERE status='submitting' LIMIT 1").fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def stored_jobs(out: Path) -> dict[str, tuple[str, float | None]]:
    """Each job's status and end time (Unix) in the state store, read-only."""
    path = out / ".rhbatch" / "state.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT id, status, finished_at FROM jobs WHERE in_spec=1")
        return {job: (status, at) for job, status, at in rows}


def temporaries(out: Path) -> list[str]:
    """Part files and interrupted manifest or run.json writes left in the output directory."""
    left = [str(p.relative_to(out)) for p in out.rglob("*.part")]
    for name in ("manifest.jsonl", "run.json"):
        left += [p.name for p in out.glob(f".{name}.*")]
    return sorted(left)


@dataclass
class Check:
    """The ledger against the manifest: what was made, paid and kept for each job."""

    records: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    stats: dict[str, Any]

    def __post_init__(self) -> None:
        self.by_id = {r["id"]: r for r in self.records}
        self.job_of = {body_hash(r["endpoint"], r["params"]): r["id"] for r in self.records}
        self.tasks_of: dict[str, list[dict[str, Any]]] = {}
        for t in self.tasks:
            self.tasks_of.setdefault(self.job_of.get(t["bodyHash"], "?"), []).append(t)
        self.known = {t for r in self.records for t in r["taskIds"]}

    def statuses(self) -> dict[str, int]:
        counts = Counter(r["status"] for r in self.records)
        return {s: counts[s] for s in (*ENDED, *IN_FLIGHT) if counts[s]}

    def ended(self) -> int:
        return sum(r["status"] in ENDED for r in self.records)

    def strangers(self) -> int:
        """Tasks whose body is no job's (a body rhbatch never meant to send)."""
        return len(self.tasks_of.get("?", []))

    def over_attempts(self) -> list[str]:
        """Jobs with more tasks than attempts: a body sent again although its task existed."""
        return [
            job
            for job, tasks in self.tasks_of.items()
            if job != "?" and len(tasks) > self.by_id[job]["attempts"]
        ]

    def paid_twice(self) -> int:
        return len(self.stats["paidTwice"])

    def unknown_tasks(self) -> list[dict[str, Any]]:
        """Tasks the emulator made that no manifest record names."""
        return [t for t in self.tasks if t["taskId"] not in self.known]

    def unknown_tasks_of_settled_jobs(self) -> list[dict[str, Any]]:
        """Tasks the manifest does not know, of jobs that do not say a task may exist."""
        return [
            t
            for t in self.unknown_tasks()
            if self.by_id.get(self.job_of.get(t["bodyHash"], ""), {}).get("status") != "unknown"
        ]

    def failed_not_so(self) -> list[str]:
        """Failed jobs with a task the emulator does not show FAILED or CANCEL (one that is
        still going, or succeeded): 'failed' said of a task not known to have failed."""
        return [
            r["id"]
            for r in self.records
            if r["status"] == "failed"
            and any(t["status"] not in ("FAILED", "CANCEL") for t in self.tasks_of.get(r["id"], []))
        ]

    def succeeded_not_so(self) -> list[str]:
        """Succeeded or unfetched jobs whose task (the manifest's) the emulator does not show
        SUCCESS."""
        status = {t["taskId"]: t["status"] for t in self.tasks}
        return [
            r["id"]
            for r in self.records
            if r["status"] in PAID and status.get(r["taskId"]) != "SUCCESS"
        ]

    def paid_not_kept(self) -> list[dict[str, Any]]:
        """Tasks that succeeded (were paid) whose job is not succeeded or unfetched."""
        return [
            t
            for t in self.tasks
            if t["status"] == "SUCCESS"
            and self.by_id.get(self.job_of.get(t["bodyHash"], ""), {}).get("status") not in PAID
        ]


def verify_files(out: Path, records: list[dict[str, Any]], ledger: Ledger) -> tuple[int, int]:
    """(files that match the emulator's own bytes, files the succeeded jobs' tasks made).

    A file matches when it is at its manifest path, with the size and sha256 the manifest
    records, and those are the size and sha256 of what the emulator makes for that task's
    result (recomputed here from the emulator's media maker, not downloaded again)."""
    done = [r for r in records if r["status"] == "succeeded"]
    made = ledger.outputs([r["taskId"] for r in done])
    sizes = ledger.config.output_bytes
    expected = good = 0
    cache: dict[tuple[str, str], tuple[int, str]] = {}
    for r in done:
        listed = {o["n"]: o for o in r["outputs"]}
        for n, (kind, key, text) in enumerate(made.get(r["taskId"], []), start=1):
            expected += 1
            if (kind, key) not in cache:
                cache[(kind, key)] = _truth(kind, key, text, sizes.get(kind))
            size, digest = cache[(kind, key)]
            o = listed.get(n)
            if o is None or (o["bytes"], o["sha256"]) != (size, digest):
                continue
            path = out / o["path"]
            if path.is_file() and path.stat().st_size == size and _sha256(path) == digest:
                good += 1
    return good, expected


def _truth(kind: str, key: str, text: str | None, size: int | None) -> tuple[int, str]:
    if text is not None:
        data = text.encode()
        return len(data), hashlib.sha256(data).hexdigest()
    media = make_media(kind, key, size or None)
    digest = hashlib.sha256()
    for chunk in media.chunks():
        digest.update(chunk)
    return media.size, digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- chaos ------------------------------------------------------------------------------------

CHAOS_SPEED = 100.0
CHAOS_DURATIONS = {"video": {"kind": "uniform", "low": 30, "high": 180}}  # 0.3-1.8 s at 100x


def chaos(
    work: Path,
    *,
    jobs: int,
    concurrency: int,
    webhooks: bool,
    seed: int = 7,
    timeout: float = 5.0,
    command: str = "python -m tests.reliability chaos",
    rare: bool = False,
) -> Report:
    """N jobs against the chaos profile (plus 500s on submit before a task is made, so the
    account's counts have something to disprove), in one run, with or without webhooks.
    ``rare``: no chaos, only lost submit replies, seldom (as on a good day), so that the
    counts' proof can be seen where it can work."""
    name = "chaos-webhooks" if webhooks else "chaos-counts"
    profile = "chaos"
    settings: dict[str, Any] = {
        "seed": seed,
        "speed": CHAOS_SPEED,
        "durations": CHAOS_DURATIONS,
        "accounts": RICH,
        # chaos sends 500s to queries, uploads, downloads and the account calls; here also
        # to submits (before any task is made): lost replies the counts can disprove.
        "faults": {"http_500": {"routes": ["submit", "query", "upload", "download", "other"]}},
    }
    if rare:
        name, profile = ("lost-webhooks" if webhooks else "lost-counts"), "clean"
        settings["faults"] = {
            "http_500": {"rate": 0.02, "routes": ["submit"]},  # lost before any task is made
            "lost_submit": {"rate": 0.005},  # lost after the task was made
        }
    run = {
        "concurrency": concurrency,
        # Real seconds: rhbatch scales run settings only for its built-in --emulator.
        "poll_interval": 0.05,
        "timeout": timeout,  # stuck tasks are cancelled after this
        "retries": 2,
        "signal_interval": 0.05,  # the account's counts every 50 ms
    }
    work.mkdir(parents=True, exist_ok=True)
    ids = [f"shot-{i:04d}" for i in range(1, jobs + 1)]
    write_spec(work / "chaos.yaml", [(i, VIDEO) for i in ids], run)
    flags = ["chaos.yaml", "--out", "out", "--log-json"]
    if webhooks:
        flags += ["--webhook-listen", "127.0.0.1:0"]
    kind = "rare lost replies" if rare else "chaos"
    title = f"{kind}: {jobs:,} jobs on {concurrency} slots, " + (
        "webhooks on" if webhooks else "no webhooks (the account's counts alone)"
    )
    report = Report(name, title, command, settings={"profile": profile, **settings, "run": run})
    began = time.monotonic()
    with Ledger(profile, settings) as ledger:
        proc = start(work, ledger, *flags, tag="run")
        report.runs.append(shown_command(proc.argv))
        code = proc.wait(limit=max(300.0, jobs * 1.0))
        report.seconds = time.monotonic() - began
        stats = ledger.stats(tasks=True)
        offset = ledger.thread.call(lambda e: time.time() - e.now())  # emulator clock to Unix
        events = proc.events()
        records = read_manifest(work / "out")
        check = Check(records, stats["taskList"], stats)
        good, expected = verify_files(work / "out", records, ledger)
        lost_task = ledger.lost_with_task()
        lost_none = ledger.lost_without_task()
        internal, hangups = ledger.internal_errors()
        by_route = dict(ledger.by_route)
    seen = Counter(e["event"] for e in events)
    unknown = [r for r in records if r["status"] == "unknown"]
    orphans = check.unknown_tasks()
    ended_orphans = [t for t in orphans if t["ended"] is not None]
    report.add("jobs", "jobs", jobs)
    report.add("exit", "exit code (1: some jobs did not succeed)", code)
    report.add("ended", "jobs with a final status in the manifest", check.ended(), jobs)
    report.add("statuses", "final statuses", check.statuses())
    report.add("paid_twice", "bodies paid twice (emulator paidTwice)", check.paid_twice(), 0)
    report.add(
        "over_attempts",
        "jobs with more tasks than submits rhbatch counts (sent again although a task existed)",
        len(check.over_attempts()),
        0,
    )
    report.add("strangers", "tasks of no job's body", check.strangers(), 0)
    report.add(
        "failed_not_so",
        "failed jobs with a task the emulator shows neither FAILED nor CANCEL",
        len(check.failed_not_so()),
        0,
    )
    report.add(
        "succeeded_not_so",
        "succeeded or unfetched jobs whose task the emulator does not show SUCCESS",
        len(check.succeeded_not_so()),
        0,
    )
    report.add("tasks", "tasks the emulator made", len(check.tasks))
    report.add("files", "result files verified against the emulator's bytes", good, expected)
    report.add("internal_errors", "emulator internal errors", internal, 0)
    report.add("hangups", "replies whose client hung up while they were written", hangups)
    # Tasks rhbatch does not know: with webhooks, only a task that never ends (a stuck task
    # whose submit reply was lost) may stay nameless; without, those of unknown jobs.
    settled = check.unknown_tasks_of_settled_jobs()
    report.add(
        "unknown_tasks", "tasks the emulator made that the manifest does not know", len(orphans)
    )
    if webhooks:
        report.add(
            "unknown_tasks_ended",
            "... of them tasks that ended (each announced itself by webhook)",
            len(ended_orphans),
            0,
        )
        report.add(
            "unknown_tasks_stuck",
            "... of them tasks that never end (stuck, made by a lost reply): nothing names them",
            len(orphans) - len(ended_orphans),
        )
        report.add(
            "paid_not_kept",
            "tasks that succeeded (paid) whose job is not succeeded/unfetched",
            len(check.paid_not_kept()),
            0,
        )
    else:
        report.add(
            "unknown_tasks_settled",
            "... of them tasks of jobs not left unknown",
            len(settled),
            0,
        )
        paid = check.paid_not_kept()
        report.add(
            "paid_not_kept",
            "tasks that succeeded (paid) whose job is not succeeded/unfetched (all unknown jobs)",
            len(paid),
            goal="only jobs left unknown",
            met=all(
                check.by_id.get(check.job_of.get(t["bodyHash"], ""), {}).get("status") == "unknown"
                for t in paid
            ),
        )
    report.add("lost_task", "submit replies lost after a task was made (emulator)", len(lost_task))
    report.add(
        "lost_none", "submit replies lost before any task was made (emulator)", len(lost_none)
    )
    report.add("lost_seen", "lost replies rhbatch judged (lost_reply events)", seen["lost_reply"])
    report.add("adopted", "... adopted: their task named by its webhook", seen["adopted"])
    report.add("resent", "... sent again: the account's counts proved no task", seen["resend"])
    report.add(
        "left_unknown",
        "... left unknown",
        seen["lost_reply"] - seen["adopted"] - seen["resend"],
    )
    lost_jobs = sorted({j for k in lost_task if (j := check.job_of.get(k.split("#")[0]))})
    unresolved = [
        j
        for j in lost_jobs
        if check.by_id[j]["status"] == "unknown"
        and any(t["ended"] is not None for t in check.tasks_of.get(j, []))
    ]
    report.add(
        "lost_task_unresolved",
        "jobs whose lost reply made a task that ended, left unknown",
        len(unresolved),
        0 if webhooks else None,
    )
    # Why the counts could not prove more: each judgement needs the account's count to be
    # exactly rhbatch's own tasks, and a task of the endpoint seen ended before.
    first_end = min((t["endedWall"] for t in check.tasks if t["endedWall"]), default=None)
    judged = [e for e in events if e["event"] == "lost_reply"]
    why = Counter(
        _why_unproven(e["ts"], first_end, orphans, _adopted(check, events), offset)
        for e in judged
        if e["event"] == "lost_reply"
    )
    report.add(
        "lost_before_any_end",
        "lost replies judged before any task had ended (no lifetime known yet)",
        why["before"],
    )
    report.add(
        "lost_beside_stuck",
        "... later, while a stuck task made by a lost reply was alive (the count one too high)",
        why["stuck"],
    )
    report.add(
        "lost_beside_orphan",
        "... otherwise while another task made by a lost reply was alive",
        why["orphan"],
    )
    report.add(
        "lost_rest",
        "... at none of these moments",
        why["rest"],
    )
    report.add(
        "unknown_with_task",
        "jobs left unknown with a task id (asked again next run)",
        sum(1 for r in unknown if r["taskId"]),
    )
    report.add("faults", "faults injected (emulator)", dict(sorted(stats["faults"].items())))
    report.add(
        "submit_faults",
        "faults injected on submits (by kind)",
        {k: n for (k, route), n in sorted(by_route.items()) if route == "submit"},
    )
    report.add("seconds", "wall time (s)", round(report.seconds, 1))
    report.details["lost_task_unresolved"] = [_story(check, events, j) for j in unresolved]
    report.details["internal_errors"] = ledger.errors
    report.details["unknown_tasks"] = [
        {**t, "job": check.job_of.get(t["bodyHash"])} for t in orphans
    ]
    return report


def _adopted(check: Check, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks rhbatch adopted: unknown to it until their webhook came."""
    ids = {e["task"] for e in events if e["event"] == "adopted"}
    return [t for t in check.tasks if t["taskId"] in ids]


def _why_unproven(
    at: float,
    first_end: float | None,
    orphans: list[dict[str, Any]],
    adopted: list[dict[str, Any]],
    offset: float,
) -> str:
    """Why the account's counts could not settle a lost reply judged at Unix time ``at``:
    'before' any task had ended, a 'stuck' or other 'orphan' task alive (one the manifest
    did not know then), or the 'rest'."""
    if first_end is None or at < first_end:
        return "before"
    if _orphan_alive([t for t in orphans if t["ended"] is None], at, offset):
        return "stuck"
    if _orphan_alive(orphans + adopted, at, offset):
        return "orphan"
    return "rest"


def _orphan_alive(tasks: list[dict[str, Any]], at: float, offset: float) -> bool:
    """Whether one of ``tasks`` (emulator clock) was alive at Unix time ``at``."""
    return any(
        t["submitted"] + offset <= at and (t["endedWall"] is None or at < t["endedWall"])
        for t in tasks
    )


def _story(check: Check, events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    """A job's record, its tasks in the ledger and its events: what explains a miss."""
    return {
        "job": job,
        "status": check.by_id[job]["status"],
        "taskIds": check.by_id[job]["taskIds"],
        "tasks": [
            {k: t[k] for k in ("taskId", "status", "submitted", "started", "ended")}
            for t in check.tasks_of.get(job, [])
        ],
        "events": [e for e in events if e.get("job") == job],
    }


# --- crash ------------------------------------------------------------------------------------

CRASH_SPEED = 100.0


@dataclass
class Kill:
    """One SIGKILL: when it was aimed, and what it left."""

    mode: str  # "download": a .part existed; "burst": among the commits of many fast jobs;
    # "startup": anywhere from the process's start (imports, validation, the store's sync)
    after: float  # seconds since the process started
    part: bool = False  # a .part file existed just after the kill
    submitting: int = 0  # jobs caught between the intent to submit and the task id
    manifest: str | None = None  # why the manifest was not whole, or None
    manifest_required: bool = True  # a submit had been made: the manifest must exist
    integrity: str = ""
    at: float = 0.0  # Unix time of the kill
    behind: float = 0.0  # seconds since the oldest job end the manifest did not show yet


def crash(
    work: Path,
    *,
    jobs: int,
    kills: int,
    concurrency: int = 50,
    video_bytes: int = 20_000_000,
    video_every: int = 10,
    seed: int = 11,
    profile: str = "clean",
    flags: tuple[str, ...] = (),
    command: str = "python -m tests.reliability crash",
    limit: float = 600.0,
) -> Report:
    """A batch stopped by SIGTERM and by a double Ctrl-C, killed with SIGKILL ``kills``
    times (during downloads, among bursts of commits, at startup), then run to its end
    with the same command: each stop exits 130 cleanly; after every kill the manifest is
    whole and the store sound; at the end nothing is paid twice, nothing is left
    half-written, every file is the emulator's. Then the jobs a kill caught mid-submit
    are settled as a person would: ``rhbatch attach`` for those whose task the account
    shows, ``--resubmit-unknown`` for the rest; every job then has succeeded, each paid
    once (against the clean profile; ``profile`` and ``flags`` allow other runs)."""
    rng = random.Random(seed)
    settings: dict[str, Any] = {
        "seed": seed,
        "speed": CRASH_SPEED,
        "durations": {
            "video": {"kind": "uniform", "low": 30, "high": 120},  # 0.3-1.2 s at 100x
            "image": {"kind": "uniform", "low": 0, "high": 2},  # 0-20 ms: bursts of commits
        },
        "output_bytes": {"video": video_bytes},
        "download_mbps": 50,  # a 5 MB video takes 0.1 s: a kill can land mid-download
        "accounts": RICH,
    }
    run = {
        "concurrency": concurrency,
        "poll_interval": 0.05,
        "timeout": 60,
        "signal_interval": 0.05,
    }
    work.mkdir(parents=True, exist_ok=True)
    specs = [
        (f"v-{i:04d}", VIDEO) if i % video_every == 0 else (f"i-{i:04d}", IMAGE)
        for i in range(1, jobs + 1)
    ]
    ids = [s[0] for s in specs]
    parts = [work / "out" / job / ".1.mp4.part" for job, ep in specs if ep == VIDEO]
    write_spec(work / "crash.yaml", specs, run)
    args = ["crash.yaml", "--out", "out", "-q", *flags]
    out = work / "out"
    # New submits a killed run may make, about (besides those on the wire when it dies):
    # the kills leave work for the last run.
    step = max(2, jobs // (2 * kills + 6))
    modes = ["download", "burst", "startup"]
    plan = [modes[i % 3] for i in range(kills)]
    rng.shuffle(plan)
    title = (
        f"crash: {jobs:,} jobs, a SIGTERM, a double Ctrl-C and {kills} SIGKILLs, "
        "then the same command to the end"
    )
    report = Report("crash", title, command, settings={"profile": profile, **settings, "run": run})
    report.runs.append(shown_command([sys.executable, "-m", "rhbatch", "run", *args]))
    done: list[Kill] = []
    stops: dict[str, dict[str, Any]] = {}
    began = time.monotonic()
    with Ledger(profile, settings) as ledger:
        # The stops first, while there is work for certain (a killed run may use up more
        # than its share: every submit on the wire when it dies is spent).
        for how in ("sigterm", "double-ctrl-c"):
            stops[how] = _stop(start(work, ledger, *args, tag=how), how, ledger)
        for n, mode in enumerate(plan):
            proc = start(work, ledger, *args, tag=f"kill-{n}")
            kill = _kill_at(proc, mode, ledger, parts, rng, step)
            if kill is None:  # the run ended by itself: nothing left to interrupt
                break
            kill.manifest_required = ledger.submits_seen() > 0
            kill.part = any(p.exists() for p in parts)
            kill.manifest = manifest_problem(out, ids)
            kill.integrity = integrity(out)
            if kill.integrity == "ok":
                stored = stored_jobs(out)
                kill.submitting = sum(1 for st, _ in stored.values() if st == "submitting")
                if kill.manifest is None:
                    kill.behind = _lag(stored, read_manifest(out), kill.at)
            done.append(kill)
        final = start(work, ledger, *args, tag="final")
        code = final.wait(limit)
        report.seconds = time.monotonic() - began
        stats = ledger.stats(tasks=True)
        records = read_manifest(out)
        check = Check(records, stats["taskList"], stats)
        good, expected = verify_files(out, records, ledger)
        left = temporaries(out)
        # Settle the jobs a kill caught mid-submit, as a person would with the console.
        caught = [r["id"] for r in records if r["status"] == "unknown" and not r["taskId"]]
        # The task a caught submit made is the job's task the manifest does not know.
        found = {
            j: nameless[-1]["taskId"]
            for j in caught
            if (
                nameless := [t for t in check.tasks_of.get(j, []) if t["taskId"] not in check.known]
            )
        }
        for job, task in found.items():
            _attach(work, ledger, job, task)
        named = {r["id"]: r["taskIds"] for r in read_manifest(out)}
        attached = sum(task in named[job] for job, task in found.items())
        resubmit = start(work, ledger, *args, "--resubmit-unknown", tag="resubmit")
        code_resubmit = resubmit.wait(limit)
        stats_end = ledger.stats(tasks=True)
        records_end = read_manifest(out)
        check_end = Check(records_end, stats_end["taskList"], stats_end)
        good_end, expected_end = verify_files(out, records_end, ledger)
        internal, hangups = ledger.internal_errors()
    whole = sum(1 for k in done if k.manifest is None or not k.manifest_required)
    sound = sum(1 for k in done if k.integrity == "ok")
    report.add("jobs", "jobs", jobs)
    report.add("kills", "SIGKILLs", len(done), kills)
    report.add("kill_modes", "SIGKILLs by the moment aimed at", dict(Counter(k.mode for k in done)))
    report.add(
        "kills_part", "SIGKILLs that left a .part file (mid-download)", sum(k.part for k in done)
    )
    report.add(
        "kills_submitting",
        "SIGKILLs that caught a submit in flight (a job 'submitting' in the store)",
        sum(1 for k in done if k.submitting),
    )
    report.add("runs", "runs of the same command", len(done) + len(stops) + 1)
    report.add(
        "manifests",
        "manifests whole after a kill (exist, parse, list every job)",
        whole,
        len(done),
    )
    report.add(
        "integrity", "state stores sound after a kill (PRAGMA integrity_check)", sound, len(done)
    )
    report.add(
        "behind",
        "the manifest's lag after a kill: the oldest job end it did not show yet (s, worst)",
        round(max((k.behind for k in done), default=0.0), 2),
        goal="about 1 s (a figure, not a test)",
    )
    for how, label in (("sigterm", "SIGTERM"), ("double-ctrl-c", "double Ctrl-C")):
        stop = stops.get(how, {"code": None, "clean": False})
        report.add(
            f"{how}_clean",
            f"{label} mid-run: exit 130, the resume command, no traceback or unclosed session",
            stop["code"] == 130 and stop["clean"],
            True,
        )
    report.add("final_exit", "the last plain run's exit code (1: some jobs are unknown)", code)
    report.add("ended", "jobs with a final status in the manifest", check.ended(), jobs)
    report.add("statuses", "final statuses", check.statuses())
    report.add(
        "failed",
        "jobs failed" + (" (the emulator fails none)" if profile == "clean" else ""),
        check.statuses().get("failed", 0),
        0 if profile == "clean" else None,
    )
    report.add("tasks", "tasks the emulator made (submissions)", len(check.tasks))
    report.add("paid_twice", "bodies paid twice (emulator paidTwice)", check.paid_twice(), 0)
    report.add(
        "over_attempts",
        "jobs with more tasks than submits rhbatch counts (sent again although a task existed)",
        len(check.over_attempts()),
        0,
    )
    report.add("strangers", "tasks of no job's body", check.strangers(), 0)
    report.add(
        "failed_not_so",
        "failed jobs with a task the emulator shows neither FAILED nor CANCEL",
        len(check.failed_not_so()),
        0,
    )
    report.add(
        "succeeded_not_so",
        "succeeded or unfetched jobs whose task the emulator does not show SUCCESS",
        len(check.succeeded_not_so()),
        0,
    )
    report.add(
        "unknown_tasks_settled",
        "tasks the manifest does not know, of jobs not left unknown",
        len(check.unknown_tasks_of_settled_jobs()),
        0,
    )
    report.add(
        "temporaries",
        "temporary files left (.part, .manifest.jsonl.*, .run.json.*)",
        len(left),
        0,
    )
    report.add("files", "result files verified against the emulator's bytes", good, expected)
    report.add(
        "caught", "jobs a kill caught mid-submit, left unknown (a task may exist)", len(caught)
    )
    report.add("caught_made", "... whose task the emulator had made", len(found))
    report.add("attached", "... given their task by rhbatch attach", attached, len(found))
    report.add(
        "resubmitted",
        "... without a task, sent by --resubmit-unknown",
        len(check_end.tasks) - len(check.tasks),
        len(caught) - len(found),
    )
    # Against a clean emulator every job succeeds with one task; with faults, some fail.
    clean = profile == "clean"
    report.add(
        "resubmit_exit",
        "exit code of the --resubmit-unknown run",
        code_resubmit,
        0 if clean else None,
    )
    report.add(
        "succeeded_end",
        "jobs succeeded in the end",
        check_end.statuses().get("succeeded", 0),
        jobs if clean else None,
    )
    report.add(
        "tasks_end",
        "tasks made in the end" + (" (one per job)" if clean else ""),
        len(check_end.tasks),
        jobs if clean else None,
    )
    report.add("ended_end", "jobs with a final status in the end", check_end.ended(), jobs)
    report.add("paid_twice_end", "bodies paid twice in the end", check_end.paid_twice(), 0)
    report.add(
        "over_attempts_end",
        "jobs with more tasks than submits rhbatch counts, in the end",
        len(check_end.over_attempts()),
        0,
    )
    report.add("files_end", "result files verified in the end", good_end, expected_end)
    report.add("internal_errors", "emulator internal errors", internal, 0)
    report.add(
        "hangups",
        "replies cut off by a kill (the emulator's hang-ups, no fault of its own)",
        hangups,
    )
    report.add("seconds", "wall time (s)", round(report.seconds, 1))
    report.notes += [
        "A kill aimed at a burst of commits lands at a random moment while many fast jobs "
        "are being submitted, followed and fetched (each a few SQLite transactions). "
        "Without hooks inside rhbatch a kill cannot be proven to land inside a "
        "transaction; the kills that caught a job 'submitting' show they landed between "
        "two of a job's transitions.",
        "A job a kill caught between its intent to submit and the task id is 'unknown' "
        "from then on: the request may or may not have reached RunningHub. The ledger "
        "says which did; `rhbatch attach DIR JOB TASK_ID` gives such a job its task, and "
        "`--resubmit-unknown` sends the others (here only those the ledger shows never "
        "arrived, so nothing is paid twice).",
    ]
    report.details["stops"] = stops
    report.details["kills"] = [dataclasses.asdict(k) for k in done]
    return report


def _lag(
    stored: dict[str, tuple[str, float | None]], listed: list[dict[str, Any]], at: float
) -> float:
    """Seconds before ``at`` that the oldest job the manifest shows at another status than
    the store ended (0 when it shows every ended job as ended)."""
    shows = {r["id"]: r["status"] for r in listed}
    late = [
        at - ended
        for job, (status, ended) in stored.items()
        if ended is not None and status in ENDED and shows.get(job) != status
    ]
    return max(late, default=0.0)


def _attach(work: Path, ledger: Ledger, job: str, task: str) -> int:
    argv = [sys.executable, "-m", "rhbatch", "attach", "out", job, task]
    done = subprocess.run(argv, cwd=work, env=ledger.env(work), capture_output=True, check=False)
    return done.returncode


def _kill_at(
    proc: Run, mode: str, ledger: Ledger, parts: list[Path], rng: random.Random, step: int
) -> Kill | None:
    """SIGKILL the run at a moment of the given kind, within about ``step`` new submits (so
    that every run leaves work for the next); None if it ended first."""
    began = time.monotonic()
    before = ledger.submits_seen()

    def running() -> bool:
        return proc.proc.poll() is None

    if mode == "download":  # the first moment a result is being written
        wait_for(
            lambda: (
                not running()
                or any(p.exists() for p in parts)
                or ledger.submits_seen() >= before + 3 * step
            ),
            120,
            every=0.002,
        )
    elif mode == "burst":  # in full swing, while a submit's intent is on disk, its task not
        target = before + rng.randint(1, step)
        wait_for(lambda: not running() or ledger.submits_seen() >= target, 120)
        out = proc.out.parent / "out"  # the run's output directory (its stdout file is beside it)
        wait_for(lambda: not running() or _submitting(out), 2, every=0.001)
    else:  # anywhere from the start: imports, validation, the store's sync, the manifest
        end = time.monotonic() + rng.uniform(0.05, 1.2)
        wait_for(
            lambda: (
                not running() or time.monotonic() >= end or ledger.submits_seen() >= before + step
            ),
            120,
        )
    if not running():
        return None
    proc.proc.send_signal(signal.SIGKILL)
    at = time.time()
    proc.proc.wait()
    return Kill(mode, time.monotonic() - began, at=at)


def _stop(proc: Run, how: str, ledger: Ledger) -> dict[str, Any]:
    """Stop the run mid-work by SIGTERM or two SIGINTs 0.3 s apart."""
    before = ledger.submits_seen()
    wait_for(lambda: proc.proc.poll() is not None or ledger.submits_seen() > before, 60)
    if proc.proc.poll() is None:
        if how == "sigterm":
            proc.proc.send_signal(signal.SIGTERM)
        else:
            proc.proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
            if proc.proc.poll() is None:
                proc.proc.send_signal(signal.SIGINT)
    code = proc.wait(60)
    err = proc.stderr()
    clean = (
        "resume with: rhbatch run crash.yaml --out out" in err
        and "Traceback" not in err
        and "Unclosed" not in err
    )
    return {"code": code, "clean": clean, "stderr": err[-2000:]}


# --- disk full --------------------------------------------------------------------------------


class MountRefused(Exception):
    """A tmpfs cannot be mounted here (not root, or no permission in this container)."""


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` for the duration; always unmounted."""
    if os.geteuid() != 0:
        raise MountRefused("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise MountRefused(f"mount -t tmpfs failed: {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)
        if os.path.ismount(where):
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def disk_full(
    work: Path,
    *,
    jobs: int = 6,
    file_bytes: int = 1_500_000,
    size: str = "4m",
    room: str = "64m",
    seed: int = 3,
    command: str = "python -m tests.reliability disk-full",
) -> Report:
    """Results bigger than the disk: the run stops (exit 3) saying the disk is full, accepts
    no partial file and fails or finishes no job without its file; once there is room (the
    tmpfs remounted larger), the same command fetches the rest and submits nothing."""
    settings = _disk_settings(seed, file_bytes, {"kind": "uniform", "low": 30, "high": 60})
    title = f"disk full: {jobs} results of {file_bytes / 1e6:g} MB into a {size.upper()}B tmpfs"
    report, args, ids = _disk_report(work, "disk-full", title, command, jobs, settings)
    true_size = make_media("video", "any", file_bytes).size
    began = time.monotonic()
    with Ledger("clean", settings) as ledger, tmpfs(work / "disk", size) as mount:
        first = start(work, ledger, *args, tag="full")
        code = first.wait(120)
        before = _stopped(mount / "out", ids, ledger, true_size)
        subprocess.run(
            ["mount", "-o", f"remount,size={room}", str(mount)], check=True, capture_output=True
        )
        again = start(work, ledger, *args, tag="room")
        code_again = again.wait(120)
        after = _finished(mount / "out", ledger)
        report.seconds = time.monotonic() - began
    err = first.stderr()
    report.add("exit", "exit code of the run that fills the disk", code, 3)
    report.add(
        "message", "it says so: No space left on device", "No space left on device" in err, True
    )
    _disk_figures(report, err, before, after, jobs, code_again)
    return report


def disk_full_store(
    work: Path,
    *,
    jobs: int = 4,
    file_bytes: int = 100_000,
    size: str = "8m",
    seed: int = 3,
    command: str = "python -m tests.reliability disk-full-store",
) -> Report:
    """The disk fills up (another program's file) while every task runs: the state store's
    next write, when a task ends, meets the full disk. The run stops (exit 3) saying so,
    the store stays sound, nothing partial is kept; once the file is gone, the same
    command follows the tasks to their files and submits nothing."""
    settings = _disk_settings(seed, file_bytes, {"kind": "fixed", "value": 300})  # 3 s
    title = f"disk full: the disk fills up while {jobs} tasks run (the state store's writes)"
    report, args, ids = _disk_report(work, "disk-full-store", title, command, jobs, settings)
    true_size = make_media("video", "any", file_bytes).size
    began = time.monotonic()
    with Ledger("clean", settings) as ledger, tmpfs(work / "disk", size) as mount:
        out = mount / "out"
        first = start(work, ledger, *args, tag="full")
        # Every task submitted and its id committed, and the manifest rewritten since (so
        # that nothing is due to be written until a task ends): then fill the disk.
        wait_for(lambda: _all_running(out, ids), 60)
        written = (out / "manifest.jsonl").stat().st_mtime_ns
        wait_for(lambda: (out / "manifest.jsonl").stat().st_mtime_ns != written, 10)
        filled = fill(mount / "filler")
        code = first.wait(120)
        before = _stopped(out, ids, ledger, true_size)
        (mount / "filler").unlink()
        again = start(work, ledger, *args, tag="room")
        code_again = again.wait(120)
        after = _finished(out, ledger)
        report.seconds = time.monotonic() - began
    err = first.stderr()
    report.add("filled", "bytes written to fill the disk while the tasks ran", filled)
    report.add("exit", "exit code of the run that meets the full disk", code, 3)
    report.add(
        "message", "it says the disk is full", "disk is full" in err or "No space" in err, True
    )
    _disk_figures(report, err, before, after, jobs, code_again)
    return report


def _disk_settings(seed: int, file_bytes: int, duration: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": seed,
        "speed": 100.0,
        "durations": {"video": duration},
        "output_bytes": {"video": file_bytes},
        "accounts": RICH,
    }


def _disk_report(
    work: Path, name: str, title: str, command: str, jobs: int, settings: dict[str, Any]
) -> tuple[Report, list[str], list[str]]:
    run = {"concurrency": jobs, "poll_interval": 0.05, "timeout": 60}
    work.mkdir(parents=True, exist_ok=True)
    ids = [f"shot-{i}" for i in range(1, jobs + 1)]
    write_spec(work / "disk.yaml", [(i, VIDEO) for i in ids], run)
    args = ["disk.yaml", "--out", "disk/out", "-q"]
    report = Report(name, title, command, settings={"profile": "clean", **settings, "run": run})
    report.runs.append(shown_command([sys.executable, "-m", "rhbatch", "run", *args]))
    return report, args, ids


def _all_running(out: Path, ids: list[str]) -> bool:
    try:
        stored = stored_jobs(out)
    except sqlite3.Error:
        return False
    return len(stored) == len(ids) and all(st == "running" for st, _ in stored.values())


def fill(path: Path) -> int:
    """Write ``path`` until the disk it is on is full; the bytes written."""
    written, block = 0, 1 << 16
    with path.open("wb", buffering=0) as fh:
        while block:
            try:
                written += fh.write(b"\0" * block) or 0
            except OSError:
                block //= 2  # no room for this much: try less
    return written


def _stopped(out: Path, ids: list[str], ledger: Ledger, size: int) -> dict[str, Any]:
    """What a run stopped by the full disk left."""
    whole = manifest_problem(out, ids)
    records = read_manifest(out) if whole is None else []
    return {
        "manifest": whole,
        "records": records,
        "integrity": integrity(out),
        "files": _files_against(out, records, size),
        "temporaries": temporaries(out),
        "submissions": ledger.stats()["submissions"],
    }


def _finished(out: Path, ledger: Ledger) -> dict[str, Any]:
    """What the run after it (with room) left."""
    stats = ledger.stats(tasks=True)
    records = read_manifest(out)
    return {
        "stats": stats,
        "check": Check(records, stats["taskList"], stats),
        "files": verify_files(out, records, ledger),
        "temporaries": temporaries(out),
    }


def _disk_figures(
    report: Report,
    err: str,
    before: dict[str, Any],
    after: dict[str, Any],
    jobs: int,
    code_again: int,
) -> None:
    check: Check = after["check"]
    good, expected = after["files"]
    report.add("traceback", "a traceback on stderr", "Traceback" in err, False)
    report.add(
        "statuses_full",
        "statuses when it stopped",
        dict(Counter(r["status"] for r in before["records"])),
    )
    report.add(
        "manifest",
        "the manifest exists, parses and lists every job",
        before["manifest"] is None,
        True,
    )
    report.add(
        "integrity", "the state store is sound (PRAGMA integrity_check)", before["integrity"], "ok"
    )
    report.add(
        "without_file",
        "jobs succeeded or failed without their files",
        before["files"]["without_file"],
        0,
    )
    report.add(
        "partial", "result files of another size than the emulator's", before["files"]["partial"], 0
    )
    report.add("parts_left", "temporary files left when it stopped", len(before["temporaries"]), 0)
    report.add("submits", "tasks submitted (one per job)", before["submissions"], jobs)
    report.add("exit_again", "exit code of the same command once there is room", code_again, 0)
    report.add(
        "new_submits",
        "tasks it submitted",
        after["stats"]["submissions"] - before["submissions"],
        0,
    )
    report.add("succeeded", "jobs succeeded", check.statuses().get("succeeded", 0), jobs)
    report.add("files", "result files verified against the emulator's bytes", good, expected)
    report.add("parts_left_after", "temporary files left after it", len(after["temporaries"]), 0)
    report.add("paid_twice", "bodies paid twice (emulator paidTwice)", check.paid_twice(), 0)
    report.notes.append(
        f"What the run that met the full disk printed on stderr: `{_one_line(err)}`"
    )


def _one_line(text: str, most: int = 600) -> str:
    line = " / ".join(x.strip() for x in text.strip().splitlines() if x.strip())
    return line if len(line) <= most else line[: most - 3] + "..."


def _files_against(out: Path, records: list[dict[str, Any]], size: int) -> dict[str, int]:
    """Jobs the manifest shows done without their files, and result files on disk whose size
    is not ``size`` (the emulator's, for every result of the scenario)."""
    without = 0
    for r in records:
        if r["status"] == "succeeded":
            ok = r["outputs"] and all(
                (out / o["path"]).is_file() and (out / o["path"]).stat().st_size == o["bytes"]
                for o in r["outputs"]
            )
            without += not ok
        elif r["status"] == "failed":
            without += 1  # nothing in this scenario may fail: a full disk is not the job's
    partial = 0
    for path in out.glob("*/*"):
        if path.is_file() and not path.name.startswith(".") and path.parent.name != ".rhbatch":
            partial += path.stat().st_size != size
    return {"without_file": without, "partial": partial}
