"""The command line's argument tree: every command, argument and help text.

``build_parser`` is what ``rhbatch.cli`` parses with, and what ``rhbatch.run``
in Python builds its run's arguments with (``library.py``): one definition of
every flag, its default and its check. Arguments several commands take are
``arguments.py``'s, those of `rhbatch run` ``run_arguments.py``'s, and the end of
`rhbatch --help` (exit codes, documentation) ``usage.py``'s.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from rhbatch.commands.arguments import (
    connection_arguments,
    max_jobs_argument,
    positive,
    run_dir_argument,
    run_location,
    switch,
)
from rhbatch.commands.common import MAX_PROBLEMS
from rhbatch.commands.emulator import PROFILES
from rhbatch.commands.run_arguments import DEFAULT_EMULATOR_SPEED, run_arguments
from rhbatch.commands.usage import EXIT_CODES, epilog
from rhbatch.models import OUTPUT_TYPES
from rhbatch.version import __version__

# Named here too, for those who import them from the argument tree's module.
__all__ = ["DEFAULT_EMULATOR_SPEED", "EXIT_CODES", "Parser", "build_parser", "positive"]


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

    def command(name: str, short: str, long: str) -> Parser:
        """A subcommand: ``short`` is its line in `rhbatch --help`, ``long`` heads its own."""
        return sub.add_parser(name, help=short, description=long)

    p = command(
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
    max_jobs_argument(p)

    p = command(
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
    switch(p, "--json", "print every job as JSON")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="compare with what DIR holds: new, changed (field by field), unchanged and "
        "dropped jobs, each group's price and what DIR would then have cost",
    )
    switch(p, "--retry-failed", "with --out: count failed jobs as run would")
    switch(p, "--resubmit-unknown", "with --out: count unknown jobs as run would")
    max_jobs_argument(p)

    p = command(
        "run",
        "run a spec's jobs into an output directory (resumable)",
        "Validate and price a spec, then run its jobs: upload local references once, submit "
        "under the account's limit and the spending cap, poll, retry what is transient, "
        "download and checksum every result into the output directory, with manifest.jsonl. "
        "A rerun into the same directory resumes: nothing finished is sent again.",
    )
    run_arguments(p)

    p = command(
        "status",
        "where a run stands: counts, failures, cost",
        "Where a run stands, from its output directory (also while it runs): its jobs by "
        "status, what to do about failed, unknown, unfetched and blocked jobs, and the money: "
        "quoted against billed, per endpoint.",
    )
    run_dir_argument(p)
    switch(p, "--json", "print it all as one JSON document")

    p = command(
        "report",
        "write a run's gallery, DIR/report.html (opens offline)",
        "Write DIR/report.html from a run's manifest (every run also does): a card per job "
        "with its images, videos, sounds and texts, its prompt, parameters, status and cost. "
        "One file, which opens offline from the disk (docs/report.md).",
    )
    run_dir_argument(p)

    p = command(
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

    p = command(
        "export",
        "a run's results as one table (JSON Lines, CSV, Parquet)",
        "Write a run's results as one table, a row per result file, with the columns of "
        "metadata.jsonl (docs/scale.md).",
    )
    run_dir_argument(p)
    p.add_argument(
        "--format",
        choices=("jsonl", "csv", "parquet"),
        default="jsonl",
        help="the table's format: jsonl, csv or parquet (which needs pyarrow; default jsonl)",
    )
    p.add_argument("--to", metavar="FILE", help="where to write it (default DIR/results.FORMAT)")
    switch(
        p,
        "--history",
        "also the files of earlier versions of changed jobs (history/), current=false",
    )
    switch(
        p,
        "--keep-formulas",
        "CSV: write text that starts with = + - @ as it is (by default such a cell gets "
        "a leading ' so that a spreadsheet shows it rather than running it)",
    )
    switch(
        p,
        "--spread-params",
        "also a column per parameter, param.NAME (params stays the JSON of them all)",
    )

    p = command(
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
    switch(
        p,
        "--no-files",
        "merge the manifests and metadata only; leave the files in the shards' directories",
    )

    p = command(
        "cancel",
        "cancel a run's tasks still in flight",
        "Cancel the tasks of a run that are still in flight on RunningHub (running, or "
        "unknown with a task). The next `rhbatch run` records their final status.",
    )
    run_dir_argument(p)
    connection_arguments(p)

    p = command(
        "attach",
        "give an unknown job the task its lost submit made (found in RunningHub's console)",
        "Give a job the task its lost submit made (a job left unknown: find the task in "
        "RunningHub's console): the task's results are fetched into the run's directory; "
        "nothing is submitted.",
    )
    run_dir_argument(p)
    p.add_argument("job", metavar="JOB", help="the job's id, as the manifest shows it")
    p.add_argument(
        "task_id",
        metavar="TASK_ID",
        help="the task's id (digits), as RunningHub's console shows it",
    )
    connection_arguments(p)

    p = command(
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
    switch(p, "--emulator", "ask the built-in emulator (its sample workflows)")
    connection_arguments(p)

    p = command(
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
    switch(p, "--json", "print them as JSON")

    p = command(
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
    switch(p, "--json", "print the JSON Schema itself")
    switch(p, "--spec", "print the JSON Schema of spec files (for editors)")
    p.add_argument(
        "--write", metavar="PATH", help="write the spec files' schema to PATH (implies --spec)"
    )

    p = command(
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
    switch(p, "--force", "with --out: replace an existing FILE")

    p = command(
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
