"""``rhbatch validate SPEC...``: check specs completely; nothing is sent."""

from __future__ import annotations

import argparse
import sys

from rhbatch.commands.common import plural, print_problems
from rhbatch.endpoints.registry import registry
from rhbatch.errors import EXIT_INVALID, EXIT_OK, InvalidInput
from rhbatch.spec.validate import check_spec


def run(args: argparse.Namespace) -> int:
    code = EXIT_OK
    for path in args.specs:
        try:
            report = check_spec(path, registry(), max_jobs=args.max_jobs)
        except InvalidInput as exc:
            print_problems(exc.problems, args.max_problems)
            print(
                f"{path}: invalid ({plural(len(exc.problems), 'problem')}); nothing was sent",
                file=sys.stderr,
            )
            code = EXIT_INVALID
            continue
        if report.problems:
            print_problems(report.problems, args.max_problems)
            print(
                f"{path}: invalid ({plural(len(report.problems), 'problem')}; "
                f"{plural(report.jobs, 'job')} expanded); nothing was sent",
                file=sys.stderr,
            )
            code = EXIT_INVALID
            continue
        endpoints = len(report.per_endpoint)
        files = len(report.local_files)
        print(
            f"{path}: ok, {report.jobs:,} job{'s' if report.jobs != 1 else ''} "
            f"({endpoints} endpoint{'s' if endpoints != 1 else ''}"
            + (f", {files} local file{'s' if files != 1 else ''} to upload" if files else "")
            + ")"
        )
    return code
