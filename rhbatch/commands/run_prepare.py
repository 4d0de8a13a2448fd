"""A run's prepare step: everything before the first request, nothing sent.

``checked`` validates the spec, expanding it once: every valid job is spooled
(``spec/spool.py``) with its price and variables as validation sees it, and the
later steps (the store's sync, the shard's split, the plan of a dry run) read
the spool instead of expanding the spec again. ``prepared`` then opens the
output directory's store (and the bucket's ledger), merges the jobs into it,
recovers what a killed run left, checks the files on disk, writes the manifest
and says the quote: the run is ready to send.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rhbatch import logfile
from rhbatch.api import credentials
from rhbatch.commands.run_report import say_resume
from rhbatch.commands.run_request import RunRequest, output_dir
from rhbatch.commands.spend import Spend, quote_lines, refuse_unpriced
from rhbatch.endpoints.registry import Registry, registry
from rhbatch.errors import UsageError
from rhbatch.models import OutputRow, RunSettings
from rhbatch.runner.crew import download_limits
from rhbatch.runner.fetch import intact
from rhbatch.runner.progress import Reporter, reporter
from rhbatch.spec.load import Spec
from rhbatch.spec.provenance import provenance
from rhbatch.spec.shard import Sharder, parse_shard
from rhbatch.spec.spool import Spool, Staged
from rhbatch.spec.validate import Report, check_spec, require_valid
from rhbatch.store.files import hash_file
from rhbatch.store.history import SpecVersion
from rhbatch.store.ledger import Ledger
from rhbatch.store.manifest import clean_temporaries, write_manifest
from rhbatch.store.remote import Remote, is_url, local_path
from rhbatch.store.state import STATE_DIR, Store


@dataclass
class Checked:
    """A valid spec, its jobs spooled, and where and how the run goes."""

    request: RunRequest
    registry: Registry
    report: Report
    jobs: Spool
    out_dir: Path
    remote: Remote | None  # --out is an object storage URL (the state stays in out_dir)
    spend: Spend

    @property
    def spec(self) -> Spec:
        return self.report.spec

    @property
    def settings(self) -> RunSettings:
        return RunSettings.of(self.spec.run)


@dataclass
class Prepared:
    """The store brought up to the spec, before the first request."""

    checked: Checked
    store: Store
    ledger: Ledger | None
    version: int  # the spec version the jobs come from
    origin: SpecVersion
    started: float  # time.time() at the start
    manifest_current: bool  # the manifest on disk already says it all
    shown: Reporter


@contextlib.contextmanager
def checked(request: RunRequest) -> Iterator[Checked]:
    """Validate the spec (InvalidInput if any job is wrong: nothing is made or sent),
    spooling its jobs; the spool is gone at the end."""
    reg = registry()
    with Spool(reg) as jobs:
        report = check_spec(request.spec, reg, max_jobs=request.max_jobs, on_job=jobs.add)
        require_valid(report)
        spec = report.spec
        remote = Remote(request.out) if request.out and is_url(request.out) else None
        if remote is not None:  # object storage: the state (and a copy of each file) stays local
            out_dir = remote.state_dir(request.state)
        else:
            out_dir = output_dir(local_path(request.out) if request.out else None, spec)
        spend = Spend.of(request.args, RunSettings.of(spec.run))  # a bad --max-spend: said first
        yield Checked(request, reg, report, jobs, out_dir, remote, spend)


def ready(check: Checked) -> Sharder | None:
    """What is wrong with the command line or the destination, said before anything is
    made; this worker's part of the jobs (``--shard``), known before any is sent."""
    request = check.request
    if request.concurrency is not None and request.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {request.concurrency}")
    if not request.emulator:  # a bad base URL or a missing key: said before anything is made
        credentials.base_url(request.base_url)
        credentials.api_key(request.api_key_env)
    if check.remote is not None:
        check.remote.check()  # a location that cannot be written is said before anything is sent
    if not request.shard:
        return None
    index, count = parse_shard(request.shard)
    sharder = Sharder.of(index, count, check.jobs if check.jobs.piped else ())
    if check.jobs.piped:  # a graph that cannot be split is refused before anything is sent
        for job in check.jobs:
            sharder.keeps(job)
    return sharder


@contextlib.contextmanager
def prepared(check: Checked, sharder: Sharder | None) -> Iterator[Prepared]:
    """The store (and with object storage the bucket's ledger) open and brought up to
    the spec, for the run; closed after it."""
    request, spec, remote = check.request, check.spec, check.remote
    started = time.time()
    origin = provenance(spec.path)  # the spec's sha256, and its git commit if it has one
    out_dir = check.out_dir
    with Store.open(out_dir) as store, _ledger(remote, store, spec) as ledger:
        logfile.use(out_dir / STATE_DIR)
        clean_temporaries(out_dir)
        if remote is not None:  # earlier versions' files are kept in the bucket
            store.mover = remote.move
        version = store.spec_version(origin)
        kept = (job for job in check.jobs if sharder is None or sharder.keeps(job))
        synced = store.sync(_rows(kept), spec=version)
        check.jobs.close()  # read for the last time: its memory (or file) is not held for the run
        store.set_meta("shard", request.shard or "")
        store.set_meta("out_url", remote.shown if remote is not None else "")
        store.set_meta("spec", str(spec.path))
        store.set_meta("spec_sha256", origin.sha256)
        fetching = {"naming": spec.naming, **dataclasses.asdict(download_limits(check.settings))}
        store.set_meta("fetch", json.dumps(fetching))  # how `rhbatch attach` fetches
        recovered = store.recover(
            resubmit_unknown=request.resubmit_unknown, retry_failed=request.retry_failed
        )
        refuse_unpriced(store, check.spend)  # before anything is sent
        reopened = check_files(store, out_dir, remote)
        # The manifest on disk already says it all when nothing changed since it was written.
        current = (
            not (synced.new or synced.changed or reopened or any(recovered.values()))
            and store.get_meta("manifest_of") == origin.sha256
            and (out_dir / "manifest.jsonl").exists()
        )
        store.set_meta("manifest_of", origin.sha256 if current else "")
        if not current:  # a manifest of every job exists before anything is sent
            write_manifest(store, out_dir)
        shown = reporter(
            quiet=request.quiet,
            log_json=request.log_json,
            name=spec.name,
            on_event=request.on_event,
        )
        for line in quote_lines(store, check.registry, check.spend, "public price list"):
            shown.message(line)
        say_resume(shown, synced, recovered, reopened)
        yield Prepared(check, store, ledger, version, origin, started, current, shown)


def _rows(jobs: Iterator[Staged]) -> Iterator[tuple[object, ...]]:
    """The spooled jobs as the store's sync takes them."""
    for job in jobs:
        yield job.id, job.idx, job.endpoint, job.params, job.quoted, job.uses, job.vars


@contextlib.contextmanager
def _ledger(remote: Remote | None, store: Store, spec: Spec) -> Iterator[Ledger | None]:
    """With object storage: the bucket's ledger, open (leased, the store brought up to
    it) for the run, closed (shipped, the lease given back) after it."""
    if remote is None:
        yield None
        return
    ledger = Ledger(
        remote.bucket(),
        store,
        spec=spec.name,
        shown=remote.shown,
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    said = ledger.open()
    if said:
        print(said, file=sys.stderr)
    try:
        yield ledger
    finally:
        ledger.close()


def check_files(store: Store, out_dir: Path, remote: Remote | None = None) -> int:
    """Finished jobs whose files are missing or changed go back to downloading. A file of
    the recorded size whose time changed (a copy, a restore, a checkout) is hashed: the
    same bytes are kept (their new time recorded), not fetched again. With object
    storage, a file is there if its object is (one listing of the bucket): a job whose
    object is missing is put again from its local copy, or fetched again."""
    broken: set[str] = set()
    if remote is not None:
        remote.inventory()
    for job_id, out in store.finished_outputs():
        if job_id in broken:
            continue
        if remote is not None:
            if not remote.has(out.path, out.bytes):
                broken.add(job_id)  # the fetch puts the local copy, or downloads it again
            continue
        if intact(out_dir, out):
            continue
        same = _same_bytes(out_dir, out)
        if same is None:
            broken.add(job_id)
        else:
            store.retime_output(job_id, out.n, same)
    for job_id in broken:
        store.reopen(job_id)
    return len(broken)


def _same_bytes(out_dir: Path, out: OutputRow) -> int | None:
    """The file's modification time if it holds exactly the recorded bytes, else None."""
    path = out_dir / out.path
    try:
        if path.stat().st_size != out.bytes:
            return None
        saved = hash_file(path)
        return path.stat().st_mtime_ns if saved.sha256 == out.sha256 else None
    except OSError:
        return None
