"""``python -m tests.reliability [SCENARIO...] [--quick] [--out DIR]``: the reliability suite
at full size, and the page that reports it.

Runs the scenarios of ``scenarios.py`` (chaos with webhooks and without, crash, disk
full) at full size, or at the tests' sizes with ``--quick``; then the other reliability
test files under pytest, for their pass and fail counts; prints every figure beside its
goal. A full run of every scenario writes ``docs/reliability.md`` and
``benchmarks/results/reliability-<date>.json``; ``--quick`` (or a chosen few scenarios)
writes them only where ``--out DIR`` says.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.reliability import scenarios
from tests.reliability.scenarios import MountRefused, Report

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS: dict[str, tuple[Callable[..., Report], dict[str, Any], dict[str, Any]]] = {
    # name: (function, full size, quick size: the tests')
    "chaos-webhooks": (
        scenarios.chaos,
        {"jobs": 1000, "concurrency": 50, "webhooks": True},
        {"jobs": 120, "concurrency": 20, "webhooks": True, "timeout": 4.0},
    ),
    "chaos-counts": (
        scenarios.chaos,
        {"jobs": 1000, "concurrency": 50, "webhooks": False},
        {"jobs": 120, "concurrency": 20, "webhooks": False, "timeout": 4.0},
    ),
    "lost-counts": (
        scenarios.chaos,
        {"jobs": 1000, "concurrency": 50, "webhooks": False, "rare": True},
        {"jobs": 200, "concurrency": 20, "webhooks": False, "rare": True, "timeout": 4.0},
    ),
    "crash": (
        scenarios.crash,
        {"jobs": 500, "kills": 20, "concurrency": 50, "video_bytes": 20_000_000},
        {"jobs": 80, "kills": 4, "concurrency": 10, "video_bytes": 5_000_000, "video_every": 4},
    ),
    "disk-full": (scenarios.disk_full, {"jobs": 6}, {"jobs": 6}),
    "disk-full-store": (scenarios.disk_full_store, {"jobs": 4}, {"jobs": 4}),
}
SUITES = {
    "test_promises.py": "each promise against the fault that once broke it",
    "test_hostile.py": "a hostile server: endless, oversized, malformed or leaking replies",
    "test_bad_input.py": "bad input refused before anything is sent",
    "test_surfaces.py": "placeholders, pins, exports, merges, credentials and signals attacked",
    "test_ledger.py": "object storage: kills on fresh disks, a lost bucket, two writers",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability", description=__doc__.splitlines()[0]
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="the tests' sizes")
    parser.add_argument("--no-suites", action="store_true", help="skip the pytest files")
    parser.add_argument("--out", metavar="DIR", help="write the page and the JSON here")
    parser.add_argument(
        "--render", metavar="JSON", help="only rewrite docs/reliability.md from a results file"
    )
    args = parser.parse_args(argv)
    if args.render:
        doc = json.loads(Path(args.render).read_text(encoding="utf-8"))
        page = (Path(args.out) if args.out else ROOT / "docs") / "reliability.md"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render(doc, [Report.load(r) for r in doc["scenarios"]]), encoding="utf-8")
        print(f"docs: {page}")
        return 0
    chosen = args.scenarios or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    # A killed rhbatch leaves downloads cut off; aiohttp logs each with a traceback. The
    # scenario counts them (``hangups``); the log would only bury the figures.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    began = time.monotonic()
    reports: list[Report] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="rhbatch-reliability-") as tmp:
        for name in chosen:
            function, full, quick = SCENARIOS[name]
            size = quick if args.quick else full
            command = f"python -m tests.reliability {name}" + (" --quick" if args.quick else "")
            print(f"== {name}", flush=True)
            try:
                report = function(Path(tmp) / name, command=command, **size)
            except MountRefused as exc:
                skipped[name] = str(exc)
                print(f"   skipped: {exc}", flush=True)
                continue
            print(f"   {report.title}")
            for figure in report.figures:
                print(f"   {_line(figure)}")
            print(f"   reproduce: {command}  ({report.seconds:.1f} s)", flush=True)
            reports.append(report)
    suites = [] if args.no_suites else [_suite(name) for name in SUITES]
    for suite in suites:
        print(
            f"== {suite['file']}: {suite['passed']} passed, {suite['failed']} failed, "
            f"{suite['skipped']} skipped ({suite['seconds']:.0f} s)",
            flush=True,
        )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    doc = {
        "date": stamp,
        "quick": args.quick,
        "machine": _machine(),
        "seconds": round(time.monotonic() - began, 1),
        "scenarios": [r.to_dict() for r in reports],
        "skipped": skipped,
        "suites": suites,
    }
    whole = not args.quick and set(chosen) == set(SCENARIOS) and not args.no_suites
    if args.out or whole:
        docs = Path(args.out) if args.out else ROOT / "docs"
        results = Path(args.out) if args.out else ROOT / "benchmarks" / "results"
        docs.mkdir(parents=True, exist_ok=True)
        results.mkdir(parents=True, exist_ok=True)
        data = results / f"reliability-{stamp}.json"
        data.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
        page = docs / "reliability.md"
        page.write_text(render(doc, reports), encoding="utf-8")
        print(f"results: {data}\ndocs: {page}")
    missed = [f"{r.name}: {m}" for r in reports for m in r.missed()]
    failed = [s["file"] for s in suites if s["failed"]]
    for line in missed:
        print(f"goal missed: {line}")
    for name in failed:
        print(f"tests failed: {name}")
    return 1 if missed or failed else 0


def _line(figure: scenarios.Figure) -> str:
    goal = ""
    if figure.goal is not None:
        mark = "" if figure.met is None else (": met" if figure.met else ": MISSED")
        goal = f"  (goal {figure.goal}{mark})"
    return f"{figure.label}: {scenarios.shown_value(figure.value)}{goal}"


def _suite(name: str) -> dict[str, Any]:
    """Run one test file under pytest; its counts from the JUnit XML it writes."""
    path = f"tests/reliability/{name}"
    with tempfile.NamedTemporaryFile(suffix=".xml") as xml:
        argv = [sys.executable, "-m", "pytest", path, "-q", "-p", "no:cacheprovider"]
        argv += ["--no-cov", f"--junitxml={xml.name}"]
        began = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - began
        try:
            tree = ET.parse(xml.name)
        except ET.ParseError:
            tree = None
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failing: list[str] = []
    if tree is not None:
        for suite in tree.iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
        for case in tree.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failing.append(case.get("name", "?"))
    bad = counts["failures"] + counts["errors"]
    return {
        "file": path,
        "about": SUITES[name],
        "command": f"python -m pytest {path} --no-cov",
        "cases": _cases(name),
        "tests": counts["tests"],
        "passed": counts["tests"] - bad - counts["skipped"],
        "failed": bad,
        "skipped": counts["skipped"],
        "failing": failing,
        "exit": done.returncode,
        "seconds": round(seconds, 1),
    }


def _cases(name: str) -> int | None:
    """How many cases the file's corpus holds (bad inputs, hostile servers)."""
    module = {"test_bad_input.py": "bad_input_cases", "test_hostile.py": "hostile"}.get(name)
    if module is None:
        return None
    try:
        found = __import__(f"tests.reliability.{module}", fromlist=["CASES"])
    except ImportError:
        return None
    return len(getattr(found, "CASES", ())) or None


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "root": os.geteuid() == 0,
    }


# --- the page ------------------------------------------------------------------------------

INTRO = """\
# Reliability

rhbatch spends money on every task it submits. This page reports what it does
when things go wrong: an API that drops replies and fails tasks, a process
killed at any moment, a disk that fills up. Every figure is judged by the
emulator's ledger (which tasks were made, which succeeded and were paid, what
bytes each result has) and by the files rhbatch left behind, never by what
rhbatch says about itself. The page is written by `python -m tests.reliability`;
`tests/reliability/test_chaos.py`, `test_crash.py` and `test_disk_full.py` run
the same scenarios at a small size on every push and assert the same goals.

## What rhbatch guarantees

- **Never paid twice.** A job is submitted again only after its task is known
  to have failed with a retryable code, or when the account's counts prove
  that a lost submit made no task. Every scenario checks the emulator's
  `paidTwice` (bodies that succeeded more than once) and that no job has more
  tasks than the submits rhbatch counted for it.
- **Honest statuses.** `succeeded`: the files are on disk and verified.
  `failed`: nothing was sent, or the task is known to have failed or been
  cancelled. `unknown`: a task may exist (a submit's answer was lost, or its
  task's end could not be learned; with a task id, the next run follows it
  again). `unfetched`: the task succeeded and was paid, the files could not be
  had; the next run fetches them again. `pending`, `running` and `downloading`
  appear only while a run is going or after it was stopped.
- **Lost replies.** With `--webhook-listen`, a task made by a submit whose
  answer was lost announces itself when it ends, and its job adopts it.
  Without webhooks, the account's running and queued counts decide where they
  can prove that no task was made (the job is sent again); the rest stay
  `unknown`.
- **A kill loses nothing.** The intent to submit is committed before the
  request and the task id right after it; the manifest is written before the
  first submit and within about a second of each job's end, through a
  temporary file and a rename. After a SIGKILL at any moment, `manifest.jsonl`
  exists, parses and lists every job, the state store passes SQLite's
  integrity check, and the same command, run again, finishes the batch. No
  `.part` file or temporary manifest survives the run that completes it.
- **A full disk stops the run.** It exits 3 saying the disk is full (`No
  space left on device` when a result file meets it, SQLite's `database or disk
  is full` when the state store does); no partial file is accepted, no job is
  failed or finished without its file, the store stays sound, and once there
  is room the same command finishes the batch without a new submit.
  A disk already full when the run starts is said the same way, before
  anything is sent.
- **Nobody reading changes nothing.** A run whose output nobody reads (`rhbatch
  run ... | head`, a terminal gone) runs every job to its end; the exit code
  says how the jobs ended, not how the printing went.
- **The cap holds whatever sends a job again.** Every job whose task may exist
  (`unknown`, or submitted and not yet ended) counts against `--max-spend` at
  its full price before any flag (`--resubmit-unknown`, `--retry-failed`) sets
  it back to pending; a lost first reply of an endpoint wakes every job
  waiting for that endpoint's first bill, so a capped run ends as an uncapped
  one would.
- **Data stays data.** Pipeline placeholders (`{NAME.url}`) are filled once, on
  the spec's own text; the text of rows, JSON Lines, `vars` and matrix values,
  and literal braces (`{{...}}`), reach the API as they are written.
- **Every file is read within bounds.** Specs, rows, pins, manifests, `run.json`
  and the state store are read only if they are regular files, at most 16 MiB
  of JSON or the spec limit, nested at most 64 deep, in UTF-8; anything else is
  refused with the file and what it is (a FIFO, a device, UTF-16 text), exit 2
  (3 for the state store), before anything is sent.
- **Exports keep rows whole and formulas inert.** CSV follows RFC 4180 (CRLF
  rows, every CR, LF or quote quoted); a cell starting with `=`, `+`, `-`, `@`,
  a tab or a CR gets a leading `'` unless `export --keep-formulas` asks for the
  raw text. JSON Lines and Parquet keep every text byte for byte.
- **`merge` takes nothing it cannot check.** Each record must match the plan
  re-expanded from the shards' spec (endpoint, parameters as sent, sources) and
  each file must have the size and SHA-256 its record names; a flipped byte, a
  hand-edited line, a shard of another spec or a shard given twice is refused
  with the job and the field, before anything is written.
- **No credential is ever printed.** The user name and password of any URL on
  the command line (`--out s3://KEY:SECRET@bucket`, `--base-url`, a directory
  argument) and the API key, as it is or upper-case, lower-case, base64 or
  URL-encoded, are shown as `***` in every line, error, state folder name and
  resume command.
- **A lost machine costs nothing (`--out s3://...`).** The bucket holds the
  run's ledger: a submit waits until its intent is there, task ids and ends
  follow within moments. A worker on a fresh, empty disk rebuilds the state
  from it and goes on; killed twelve times that way, a run pays nothing twice
  and makes no more tasks than jobs. A lease and conditional puts keep one
  writer at a time; a bucket lost mid-run holds the submits until it is back.
- **A second stop is a clean stop.** Two SIGTERMs (or Ctrl-C twice) with a task
  that never ends exit 130 with the command to resume, no traceback and no
  unclosed HTTP session.

## What it cannot do

- **Name the task of a lost reply without webhooks, when the counts prove
  nothing.** The submit may have made a task, and RunningHub has no call that
  lists an account's tasks. The job stays `unknown` until a person finds the
  task in RunningHub's console and runs `rhbatch attach DIR JOB TASK_ID`, or
  decides to send it again with `--resubmit-unknown` (which may pay twice).
- **Know whether a submit caught by a kill arrived.** Between the intent and
  the task id the request may or may not have reached RunningHub; the job is
  `unknown` and is settled the same way (the crash scenario does so, from the
  ledger, as a person would from the console).
- **Name a lost reply's task that never ends.** With webhooks a task
  announces itself only when it ends; a stuck task whose submit answer was
  lost is named by nothing, and holds one of the account's slots until it is
  cancelled by hand.

## The assumptions behind the counts proof

`rhbatch/runner/lost.py` sends a lost submit again only when the server was done with
the request (it answered, or closed the connection; not when rhbatch gave up
waiting) and, with its own submits held, the account's running and queued
count equals exactly its own tasks in flight, each confirmed unfinished after
the count was read, and every task of that endpoint seen so far lived longer
than the time since the lost submit was sent. Two assumptions stand behind it:

1. RunningHub's counts include a task from the moment it is made;
2. a task of an endpoint does not end sooner than every task of it seen before
   (so a task the lost submit made cannot have come and gone between the send
   and the count).

RunningHub documents neither. The emulator honours the first. The second is
a bet, made conservative by measuring each task's life from its submit to the
last moment it was seen unfinished, and taking the shortest; the emulator draws
durations at random between bounds, so early in a run a task can be shorter
than every one seen. Were the bet lost, a job would be sent again while its
first task exists, and the ledger would show it: a job with more tasks than
the submits rhbatch counted (a goal of every scenario below).
"""


def render(doc: dict[str, Any], reports: list[Report]) -> str:
    machine = doc["machine"]
    lines = [INTRO]
    lines += [
        "## How these figures were made",
        "",
        f"`python -m tests.reliability{' --quick' if doc['quick'] else ''}` on "
        f"{doc['date']}, on a machine with {machine['nproc']} CPUs"
        + (f" ({machine['cpu']})" if machine["cpu"] else "")
        + f", {machine['platform']}, Python {machine['python']}; "
        f"{doc['seconds']:,.0f} s in all. The raw figures are in "
        f"`benchmarks/results/reliability-{doc['date']}.json`.",
        "",
        "Each scenario runs `python -m rhbatch run` as its own process against the emulator "
        "(`rhbatch/emulator`, on a thread of the driver so that its ledger, its tasks and "
        "the faults it injected, by route, can be read). Faults are drawn from a hash of "
        "the seed and the request, so a seed gives the same faults to the same requests; "
        "which requests are made depends on timing, so figures vary a little between runs.",
        "",
        "`python -m tests.reliability --quick` runs the scenarios at the tests' sizes (120 "
        "jobs on 20 slots for chaos, 80 jobs and 4 kills for crash); `--render FILE` "
        "rewrites this page from a results file. A goal marked *a figure, not a test* is "
        "reported, never asserted: the tests assert no timing.",
        "",
    ]
    missed = [(r, m) for r in reports for m in r.missed()]
    lines += ["## Summary", ""]
    lines += ["| scenario | goals met | wall time |", "|---|---|---|"]
    for r in reports:
        goals = [f for f in r.figures if f.met is not None]
        met = sum(1 for f in goals if f.met)
        lines.append(f"| {r.title} | {met} / {len(goals)} | {r.seconds:,.0f} s |")
    for name, why in doc["skipped"].items():
        lines.append(f"| {name} | skipped: {why} | |")
    for s in doc["suites"]:
        cases = f" ({s['cases']} cases)" if s["cases"] else ""
        lines.append(
            f"| `{s['file']}`{cases}: {s['about']} | {s['passed']} passed, {s['failed']} failed"
            f"{', ' + str(s['skipped']) + ' skipped' if s['skipped'] else ''} | "
            f"{s['seconds']:,.0f} s |"
        )
    lines.append("")
    if missed:
        lines += ["Goals missed:", ""]
        lines += [f"- {r.name}: {m}" for r, m in missed]
        lines.append("")
    for r in reports:
        lines += _scenario(r)
    if doc["suites"]:
        lines += ["## The other reliability tests", ""]
        lines += ["| file | what it checks | tests | passed | failed | skipped | command |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for s in doc["suites"]:
            about = s["about"] + (f"; {s['cases']} cases" if s["cases"] else "")
            lines.append(
                f"| `{s['file']}` | {about} | {s['tests']} | {s['passed']} | {s['failed']} | "
                f"{s['skipped']} | `{s['command']}` |"
            )
        failing = [
            f"`{s['file']}`: {', '.join(s['failing'])}" for s in doc["suites"] if s["failing"]
        ]
        if failing:
            lines += ["", "Failing: " + "; ".join(failing)]
        lines.append("")
    lines += findings(reports)
    return "\n".join(lines).rstrip() + "\n"


def _scenario(r: Report) -> list[str]:
    lines = [f"## {r.title}", ""]
    lines += ["| figure | value | goal | |", "|---|---|---|---|"]
    for f in r.figures:
        mark = "" if f.met is None else ("met" if f.met else "**MISSED**")
        lines.append(f"| {f.label} | {_cell(f.value)} | {f.goal or ''} | {mark} |")
    settings = dict(r.settings)
    run = settings.pop("run", {})
    lines += [
        "",
        f"Reproduce: `{r.command}`. It runs `{'`, then `'.join(r.runs)}` against an "
        f"emulator with profile `{settings.pop('profile')}`, seed {settings['seed']} and "
        f"speed {settings['speed']:g}x (a 60 s task takes {60 / settings['speed']:g} s); "
        "the spec's run settings and the emulator's settings over the profile:",
        "",
        "```json",
        json.dumps({"run": run}),
        json.dumps({"emulator": settings}),
        "```",
        "",
    ]
    for note in r.notes:
        lines += [note, ""]
    return lines


def _cell(value: Any) -> str:
    return scenarios.shown_value(value).replace("|", "\\|")


def findings(reports: list[Report]) -> list[str]:
    """What the figures teach beyond their goals, with the figures that show it."""
    by_name = {r.name: r for r in reports}
    lines = ["## Findings", ""]
    counted = [
        f"{r['hangups']} in {r.name}"
        for r in reports
        if any(f.key == "hangups" for f in r.figures) and r["hangups"]
    ]
    if counted:
        lines.append(
            "- **Clients that hang up.** A killed rhbatch (mid-download) or one that stops "
            "waiting for a slow reply leaves the emulator writing to a closed connection; it "
            f"counts those apart from its own faults ({', '.join(counted)})."
        )
    chaos = [by_name[n] for n in ("chaos-counts", "chaos-webhooks") if n in by_name]
    rare = by_name.get("lost-counts")
    if chaos:
        proved = " and ".join(
            f"{r['resent']} of {r['lost_none']} {'with' if 'webhooks' in r.name else 'without'} "
            "webhooks"
            for r in chaos
        )
        first = chaos[0]
        which = "without" if first.name == "chaos-counts" else "with"
        lines.append(
            "- **Under chaos the account's counts proved next to nothing.** Of the lost "
            f"replies that made no task, the counts proved {proved} empty. A lost reply is "
            "judged against the account's running and queued count, which must equal "
            f"rhbatch's own tasks in flight exactly. In the run {which} webhooks, "
            f"{first['lost_before_any_end']} of the {first['lost_seen']} lost replies came "
            f"before any task had ended, {first['lost_beside_stuck']} while a stuck task made "
            "by an earlier lost reply was alive (it never ends, so once it exists the count "
            f"is one too high for the rest of the run), {first['lost_beside_orphan']} while "
            f"another such task was alive, and {first['lost_rest']} at none of these moments. "
            "The proof errs the safe way (the job stays `unknown`, nothing is paid twice). A "
            "count that allowed for the tasks of earlier lost replies cannot tell which lost "
            "submit made the task it sees, so it cannot settle more without risking a double "
            "payment"
            + (
                f"; where lost replies are rare it settled {rare['resent']} of "
                f"{rare['lost_none']} (the 'rare lost replies' scenario)."
                if rare is not None
                else "."
            )
        )
    hooked = by_name.get("chaos-webhooks")
    if hooked is not None:
        lines.append(
            f"- **A lost reply whose task never ends stays nameless.** With webhooks, "
            f"{hooked['adopted']} tasks made by lost replies were adopted and "
            f"{hooked['unknown_tasks_stuck']} was not: it is stuck, so no webhook ever comes; "
            "its job is `unknown` and the task holds one of the account's slots until it "
            "is cancelled by hand."
        )
    return [*lines, ""]


if __name__ == "__main__":
    sys.exit(main())
