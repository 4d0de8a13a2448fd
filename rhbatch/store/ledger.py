"""The ledger in the bucket: what a run into object storage needs to go on on a new machine.

With ``--out s3://bucket/batch`` the state store lives on local disk, and a
machine that vanishes (a pod rescheduled, a spot machine reclaimed) takes it
along. So the store's changes (``journal.py``) are shipped to the bucket, under
``.rhbatch/ledger/``, as numbered segments, each made durable *before* the action
it guards: a submit waits until its intent is in the bucket, as it waits for the
local commit. Task ids and ends follow within ``SHIP_EVERY`` seconds. A worker
that starts on a fresh disk rebuilds its store from the last snapshot and the
segments after it, and goes on as a local run after a crash would: a task
whose id is known is followed, a submit whose task id never reached the bucket
is ``unknown`` (never sent again blindly).

One writer at a time: each segment is created with a conditional put that
fails if its number is taken (so a second writer is refused at its first
segment), and a lease (``.rhbatch/lease.json``, renewed every third of
``LEASE_SECONDS``) keeps a second worker from starting while the first lives.
Where the back end has no conditional writes, both are read-then-write
(``bucket.py``).

Each segment says its number, kind (``changes`` or ``snapshot``), writer, spec
and entries, and ends with the SHA-256 of what precedes (``segments.py``): a
segment edited or cut short by hand is refused, as is a ledger of another spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rhbatch.errors import StateError
from rhbatch.redact import scrub
from rhbatch.store.bucket import Bucket, Conflict
from rhbatch.store.journal import Entry
from rhbatch.store.segments import HELP, Segment, decode, encode, segment_name
from rhbatch.store.state import Store

PREFIX = ".rhbatch/ledger"
LEASE = ".rhbatch/lease.json"
SHIP_EVERY = 0.25  # seconds: how soon a task id or an end reaches the bucket
LEASE_SECONDS = 60.0  # a lost worker's lease blocks a new one for at most this long
COMPACT_AFTER = 64  # segments after which a run's end writes a snapshot
RETRY_MAX = 30.0  # seconds between tries to write a ledger the bucket refuses


class LedgerRefused(StateError):
    """The ledger cannot be written (another writer, or a run stopped while the bucket
    refused): nothing that needs it may be sent."""


def lease_seconds() -> float:
    """``RHBATCH_LEASE_SECONDS``, else LEASE_SECONDS."""
    text = os.environ.get("RHBATCH_LEASE_SECONDS", "")
    try:
        value = float(text) if text else LEASE_SECONDS
    except ValueError:
        problem = f"RHBATCH_LEASE_SECONDS must be a number of seconds, not {text!r}"
        raise StateError(problem) from None
    if not 1 <= value <= 3600:
        raise StateError(f"RHBATCH_LEASE_SECONDS must be between 1 and 3600, not {text}")
    return value


class Ledger:
    """The bucket's copy of one run's state store, kept by one writer at a time."""

    def __init__(
        self,
        bucket: Bucket,
        store: Store,
        *,
        spec: str,
        shown: str,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.time,
        seconds: float | None = None,
    ) -> None:
        self.bucket, self.store, self.spec, self.shown = bucket, store, spec, shown
        self.say, self.clock = say, clock
        self.seconds = seconds if seconds is not None else lease_seconds()
        self.n = 0  # the last segment in the bucket
        self.shipped = 0  # the last journal entry in the bucket
        self.since_snapshot = 0
        self.writer = store.get_meta("ledger_writer") or uuid.uuid4().hex
        self.lease_tag: str | None = None
        self.expires = 0.0
        self.puts = 0
        self._lock = asyncio.Lock()
        self._failing = False
        self._cache: dict[int, Segment] = {}
        self.sleep = time.sleep  # while waiting for another worker's lease to lapse

    # --- the start: lease, restore, catch up ----------------------------------------

    def open(self) -> str:
        """Take the lease, bring the local store up to the bucket's ledger and ship what
        the store holds that the bucket does not. A line that says what was done."""
        self.acquire()
        self.store.journaled()
        found = self._segments()
        mine = int(self.store.get_meta("ledger_n") or 0)
        said = ""
        if not found:
            if mine:
                said = f"ledger: {self.shown} had no ledger; this machine's state is put there"
            self.store.set_meta("ledger_writer", self.writer)
            self._put_snapshot()  # the whole store: a new ledger starts from it
            return said
        last = found[-1]
        head = self._read(last)
        if head.spec != self.spec:
            raise StateError(
                f"{self.shown} holds the ledger of spec {head.spec!r}; this is spec "
                f"{self.spec!r}: give another --out, or the spec that made it"
            )
        start = self._start(found)
        ours = self.store.get_meta("ledger_writer") == head.writer and start <= mine
        after = [self._read(n) for n in found if n > mine] if ours else []
        if ours and all(s.writer == self.writer for s in after):
            # This store wrote them (a run killed before it noted the last): apply them
            # again, and keep what it has not shipped yet.
            if after:
                self._apply(after, fresh=False)
                self.shipped = max(s.upto for s in after)
        else:
            segments = [self._read(n) for n in found if n >= start]
            rows = self._apply(segments, fresh=True)
            said = (
                f"ledger: the state was rebuilt from {self.shown} "
                f"({len(segments)} segments, {rows} rows)"
            )
        self.n = last
        self.since_snapshot = sum(1 for n in found if n > start)
        self.store.set_meta("ledger_writer", self.writer)
        self.store.set_meta("ledger_n", str(self.n))
        # A segment of its own at once, whatever changed: a worker that held the ledger
        # before (thought lost, and alive) finds its next segment's number taken.
        self.store.set_meta("writer", self.writer)
        self._ship(self.store.journal_changes(self.shipped))
        return said

    def _apply(self, segments: list[Segment], *, fresh: bool) -> int:
        """Write the rows the segments hold into the store, in order (``fresh``: in place
        of all it holds: a store rebuilt from the last snapshot on; else over it, keeping
        the changes it has not shipped); how many rows."""
        return self.store.restore([e for s in segments for e in s.entries], fresh=fresh)

    def _segments(self) -> list[int]:
        names = self.bucket.names(PREFIX)
        return sorted(int(n.split(".")[0]) for n in names if n.endswith(".jsonl"))

    def _start(self, found: list[int]) -> int:
        """The number of the last snapshot (read back from the last segment); every
        segment after it must be there."""
        have = set(found)
        n = found[-1]
        while n in have and self._read(n).kind != "snapshot":
            n -= 1
        if n not in have:
            what = "has no snapshot" if n < found[0] else f"lacks segment {n}"
            raise StateError(f"{self.shown}/{PREFIX} {what}: the ledger was damaged; {HELP}")
        return n

    def _read(self, n: int) -> Segment:
        if n in self._cache:
            return self._cache[n]
        name = f"{PREFIX}/{segment_name(n)}"
        got = self.bucket.read(name)
        if got is None:
            raise StateError(f"{self.shown}/{name} is gone: the ledger was damaged; {HELP}")
        segment = decode(f"{self.shown}/{name}", got[0])
        if segment.n != n:
            raise StateError(f"{self.shown}/{name} says it is segment {segment.n}; {HELP}")
        self._cache[n] = segment
        return segment

    # --- shipping -------------------------------------------------------------------

    def _ship(self, changed: tuple[int, list[Entry]], kind: str = "changes") -> None:
        """Ship ``changed`` as the next segment, now (blocking)."""
        segment = self._segment(changed, kind)
        if segment is not None:
            self._shipped(self._send(segment))

    def _segment(self, changed: tuple[int, list[Entry]], kind: str = "changes") -> Segment | None:
        """The next segment, for ``changed``; None when nothing changed."""
        last, entries = changed
        if not entries:
            self.shipped = max(self.shipped, last)
            return None
        return Segment(self.n + 1, kind, self.writer, self.spec, last, entries)

    def _send(self, segment: Segment) -> Segment:
        """Create the segment in the bucket (any thread: no store access): the segment the
        bucket holds under its number. ``LedgerRefused`` if another writer made it first.
        A put whose reply was lost may have landed: a segment of this writer found under
        the number is that put's (what it holds is shipped; the rest goes in the next)."""
        name = f"{PREFIX}/{segment_name(segment.n)}"
        try:
            self.bucket.create(name, encode(segment))
        except Conflict:
            got = self.bucket.read(name)
            found = decode(f"{self.shown}/{name}", got[0]) if got is not None else None
            if found is not None and found.writer == self.writer and found.n == segment.n:
                self.puts += 1
                return found
            raise LedgerRefused(
                f"another rhbatch run writes the ledger of {self.shown} (segment {segment.n} "
                "was made by it): this one stops, sending nothing more"
            ) from None
        self.puts += 1
        return segment

    def _shipped(self, segment: Segment) -> None:
        """Note the segment in the store (the event loop's thread: the store's own)."""
        self.n, self.shipped = segment.n, max(self.shipped, segment.upto)
        self.since_snapshot = 0 if segment.kind == "snapshot" else self.since_snapshot + 1
        self.store.journal_trim(segment.upto)
        self.store.set_meta("ledger_n", str(self.n))

    def _put_snapshot(self) -> None:
        last = self.store.journal_last()
        self._ship((last, self.store.snapshot()), kind="snapshot")

    async def flush(self, pause: Callable[[float], Awaitable[bool]] | None = None) -> None:
        """Wait until every change so far is in the bucket (a submit's intent, first of
        all). A bucket that refuses is tried again, ever more slowly, and said once; the
        submits wait meanwhile. ``pause(seconds)``: True when the run stops (then
        ``StateError``)."""
        target = self.store.journal_last()
        if target <= self.shipped:
            return
        async with self._lock:
            delay = 0.5
            while target > self.shipped:
                self._check_lease()
                segment = self._segment(self.store.journal_changes(self.shipped))
                if segment is None:
                    break
                try:
                    segment = await asyncio.to_thread(self._send, segment)
                except StateError:
                    raise
                except Exception as exc:  # fsspec back ends raise their own kinds
                    if not self._failing:
                        self._failing = True
                        self.say(
                            f"rhbatch: cannot write the ledger to {self.shown} "
                            f"({scrub(str(exc))[:200]}); nothing is submitted until it can"
                        )
                    if pause is None:
                        await asyncio.sleep(delay)
                    elif await pause(delay):
                        raise LedgerRefused(
                            f"the ledger could not be written to {self.shown}"
                        ) from None
                    delay = min(delay * 2, RETRY_MAX)
                    continue
                self._shipped(segment)
                if self._failing:
                    self._failing = False
                    self.say(f"rhbatch: the ledger is written to {self.shown} again")

    async def keep(
        self, sleep: Callable[[float], Awaitable[None]], pause: Callable[[float], Awaitable[bool]]
    ) -> None:
        """During a run: ship changes every SHIP_EVERY seconds, renew the lease in time."""
        while True:
            await sleep(SHIP_EVERY)
            if self.clock() >= self.expires - 2 * self.seconds / 3:
                await asyncio.to_thread(self.renew)
            await self.flush(pause)

    # --- the lease ------------------------------------------------------------------

    def _lease(self) -> bytes:
        self.expires = self.clock() + self.seconds
        body = {
            "writer": self.writer,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "expires": self.expires,
            "seconds": self.seconds,
        }
        return json.dumps(body).encode()

    def acquire(self) -> None:
        """Take the lease, or refuse: another worker holds it. A holder on this machine
        whose process is gone, or a lease past its expiry, is taken over; a lease of a
        lost machine is waited for (at most its expiry)."""
        waited_for: float | None = None
        while True:
            got = self.bucket.read(LEASE)
            try:
                if got is None:
                    self.lease_tag = self.bucket.create(LEASE, self._lease())
                    return
                held = _parse(got[0])
                if self._free(held):
                    self.lease_tag = self.bucket.replace(LEASE, self._lease(), got[1])
                    return
            except Conflict:
                continue  # someone wrote it meanwhile: read again
            expires = float(held.get("expires") or 0)
            who = f"host {held.get('host')!s}, pid {held.get('pid')!s}"
            if waited_for is not None and expires > waited_for:
                raise StateError(
                    f"{self.shown} is in use by another rhbatch run ({who}), which keeps "
                    "renewing its lease: two workers must not write one output location; "
                    "stop it or use another --out"
                )
            wait = max(0.0, expires - self.clock()) + 0.1
            self.say(
                f"rhbatch: {self.shown} is leased by another rhbatch run ({who}); waiting "
                f"{wait:.0f} s for the lease to lapse (a lost machine's lease does)"
            )
            waited_for = expires
            self.sleep(wait)

    def _free(self, held: dict[str, Any]) -> bool:
        if held.get("writer") == self.writer:
            return True
        if float(held.get("expires") or 0) < self.clock():
            return True
        if held.get("host") == socket.gethostname():
            pid = held.get("pid")
            if isinstance(pid, int) and not _alive(pid):
                return True
        return False

    def renew(self) -> None:
        """Extend the lease; ``StateError`` if another worker took it."""
        try:
            try:
                self.lease_tag = self.bucket.replace(LEASE, self._lease(), self.lease_tag or "")
            except Conflict:
                # A renewal whose reply was lost may have landed: the lease is still ours
                # if it names this writer; renew it from the version the bucket holds.
                got = self.bucket.read(LEASE)
                if got is None or _parse(got[0]).get("writer") != self.writer:
                    raise
                self.lease_tag = self.bucket.replace(LEASE, self._lease(), got[1])
        except Conflict:
            raise LedgerRefused(
                f"another rhbatch run took the lease of {self.shown}: this one stops, sending "
                "nothing more"
            ) from None
        except Exception:  # the bucket is unreachable: the next try may reach it
            return

    def _check_lease(self) -> None:
        if self.clock() >= self.expires:
            self.renew()  # lapsed (the bucket was unreachable): take it back or stop

    # --- the end ----------------------------------------------------------------------

    def close(self) -> None:
        """Ship what is left, write a snapshot when the segments have piled up (and drop
        the ones it replaces), and give the lease back. Best effort after a failed run:
        what is not shipped is in the local store, and the next run ships it."""
        with contextlib.suppress(Exception):
            self.store.commit()
            self._ship(self.store.journal_changes(self.shipped))
            if self.since_snapshot >= COMPACT_AFTER:
                before = self.n
                self._put_snapshot()
                for n in self._segments():
                    if n <= before:
                        self.bucket.remove(f"{PREFIX}/{segment_name(n)}")
            self.store.commit()
        with contextlib.suppress(Exception):
            got = self.bucket.read(LEASE)
            if got is not None and _parse(got[0]).get("writer") == self.writer:
                self.bucket.remove(LEASE)


def _parse(data: bytes) -> dict[str, Any]:
    try:
        found = json.loads(data)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
