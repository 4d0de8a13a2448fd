"""Virtual time for tests: asyncio's answer to trio's ``MockClock(autojump_threshold=...)``.

Every event loop made while a ``VirtualClock`` is installed (``asyncio.run``, the
emulator's thread, ``--emulator`` runs) reads the clock's time as ``loop.time()``:
its timers (``asyncio.sleep``, timeouts, ``call_later``) are on virtual time, and so
are the runner's ``Clock`` (through ``rhbatch.runner.clock.monotonic``) and the
emulator's task durations (it reads its loop's time). Virtual time stands still
while anything runs, and jumps straight to the next timer once everything waits on
the clock alone: a ten-minute timeout passes in milliseconds and reads exactly 600.

"Everything waits" means, all at once:

- every loop alive (run once and not closed) is inside its selector with no timer
  due, no callback ready and no I/O readable: a loop that runs callbacks, or that is
  between two runs (its thread doing plain code), holds the clock;
- no job sent to a thread (``run_in_executor``, ``asyncio.to_thread``, the resolver)
  is still under way: it holds the clock until its loop has taken the result;
- the thread that installed the clock (the test's) is inside a loop: while the test's
  own code runs between two calls, time stands still;
- and each loop has looked at its sockets again since the last change anywhere. A
  request one loop wrote to another over loopback is readable by the time the other
  looks, so a jump never happens with a request in flight. (As trio's autojump with a
  threshold of 0; ``threshold`` asks for that many real seconds of quiet besides, for
  peers the clock cannot see.)

A thread that waits on another without a loop (``thread.join`` in a coroutine) holds
the clock for good: such tests keep real time (``fast_clock``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import math
import selectors
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
INF = math.inf
LONG = 0.05  # real seconds a loop waits when only a poke can make it look again


class _LoopState:
    """What the clock knows of one loop: idle in its selector or not, until when, and how
    to make it look at its sockets again (``poke``)."""

    __slots__ = ("__weakref__", "clean", "deadline", "idle", "poke")

    def __init__(self, poke: Callable[[], None]) -> None:
        self.idle = False
        self.deadline = INF
        self.clean = -1  # the change count its last empty look at its sockets began at
        self.poke = poke


class VirtualClock:
    """Virtual seconds shared by every loop made while it is installed (``install``)."""

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = threshold  # real seconds of quiet before a jump
        self.jumps = 0
        self._now = 0.0
        self._lock = threading.Lock()
        self._loops: weakref.WeakSet[_LoopState] = weakref.WeakSet()
        self._outside = 0  # threads doing plain code that time must wait for
        self._changes = 0  # counts every change of any loop's or thread's state
        self._changed = time.monotonic()
        self._local = threading.local()  # .held: tokens this thread holds
        self._previous: asyncio.AbstractEventLoopPolicy | None = None
        self._real_since: float | None = None  # uninstalled: time passes as real time

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now:g}, jumps={self.jumps})"

    def now(self) -> float:
        """Virtual seconds since the clock was made."""
        if self._real_since is not None:
            return self._now + (time.monotonic() - self._real_since)
        return self._now

    @property
    def detached(self) -> bool:
        """Uninstalled: a loop that outlives the test (a library's own, on a thread of its
        own) goes on in real time from the time it had, with no jumps."""
        return self._real_since is not None

    def advance(self, seconds: float) -> None:
        """Move time on by hand (timers that fall due run when their loop next looks)."""
        with self._lock:
            self._now += max(0.0, seconds)
            self._change()

    # --- installing -------------------------------------------------------------------

    def install(self) -> None:
        """Loops made from now on run on this clock; this thread holds it while outside them."""
        clock = self

        class Policy(asyncio.DefaultEventLoopPolicy):
            def new_event_loop(self) -> asyncio.AbstractEventLoop:
                return VirtualLoop(clock)

        self._previous = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(Policy())
        self._hold(1)

    def uninstall(self) -> None:
        if self._previous is not None:
            asyncio.set_event_loop_policy(self._previous)
            self._previous = None
            self._hold(-1)
            with self._lock:
                self._real_since = time.monotonic()
                for state in self._loops:
                    state.poke()  # each looks at its timers again, in real time

    @contextmanager
    def installed(self) -> Iterator[VirtualClock]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    # --- the state of threads and loops (under the lock) --------------------------------

    def _change(self) -> None:
        self._changes += 1
        self._changed = time.monotonic()

    def _hold(self, n: int) -> None:
        """This thread holds (n > 0) or lets go of (n < 0) the clock."""
        self._local.held = getattr(self._local, "held", 0) + n
        self._adjust(n)

    def _adjust(self, n: int) -> None:
        with self._lock:
            self._outside += n
            self._change()

    def _add(self, state: _LoopState) -> None:
        with self._lock:
            self._loops.add(state)
            self._change()

    def _remove(self, state: _LoopState) -> None:
        with self._lock:
            self._loops.discard(state)
            self._change()

    @contextmanager
    def _running(self) -> Iterator[None]:
        """A loop runs on this thread: what the thread held is the loop's to hold now."""
        held = getattr(self._local, "held", 0)
        self._adjust(-held)
        try:
            yield
        finally:
            self._adjust(held)

    def _idle(self, state: _LoopState, deadline: float) -> None:
        with self._lock:
            state.idle, state.deadline, state.clean = True, deadline, -1
            self._change()
            if self._outside == 0 and all(s.idle for s in self._loops):
                for other in self._loops:  # all wait: each must look again, now
                    if other is not state:
                        other.poke()

    def _busy(self, state: _LoopState) -> None:
        with self._lock:
            state.idle = False
            self._change()

    def _quiet(self, state: _LoopState, began: int) -> float:
        """A loop looked at its sockets from change ``began`` on and found nothing: jump
        to the next timer if every loop has done so since the last change and that was
        ``threshold`` ago. The real seconds the loop may wait before it looks again."""
        with self._lock:
            if began != self._changes or self._real_since is not None:
                return 0.0
            state.clean = began
            loops = list(self._loops)
            if self._outside > 0 or not all(s.idle and s.clean == began for s in loops):
                return LONG  # a poke comes when all are idle again
            left = self._changed + self.threshold - time.monotonic()
            if left > 0:
                return left
            target = min((s.deadline for s in loops), default=INF)
            if not self._now < target < INF:
                return LONG  # all wait on something that is not a timer
            self._now = target
            self.jumps += 1
            self._change()
            for other in loops:
                if other is not state and other.deadline <= target:
                    other.poke()
            return 0.0

    # --- jobs on threads ------------------------------------------------------------------

    def _job(self, func: Callable[..., T]) -> Callable[..., T]:
        """``func`` for an executor: its thread holds the clock (a loop it runs takes it
        over); ``_let_go_on`` lets go once the result is back on the loop."""

        def job(*args: Any) -> T:
            self._local.held = getattr(self._local, "held", 0) + 1
            try:
                return func(*args)
            finally:
                self._local.held -= 1

        return job

    def _let_go_on(self, loop: asyncio.AbstractEventLoop) -> Callable[[Any], None]:
        def done(_: Any) -> None:
            try:
                loop.call_soon_threadsafe(self._adjust, -1)
            except RuntimeError:  # the loop is closed: nothing there will wait for it
                self._adjust(-1)

        return done


def _poke(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # full: poked already; closed: gone
        sock.send(b"\0")


class _Selector:
    """The loop's selector: it looks at the loop's sockets until they have something, or
    time reaches the loop's next timer, telling the clock when it found nothing. Another
    loop makes it look again at once by a byte on its own socket pair (a poke)."""

    def __init__(self, clock: VirtualClock, loop: VirtualLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self._loop = weakref.ref(loop)
        self._wake, self._poked = socket.socketpair()
        self._wake.setblocking(False)
        self._poked.setblocking(False)
        self._real.register(self._wake, selectors.EVENT_READ)
        self.state = _LoopState(functools.partial(_poke, self._poked))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def close(self) -> None:
        self._real.close()
        self._wake.close()
        self._poked.close()

    def _look(self, wait: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(wait)
        events = [(key, mask) for key, mask in ready if key.fileobj is not self._wake]
        if len(events) < len(ready):
            with contextlib.suppress(OSError):
                while self._wake.recv(4096):
                    pass
        return events

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if (timeout is not None and timeout <= 0) or self._clock.detached:
            return self._look(timeout)
        loop = self._loop()
        scheduled = loop._scheduled if loop is not None else []  # type: ignore[attr-defined]
        deadline = scheduled[0]._when if scheduled else INF  # the head is never cancelled here
        clock, state = self._clock, self.state
        clock._idle(state, deadline)
        wait = 0.0
        try:
            while True:
                began = clock._changes
                events = self._look(wait)
                if events or clock.detached:
                    return events
                if clock.now() >= deadline:
                    return []
                wait = clock._quiet(state, began)
                if clock.now() >= deadline:
                    return []
        finally:
            clock._busy(state)


class VirtualLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a ``VirtualClock``'s time."""

    def __init__(self, clock: VirtualClock) -> None:
        self._vclock = clock
        selector = _Selector(clock, self)
        self._vstate = selector.state
        super().__init__(selector)  # type: ignore[arg-type]

    def time(self) -> float:
        return self._vclock.now()

    def run_forever(self) -> None:
        # A loop counts from its first run until it is closed: one made and never run (a
        # library's get_event_loop) has nothing to wait for.
        self._vclock._add(self._vstate)
        with self._vclock._running():
            super().run_forever()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._vclock._remove(self._vstate)

    def run_in_executor(  # type: ignore[override]
        self, executor: concurrent.futures.Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        # asyncio 3.11's own, but the job holds the clock until its result is back here
        self._check_closed()  # type: ignore[attr-defined]
        if executor is None:
            self._check_default_executor()  # type: ignore[attr-defined]
            executor = getattr(self, "_default_executor", None)
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self.set_default_executor(executor)
        self._vclock._adjust(1)
        try:
            done = executor.submit(self._vclock._job(func), *args)
        except BaseException:
            self._vclock._adjust(-1)
            raise
        wrapped = asyncio.wrap_future(done, loop=self)
        done.add_done_callback(self._vclock._let_go_on(self))  # after the result is on its way
        return wrapped


@contextmanager
def virtual_time() -> Iterator[VirtualClock]:
    """Loops made inside run on a new virtual clock, and so do rhbatch's ``Clock``s, at
    speed 1 unless given another (a run second is a virtual second)."""
    clock = VirtualClock()
    with pytest.MonkeyPatch.context() as mp, clock.installed():
        mp.setattr("rhbatch.runner.clock.SPEED", 1.0)
        mp.setattr("rhbatch.runner.clock.monotonic", clock.now)
        yield clock
