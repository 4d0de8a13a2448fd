"""How a run is put together: ``wire`` makes every piece of a run from its inputs.

The store, the client, the registry and the options come in; out come the
groups each job is handed (``Crew``), the fetcher of result files, the commits
of the store's writes, and what the run loop itself keeps. ``Runner(wire(...))``
(``loop.py``) runs them. Nothing is started here: no task, no request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rhbatch.api.client import Client
from rhbatch.endpoints.registry import Registry
from rhbatch.runner.budget import Budget
from rhbatch.runner.clock import Clock
from rhbatch.runner.commits import Commits
from rhbatch.runner.crew import Calls, Crew, Ends, Health, Options, Records, Sending, Slots
from rhbatch.runner.ends import Watcher
from rhbatch.runner.fetch import Fetcher, Mirror
from rhbatch.runner.inputs import Inputs
from rhbatch.runner.limiter import Limiter
from rhbatch.runner.lost import LostReplies
from rhbatch.runner.progress import Reporter
from rhbatch.runner.schedule import Schedule
from rhbatch.runner.stops import Stops
from rhbatch.runner.uploads import Uploader
from rhbatch.store.ledger import Ledger
from rhbatch.store.state import Store

PRIMED_SPREAD = 60  # the longest wait between checks of a task, in poll intervals, when primed


@dataclass(frozen=True)
class Wired:
    """A run's pieces: what each job is handed, the fetcher, the commits, where the
    results go and how often the manifest is rewritten (real seconds)."""

    crew: Crew
    fetcher: Fetcher
    commits: Commits
    out_dir: Path
    manifest_every: float


def wire(
    *,
    store: Store,
    client: Client,
    registry: Registry,
    out_dir: Path,
    base_dir: Path,
    options: Options,
    report: Reporter,
    clock: Clock,
    budget: Budget,
    mirror: Mirror | None = None,
    ledger: Ledger | None = None,
) -> Wired:
    """Make the pieces of a run over ``store``, on ``clock``, within ``budget`` (``ledger``:
    --out URL, the store's changes go to the bucket too; ``mirror``: each saved file is put
    there too)."""
    stops = Stops(report)
    health = Health(client.base_url, options.poll_interval, clock, stops.halt)
    calls = Calls(client, clock, health, stops.stopping, options.poll_interval)
    limiter = Limiter(options.concurrency + options.queue_ahead)
    # With the queue primed, a late notice idles no slot: checks follow the durations
    # learned, up to PRIMED_SPREAD poll intervals apart, rather than every poll interval.
    primed = options.queue_ahead > 0
    longest = options.poll_interval * (PRIMED_SPREAD if primed else 1)
    schedule = Schedule(longest, min(1.0, options.poll_interval / 5), primed=primed)
    webhooks = bool(options.webhook_url)
    watcher = Watcher(
        client,
        schedule,
        options.signal_interval,
        clock=clock,
        webhooks=webhooks,
        cover=limiter.cover if primed else None,
    )
    uploader = Uploader(
        client,
        store,
        registry,
        base_dir,
        sleep=clock.sleep,
        on_upload=lambda path, size: report.emit("uploaded", path=path, bytes=size),
    )
    inputs = Inputs(store, uploader, out_dir, speed=clock.speed, url_max_age=options.url_max_age)
    commits = Commits(store, stops, calls.pause, ledger)
    lost = LostReplies(client, watcher, webhooks=webhooks, clock=clock)
    crew = Crew(
        calls=calls,
        records=Records(store, report),
        slots=Slots(limiter, stops.closed, clock),
        ends=Ends(watcher, schedule, options.timeout),
        sending=Sending(inputs, uploader, lost, commits.durable, options.webhook_url),
        budget=budget,
        stops=stops,
        retries=options.retries,
        download=options.download,
    )
    fetcher = Fetcher(
        store=store,
        client=client,
        out_dir=out_dir,
        naming=options.naming,
        limits=options.limits,
        concurrency=options.download_concurrency,
        pause=calls.pause,
        emit=report.emit,
        cap=calls.cap,
        mirror=mirror,
    )
    spend = crew.budget
    report.sources(
        running=lambda: limiter.in_flight,
        oldest=watcher.oldest,
        spent=lambda: (spend.billed, spend.cap),
    )
    return Wired(crew, fetcher, commits, out_dir, options.manifest_every)
