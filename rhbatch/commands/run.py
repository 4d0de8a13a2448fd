"""``rhbatch run SPEC``: validate, then run the batch into an output directory, resumably.

Validation comes first: nothing is sent unless every job is valid. The jobs
are then merged into the directory's state store (a rerun is a resume: done
jobs are skipped without a request, running tasks are polled again, missing
files fetched again) and the runner works through the rest. ``--emulator``
starts the built-in emulator in this process and runs against it over real
HTTP; nothing else differs from a run against RunningHub.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rhbatch import logfile
from rhbatch.api import credentials
from rhbatch.api.client import Client
from rhbatch.api.http import DownloadLimits
from rhbatch.api.webhooks import Receiver
from rhbatch.commands.common import job_vars, plural
from rhbatch.commands.connection import connect
from rhbatch.commands.pin import check_pins
from rhbatch.commands.run_report import dry_run, run_info, say_resume, say_settled, summary
from rhbatch.commands.signals import Interrupts
from rhbatch.commands.spend import (
    Spend,
    ask_online,
    budget_for,
    check_balance,
    preview_lines,
    quote_lines,
    refuse_unpriced,
    to_finish,
)
from rhbatch.endpoints.pricing import Quoter
from rhbatch.endpoints.registry import Registry, registry
from rhbatch.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILURES,
    EXIT_OK,
    AuthError,
    FatalError,
    NoConnection,
    ProtocolError,
    Rejected,
    SpendCapReached,
    StateError,
    Transient,
    Unreachable,
    UsageError,
)
from rhbatch.models import JobStatus, OutputRow, RunSettings, pinned_kind
from rhbatch.redact import masked_url
from rhbatch.runner.crew import Options
from rhbatch.runner.fetch import Mirror, intact
from rhbatch.runner.loop import Runner
from rhbatch.runner.progress import Reporter, outlets, reporter
from rhbatch.runner.quote import Priced, money, preview
from rhbatch.runner.retry import Kind, classify, retrying
from rhbatch.runner.settle import settle_earlier
from rhbatch.spec.expand import Expander
from rhbatch.spec.load import Spec
from rhbatch.spec.problems import Findings
from rhbatch.spec.provenance import provenance
from rhbatch.spec.shard import Sharder, parse_shard
from rhbatch.spec.validate import check_spec, require_valid
from rhbatch.store.dataset import on_disk, write_metadata
from rhbatch.store.files import hash_file
from rhbatch.store.ledger import Ledger, LedgerRefused
from rhbatch.store.manifest import clean_temporaries, write_manifest, write_run
from rhbatch.store.remote import Remote, is_url, local_path
from rhbatch.store.report import write_report
from rhbatch.store.state import STATE_DIR, Store

DEFAULT_CONCURRENCY = 10


def run(args: argparse.Namespace) -> int:
    # A reader who stops reading (| head) fails no job, changes no exit code; Ctrl-C and
    # SIGTERM are handled from the first line to the last (signals.py).
    # The process's own command keeps its handler to the exit (a late signal is not a kill).
    linger = bool(getattr(args, "process", False))
    with outlets(), Interrupts(linger=linger) as interrupts:
        return _run_command(args, interrupts)


def _run_command(args: argparse.Namespace, interrupts: Interrupts) -> int:
    reg = registry()
    report = check_spec(args.spec, reg, max_jobs=getattr(args, "max_jobs", None))
    require_valid(report)
    spec = report.spec
    remote = Remote(args.out) if args.out and is_url(args.out) else None
    if remote is not None:  # object storage: the state (and a copy of each file) stays local
        out_dir = remote.state_dir(getattr(args, "state", None))
    else:
        out_dir = output_dir(local_path(args.out) if args.out else None, spec)
    spend = Spend.of(args, RunSettings.of(spec.run))  # a bad --max-spend: said first
    if args.dry_run:
        code, todo = dry_run(spec, reg, out_dir, args, spend.cap)
        if spend.online and todo:
            asyncio.run(_preview_only(args, reg, todo))
        return code
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {args.concurrency}")
    if not args.emulator:  # a bad base URL or a missing key: said before anything is made
        credentials.base_url(args.base_url)
        credentials.api_key(args.api_key_env)
    if remote is not None:
        remote.check()  # a location that cannot be written is said before anything is sent
    sharder = None
    if getattr(args, "shard", None):  # this worker's part of the jobs, known before any is sent
        index, count = parse_shard(args.shard)
        piped = any(entry.uses for entry in spec.entries)
        sharder = Sharder.of(index, count, Expander(spec, reg, Findings()).jobs() if piped else ())
        if piped:  # a graph that cannot be split is refused before anything is sent
            for job in Expander(spec, reg, Findings()).jobs():
                sharder.keeps(job)
    started = time.time()
    origin = provenance(spec.path)  # the spec's sha256, and its git commit if it has one
    with Store.open(out_dir) as store, _ledger(remote, store, spec) as ledger:
        logfile.use(out_dir / STATE_DIR)
        clean_temporaries(out_dir)
        quoter = Quoter(reg)
        if remote is not None:  # earlier versions' files are kept in the bucket
            store.mover = remote.move
        version = store.spec_version(origin)
        synced = store.sync(
            (
                (
                    job.id,
                    job.index,
                    job.endpoint,
                    job.params,
                    quoter.price(job.endpoint, job.params).amount,
                    job.uses,
                    job_vars(job, reg),
                )
                for job in Expander(spec, reg, Findings()).jobs()
                if sharder is None or sharder.keeps(job)
            ),
            spec=version,
        )
        store.set_meta("shard", args.shard or "")
        store.set_meta("out_url", remote.shown if remote is not None else "")
        spec_sha = origin.sha256
        store.set_meta("spec", str(spec.path))
        store.set_meta("spec_sha256", spec_sha)
        limits = download_limits(RunSettings.of(spec.run))
        fetching = {"naming": spec.naming, **dataclasses.asdict(limits)}
        store.set_meta("fetch", json.dumps(fetching))  # how `rhbatch attach` fetches
        recovered = store.recover(
            resubmit_unknown=args.resubmit_unknown, retry_failed=args.retry_failed
        )
        refuse_unpriced(store, spend)  # before anything is sent
        reopened = _check_files(store, out_dir, remote)
        # The manifest on disk already says it all when nothing changed since it was written.
        current = (
            not (synced.new or synced.changed or reopened or any(recovered.values()))
            and store.get_meta("manifest_of") == spec_sha
            and (out_dir / "manifest.jsonl").exists()
        )
        store.set_meta("manifest_of", spec_sha if current else "")
        if not current:  # a manifest of every job exists before anything is sent
            write_manifest(store, out_dir)
        shown = reporter(
            quiet=args.quiet,
            log_json=args.log_json,
            name=spec.name,
            on_event=getattr(args, "on_event", None),  # rhbatch.run(on_event=...)
        )
        for line in quote_lines(store, reg, spend, "public price list"):
            shown.message(line)
        say_resume(shown, synced, recovered, reopened)
        pinned = tuple(e for e in report.per_endpoint if pinned_kind(e))
        mirror = remote
        code, note = asyncio.run(
            _run(
                args,
                spec,
                reg,
                store,
                out_dir,
                shown,
                spend,
                current,
                pinned,
                mirror,
                interrupts,
                ledger,
            )
        )
        interrupts.winding_down()  # what follows is brief, and says how to go on
        counts = store.counts()
        base = "emulator" if args.emulator else credentials.base_url(args.base_url)
        left_out = 0  # files the manifest records that are not there: no metadata row
        # A run stopped by a full disk has said so (the note); what follows may meet the
        # same full disk, and must not hide the note and the way to continue.
        with contextlib.suppress(StateError, OSError):
            if code != EXIT_FATAL:  # the run's last act was to write the manifest
                store.set_meta("manifest_of", spec_sha)
            info = run_info(
                spec, store, version, spend.cap, started, base, note, report.prompt_field
            )
            write_run(out_dir, info)
            # The files as a dataset (Hugging Face folder layout): those that are there,
            # on disk or, put in a bucket, there.
            present = (
                on_disk(out_dir)
                if remote is None
                else lambda out, job: remote.has(str(out.get("path")), int(out.get("bytes") or 0))
            )
            left_out = write_metadata(out_dir, present).left_out
            write_report(out_dir)  # the gallery: every job as a card, offline
        summary(
            spec,
            store,
            out_dir,
            counts,
            time.time() - started,
            resume_command(args, out_dir),
            left_out=left_out,
        )
    if remote is not None:
        problems = remote.put_meta(out_dir)
        for problem in problems:
            print(f"rhbatch: {problem}", file=sys.stderr)
        if problems and code == EXIT_OK:
            code, note = EXIT_FATAL, note or "the results could not all be put in --out"
        failed = remote.put_failed + len(problems)
        print(
            f"put in: {remote.shown} (state: {out_dir}): {plural(remote.put_ok, 'result file')} "
            f"put this run, {failed} failed" + ("" if not failed else "; run again to put them")
        )
    if note:
        print(f"rhbatch: {note}", file=sys.stderr)
    if code != EXIT_OK:
        return code
    return (
        EXIT_OK if counts.get(JobStatus.SUCCEEDED, 0) == sum(counts.values()) else EXIT_JOB_FAILURES
    )


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


async def _run(
    args: argparse.Namespace,
    spec: Spec,
    reg: Registry,
    store: Store,
    out_dir: Path,
    shown: Reporter,
    spend: Spend,
    manifest_current: bool = False,
    pinned: tuple[str, ...] = (),
    mirror: Mirror | None = None,
    interrupts: Interrupts | None = None,
    ledger: Ledger | None = None,
) -> tuple[int, str | None]:
    """Run the batch; the exit code and a note for the end (interrupted, stopped by...)."""
    todo = store.counts()
    active = sum(
        todo.get(s, 0) for s in (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DOWNLOADING)
    )
    earlier = store.unsettled_versions()  # tasks of replaced versions, bill not known
    if not active and not earlier:  # everything is done: no request at all
        if not manifest_current:
            write_manifest(store, out_dir)
        return EXIT_OK, None
    legacy = RunSettings.of(spec.run).api == "legacy"
    async with contextlib.AsyncExitStack() as stack:
        client, clock = await connect(args, stack, legacy=legacy, state=out_dir / STATE_DIR)
        try:
            limit = await _account_limit(client)
        except Unreachable as exc:
            return exc.exit_code, f"stopped: {exc}{_resume_hint(exc, args, out_dir)}"
        await check_pins(client, reg, pinned)  # a changed workflow or app is not run
        options = _options(args, spec, limit)
        if earlier:  # before the budget is read: what they cost counts against the cap
            say_settled(shown, await settle_earlier(client, store, options.limits))
        if spend.online:
            await ask_online(client, store, reg, shown)
        await check_balance(client, store, spend, shown)
        runners: list[Runner] = []  # the receiver needs the runner, made just below
        if args.webhook_listen or args.webhook_url:
            receiver = Receiver(
                args.webhook_listen or "127.0.0.1:0",
                args.webhook_url,
                lambda token, state: bool(runners) and runners[0].on_webhook(token, state),
            )
            await receiver.start()
            stack.push_async_callback(receiver.stop)
            options.webhook_url = receiver.url
        runner = Runner(
            store=store,
            client=client,
            registry=reg,
            out_dir=out_dir,
            base_dir=spec.path.resolve().parent,
            options=options,
            report=shown,
            clock=clock,
            budget=budget_for(store, spend),
            mirror=mirror,
            ledger=ledger,
        )
        runners.append(runner)
        in_run = asyncio.Event()  # while set, a second signal cancels the runner
        interrupted = _on_interrupt(runner, interrupts, in_run)
        done_before = sum(
            todo.get(s, 0)
            for s in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.UNKNOWN, JobStatus.UNFETCHED)
        )
        # What the jobs counted done cost: a job to fetch again counts once it is in.
        refetch = sum(r.cost or 0.0 for r in store.jobs(JobStatus.DOWNLOADING))
        shown.start(sum(todo.values()), done_before, store.current_cost() - refetch)
        # The run changes jobs: the manifest on disk is current again only once the run
        # has written it at its end (a run stopped by a fault may not have).
        store.set_meta("manifest_of", "")
        in_run.set()
        try:
            await runner.run()
        except FatalError as exc:
            return exc.exit_code, f"stopped: {exc}{_resume_hint(exc, args, out_dir, store)}"
        except asyncio.CancelledError:
            # A second Ctrl-C (or SIGTERM): stop at once, but cleanly. The store holds every
            # transition already; the manifest is brought up to date.
            task = asyncio.current_task()
            if task is None or not interrupted.is_set():
                raise
            task.uncancel()
            runner.write_manifest()
        finally:
            in_run.clear()
            shown.close()
        if interrupted.is_set():
            running = store.counts().get(JobStatus.RUNNING, 0)
            # The built-in emulator keeps its tasks in DIR/.rhbatch/emulator/: they go on,
            # in its time, as RunningHub's do, and the command below finds them again.
            where = "in the emulator's saved state" if args.emulator else "remotely"
            tail = f"{plural(running, 'task')} keep running {where}; " if running else ""
            return (
                EXIT_INTERRUPTED,
                f"interrupted: {tail}resume with: {resume_command(args, out_dir)}",
            )
    return EXIT_OK, None


def _resume_hint(
    exc: FatalError, args: argparse.Namespace, out_dir: Path, store: Store | None = None
) -> str:
    if isinstance(exc, Unreachable):
        return (
            "; every job is kept as it was: once it is reachable, run the same command "
            f"again: {resume_command(args, out_dir)}"
        )
    if isinstance(exc, SpendCapReached):
        again = resume_command(args, out_dir, drop=("--max-spend",))
        # The cap that lets every job left be sent, at its quote: what the directory is
        # billed, what may be, and the rest's quote (rounded up to the cent).
        cap = math.ceil(to_finish(store) * 100) / 100 if store is not None else None
        amount = f"{cap:.2f}" if cap is not None else "AMOUNT"
        return (
            "; nothing more was submitted, the tasks in flight were seen through. A rerun "
            f"with a higher cap submits only the rest: {again} --max-spend {amount}"
        )
    if isinstance(exc, LedgerRefused):
        return (
            "; every job is kept as it was, in the bucket's ledger. If no other worker should "
            f"be writing there, run the same command again: {resume_command(args, out_dir)}"
        )
    if isinstance(exc, StateError):
        return (
            "; nothing is lost: once there is room (or the directory is writable), run the "
            f"same command again: {resume_command(args, out_dir)}"
        )
    return ""


async def _account_limit(client: Client) -> int | None:
    """Check the key before any job is sent, and read the account's concurrency (None when
    the account does not say: the submits will tell)."""
    try:
        status = await retrying(client.queue_status, tries=4, sleep=asyncio.sleep, cap=2.0)
    except Rejected as exc:
        if classify(exc.code) is Kind.AUTH:
            raise AuthError.refused(exc) from None
        return None  # a key-tier or account quirk
    except NoConnection as exc:
        raise Unreachable(f"cannot reach {client.base_url}: {exc.reason}") from None
    except (Transient, ProtocolError):
        return None
    return status.limit


async def _preview_only(args: argparse.Namespace, reg: Registry, jobs: list[Priced]) -> None:
    """``run --dry-run --quote online``: RunningHub's price preview, and nothing else."""
    async with contextlib.AsyncExitStack() as stack:
        client, _ = await connect(args, stack)
        answer, quotes = await preview(client, reg, jobs)
    for line in preview_lines(answer, reg, len(jobs)):
        print(line.removeprefix("rhbatch: "))
    total = round(sum(amount or 0.0 for _, amount, _ in quotes), 4)
    print(f"quote with the price preview: {money(total)}; nothing was run (--dry-run)")


def _options(args: argparse.Namespace, spec: Spec, account: int | None) -> Options:
    run = RunSettings.of(spec.run)
    limits = [n for n in (args.concurrency, run.concurrency, account) if n]
    # A few tasks queued on the server beyond the running slots: a slot that frees starts
    # the next task at once, however late rhbatch notices the end (back-pressure lowers it).
    # Only where the account's slots are the limit: below it, more would run, not queue.
    binding = bool(account) and min(limits) == account
    ahead = run.queue_ahead
    if ahead is None:
        ahead = max(2, -(-account // 5)) if binding and account else 0
    elif not binding:
        ahead = 0
    return Options(
        concurrency=min(limits) if limits else DEFAULT_CONCURRENCY,
        queue_ahead=int(ahead),
        poll_interval=float(run.poll_interval),
        timeout=float(run.timeout),
        retries=int(run.retries),
        download_concurrency=int(run.download_concurrency),
        naming=spec.naming,
        download=bool(run.download) and not args.no_download,
        signal_interval=float(run.signal_interval),
        url_max_age=float(run.url_max_age),
        limits=download_limits(run),
    )


def download_limits(run: RunSettings) -> DownloadLimits:
    """The spec's limits on each result download (real seconds, not the run's clock)."""
    return DownloadLimits(
        max_bytes=int(float(run.max_download_mb) * (1 << 20)),
        deadline=float(run.download_timeout),
        min_rate=float(run.download_min_rate) * 1024,
    )


def _on_interrupt(
    runner: Runner, interrupts: Interrupts | None, running: asyncio.Event
) -> asyncio.Event:
    """First Ctrl-C (or SIGTERM): stop starting jobs and wind down. Second: stop at once,
    while the runner runs (``running``); after it, what is left is brief (the manifest,
    closing the connections) and a cancellation there would cut it short: it finishes."""
    interrupted = asyncio.Event()
    main = asyncio.current_task()

    def handle() -> None:
        if interrupted.is_set():
            runner.report.message("rhbatch: stopping now")
            if main is not None and running.is_set():
                main.cancel()
            return
        interrupted.set()
        runner.report.message("rhbatch: stopping: no new jobs; Ctrl-C again to quit at once")
        runner.stop()

    if interrupts is not None:
        interrupts.during(handle)
    return interrupted


def _check_files(store: Store, out_dir: Path, remote: Remote | None = None) -> int:
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
