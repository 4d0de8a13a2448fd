"""rhbatch from Python: run, validate and plan specs, and read what a run made.

The functions here are what ``import rhbatch`` offers (see ``rhbatch/__init__.py``
and docs/library.md). They drive the same engine as the command line: a run
from Python and ``rhbatch run`` make the same output directory, the same state,
and pay nothing twice across each other.

A spec is a path to a YAML file, or a dict shaped like one. A dict is written
next to the work it belongs to, as ``.<name>.rhbatch-spec.yaml`` in the current
directory (so that its relative paths mean what they mean there, and the run
records the exact spec it ran, as for a file).

``run`` blocks until the batch ends, also where an event loop is already
running (Jupyter): the batch then runs on a thread of its own, and interrupting
the kernel stops it as Ctrl-C stops ``rhbatch run`` (a second interrupt stops at
once). ``await run_async(...)`` is the same for async code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhbatch.errors import EXIT_INTERRUPTED, InvalidInput, Problem, UsageError
from rhbatch.runner.events import Event
from rhbatch.runner.plan import Planned
from rhbatch.runs import Job, Run, open_run

SpecLike = str | Path | Mapping[str, Any]
EventHandler = Callable[[Event], None]

__all__ = [
    "InvalidSpec",
    "Job",
    "Run",
    "Validation",
    "open_run",
    "plan",
    "run",
    "run_async",
    "validate",
]


class InvalidSpec(InvalidInput):
    """A spec with problems. ``.problems`` lists every one (``rhbatch.Problem``: file,
    line, job, field, message; ``suggestion`` where there is a did-you-mean), the same
    findings ``rhbatch validate`` prints; ``str()`` of each is the line it prints."""


def suggestion(problem: Problem) -> str | None:
    """The did-you-mean of a problem, if it has one."""
    found = re.search(r"did you mean (.+?)\?", problem.message)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Validation:
    """A valid spec: how many jobs, on which endpoints, what they would cost."""

    spec: Path
    name: str
    jobs: int
    endpoints: Mapping[str, int]  # endpoint path -> jobs
    estimated_cost: float | None  # CNY by the public price list; None: no job has a price
    unpriced_jobs: int
    local_files: tuple[str, ...]


# --- specs -------------------------------------------------------------------------------


def _spec_path(spec: SpecLike) -> Path:
    """The spec as a file: a path as it is; a dict written as YAML in the current directory."""
    if isinstance(spec, str | Path):
        return Path(spec)
    if not isinstance(spec, Mapping):
        raise UsageError(f"a spec is a path or a dict, not {type(spec).__name__}")
    from rhbatch.spec import yaml_source

    name = str(spec.get("name") or "spec")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "spec"
    path = Path(f".{safe}.rhbatch-spec.yaml")
    text = yaml_source.dump(json.loads(json.dumps(dict(spec))))
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def _invalid(problems: list[Problem], summary: str | None = None) -> InvalidSpec:
    return InvalidSpec(problems, summary)


def validate(spec: SpecLike, *, max_jobs: int | None = None) -> Validation:
    """Check a spec completely; nothing is sent. ``InvalidSpec`` lists every problem."""
    from rhbatch.endpoints.registry import registry
    from rhbatch.spec.validate import check_spec

    path = _spec_path(spec)
    try:
        report = check_spec(path, registry(), max_jobs=max_jobs)
    except InvalidInput as exc:
        raise _invalid(exc.problems, exc.summary) from None
    if report.problems:
        raise _invalid(report.problems)
    amount = None if report.jobs and report.unpriced == report.jobs else round(report.cost, 4)
    return Validation(
        spec=path,
        name=report.spec.name,
        jobs=report.jobs,
        endpoints=dict(report.per_endpoint),
        estimated_cost=amount,
        unpriced_jobs=report.unpriced,
        local_files=tuple(sorted(report.local_files)),
    )


def plan(spec: SpecLike, *, out: str | Path | None = None) -> Planned:
    """What a run of ``spec`` into ``out`` would do, and cost: new, changed, to run and
    unchanged jobs (``Planned``); nothing is sent."""
    from rhbatch.commands.plan_report import plan_against
    from rhbatch.commands.run_request import output_dir
    from rhbatch.endpoints.registry import registry
    from rhbatch.spec.spool import Spool
    from rhbatch.spec.validate import check_spec

    path = _spec_path(spec)
    reg = registry()
    with Spool(reg) as jobs:  # the spec expanded once: validated, then planned
        try:
            report = check_spec(path, reg, on_job=jobs.add)
        except InvalidInput as exc:
            raise _invalid(exc.problems, exc.summary) from None
        if report.problems:
            raise _invalid(report.problems)
        where = output_dir(str(out) if out is not None else None, report.spec)
        return plan_against(jobs, where)


# --- runs --------------------------------------------------------------------------------

# The options of run(), and the flag of `rhbatch run` each stands for.
_FLAGS = {
    "out": "--out",
    "state": "--state",
    "concurrency": "--concurrency",
    "max_spend": "--max-spend",
    "max_jobs": "--max-jobs",
    "shard": "--shard",
    "base_url": "--base-url",
    "emulator_speed": "--emulator-speed",
    "emulator_profile": "--emulator-profile",
    "webhook_listen": "--webhook-listen",
    "webhook_url": "--webhook-url",
}
_SWITCHES = {
    "emulator": "--emulator",
    "retry_failed": "--retry-failed",
    "resubmit_unknown": "--resubmit-unknown",
}


def _arguments(path: Path, options: Mapping[str, Any]) -> argparse.Namespace:
    from rhbatch.commands.parser import build_parser

    argv = ["run", str(path)]
    for name, value in options.items():
        if name in _FLAGS:
            if value is not None:
                argv += [_FLAGS[name], str(value)]
        elif name in _SWITCHES:
            if value:
                argv.append(_SWITCHES[name])
        elif name not in ("progress", "on_event", "api_key"):
            known = sorted([*_FLAGS, *_SWITCHES, "progress", "on_event", "api_key"])
            raise TypeError(f"run() got an unknown option {name!r}; options: {', '.join(known)}")
    if not options.get("progress", True):
        argv.append("--quiet")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        raise UsageError(f"run(): invalid options {dict(options)!r}") from None
    args.argv = argv
    args.on_event = options.get("on_event")
    return args


class _Stop:
    """What an interrupt of the caller does to a run on a thread: as a signal would."""

    def __init__(self) -> None:
        self.interrupts: Any = None


def _run_blocking(spec: SpecLike, options: Mapping[str, Any], stop: _Stop) -> Run:
    from rhbatch.api import credentials
    from rhbatch.commands.run import run_request
    from rhbatch.commands.run_request import RunRequest
    from rhbatch.commands.signals import Interrupts

    path = _spec_path(spec)
    args = _arguments(path, options)
    token = credentials.GIVEN_KEY.set(options.get("api_key"))
    quiet = not options.get("progress", True)
    said = io.StringIO()
    try:
        with contextlib.ExitStack() as stack:
            if quiet:  # the summary and the notes, kept for Run.log instead
                stack.enter_context(contextlib.redirect_stdout(said))
            interrupts = stack.enter_context(Interrupts())
            stop.interrupts = interrupts
            try:
                finished = run_request(RunRequest.of(args), interrupts)
            except InvalidInput as exc:
                raise _invalid(exc.problems, exc.summary) from None
    finally:
        credentials.GIVEN_KEY.reset(token)
    code, where = finished.code, finished.out_dir
    result = Run(where, exit_code=code, url=finished.url)
    result.log = said.getvalue()
    if code == EXIT_INTERRUPTED:
        raise KeyboardInterrupt(
            f"the run was interrupted; rhbatch.run() again resumes it ({where})"
        )
    return result


def run(spec: SpecLike, **options: Any) -> Run:
    """Run a batch to its end and return it (``Run``). ``spec``: a path, or a dict shaped
    like the YAML. Options are ``rhbatch run``'s flags: ``out``, ``state``,
    ``concurrency``, ``max_spend``, ``max_jobs``, ``shard`` ("I/N"), ``emulator``
    (True: the built-in emulator), ``emulator_speed``, ``emulator_profile``,
    ``base_url``, ``api_key`` (else $RUNNINGHUB_API_KEY), ``retry_failed``,
    ``resubmit_unknown``, ``webhook_listen``, ``webhook_url``; and ``progress``
    (False: nothing printed, the summary in ``Run.log``), ``on_event`` (called with
    each ``rhbatch.Event``, see docs/events.md). A bad spec raises ``InvalidSpec``
    before anything is sent; a stop (no money, a rejected key, a full disk) raises
    the error rhbatch would exit with; jobs that failed do not raise: see
    ``Run.counts`` and ``Run.exit_code``."""
    if options.get("dry_run"):
        raise UsageError("run(dry_run=True): rhbatch.plan(spec, out=...) returns the plan")
    stop = _Stop()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        if threading.current_thread() is threading.main_thread():
            return _run_blocking(spec, options, stop)  # signals reach it as in the CLI
    return _on_thread(spec, options, stop)


def _on_thread(spec: SpecLike, options: Mapping[str, Any], stop: _Stop) -> Run:
    """Run on a thread of its own (an event loop is running here: Jupyter); an interrupt
    of this thread is passed on as the signal it stands for."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["run"] = _run_blocking(spec, options, stop)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="rhbatch-run", daemon=True)
    thread.start()
    while thread.is_alive():
        try:
            thread.join(0.1)
        except KeyboardInterrupt:
            if stop.interrupts is not None:
                stop.interrupts.interrupt()
            print("rhbatch: stopping (interrupt again to stop at once)", file=sys.stderr)
    if "error" in box:
        raise box["error"]
    result: Run = box["run"]
    return result


async def run_async(spec: SpecLike, **options: Any) -> Run:
    """``run`` for async code: ``await rhbatch.run_async(spec, emulator=True)``. The
    batch runs on a thread of its own; the caller's event loop goes on meanwhile."""
    if options.get("dry_run"):
        raise UsageError("run(dry_run=True): rhbatch.plan(spec, out=...) returns the plan")
    return await asyncio.to_thread(_run_blocking, spec, options, _Stop())
