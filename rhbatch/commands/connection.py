"""The connection a command makes: to RunningHub, or to the built-in emulator started in
this process (``--emulator``), with the clock the run's times pass on. A run's emulator
keeps its tasks in the output directory (``.rhbatch/emulator/``), so that they outlive
the process as RunningHub's do: the next run into the directory finds them."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from rhbatch.api import credentials
from rhbatch.api.client import Client
from rhbatch.runner.clock import Clock

EMULATOR_STATE = "emulator"  # under an output directory's state directory


async def connect(
    args: argparse.Namespace,
    stack: contextlib.AsyncExitStack,
    *,
    legacy: bool = False,
    state: Path | None = None,
) -> tuple[Client, Clock]:
    """A client of RunningHub (or of the built-in emulator, started here with ``--emulator``)
    and the clock the run's times pass on. ``legacy``: workflows and apps start by the
    legacy calls. ``state``: the output directory's state directory, where the emulator
    keeps its tasks and uploads (``state/emulator/``); None: they end with the process."""
    if args.emulator:
        from rhbatch.emulator import Emulator  # only a --emulator run loads it

        speed = getattr(args, "emulator_speed", 1.0)
        profile = getattr(args, "emulator_profile", "clean")
        kept = None if state is None else state / EMULATOR_STATE
        emu = await stack.enter_async_context(
            Emulator(profile=profile, speed=speed, state_dir=kept)
        )
        client = await stack.enter_async_context(Client(emu.base_url, emu.api_key, legacy=legacy))
        return client, Clock(speed)  # the run's times pass as the emulator's
    base, key = credentials.base_url(args.base_url), credentials.api_key(args.api_key_env)
    return await stack.enter_async_context(Client(base, key, legacy=legacy)), Clock()
