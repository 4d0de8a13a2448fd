"""``rhbatch run SPEC``: validate, then run the batch into an output directory, resumably.

Validation comes first: nothing is sent unless every job is valid. The jobs
are then merged into the directory's state store (a rerun is a resume: done
jobs are skipped without a request, running tasks are polled again, missing
files fetched again) and the runner works through the rest. ``--emulator``
starts the built-in emulator in this process and runs against it over real
HTTP; nothing else differs from a run against RunningHub.

Three steps, one module each: the command line read once (``run_request.py``),
the prepare step that sends nothing (``run_prepare.py``: the spec validated and
expanded once, the store brought up to it) and the execute step
(``run_execute.py``). ``rhbatch.run`` calls the same ``run_request``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

from rhbatch.commands.common import plural
from rhbatch.commands.connection import connect
from rhbatch.commands.run_execute import execute
from rhbatch.commands.run_prepare import Checked, checked, prepared, ready
from rhbatch.commands.run_report import dry_run
from rhbatch.commands.run_request import RunRequest, output_dir, resume_command
from rhbatch.commands.signals import Interrupts
from rhbatch.commands.spend import preview_lines
from rhbatch.errors import EXIT_FATAL, EXIT_JOB_FAILURES, EXIT_OK
from rhbatch.models import JobStatus
from rhbatch.runner.progress import outlets
from rhbatch.runner.quote import Priced, money, preview

__all__ = ["Finished", "output_dir", "resume_command", "run", "run_request"]


@dataclass(frozen=True)
class Finished:
    """How a run ended: its exit code, and where its state is."""

    code: int
    out_dir: Path
    url: str | None = None  # --out was this object storage URL (shown without credentials)


def run(args: argparse.Namespace) -> int:
    # A reader who stops reading (| head) fails no job, changes no exit code; Ctrl-C and
    # SIGTERM are handled from the first line to the last (signals.py).
    # The process's own command keeps its handler to the exit (a late signal is not a kill).
    request = RunRequest.of(args)
    with outlets(), Interrupts(linger=request.process) as interrupts:
        return run_request(request, interrupts).code


def run_request(request: RunRequest, interrupts: Interrupts | None) -> Finished:
    """Validate, prepare and execute one run (or only plan it, with --dry-run)."""
    with checked(request) as check:
        url = check.remote.shown if check.remote is not None else None
        if request.dry_run:
            return Finished(_dry_run(check), check.out_dir, url)
        sharder = ready(check)
        with prepared(check, sharder) as run:
            code, note = execute(run, interrupts)
            counts = run.store.counts()
    remote = check.remote
    if remote is not None:
        problems = remote.put_meta(check.out_dir)
        for problem in problems:
            print(f"rhbatch: {problem}", file=sys.stderr)
        if problems and code == EXIT_OK:
            code, note = EXIT_FATAL, note or "the results could not all be put in --out"
        failed = remote.put_failed + len(problems)
        print(
            f"put in: {remote.shown} (state: {check.out_dir}): "
            f"{plural(remote.put_ok, 'result file')} put this run, {failed} failed"
            + ("" if not failed else "; run again to put them")
        )
    if note:
        print(f"rhbatch: {note}", file=sys.stderr)
    if code == EXIT_OK and counts.get(JobStatus.SUCCEEDED, 0) != sum(counts.values()):
        code = EXIT_JOB_FAILURES
    return Finished(code, check.out_dir, url)


def _dry_run(check: Checked) -> int:
    """``run --dry-run``: the plan against the directory; with ``--quote online`` also
    RunningHub's price preview of the jobs a run would submit."""
    code, todo = dry_run(
        check.spec, check.registry, check.jobs, check.out_dir, check.request.args, check.spend.cap
    )
    if check.spend.online and todo:
        asyncio.run(_preview_only(check, todo))
    return code


async def _preview_only(check: Checked, jobs: list[Priced]) -> None:
    """RunningHub's price preview, and nothing else."""
    reg = check.registry
    async with contextlib.AsyncExitStack() as stack:
        client, _ = await connect(check.request.args, stack)
        answer, quotes = await preview(client, reg, jobs)
    for line in preview_lines(answer, reg, len(jobs)):
        print(line.removeprefix("rhbatch: "))
    total = round(sum(amount or 0.0 for _, amount, _ in quotes), 4)
    print(f"quote with the price preview: {money(total)}; nothing was run (--dry-run)")
