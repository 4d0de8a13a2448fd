"""``rhbatch report DIR``: (re)write a run's gallery, ``DIR/report.html``, from its manifest.

The page opens in any browser from the disk, offline (``docs/report.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rhbatch.errors import EXIT_OK, UsageError
from rhbatch.store.report import write_report


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    if not (out_dir / "manifest.jsonl").is_file():
        raise UsageError(
            f"{out_dir}: no manifest.jsonl here; give the output directory of a run "
            "(`rhbatch run SPEC --out DIR` writes one)"
        )
    print(write_report(out_dir))
    return EXIT_OK
