"""The command line: the argument tree, dispatch, and the one error boundary.

Each subcommand is ``run(args) -> int`` in ``rhbatch/commands/<name>.py``,
imported only when that command runs (so ``validate`` does not load aiohttp or
sqlite3). Only this module turns exceptions
into messages and exit codes: 0 ok, 1 some jobs failed, 2 invalid input or
usage, 3 fatal (auth, funds, state), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import math
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from rhbatch import __version__
from rhbatch.commands.common import MAX_PROBLEMS, print_problems
from rhbatch.commands.emulator import PROFILES
from rhbatch.errors import EXIT_FATAL, EXIT_INTERRUPTED, InvalidInput, RhbatchError
from rhbatch.models import OUTPUT_TYPES

DEFAULT_EMULATOR_SPEED = 60.0  # rhbatch run --emulator: a minute-long task takes a second


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
    )
    parser.add_argument("--version", action="version", version=f"rhbatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="check spec files; nothing is sent")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument(
        "--max-problems",
        type=int,
        default=MAX_PROBLEMS,
        metavar="N",
        help=f"print at most N problems per spec (0: all; default {MAX_PROBLEMS})",
    )
    _max_jobs_argument(p)

    p = sub.add_parser("plan", help="show the jobs a spec expands to")
    p.add_argument("spec", metavar="SPEC")
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
    p.add_argument("--retry-failed", action="store_true", help="with --out: as run would")
    p.add_argument("--resubmit-unknown", action="store_true", help="with --out: as run would")
    _max_jobs_argument(p)

    p = sub.add_parser("run", help="run a spec's jobs into an output directory (resumable)")
    _run_arguments(p)

    p = sub.add_parser("status", help="where a run stands: counts, failures, cost")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("report", help="write a run's gallery, DIR/report.html (opens offline)")
    p.add_argument("dir", metavar="DIR")

    p = sub.add_parser("verify", help="hash a run's files again and compare with the record")
    p.add_argument("dir", metavar="DIR")

    p = sub.add_parser("export", help="a run's results as one table (JSON Lines, CSV, Parquet)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--format", choices=("jsonl", "csv", "parquet"), default="jsonl")
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

    p = sub.add_parser(
        "merge", help="join the output directories of a spec's shards, and prove nothing is missing"
    )
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--out", required=True, metavar="DIR", help="where the merged results go")
    p.add_argument(
        "--spec", metavar="SPEC", help="the spec the shards ran (default: the one they name)"
    )
    p.add_argument(
        "--no-files",
        action="store_true",
        help="merge the manifests and metadata only; leave the files in the shards' directories",
    )

    p = sub.add_parser("cancel", help="cancel a run's tasks still in flight")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--base-url", metavar="URL")
    p.add_argument("--api-key-env", metavar="NAME")

    p = sub.add_parser(
        "attach",
        help="give an unknown job the task its lost submit made (found in RunningHub's console)",
    )
    p.add_argument("dir", metavar="DIR")
    p.add_argument("job", metavar="JOB", help="the job's id, as the manifest shows it")
    p.add_argument("task_id", metavar="TASK_ID")
    p.add_argument("--base-url", metavar="URL")
    p.add_argument("--api-key-env", metavar="NAME")

    p = sub.add_parser(
        "pin",
        help="fetch a workflow's or AI app's inputs into pins/ (to commit beside the spec)",
    )
    p.add_argument("kind", choices=("workflow", "app"))
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
    p.add_argument("--base-url", metavar="URL")
    p.add_argument("--api-key-env", metavar="NAME")

    p = sub.add_parser("endpoints", help="list the endpoints rhbatch knows")
    p.add_argument("search", nargs="*", metavar="SEARCH", help="words that must all match")
    p.add_argument("--task", metavar="T", help="e.g. reference-to-video, text-to-image")
    p.add_argument(
        "--output-type",
        metavar="O",
        choices=OUTPUT_TYPES,
        help="video, image, audio, 3d or string",
    )
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("schema", help="show the parameters of an endpoint, or the spec schema")
    p.add_argument("endpoint", metavar="ENDPOINT", nargs="?")
    p.add_argument("--json", action="store_true", help="print the JSON Schema itself")
    p.add_argument(
        "--spec", action="store_true", help="print the JSON Schema of spec files (for editors)"
    )
    p.add_argument(
        "--write", metavar="PATH", help="write the spec files' schema to PATH (implies --spec)"
    )

    p = sub.add_parser(
        "new", help="print a starter spec for an endpoint, or a pinned workflow or app"
    )
    p.add_argument("target", metavar="ENDPOINT|workflow|app", help="an endpoint, or workflow/app")
    p.add_argument("id", nargs="?", metavar="ID", help="the workflow's or app's id (pinned)")
    p.add_argument("--dir", metavar="DIR", help="workflow/app: the spec's directory, with pins/")
    p.add_argument("--out", metavar="FILE", help="write the spec to FILE instead of printing it")
    p.add_argument("--force", action="store_true", help="with --out: replace an existing FILE")

    p = sub.add_parser("emulator", help="serve a local RunningHub API (for tests and rehearsals)")
    p.add_argument("--host", default="127.0.0.1")
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


def _max_jobs_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-jobs",
        type=int,
        metavar="N",
        help="refuse a spec that expands to more than N jobs (default: its run.max_jobs, "
        "else 1,000,000)",
    )


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC")
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
    p.add_argument("--emulator-profile", default="clean", choices=PROFILES)
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


def main(argv: Sequence[str] | None = None) -> int:
    from rhbatch.redact import keep_secret, scrub, userinfo

    parser = build_parser()
    process = argv is None  # the process's own command line (not a caller in Python)
    argv = list(sys.argv[1:] if argv is None else argv)
    for arg in argv:  # s3://KEY:SECRET@bucket, in any argument: never shown, in any form
        for secret in userinfo(arg.split("=", 1)[-1] if arg.startswith("--") else arg):
            keep_secret(secret)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error (2)
        return int(exc.code or 0)
    args.argv = argv
    args.process = process
    try:
        from rhbatch import logfile

        logfile.use(None)  # until the command knows its output directory
        # Each command's module is loaded when it runs: `validate` does not pay for aiohttp.
        command = importlib.import_module(f"rhbatch.commands.{args.command}")
        code: int = command.run(args)
        return code
    except InvalidInput as exc:
        print_problems(exc.problems, getattr(args, "max_problems", MAX_PROBLEMS))
        return exc.exit_code
    except RhbatchError as exc:
        print(f"rhbatch: error: {scrub(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rhbatch: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `rhbatch plan --json | head`
        sys.stderr.close()
        return 0
    except OSError as exc:
        if exc.filename is None:  # not about a file: a fault of rhbatch's own
            return internal_error(args.command, exc)
        # A file the machine refused (no such directory, no room, no permission): said plainly.
        where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "")
        print(f"rhbatch: error: {scrub(where)}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FATAL
    except Exception as exc:  # a fault of rhbatch itself: one line here, the rest in the log
        return internal_error(args.command, exc)


def internal_error(command: str, exc: BaseException) -> int:
    """Log the traceback of a fault of rhbatch, tell the user in one line: exit 3."""
    from rhbatch import logfile
    from rhbatch.redact import clean

    where = logfile.record(f"rhbatch {command}", exc)
    detail = f"the details are in {where}" if where is not None else "no log could be written"
    print(
        f"rhbatch: internal error ({clean(f'{type(exc).__name__}: {exc}', 300)}); {detail}. "
        "This is a fault of rhbatch; nothing more was sent. Please report it.",
        file=sys.stderr,
    )
    return EXIT_FATAL


def main_exit() -> NoReturn:
    code = main()
    # The command is over: a late Ctrl-C must not end it with a traceback after all.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
