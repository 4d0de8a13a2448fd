"""Tasks and accounts: who runs when, what it costs, and the ledger of it all.

Task states move on the emulator's clock without a coroutine per task: each
account keeps a heap of running tasks by end time and a FIFO of queued ones,
and ``advance(now)`` replays every end and start that has happened since the
last call, at the exact times they happened. So 100,000 tasks cost memory, not
timers, and peak concurrency is exact. Balances are reserved at submit and
charged on success, so they never go negative. ``body_hash`` names a request
by its endpoint and body: the key of the ledger's submissions. A task runs a
model endpoint, a workflow or an AI app (``origin``), started through the v2
API or the legacy one (``api``); the board treats them all alike.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from rhbatch.emulator.config import Account, EmulatorConfig

TERMINAL = frozenset({"SUCCESS", "FAILED", "CANCEL"})
INF = math.inf


def body_hash(endpoint: str, body: dict[str, Any]) -> str:
    """A request's identity in the ledger and for the fault dice: its endpoint and body."""
    text = json.dumps([endpoint, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Output:
    """One result file of a task, made on download."""

    ext: str
    key: str
    output_type: str
    text: str | None = None
    node_id: str | None = None  # the output node, for workflow and app tasks


@dataclass
class Task:
    id: str
    api_key: str
    endpoint: str
    output_type: str
    body: dict[str, Any]
    body_hash: str
    submitted: float
    duration: float  # emulator seconds once running; INF when stuck
    price: float
    fail_code: str | None = None
    webhook_url: str | None = None
    client_id: str = ""
    status: str = "QUEUED"
    started: float | None = None
    ended: float | None = None
    outputs: list[Output] = field(default_factory=list)
    polls: int = 0
    downloads: Counter[str] = field(default_factory=Counter)  # per output name
    origin: str = "model"  # model | workflow | app
    api: str = "v2"  # v2 | legacy: how it was started (the webhook's eventData follows it)
    cost_seconds: int = 0  # workflow and app tasks: the run time billed
    failed_reason: dict[str, Any] | None = None  # set for failures with node details
    dice: str = ""  # the request key its duration and fault dice were cast with (body#n)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class AccountState:
    """An account's balance, running tasks and queue."""

    def __init__(self, key: str, account: Account) -> None:
        self.key = key
        self.account = account
        self.balance = account.balance
        self.reserved = 0.0
        self.running = 0
        self.queue: deque[Task] = deque()
        self.ends: list[tuple[float, int, Task]] = []  # (end time, seq, task)
        self.peak_running = 0

    @property
    def queued(self) -> int:
        return len(self.queue)

    @property
    def available(self) -> float:
        return self.balance - self.reserved


class Board:
    """Every task and account, advanced on the emulator's clock."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.accounts = {key: AccountState(key, acc) for key, acc in config.accounts.items()}
        self.tasks: dict[str, Task] = {}
        self._next_id = 2013508786110730241 + config.seed % 1000 * 10**12
        self._seq = itertools.count()
        self.finished: list[Task] = []  # ended since last drained (for webhooks)
        # The ledger.
        self.submissions: Counter[str] = Counter()  # body hash -> accepted submits
        self.peak_running = 0
        self.running_now = 0

    def new_id(self) -> str:
        task_id = self._next_id
        self._next_id += 1
        return str(task_id)

    def _register(self, task: Task) -> None:
        """Put a task on the board by its id; ids handed out later come after it (a task
        replayed from a journal keeps its id, and no new one can collide with it)."""
        self.tasks[task.id] = task
        self.submissions[task.body_hash] += 1
        if task.id.isdigit():
            self._next_id = max(self._next_id, int(task.id) + 1)

    def add(self, task: Task, now: float) -> None:
        """Accept a task: start it if a slot is free, else queue it."""
        state = self.accounts[task.api_key]
        self.advance(now)
        self._register(task)
        state.reserved += task.price
        if state.running < state.account.concurrency:
            self._start(state, task, now)
        else:
            task.status = "QUEUED"
            state.queue.append(task)

    def add_failed(self, task: Task, now: float) -> None:
        """Record a task that failed before it could start (a ComfyUI validation error):
        it holds no slot, reserves nothing and costs nothing."""
        self._register(task)
        task.status, task.started, task.ended = "FAILED", now, now
        self.finished.append(task)

    def advance(self, now: float) -> None:
        """Apply every task end (and the starts it frees) up to ``now``."""
        for state in self.accounts.values():
            while state.ends and state.ends[0][0] <= now:
                end, _, task = heapq.heappop(state.ends)
                if task.terminal:  # cancelled while running: its slot is already free
                    continue
                self._finish(state, task, end)
                self._fill(state, end)

    def next_event(self) -> float:
        """The clock time of the next task end, or INF."""
        times = [s.ends[0][0] for s in self.accounts.values() if s.ends]
        return min(times, default=INF)

    def cancel(self, task: Task, now: float) -> None:
        state = self.accounts[task.api_key]
        self.advance(now)
        if task.terminal:
            return
        was_running = task.status == "RUNNING"
        task.status, task.ended = "CANCEL", now
        state.reserved -= task.price
        self.finished.append(task)
        if was_running:
            state.running -= 1
            self.running_now -= 1
            self._fill(state, now)
        else:
            state.queue.remove(task)

    def _start(self, state: AccountState, task: Task, at: float) -> None:
        task.status, task.started = "RUNNING", at
        state.running += 1
        self.running_now += 1
        state.peak_running = max(state.peak_running, state.running)
        self.peak_running = max(self.peak_running, self.running_now)
        heapq.heappush(state.ends, (at + task.duration, next(self._seq), task))

    def _fill(self, state: AccountState, at: float) -> None:
        while state.queue and state.running < state.account.concurrency:
            self._start(state, state.queue.popleft(), at)

    def _finish(self, state: AccountState, task: Task, at: float) -> None:
        state.running -= 1
        self.running_now -= 1
        task.ended = at
        state.reserved -= task.price
        if task.fail_code is None:
            task.status = "SUCCESS"
            state.balance -= task.price
        else:
            task.status = "FAILED"
        self.finished.append(task)

    def drain_finished(self) -> list[Task]:
        done, self.finished = self.finished, []
        return done

    def counts(self, key: str) -> tuple[int, int]:
        state = self.accounts[key]
        return state.running, state.queued
