"""Arguments that several commands take, each added by one function (the connection to
RunningHub, the job cap, a run's directory, an on/off flag), and the checks of argument
values."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

RUN_DIR = "a run's output directory (the --out of `rhbatch run`)"


def connection_arguments(p: argparse.ArgumentParser) -> None:
    """Where the API is and which environment variable holds its key."""
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


def max_jobs_argument(p: argparse.ArgumentParser) -> None:
    """The most jobs a spec may expand to."""
    p.add_argument(
        "--max-jobs",
        type=int,
        metavar="N",
        help="refuse a spec that expands to more than N jobs (default: its run.max_jobs, "
        "else 1,000,000)",
    )


def run_dir_argument(p: argparse.ArgumentParser) -> None:
    """DIR: the output directory of an earlier run, which must be there."""
    p.add_argument("dir", metavar="DIR", type=run_directory, help=RUN_DIR)


def switch(p: argparse.ArgumentParser, name: str, text: str, short: str | None = None) -> None:
    """An on/off flag, False unless given (``short``: its one-letter name too, ``-q``)."""
    names = (short, name) if short else (name,)
    p.add_argument(*names, action="store_true", help=text)


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
