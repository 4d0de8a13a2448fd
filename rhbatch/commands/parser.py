"""The command line's argument tree: every command, argument and help text.

``build_parser`` is what ``rhbatch.cli`` parses with, and what ``rhbatch.run``
in Python builds its run's arguments with (``library.py``): one definition of
every flag, its default and its check.
"""

from __future__ import annotations

import argparse
import math
import textwrap
from pathlib import Path
from typing import NoReturn

from rhbatch import __version__
from rhbatch.commands.common import MAX_PROBLEMS
from rhbatch.commands.emulator import PROFILES
from rhbatch.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_JOB_FAILURES,
    EXIT_OK,
    EXIT_SPEND_CAP,
)
from rhbatch.models import OUTPUT_TYPES

DEFAULT_EMULATOR_SPEED = 60.0  # rhbatch run --emulator: a minute-long task takes a second

# What each exit code means, as `rhbatch --help` and the README's table say it.
EXIT_CODES = (
    (EXIT_OK, "ok"),
    (EXIT_JOB_FAILURES, "some jobs did not succeed (failed, unknown, unfetched or blocked)"),
    (
        EXIT_INVALID,
        "invalid input or usage: a bad spec, argument or URL, no such file or directory, "
        "no API key; nothing was sent",
    ),
    (
        EXIT_FATAL,
        "fatal: the API key was refused, no balance, the API unreachable, the disk full, "
        "a state store that cannot be used, an internal error",
    ),
    (EXIT_SPEND_CAP, "stopped at the spending cap (--max-spend)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C, SIGTERM)"),
)
# The documentation, as `rhbatch --help` names it.
DOCS = (
    ("README.md", "the commands, spec files in short, what a run promises"),
    ("docs/spec.md", "spec files in full: matrix, rows, pipelines, spending"),
    ("docs/scale.md", "results as a dataset, object storage, shards"),
    ("docs/report.md", "the gallery, report.html"),
    ("docs/editors.md", "checking specs as you type"),
    ("docs/emulator.md", "the built-in emulator"),
    ("docs/reliability.md", "what happens when things go wrong"),
)
RUN_DIR = "a run's output directory (the --out of `rhbatch run`)"


def epilog() -> str:
    """The end of `rhbatch --help`: the exit codes and where the documentation is."""
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES:
        lines += textwrap.wrap(
            meaning, 78, initial_indent=f"  {code:<5}", subsequent_indent=" " * 7
        )
    lines += ["", "documentation: README.md and docs/ in rhbatch's source"]
    lines += [f"  {name:<21}{what}" for name, what in DOCS]
    lines += ["", "`rhbatch COMMAND --help` tells more of each command."]
    return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """argparse, with its error message (which quotes the argument it refused) scrubbed of
    any credential the command line holds."""

    def error(self, message: str) -> NoReturn:
        from rhbatch.redact import scrub

        super().error(scrub(message))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rhbatch",
        description="Run batches of RunningHub generation jobs from YAML spec files.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rhbatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _command(
        sub,
        "validate",
        "check spec files; nothing is sent",
        "Check spec files completely, as `run` does before it sends anything: their "
        "structure, endpoints, every job they expand to against its endpoint's schema, "
        "local reference files, ids and result paths. Every problem is printed at once, "
        "with its file, line, job and field. Nothing is sent.",
    )
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files (YAML), checked in turn")
    p.add_argument(
        "--max-problems",
        type=int,
        default=MAX_PROBLEMS,
        metavar="N",
        help=f"print at most N problems per spec (0: all; default {MAX_PROBLEMS})",
    )
    _max_jobs_argument(p)

    p = _command(
        sub,
        "plan",
        "show the jobs a spec expands to",
        "Show the jobs a spec expands to: how many per endpoint, the seconds of video, the "
        "price by RunningHub's public price list and the first N jobs; with --out, what a "
        "run into that directory would do. Nothing is sent.",
    )
    p.add_argument("spec", metavar="SPEC", help="the spec file (YAML)")
    p.add_argument(
        "-n",
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="jobs to show in the table (default 20)",
    )
    p.add_argument("--json", action="store_true", help="print every job as JSON")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="compare with what DIR holds: new, changed (field by field), unchanged and "
        "dropped jobs, each group's price and what DIR would then have cost",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="with --out: count failed jobs as run would"
    )
    p.add_argument(
        "--resubmit-unknown",
        action="store_true",
        help="with --out: count unknown jobs as run would",
    )
    _max_jobs_argument(p)

    p = _command(
        sub,
        "run",
        "run a spec's jobs into an output directory (resumable)",
        "Validate and price a spec, then run its jobs: upload local references once, submit "
        "under the account's limit and the spending cap, poll, retry what is transient, "
        "download and checksum every result into the output directory, with manifest.jsonl. "
        "A rerun into the same directory resumes: nothing finished is sent again.",
    )
    _run_arguments(p)

    p = _command(
        sub,
        "status",
        "where a run stands: counts, failures, cost",
        "Where a run stands, from its output directory (also while it runs): its jobs by "
        "status, what to do about failed, unknown, unfetched and blocked jobs, and the money: "
        "quoted against billed, per endpoint.",
    )
    p.add_argument("dir", metavar="DIR", type=run_directory, help=RUN_DIR)
    p.add_argument("--json", action="store_true", help="print it all as one JSON document")

    p = _command(
        sub,
        "report",
        "write a run's gallery, DIR/report.html (opens offline)",
        "Write DIR/report.html from a run's manifest (every run also does): a card per job "
        "with its images, videos, sounds and texts, its prompt, parameters, status and cost. "
        "One file, which opens offline from the disk (docs/report.md).",
    )
    p.add_argument("dir", metavar="DIR", type=run_directory, help=RUN_DIR)

    p = _command(
        sub,
        "verify",
        "hash a run's files again and compare with the record",
        "Hash every result file of a run again (earlier versions in history/ too) and "
        "compare each with its recorded size and SHA-256; name the jobs whose files could "
        "not be fetched. Exit 1 if anything is missing, corrupt or unfetched.",
    )
    p.add_argument(
        "dir",
        metavar="DIR",
        type=run_location,
        help="a run's output directory, or the object storage URL it ran into (s3://...)",
    )

    p = _command(
        sub,
        "export",
        "a run's results as one table (JSON Lines, CSV, Parquet)",
        "Write a run's results as one table, a row per result file, with the columns of "
        "metadata.jsonl (docs/scale.md).",
    )
    p.add_argument("dir", metavar="DIR", type=run_directory, help=RUN_DIR)
    p.add_argument(
        "--format",
        choices=("jsonl", "csv", "parquet"),
        default="jsonl",
        help="the table's format: jsonl, csv or parquet (which needs pyarrow; default jsonl)",
    )
    p.add_argument("--to", metavar="FILE", help="where to write it (default DIR/results.FORMAT)")
    p.add_argument(
        "--history",
        action="store_true",
        help="also the files of earlier versions of changed jobs (history/), current=false",
    )
    p.add_argument(
        "--keep-formulas",
        action="store_true",
        help="CSV: write text that starts with = + - @ as it is (by default such a cell gets "
        "a leading ' so that a spreadsheet shows it rather than running it)",
    )
    p.add_argument(
        "--spread-params",
        action="store_true",
        help="also a column per parameter, param.NAME (params stays the JSON of them all)",
    )

    p = _command(
        sub,
        "merge",
        "join the output directories of a spec's shards, and prove nothing is missing",
        "Join the output directories of a spec's shards (`rhbatch run SPEC --shard I/N`) "
        "into one, and prove that every job the spec plans has exactly one record "
        "(docs/scale.md).",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="the shards' output directories")
    p.add_argument("--out", required=True, metavar="DIR", help="where the merged results go")
    p.add_argument(
        "--spec", metavar="SPEC", help="the spec the shards ran (default: the one they name)"
    )
    p.add_argument(
        "--no-files",
        action="store_true",
        help="merge the manifests and metadata only; leave the files in the shards' directories",
    )

    p = _command(
        sub,
        "cancel",
        "cancel a run's tasks still in flight",
        "Cancel the tasks of a run that are still in flight on RunningHub (running, or "
        "unknown with a task). The next `rhbatch run` records their final status.",
    )
    p.add_argument("dir", metavar="DIR", type=run_directory, help=RUN_DIR)
    _connection_arguments(p)

    p = _command(
        sub,
        "attach",
        "give an unknown job the task its lost submit made (found in RunningHub's console)",
        "Give a job the task its lost submit made (a job left unknown: find the task in "
        "RunningHub's console): the task's results are fetched into the run's directory; "
        "nothing is submitted.",
    )
    p.add_argument("dir", metavar="DIR", type=run_directory, help=RUN_DIR)
    p.add_argument("job", metavar="JOB", help="the job's id, as the manifest shows it")
    p.add_argument(
        "task_id",
        metavar="TASK_ID",
        help="the task's id (digits), as RunningHub's console shows it",
    )
    _connection_arguments(p)

    p = _command(
        sub,
        "pin",
        "fetch a workflow's or AI app's inputs into pins/ (to commit beside the spec)",
        "Fetch a ComfyUI workflow's graph or an AI app's inputs from RunningHub into "
        "DIR/pins/, to commit beside the spec: its jobs are then checked offline, node by "
        "node. Nothing is run.",
    )
    p.add_argument(
        "kind", choices=("workflow", "app"), help="what ID names: a workflow, or an AI app"
    )
    p.add_argument("id", metavar="ID", help="the workflow id, or the app's webappId")
    p.add_argument(
        "--dir",
        metavar="DIR",
        default=".",
        help="the spec's directory: the pin goes to DIR/pins/ (default: here)",
    )
    p.add_argument(
        "--emulator", action="store_true", help="ask the built-in emulator (its sample workflows)"
    )
    _connection_arguments(p)

    p = _command(
        sub,
        "endpoints",
        "list the endpoints rhbatch knows",
        "List the endpoints rhbatch knows (their schemas ship with it), narrowed by task, "
        "output type and words of their names.",
    )
    p.add_argument("search", nargs="*", metavar="SEARCH", help="words that must all match")
    p.add_argument("--task", metavar="T", help="e.g. reference-to-video, text-to-image")
    p.add_argument(
        "--output-type",
        metavar="O",
        choices=OUTPUT_TYPES,
        help="video, image, audio, 3d or string",
    )
    p.add_argument("--json", action="store_true", help="print them as JSON")

    p = _command(
        sub,
        "schema",
        "show the parameters of an endpoint, or the spec schema",
        "Show an endpoint's parameters: types, defaults, allowed values, media limits. "
        "With --spec, the JSON Schema of spec files, for editors (docs/editors.md).",
    )
    p.add_argument(
        "endpoint",
        metavar="ENDPOINT",
        nargs="?",
        help="an endpoint, by any name `rhbatch endpoints` lists",
    )
    p.add_argument("--json", action="store_true", help="print the JSON Schema itself")
    p.add_argument(
        "--spec", action="store_true", help="print the JSON Schema of spec files (for editors)"
    )
    p.add_argument(
        "--write", metavar="PATH", help="write the spec files' schema to PATH (implies --spec)"
    )

    p = _command(
        sub,
        "new",
        "print a starter spec for an endpoint, or a pinned workflow or app",
        "Print (or write) a starter spec. For an endpoint: every parameter on its own line "
        "with its type, allowed values, media limits and default; the required ones set, "
        "TODOs where only you can say (validation refuses the spec until they are filled). "
        "For a pinned workflow or app: every input NODE.FIELD at its pinned value.",
    )
    p.add_argument("target", metavar="ENDPOINT|workflow|app", help="an endpoint, or workflow/app")
    p.add_argument("id", nargs="?", metavar="ID", help="the workflow's or app's id (pinned)")
    p.add_argument("--dir", metavar="DIR", help="workflow/app: the spec's directory, with pins/")
    p.add_argument("--out", metavar="FILE", help="write the spec to FILE instead of printing it")
    p.add_argument("--force", action="store_true", help="with --out: replace an existing FILE")

    p = _command(
        sub,
        "emulator",
        "serve a local RunningHub API (for tests and rehearsals)",
        "Serve a local RunningHub API, with accounts, a time scale and faults, until Ctrl-C: "
        "point RUNNINGHUB_BASE_URL at it to rehearse a batch without paying "
        "(docs/emulator.md).",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=8484, help="0 picks a free port (default 8484)")
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default="clean",
        help="faults: clean (none), flaky (transient), chaos (everything)",
    )
    p.add_argument("--config", metavar="FILE", help="JSON or YAML settings (see docs/emulator.md)")
    p.add_argument("--speed", type=positive, help="time scale: 100 makes a 60 s task take 0.6 s")
    p.add_argument("--seed", type=int, help="fault and duration dice (default 0)")
    p.add_argument("--key", help="the API key to accept (default: a fixed test key)")
    p.add_argument(
        "--state",
        metavar="DIR",
        help="keep tasks and uploads in DIR, taken up again by the next emulator started on it",
    )
    return parser


def _command(sub: argparse._SubParsersAction[Parser], name: str, short: str, long: str) -> Parser:
    """A subcommand: ``short`` is its line in `rhbatch --help`, ``long`` heads its own."""
    return sub.add_parser(name, help=short, description=long)


def _connection_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="API base URL (default $RUNNINGHUB_BASE_URL or https://www.runninghub.ai)",
    )
    p.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="environment variable holding the API key "
        "(default RUNNINGHUB_API_KEY, then RH_API_KEY)",
    )


def _max_jobs_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-jobs",
        type=int,
        metavar="N",
        help="refuse a spec that expands to more than N jobs (default: its run.max_jobs, "
        "else 1,000,000)",
    )


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="the spec file (YAML)")
    _max_jobs_argument(p)
    p.add_argument(
        "--out",
        metavar="DIR|URL",
        help="output directory (default: the spec's output.dir, else ./out/<name>), or an "
        "object storage URL (s3://bucket/path, gs://, az://, file://)",
    )
    p.add_argument(
        "--state",
        metavar="DIR",
        help="with --out URL: where the state and local copies live "
        "(default ~/.cache/rhbatch/<name>-<hash>)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="most tasks in flight (also capped by the spec and the account)",
    )
    p.add_argument(
        "--emulator",
        action="store_true",
        help="run against the built-in emulator, in this process; its tasks are kept in "
        "DIR/.rhbatch/emulator/, so a rerun finds them",
    )
    p.add_argument(
        "--emulator-speed",
        type=positive,
        default=DEFAULT_EMULATOR_SPEED,
        metavar="X",
        help=f"the emulator's time scale (default {DEFAULT_EMULATOR_SPEED:g}: "
        "a minute-long task takes a second)",
    )
    p.add_argument(
        "--emulator-profile",
        default="clean",
        choices=PROFILES,
        help="the emulator's faults: clean (none, the default), flaky (transient), "
        "chaos (everything)",
    )
    _connection_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="show what would run; send nothing")
    p.add_argument(
        "--webhook-listen",
        metavar="[HOST:]PORT",
        help="receive RunningHub's TASK_END webhooks here (port 0: any free port); "
        "polling stays on as a safety net",
    )
    p.add_argument(
        "--webhook-url",
        metavar="URL",
        help="the public URL that reaches --webhook-listen (default: the listening address)",
    )
    p.add_argument(
        "--no-download",
        action="store_true",
        help="record result URLs in the manifest but fetch no file (also run.download: false)",
    )
    p.add_argument(
        "--resubmit-unknown",
        action="store_true",
        help="submit again jobs whose earlier submit got no answer "
        "(a task may exist: it may be paid twice)",
    )
    p.add_argument("--retry-failed", action="store_true", help="run failed jobs again")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (0-based) of the jobs, split by their ids: one per worker "
        "of a Kubernetes Indexed Job, a Slurm array or a CI matrix; `rhbatch merge` joins them",
    )
    p.add_argument(
        "--max-spend",
        type=float,
        metavar="CNY",
        help="the most the batch may be billed in all, over every run into its directory "
        "(also run.max_spend): at the cap nothing more is submitted (exit 4)",
    )
    p.add_argument(
        "--allow-unpriced",
        action="store_true",
        help="under a spending cap, also run jobs no price is known for",
    )
    p.add_argument(
        "--quote",
        choices=("list", "online"),
        help="the price before the run: the public price list (default), or also "
        "RunningHub's price preview (online; also run.quote)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")
    p.add_argument(
        "--log-json", action="store_true", help="progress as one JSON object per event on stderr"
    )


def positive(text: str) -> float:
    """An argument that must be a finite number above 0 (not 'nan' nor 'inf')."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def run_directory(text: str) -> str:
    """A DIR argument naming a run's output directory: one that is there (a usage error,
    exit 2, otherwise); whether it holds a run is the command's to say."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(
            f"no such directory: {text} (give the output directory of a run, "
            "the --out of `rhbatch run`)"
        )
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"not a directory: {text}")
    return text


def run_location(text: str) -> str:
    """A run's output directory, or the object storage URL it ran into (s3://...)."""
    from rhbatch.store.remote import is_url

    return text if is_url(text) else run_directory(text)
