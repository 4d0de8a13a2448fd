"""The end of `rhbatch --help`: what each exit code means, and where the documentation is.

The README's table of exit codes says the same (a test holds them together).
"""

from __future__ import annotations

import textwrap

from rhbatch.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_JOB_FAILURES,
    EXIT_OK,
    EXIT_SPEND_CAP,
)

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
