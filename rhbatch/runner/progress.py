"""What a run shows while it works: the only tqdm user.

The runner reports events (``submitted``, ``succeeded``, ``failed``, ...) to a
``Reporter``. On a terminal that is a tqdm bar on stderr: jobs done out of the
total, with running, failed and cost so far, and an ETA. Elsewhere (a log
file, CI) a plain line every few seconds; with ``--log-json`` one JSON object
per event; with ``--quiet`` nothing. Nothing here ever sees the API key.

Whoever reads the output may go away (``rhbatch run ... | head``, a closed
terminal): the run's streams are ``Outlet``s, which fall silent on the first
write that fails, so that what a person stopped reading never fails a job or
changes the exit code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO, cast

from tqdm import tqdm

from rhbatch.redact import scrub, scrub_value
from rhbatch.runner.events import Event

DONE_EVENTS = ("succeeded", "failed", "unknown", "unfetched")  # a job ended, for this run


def age(seconds: float) -> str:
    """A duration the way a person reads it: 45s, 3m07s, 2h05m."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Outlet:
    """A text stream whose reader may go away. The first write or flush that fails
    silences it for good; its file descriptor is then pointed at the null device, so
    that nothing left in a buffer fails at exit either."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):  # a closed pipe or terminal, a closed file
                self._silence()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self._silence()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _silence(self) -> None:
        self.gone = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self.stream.fileno())
            finally:
                os.close(null)


def outlet(stream: TextIO) -> TextIO:
    """``stream`` as an Outlet (once)."""
    return stream if isinstance(stream, Outlet) else cast(TextIO, Outlet(stream))


@contextlib.contextmanager
def outlets() -> Iterator[None]:
    """Standard output and error as Outlets while a command runs."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = outlet(sys.stdout), outlet(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


class Reporter:
    """Counts events; subclasses show them. The runner tells it where to read the tasks
    in flight and the age of the oldest (``sources``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = outlet(stream or sys.stderr)
        self.total = 0
        self.done = 0
        self.failed = 0
        self.unknown = 0
        self.unfetched = 0
        self._running: Callable[[], int] = lambda: 0
        self.cost = 0.0
        self.started = time.monotonic()
        self._oldest: Callable[[], float | None] = lambda: None
        self._spent: Callable[[], tuple[float, float | None]] = lambda: (self.cost, None)
        self.on_event: Callable[[Event], None] | None = None  # rhbatch.run(on_event=...)

    def sources(
        self,
        *,
        running: Callable[[], int],
        oldest: Callable[[], float | None],
        spent: Callable[[], tuple[float, float | None]] | None = None,
    ) -> None:
        """Where to read how many tasks are in flight, how long ago the oldest of them was
        submitted (seconds; None when none is), and what is billed against what cap."""
        self._running, self._oldest = running, oldest
        if spent is not None:
            self._spent = spent

    def money(self) -> str:
        """What the batch has cost: the directory's total against its cap if it has one
        ("32.40/100.00 CNY"); else what the current jobs cost, and the directory's total
        when earlier versions cost more ("12.40 CNY, 32.40 in all")."""
        billed, cap = self._spent()
        if cap is not None:
            return f"{billed:,.2f}/{cap:,.2f} CNY"
        if billed > self.cost + 0.005:
            return f"{self.cost:,.2f} CNY, {billed:,.2f} in all"
        return f"{self.cost:,.2f} CNY"

    @property
    def running(self) -> int:
        """Tasks in flight: never more than the jobs not done (a job that failed at its
        start says so before it hands back its slot)."""
        return max(0, min(self._running(), self.total - self.done))

    def oldest(self) -> float | None:
        return self._oldest()

    def start(self, total: int, done: int, cost: float) -> None:
        self.total, self.done, self.cost = total, done, cost

    def emit(self, event: str, **fields: Any) -> None:
        if event == "succeeded":
            self.done += 1
            self.cost += float(fields.get("cost") or 0.0)
        elif event == "failed":
            self.done += 1
            self.failed += 1
        elif event == "unknown":
            self.done += 1
            self.unknown += 1
        elif event == "unfetched":
            self.done += 1
            self.unfetched += 1
        if self.on_event is not None:
            self.on_event(Event(event, time.time(), scrub_value(fields)))
        self.show(event, fields)

    def show(self, event: str, fields: dict[str, Any]) -> None:
        pass

    def tick(self) -> None:
        """Called every second or so even when nothing happens: a stalled run still shows
        that it is alive, and how old its oldest task is."""

    def message(self, text: str) -> None:
        """A line for the person running rhbatch (not a progress update)."""
        if self.on_event is not None:
            self.on_event(Event("message", time.time(), {"text": scrub(text)}))
        self.say(text)

    def say(self, text: str) -> None:
        print(scrub(text), file=self.stream)

    def close(self) -> None:
        pass

    def status_line(self) -> str:
        line = f"{self.done:,}/{self.total:,} done"
        troubles = [
            f"{n:,} {name}"
            for n, name in (
                (self.failed, "failed"),
                (self.unknown, "unknown"),
                (self.unfetched, "unfetched"),
            )
            if n
        ]
        if troubles:
            line += f" ({', '.join(troubles)})"
        line += f", {self.running:,} running"
        oldest = self.oldest()
        if oldest is not None:
            line += f" (oldest {age(oldest)})"
        return f"{line}, {self.money()}"


class Quiet(Reporter):
    def say(self, text: str) -> None:
        pass


class Lines(Reporter):
    """A plain status line at most every ``every`` seconds, for logs."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0) -> None:
        super().__init__(stream)
        self.every = every
        self._last: float | None = None  # when the last line was printed (never yet: None)
        self._said_done = False

    def tick(self) -> None:
        self.show("tick", {})

    def show(self, event: str, fields: dict[str, Any]) -> None:
        now = time.monotonic()
        finished = self.done == self.total and self.total > 0
        due = self._last is None or now - self._last >= self.every
        if due or (finished and not self._said_done):
            self._last = now
            self._said_done = finished
            elapsed = now - self.started
            print(f"rhbatch: {self.status_line()}, {elapsed:,.0f} s", file=self.stream, flush=True)


class Json(Reporter):
    """One JSON object per event, for machines."""

    def show(self, event: str, fields: dict[str, Any]) -> None:
        doc = {"ts": round(time.time(), 3), "event": event, **fields}
        line = json.dumps(doc, ensure_ascii=False, default=str)
        print(scrub(line), file=self.stream, flush=True)

    def say(self, text: str) -> None:
        self.show("message", {"text": text})


class Bar(Reporter):
    """A tqdm bar of jobs done, with running, failed and cost as its postfix."""

    def __init__(self, stream: TextIO | None = None, name: str = "jobs") -> None:
        super().__init__(stream)
        self.name = name
        self.bar: tqdm[Any] | None = None
        self._aged: float | None = None  # when the oldest task's age was last read
        self._age = ""

    def start(self, total: int, done: int, cost: float) -> None:
        super().start(total, done, cost)
        self.bar = tqdm(
            total=total,
            initial=done,
            desc=self.name,
            unit="job",
            file=self.stream,
            dynamic_ncols=True,
            smoothing=0.05,
        )
        self._postfix()

    def show(self, event: str, fields: dict[str, Any]) -> None:
        if self.bar is None:
            return
        if event in DONE_EVENTS:
            self.bar.update(1)
        self._postfix()

    def tick(self) -> None:
        if self.bar is not None:
            self._postfix()
            self.bar.refresh()

    def _postfix(self) -> None:
        if self.bar is not None:
            parts = {
                "running": self.running,
                "failed": self.failed,
                "cost": self.money(),
            }
            if self.unknown:
                parts["unknown"] = self.unknown
            if self.unfetched:
                parts["unfetched"] = self.unfetched
            now = time.monotonic()
            if self._aged is None or now - self._aged >= 1.0:  # the age at most once a second
                self._aged = now
                oldest = self.oldest()
                self._age = "" if oldest is None else age(oldest)
            if self._age and parts["running"]:  # none in flight: no age to show
                parts["oldest"] = self._age
            self.bar.set_postfix(parts, refresh=False)

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(scrub(text), file=self.stream)
        else:
            super().say(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def reporter(
    *,
    quiet: bool,
    log_json: bool,
    name: str,
    stream: TextIO | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Reporter:
    stream = stream or sys.stderr
    shown: Reporter
    if log_json:  # machine-readable events win over --quiet
        shown = Json(stream)
    elif quiet:
        shown = Quiet(stream)
    elif stream.isatty():
        shown = Bar(stream, name)
    else:
        shown = Lines(stream)
    shown.on_event = on_event
    return shown
