"""``rhbatch verify DIR``: hash every result file again and compare with the record.

Every file the store records is checked: the current jobs' (whatever their
status: a job whose files could not be fetched again keeps its old record),
the files of jobs the spec no longer names, and those of earlier versions in
``history/``. A job whose files are not all in (``unfetched``, with the
reason: RunningHub may no longer serve them) is named too. Nothing missing,
corrupt or unfetched is ever called verified: any of them exits 1.

``rhbatch verify s3://bucket/batch`` checks a run put in object storage: every
file the bucket's ``manifest.jsonl`` records is read from the bucket and hashed
(size and SHA-256), and its unfetched jobs are named.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rhbatch.errors import EXIT_JOB_FAILURES, EXIT_OK, UsageError
from rhbatch.models import JobStatus, OutputRow
from rhbatch.store.files import hash_file
from rhbatch.store.remote import Remote, is_url
from rhbatch.store.state import Store


def run(args: argparse.Namespace) -> int:
    if is_url(args.dir):
        return _verify_bucket(Remote(args.dir))
    out_dir = Path(args.dir)
    files = bad = history_bad = 0
    with Store.open(out_dir, lock=False, create=False) as store:
        url = store.get_meta("out_url")
        if url:  # the state of a run into object storage: its files are in the bucket
            raise UsageError(
                f"{out_dir} is the state of a run put in {url}; its files are there, not "
                f"here: rhbatch verify {url}"
            )
        for job_id, out in store.all_outputs():
            files += 1
            bad += not _check(out_dir, out, f"job {job_id}")
        for version in store.versions():
            for out in version.outputs:
                files += 1
                history_bad += not _check(out_dir, out, f"job {version.job_id} v{version.v}")
        unfetched = store.jobs(JobStatus.UNFETCHED)
        for row in unfetched:
            print(f"unfetched job {row.id}: {row.error_message or 'not fetched'}", file=sys.stderr)
    problems = []
    if bad:
        problems.append(f"{bad} of {files} files missing or corrupt")
    if unfetched:
        problems.append(f"{len(unfetched)} job(s) whose files could not be fetched")
    if problems:
        print(
            f"{out_dir}: {'; '.join(problems)}; `rhbatch run` on the same spec and directory "
            "fetches them again (while RunningHub still serves them)"
        )
    if history_bad:
        print(
            f"{out_dir}: {history_bad} file(s) of earlier versions missing or changed in "
            "history/ (a run does not fetch those again)"
        )
    if problems or history_bad:
        return EXIT_JOB_FAILURES
    print(f"{out_dir}: {files} files verified")
    return EXIT_OK


def _check(out_dir: Path, out: OutputRow, whose: str) -> bool:
    """Whether ``out`` is on disk as recorded; says what is wrong if not."""
    try:
        saved = hash_file(out_dir / out.path)
    except FileNotFoundError:
        print(f"missing  {out.path} ({whose})", file=sys.stderr)
        return False
    except OSError as exc:
        print(f"unreadable {out.path} ({whose}): {exc.strerror or exc}", file=sys.stderr)
        return False
    if saved.bytes != out.bytes or saved.sha256 != out.sha256:
        print(
            f"corrupt  {out.path} ({whose}): {saved.bytes} bytes, sha256 {saved.sha256[:12]}..., "
            f"expected {out.bytes} bytes, {out.sha256[:12]}...",
            file=sys.stderr,
        )
        return False
    return True


def _verify_bucket(remote: Remote) -> int:
    """Hash every object the bucket's manifest records; name what is missing or differs."""
    files = bad = 0
    unfetched = []
    for record in remote.records():
        if record.get("status") == JobStatus.UNFETCHED.value:
            unfetched.append(record)
            print(
                f"unfetched job {record.get('id')}: {record.get('error') or 'not fetched'}",
                file=sys.stderr,
            )
        for out in record.get("outputs") or ():
            files += 1
            got = remote.hash(str(out["path"]))
            whose = f"job {record.get('id')}"
            if got is None:
                print(f"missing  {out['path']} ({whose})", file=sys.stderr)
                bad += 1
            elif got != (out["bytes"], out["sha256"]):
                print(
                    f"corrupt  {out['path']} ({whose}): {got[0]} bytes, sha256 {got[1][:12]}..., "
                    f"expected {out['bytes']} bytes, {str(out['sha256'])[:12]}...",
                    file=sys.stderr,
                )
                bad += 1
    problems = []
    if bad:
        problems.append(f"{bad} of {files} files missing or corrupt")
    if unfetched:
        problems.append(f"{len(unfetched)} job(s) whose files could not be fetched")
    if problems:
        print(
            f"{remote.shown}: {'; '.join(problems)}; `rhbatch run` on the same spec and --out "
            "fetches and puts them again (while RunningHub still serves them)"
        )
        return EXIT_JOB_FAILURES
    print(f"{remote.shown}: {files} files verified (in the bucket)")
    return EXIT_OK
