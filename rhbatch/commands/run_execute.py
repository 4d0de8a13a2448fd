"""A run's execute step: connect, send, follow, fetch; then the books at the end.

``execute`` takes a prepared run (``run_prepare.py``): it connects (RunningHub,
or the built-in emulator in this process), checks the key, the pins and the
balance, settles tasks of replaced versions, wires the runner and runs it
under the interrupts (first Ctrl-C: wind down; second: stop at once, cleanly).
Whatever stopped it, the manifest, run.json, metadata.jsonl and the report are
then written, and the summary says how to go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from rhbatch.api import credentials
from rhbatch.api.client import Client
from rhbatch.api.webhooks import Receiver
from rhbatch.commands.common import plural
from rhbatch.commands.connection import connect
from rhbatch.commands.pin import check_pins
from rhbatch.commands.run_prepare import Prepared
from rhbatch.commands.run_report import run_info, say_settled, summary
from rhbatch.commands.run_request import resume_command
from rhbatch.commands.signals import Interrupts
from rhbatch.commands.spend import ask_online, budget_for, check_balance, to_finish
from rhbatch.errors import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
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
)
from rhbatch.models import JobStatus, TaskState, pinned_kind
from rhbatch.runner.crew import DEFAULT_CONCURRENCY, Options, download_limits
from rhbatch.runner.loop import Runner, wire
from rhbatch.runner.retry import Kind, classify, retrying
from rhbatch.runner.settle import settle_earlier
from rhbatch.store.dataset import on_disk, write_metadata
from rhbatch.store.ledger import LedgerRefused
from rhbatch.store.manifest import write_manifest, write_run
from rhbatch.store.report import write_report
from rhbatch.store.state import STATE_DIR

ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DOWNLOADING)
DONE = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.UNKNOWN, JobStatus.UNFETCHED)


def execute(run: Prepared, interrupts: Interrupts | None) -> tuple[int, str | None]:
    """Run the batch and write its books; the exit code and a note for the end."""
    check = run.checked
    store, out_dir, spec = run.store, check.out_dir, check.spec
    code, note = asyncio.run(_send(run, interrupts))
    if interrupts is not None:
        interrupts.winding_down()  # what follows is brief, and says how to go on
    counts = store.counts()
    base = "emulator" if check.request.emulator else credentials.base_url(check.request.base_url)
    left_out = 0  # files the manifest records that are not there: no metadata row
    remote = check.remote
    # A run stopped by a full disk has said so (the note); what follows may meet the
    # same full disk, and must not hide the note and the way to continue.
    with contextlib.suppress(StateError, OSError):
        if code != EXIT_FATAL:  # the run's last act was to write the manifest
            store.set_meta("manifest_of", run.origin.sha256)
        info = run_info(
            spec,
            store,
            run.version,
            check.spend.cap,
            run.started,
            base,
            note,
            check.report.prompt_field,
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
        time.time() - run.started,
        resume_command(check.request.args, out_dir),
        left_out=left_out,
    )
    return code, note


async def _send(run: Prepared, interrupts: Interrupts | None) -> tuple[int, str | None]:
    """Send, follow and fetch what is left; the exit code and a note for the end
    (interrupted, stopped by ...)."""
    check, store, shown = run.checked, run.store, run.shown
    request, out_dir, args = check.request, check.out_dir, check.request.args
    todo = store.counts()
    earlier = store.unsettled_versions()  # tasks of replaced versions, bill not known
    if not sum(todo.get(s, 0) for s in ACTIVE) and not earlier:  # all done: no request at all
        if not run.manifest_current:
            write_manifest(store, out_dir)
        return EXIT_OK, None
    legacy = check.settings.api == "legacy"
    async with contextlib.AsyncExitStack() as stack:
        client, clock = await connect(args, stack, legacy=legacy, state=out_dir / STATE_DIR)
        try:
            limit = await _account_limit(client)
        except Unreachable as exc:
            return exc.exit_code, f"stopped: {exc}{_resume_hint(exc, run)}"
        pinned = tuple(e for e in check.report.per_endpoint if pinned_kind(e))
        await check_pins(client, check.registry, pinned)  # a changed workflow or app is not run
        options = _options(run, limit)
        if earlier:  # before the budget is read: what they cost counts against the cap
            say_settled(shown, await settle_earlier(client, store, options.limits))
        if check.spend.online:
            await ask_online(client, store, check.registry, shown)
        await check_balance(client, store, check.spend, shown)
        runner: Runner | None = None  # TASK_END posts wake it, once it is made just below

        def delivered(token: str, state: TaskState) -> bool:
            return runner is not None and runner.on_webhook(token, state)

        if request.webhook_listen or request.webhook_url:
            receiver = Receiver(
                request.webhook_listen or "127.0.0.1:0", request.webhook_url, delivered
            )
            await receiver.start()
            stack.push_async_callback(receiver.stop)
            options.webhook_url = receiver.url
        runner = Runner(
            wire(
                store=store,
                client=client,
                registry=check.registry,
                out_dir=out_dir,
                base_dir=check.spec.path.resolve().parent,
                options=options,
                report=shown,
                clock=clock,
                budget=budget_for(store, check.spend),
                mirror=check.remote,
                ledger=run.ledger,
            )
        )
        in_run = asyncio.Event()  # while set, a second signal cancels the runner
        interrupted = _on_interrupt(runner, interrupts, in_run)
        done_before = sum(todo.get(s, 0) for s in DONE)
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
            return exc.exit_code, f"stopped: {exc}{_resume_hint(exc, run)}"
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
            where = "in the emulator's saved state" if request.emulator else "remotely"
            verb = "keeps" if running == 1 else "keep"
            tail = f"{plural(running, 'task')} {verb} running {where}; " if running else ""
            return (
                EXIT_INTERRUPTED,
                f"interrupted: {tail}resume with: {resume_command(args, out_dir)}",
            )
    return EXIT_OK, None


def _resume_hint(exc: FatalError, run: Prepared) -> str:
    args, out_dir = run.checked.request.args, run.checked.out_dir
    if isinstance(exc, Unreachable):
        return (
            "; every job is kept as it was: once it is reachable, run the same command "
            f"again: {resume_command(args, out_dir)}"
        )
    if isinstance(exc, SpendCapReached):
        again = resume_command(args, out_dir, drop=("--max-spend",))
        # The cap that lets every job left be sent, at its quote: what the directory is
        # billed, what may be, and the rest's quote (rounded up to the cent).
        cap = math.ceil(to_finish(run.store) * 100) / 100
        return (
            "; nothing more was submitted, the tasks in flight were seen through. A rerun "
            f"with a higher cap submits only the rest: {again} --max-spend {cap:.2f}"
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


def _options(run: Prepared, account: int | None) -> Options:
    settings, request = run.checked.settings, run.checked.request
    limits = [n for n in (request.concurrency, settings.concurrency, account) if n]
    # A few tasks queued on the server beyond the running slots: a slot that frees starts
    # the next task at once, however late rhbatch notices the end (back-pressure lowers it).
    # Only where the account's slots are the limit: below it, more would run, not queue.
    binding = bool(account) and min(limits) == account
    ahead = settings.queue_ahead
    if ahead is None:
        ahead = max(2, -(-account // 5)) if binding and account else 0
    elif not binding:
        ahead = 0
    return Options(
        concurrency=min(limits) if limits else DEFAULT_CONCURRENCY,
        queue_ahead=int(ahead),
        poll_interval=float(settings.poll_interval),
        timeout=float(settings.timeout),
        retries=int(settings.retries),
        download_concurrency=int(settings.download_concurrency),
        naming=run.checked.spec.naming,
        download=bool(settings.download) and not request.no_download,
        signal_interval=float(settings.signal_interval),
        url_max_age=float(settings.url_max_age),
        limits=download_limits(settings),
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
