"""``rhbatch verify DIR``: hash every result file again and compare with the record."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rhbatch.errors import EXIT_JOB_FAILURES, EXIT_OK
from rhbatch.models import JobStatus
from rhbatch.store.files import hash_file
from rhbatch.store.state import Store


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.dir)
    files = bad = 0
    with Store.open(out_dir, lock=False, create=False) as store:
        for row in store.jobs(JobStatus.SUCCEEDED, JobStatus.DOWNLOADING):
            for out in store.outputs(row.id):
                files += 1
                path = out_dir / out.path
                try:
                    saved = hash_file(path)
                except FileNotFoundError:
                    print(f"missing  {out.path} (job {row.id})", file=sys.stderr)
                    bad += 1
                    continue
                if saved.bytes != out.bytes or saved.sha256 != out.sha256:
                    print(
                        f"corrupt  {out.path} (job {row.id}): {saved.bytes} bytes, "
                        f"sha256 {saved.sha256[:12]}..., expected {out.bytes} bytes, "
                        f"{out.sha256[:12]}...",
                        file=sys.stderr,
                    )
                    bad += 1
    if bad:
        print(
            f"{out_dir}: {bad} of {files} files missing or corrupt; "
            f"`rhbatch run` on the same spec and directory fetches them again"
        )
        return EXIT_JOB_FAILURES
    print(f"{out_dir}: {files} files verified")
    return EXIT_OK
