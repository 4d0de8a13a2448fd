"""What a run is asked to do: ``rhbatch run``'s command line as one typed value.

The command line (or ``rhbatch.run``'s options, parsed by the same tree) is read
once, here; the prepare and execute steps read fields, not a Namespace. The
Namespace is kept whole for the three helpers that read flags of their own (the
connection, the spend control and the resume command), which every command
shares.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhbatch.redact import masked_url
from rhbatch.spec.load import Spec


@dataclass(frozen=True)
class RunRequest:
    spec: str
    out: str | None  # a directory or an object storage URL; None: the spec's, else ./out/NAME
    state: str | None  # with a URL: where the state stays
    max_jobs: int | None
    dry_run: bool
    concurrency: int | None
    emulator: bool
    base_url: str | None
    api_key_env: str | None
    shard: str | None  # "I/N"
    resubmit_unknown: bool
    retry_failed: bool
    no_download: bool
    quiet: bool
    log_json: bool
    webhook_listen: str | None
    webhook_url: str | None
    on_event: Callable[[Any], None] | None  # rhbatch.run(on_event=...)
    process: bool  # the process's own command: the signal handler stays to the exit
    args: argparse.Namespace  # the whole command line, for connect, Spend.of, resume_command

    @classmethod
    def of(cls, args: argparse.Namespace) -> RunRequest:
        def flag(name: str, default: Any = None) -> Any:
            return getattr(args, name, default)

        return cls(
            spec=args.spec,
            out=flag("out"),
            state=flag("state"),
            max_jobs=flag("max_jobs"),
            dry_run=bool(flag("dry_run", False)),
            concurrency=flag("concurrency"),
            emulator=bool(flag("emulator", False)),
            base_url=flag("base_url"),
            api_key_env=flag("api_key_env"),
            shard=flag("shard") or None,
            resubmit_unknown=bool(flag("resubmit_unknown", False)),
            retry_failed=bool(flag("retry_failed", False)),
            no_download=bool(flag("no_download", False)),
            quiet=bool(flag("quiet", False)),
            log_json=bool(flag("log_json", False)),
            webhook_listen=flag("webhook_listen"),
            webhook_url=flag("webhook_url"),
            on_event=flag("on_event"),
            process=bool(flag("process", False)),
            args=args,
        )


def resume_command(args: argparse.Namespace, out_dir: Path, *, drop: tuple[str, ...] = ()) -> str:
    """The command line that was run, with --out made explicit (it never holds the key);
    ``drop``: options left out with their values."""
    argv = list(args.argv) if getattr(args, "argv", None) else ["run", args.spec]
    argv = [a for a in argv if a not in ("--resubmit-unknown", "--retry-failed")]
    for option in drop:
        while option in argv:
            at = argv.index(option)
            del argv[at : at + 2]
        argv = [a for a in argv if not a.startswith(option + "=")]
    if not args.out:
        argv += ["--out", str(out_dir)]
    shown = [masked_url(a) for a in argv]  # never a credential of a URL on the screen
    command = shlex.join(["rhbatch", *shown])
    if shown != argv:
        command += " (with the credentials of the URL, shown as ***, put back)"
    return command


def output_dir(flag: str | None, spec: Spec) -> Path:
    if flag:
        return Path(flag)
    if spec.output_dir:
        path = Path(spec.output_dir).expanduser()
        return path if path.is_absolute() else spec.path.parent / path
    return Path("out") / spec.name
