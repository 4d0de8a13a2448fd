"""``rhbatch export DIR --format jsonl|csv|parquet``: a run's results as one table for other
tools: one row per result file that is there, the columns of ``metadata.jsonl``
(``--spread-params``: and a ``param.<name>`` column per parameter). Files the manifest
records that are not there are left out, and counted."""

from __future__ import annotations

import argparse
from pathlib import Path

from rhbatch.commands.common import plural
from rhbatch.errors import StateError, UsageError
from rhbatch.store.dataset import write_table


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    if not (out_dir / "manifest.jsonl").is_file():
        raise UsageError(f"{out_dir} has no manifest.jsonl: is it a run's output directory?")
    dest = Path(args.to) if args.to else out_dir / f"results.{args.format}"
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401  (an optional dependency)
        except ImportError:
            raise UsageError(
                "Parquet needs pyarrow: pip install 'rhbatch[dataset]' (or use --format csv)"
            ) from None
    try:
        written = write_table(
            out_dir,
            dest,
            args.format,
            history=bool(getattr(args, "history", False)),
            formulas=bool(getattr(args, "keep_formulas", False)),
            spread=bool(getattr(args, "spread_params", False)),
        )
    except OSError as exc:  # pyarrow's errors name no file: name it here
        raise StateError(f"cannot write {dest}: {exc.strerror or exc}") from None
    print(f"{dest}: {written.rows:,} rows ({args.format})")
    if written.left_out:
        print(
            f"  left out: {plural(written.left_out, 'recorded file')} not in {out_dir} "
            f"(`rhbatch verify {out_dir}` names {'it' if written.left_out == 1 else 'them'})"
        )
    return 0
