"""The arguments of `rhbatch run`, which ``rhbatch.run`` in Python parses its run's
arguments with too (``library.py``): the spec, where results go, the emulator, the
connection, spending and what is shown."""

from __future__ import annotations

import argparse

from rhbatch.commands.arguments import (
    connection_arguments,
    max_jobs_argument,
    positive,
    switch,
)
from rhbatch.commands.emulator import PROFILES

DEFAULT_EMULATOR_SPEED = 60.0  # rhbatch run --emulator: a minute-long task takes a second


def run_arguments(p: argparse.ArgumentParser) -> None:
    """Every argument of `rhbatch run`, in the order its --help lists them."""
    p.add_argument("spec", metavar="SPEC", help="the spec file (YAML)")
    max_jobs_argument(p)
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
    switch(
        p,
        "--emulator",
        "run against the built-in emulator, in this process; its tasks are kept in "
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
    connection_arguments(p)
    switch(p, "--dry-run", "show what would run; send nothing")
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
    switch(
        p,
        "--no-download",
        "record result URLs in the manifest but fetch no file (also run.download: false)",
    )
    switch(
        p,
        "--resubmit-unknown",
        "submit again jobs whose earlier submit got no answer "
        "(a task may exist: it may be paid twice)",
    )
    switch(p, "--retry-failed", "run failed jobs again")
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
    switch(p, "--allow-unpriced", "under a spending cap, also run jobs no price is known for")
    p.add_argument(
        "--quote",
        choices=("list", "online"),
        help="the price before the run: the public price list (default), or also "
        "RunningHub's price preview (online; also run.quote)",
    )
    switch(p, "--quiet", "no progress, only the summary", short="-q")
    switch(p, "--log-json", "progress as one JSON object per event on stderr")
