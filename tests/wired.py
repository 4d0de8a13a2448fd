"""The pieces of a run, wired as a run wires them, for the unit tests of a job and of
following a task: a real emulator over loopback, a real client and state store, the
events a run would emit kept in a list."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rhbatch.api.client import Client
from rhbatch.emulator import Emulator
from rhbatch.endpoints.registry import registry
from rhbatch.runner.budget import Budget
from rhbatch.runner.clock import Clock
from rhbatch.runner.crew import Crew, Options
from rhbatch.runner.events import Event
from rhbatch.runner.progress import reporter
from rhbatch.runner.wiring import wire
from rhbatch.store.state import Store

R = TypeVar("R")
T = TypeVar("T")
Make = Callable[[Emulator, Client, Store, Crew, list[Event]], R]


@dataclass
class Pieces:
    """What ``run_wired`` hands a rig: the emulator, the client, the store, the crew a job
    is handed, and the events the run emitted."""

    emu: Emulator
    client: Client
    store: Store
    crew: Crew
    events: list[Event]

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]


def run_wired(
    tmp_path: Path,
    make: Make[R],
    work: Callable[[R], Awaitable[T]],
    *,
    options: Options,
    task_seconds: float,
    **emulator: Any,
) -> T:
    """``work`` with a rig ``make`` builds from the pieces ``wire`` makes for a run into
    ``tmp_path/out``, against an emulator whose seedance-v1-lite tasks take
    ``task_seconds`` (on the test's clock: virtual time makes them exact)."""

    async def go() -> T:
        durations = {"seedance-v1-lite/*": {"kind": "fixed", "value": task_seconds}}
        async with (
            Emulator(speed=1.0, durations_by_endpoint=durations, **emulator) as emu,
            Client(emu.base_url, emu.api_key) as client,
        ):
            with Store.open(tmp_path / "out") as store:
                events: list[Event] = []
                wired = wire(
                    store=store,
                    client=client,
                    registry=registry(),
                    out_dir=tmp_path / "out",
                    base_dir=tmp_path,
                    options=options,
                    report=reporter(quiet=True, log_json=False, name="t", on_event=events.append),
                    clock=Clock(),
                    budget=Budget(None),
                )
                return await work(make(emu, client, store, wired.crew, events))

    return asyncio.run(go())
