"""Scenario: where each client's CPU goes on the running-tasks workload, by a sampling profiler.

The ``overhead`` scenario says how much CPU rhbatch, the durable floor and the
bare floor spend per job; this one says on what. Each client runs the same
10,000 RUNNING-then-end jobs (the overhead scenario's settings) twice against a
fresh emulator: once measured (its CPU), once under py-spy (``pip install
py-spy``, in the ``bench`` extra), which samples the process's stacks from
outside at ``RATE`` Hz without slowing its calls down as a tracing profiler
does (cProfile overweights code that makes many small calls). Each sample that
is not waiting in the event loop's ``select`` is put in the first of these
that any frame of its stack belongs to:

- start-up and end: outside the event loop (imports, reading and checking the
  spec, the store's sync, the books written at the end: manifest, run.json,
  metadata.jsonl, report.html);
- manifest and progress: the manifest rewritten during the run, the progress;
- store: the state store (SQLite) and its group commits; the durable floor's books;
- HTTP path: rhbatch's API client and aiohttp, the sockets, the replies' JSON;
- scheduling and waits: the runner (jobs, the limiter, the watcher of ends,
  waits) and asyncio's own work; the floors' workers;
- other.

A category's CPU per job is its share of the samples times the client's CPU per
job from its measured run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from benchmarks.harness import ROOT, Outcome, compiled, emulator, measure
from benchmarks.scenarios.overhead import CLIENTS, RUNNING, client_argv, running_spec

TITLE = "where the CPU goes: rhbatch, the durable floor and the bare floor, sampled by py-spy"
RATE = 250  # samples per second
CATEGORIES = (
    "start-up and end",
    "manifest and progress",
    "store",
    "HTTP path",
    "scheduling and waits",
    "other",
)
# (category, what a frame's text contains): the first category any frame matches wins.
RULES = (
    ("manifest and progress", ("write_manifest", "runner/progress.py", "tqdm/")),
    ("store", ("rhbatch/store/", "runner/commits.py", "sqlite3", "Books.")),
    ("HTTP path", ("rhbatch/api/", "aiohttp/", "selector_events.py", "run.<locals>.call")),
    ("scheduling and waits", ("rhbatch/runner/", "asyncio/", "floor.py")),
)


def run(quick: bool, work: Path) -> Outcome:
    outcome = Outcome("profile", TITLE, "python -m benchmarks profile", settings=RUNNING)
    spy = shutil.which("py-spy")
    if spy is None:
        outcome.details["notes"] = ["py-spy is not installed (`pip install py-spy`)."]
        return outcome
    jobs = 500 if quick else 10_000
    spec, jobs_file = running_spec(work, jobs)
    split: dict[str, dict[str, float]] = {}
    for name, _ in CLIENTS:
        cpu = _measured(name, spec, jobs_file, work / f"{name}-measured") / jobs * 1000
        shares = _sampled(spy, name, spec, jobs_file, work / name)
        split[name] = {c: round(cpu * shares.get(c, 0.0), 3) for c in CATEGORIES}
        split[name]["total"] = round(cpu, 3)
    for category in (*CATEGORIES, "total"):
        for name, label in CLIENTS:
            outcome.add(f"{category}: {label} CPU per job", split[name][category], "ms")
    outcome.details["split"] = split
    outcome.details["notes"] = [
        f"{jobs:,} jobs, the overhead scenario's running-tasks workload; py-spy at {RATE} Hz. "
        "CPU per job, in ms, by what the sampled stacks were doing (the categories are in "
        "`benchmarks/scenarios/profile.py`):",
        _table(split),
    ]
    return outcome


def _measured(name: str, spec: Path, jobs_file: Path, out: Path) -> float:
    with emulator(RUNNING) as emu:
        argv = client_argv(name, spec, jobs_file, out, emu.base_url)
        result = measure(argv, env=emu.env(), cwd=ROOT)
    assert result.code == 0, f"{name}: {result.stderr[-2000:]}"
    return result.cpu


def _sampled(spy: str, name: str, spec: Path, jobs_file: Path, out: Path) -> dict[str, float]:
    """Each category's share of the client's busy samples."""
    stacks = out.with_suffix(".stacks")
    compiled()
    with emulator(RUNNING) as emu:
        argv = client_argv(name, spec, jobs_file, out, emu.base_url)
        command = [spy, "record", "-r", str(RATE), "--format", "raw", "-o", str(stacks), "--"]
        subprocess.run([*command, *argv], env=emu.env(), cwd=ROOT, check=True, capture_output=True)
    counts = classify(stacks.read_text().splitlines())
    busy = sum(counts.values())
    return {c: n / busy for c, n in counts.items()} if busy else {}


def classify(lines: list[str]) -> Counter[str]:
    """Samples per category from py-spy's raw output (``frame;frame;... count`` a line),
    the samples waiting in the event loop's select left out."""
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or "select (selectors.py" in frames[-1]:
            continue
        counts[category(frames)] += int(count)
    return counts


def category(frames: list[str]) -> str:
    if not any("run_until_complete" in f for f in frames):
        return "start-up and end"
    for name, marks in RULES:
        if any(mark in f for f in frames for mark in marks):
            return name
    return "other"


def _table(split: dict[str, dict[str, float]]) -> str:
    labels = [label for _, label in CLIENTS]
    rows = [
        "| where | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for category in (*CATEGORIES, "total"):
        cells = [f"{split[name][category]:.3f}" for name, _ in CLIENTS]
        shown = f"**{category}**" if category == "total" else category
        rows.append(f"| {shown} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":  # the table of one run, without the rest of the harness
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(quick=False, work=Path(tmp)).details["split"], indent=2))
