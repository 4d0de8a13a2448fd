"""``rhbatch verify DIR``: hash every result file again and compare with the record.

Every file the store records is checked: the current jobs' (whatever their
status: a job whose files could not be fetched again keeps its old record),
the files of jobs the spec no longer names, and those of earlier versions in
``history/``. A job whose files are not all in (``unfetched``, with the
reason: RunningHub may no longer serve them) is named too. Nothing missing,
corrupt or unfetched is ever called verified: any of them exits 1.

``rhbatch verify s3://bucket/batch`` checks a run put in object storage: every
file the bucket's ``manifest.jsonl`` records is read from the bucket and hashed
(size and SHA-256), and its unfetched jobs are named. A directory without a state
store (one ``rhbatch merge`` made) is checked the same way from its own manifest:
every file a record names is hashed where the record says it is (a merge with
``--no-files`` points into the shards' directories), and each missing or changed
one is named.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rhbatch.errors import EXIT_JOB_FAILURES, EXIT_OK, StateError, UsageError
from rhbatch.models import JobStatus
from rhbatch.readers import FileProblem
from rhbatch.store import records
from rhbatch.store.files import hash_file
from rhbatch.store.manifest import read_run
from rhbatch.store.remote import Remote, is_url
from rhbatch.store.state import Store

# The size and SHA-256 of the file at a record's path; None when it is not there.
Hasher = Callable[[str], "tuple[int, str] | None"]


def run(args: argparse.Namespace) -> int:
    if is_url(args.dir):
        remote = Remote(args.dir)
        return _verify_records(
            (
                (n, r if isinstance(r, dict) else None)
                for n, r in enumerate(remote.records(), start=1)
            ),
            remote.hash,
            f"{remote.shown}",
            "(in the bucket)",
            "`rhbatch run` on the same spec and --out fetches and puts them again "
            "(while RunningHub still serves them)",
        )
    out_dir = Path(args.dir)
    if records.manifest_only(out_dir):
        return _verify_manifest(out_dir)
    files = bad = history_bad = 0
    hasher = _hashed_in(out_dir)
    with Store.open(out_dir, lock=False, create=False) as store:
        url = store.get_meta("out_url")
        if url:  # the state of a run into object storage: its files are in the bucket
            raise UsageError(
                f"{out_dir} is the state of a run put in {url}; its files are there, not "
                f"here: rhbatch verify {url}"
            )
        for job_id, out in store.all_outputs():
            files += 1
            bad += not _matches(out.path, (out.bytes, out.sha256), hasher, f"job {job_id}")
        for version in store.versions():
            for out in version.outputs:
                files += 1
                whose = f"job {version.job_id} v{version.v}"
                history_bad += not _matches(out.path, (out.bytes, out.sha256), hasher, whose)
        unfetched = store.jobs(JobStatus.UNFETCHED)
        for row in unfetched:
            print(f"unfetched job {row.id}: {row.error_message or 'not fetched'}", file=sys.stderr)
    again = (
        "`rhbatch run` on the same spec and directory fetches them again "
        "(while RunningHub still serves them)"
    )
    failed = _told(str(out_dir), files, bad, len(unfetched), 0, again)
    if history_bad:
        print(
            f"{out_dir}: {history_bad} file(s) of earlier versions missing or changed in "
            "history/ (a run does not fetch those again)"
        )
    if failed or history_bad:
        return EXIT_JOB_FAILURES
    print(f"{out_dir}: {files} files verified")
    return EXIT_OK


def _verify_manifest(out_dir: Path) -> int:
    """Hash every file the manifest of a directory without a store records."""
    merged = isinstance(read_run(out_dir).get("merged"), list)
    again = (
        "the shards' directories hold the files (`rhbatch verify` each; `rhbatch run` on a "
        "shard fetches its files again, while RunningHub still serves them): `rhbatch merge` "
        "again brings them here"
        if merged
        else "this directory has no state store to fetch them again with"
    )
    try:
        return _verify_records(records.records(out_dir), _local(out_dir), str(out_dir), "", again)
    except FileProblem as exc:
        raise StateError(f"{out_dir}/{records.MANIFEST} cannot be read: {exc.reason}") from None


def _hashed_in(out_dir: Path) -> Hasher:
    """The size and SHA-256 of a file at a path under ``out_dir`` (None: not there)."""

    def hashed(rel: str) -> tuple[int, str] | None:
        try:
            saved = hash_file(out_dir / rel)
        except FileNotFoundError:
            return None
        return saved.bytes, saved.sha256

    return hashed


def _local(out_dir: Path) -> Hasher:
    """As ``_hashed_in``, for a record's path read from a manifest: one that is absolute
    or has control characters is not looked at."""
    hashed = _hashed_in(out_dir)

    def checked(rel: str) -> tuple[int, str] | None:
        if not rel or rel.startswith(("/", "\\")) or any(ord(c) < 32 for c in rel):
            raise ValueError("not a path inside the directory")
        return hashed(rel)

    return checked


def _verify_records(
    found: Iterable[tuple[int, dict[str, Any] | None]],
    hasher: Hasher,
    shown: str,
    where: str,
    again: str,
) -> int:
    """Hash every file the records name (``hasher``), name what is missing or differs
    and the unfetched jobs; exit 1 if any, or if a line is no record."""
    files = bad = unreadable = 0
    unfetched = []
    for number, record in found:
        if record is None:
            unreadable += 1
            print(f"unreadable manifest line {number}: not a job's record", file=sys.stderr)
            continue
        whose = f"job {records.text(record.get('id'))}"
        if record.get("status") == JobStatus.UNFETCHED.value:
            unfetched.append(record)
            why = records.text(record.get("errorMessage") or record.get("error"))
            print(f"unfetched {whose}: {why or 'not fetched'}", file=sys.stderr)
        for out in records.outputs(record):
            files += 1
            rel = records.text(out.get("path")) or ""
            bad += not _matches(rel, (out.get("bytes"), out.get("sha256")), hasher, whose)
    if _told(shown, files, bad, len(unfetched), unreadable, again):
        return EXIT_JOB_FAILURES
    print(f"{shown}: {files} files verified" + (f" {where}" if where else ""))
    return EXIT_OK


def _told(shown: str, files: int, bad: int, unfetched: int, unreadable: int, again: str) -> bool:
    """Whether anything is wrong: files missing or corrupt, jobs whose files could not be
    fetched, manifest lines that are no record; if so, says so and how to fetch them ``again``."""
    problems = []
    if bad:
        problems.append(f"{bad} of {files} files missing or corrupt")
    if unfetched:
        problems.append(f"{unfetched} job(s) whose files could not be fetched")
    if unreadable:
        problems.append(f"{unreadable} manifest line(s) that are no job's record")
    if problems:
        print(f"{shown}: {'; '.join(problems)}; {again}")
    return bool(problems)


def _matches(rel: str, recorded: tuple[Any, Any], hasher: Hasher, whose: str) -> bool:
    """Whether the file at ``rel`` is there as recorded (its size and SHA-256); says what
    is wrong if not."""
    try:
        got = hasher(rel)
    except ValueError as exc:
        print(f"unsafe   {rel!r} ({whose}): {exc}", file=sys.stderr)
        return False
    except OSError as exc:
        print(f"unreadable {rel} ({whose}): {exc.strerror or exc}", file=sys.stderr)
        return False
    if got is None:
        print(f"missing  {rel} ({whose})", file=sys.stderr)
        return False
    if got != recorded:
        print(
            f"corrupt  {rel} ({whose}): {got[0]} bytes, sha256 {got[1][:12]}..., "
            f"expected {recorded[0]} bytes, {str(recorded[1])[:12]}...",
            file=sys.stderr,
        )
        return False
    return True
