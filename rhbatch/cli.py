"""The command line: dispatch, and the one error boundary.

The argument tree is ``rhbatch/commands/parser.py``. Each subcommand is
``run(args) -> int`` in ``rhbatch/commands/<name>.py``, imported only when that
command runs (so ``validate`` does not load aiohttp or sqlite3). Only this module
turns exceptions into messages and exit codes (``EXIT_CODES``, which `rhbatch
--help` and the README list): 0 ok, 1 some jobs did not succeed, 2 invalid input
or usage, 3 fatal, 4 the spending cap, 130 interrupted.
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from rhbatch.commands.common import MAX_PROBLEMS, print_problems
from rhbatch.commands.parser import (
    DEFAULT_EMULATOR_SPEED,
    EXIT_CODES,
    Parser,
    build_parser,
    positive,
)
from rhbatch.errors import EXIT_FATAL, EXIT_INTERRUPTED, InvalidInput, RhbatchError

# Named here too, for those who import them from the command line's module.
__all__ = [
    "DEFAULT_EMULATOR_SPEED",
    "EXIT_CODES",
    "Parser",
    "build_parser",
    "internal_error",
    "main",
    "main_exit",
    "positive",
]


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
    # The command is over: a late Ctrl-C must not end it with a traceback, nor a late
    # SIGTERM kill it, after all. Ignored, not handled: Python's exit puts back the
    # default action of every signal it handles (a kill), but leaves an ignored one be.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)
