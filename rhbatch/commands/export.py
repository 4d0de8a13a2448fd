"""``rhbatch export DIR --format jsonl|csv|parquet``: a run's results as one table for other
tools: one row per result file, the columns of ``metadata.jsonl``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rhbatch.errors import StateError, UsageError
from rhbatch.store.dataset import export


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
        count = export(
            out_dir,
            dest,
            args.format,
            history=bool(getattr(args, "history", False)),
            formulas=bool(getattr(args, "keep_formulas", False)),
        )
    except OSError as exc:  # pyarrow's errors name no file: name it here
        raise StateError(f"cannot write {dest}: {exc.strerror or exc}") from None
    print(f"{dest}: {count:,} rows ({args.format})")
    return 0
