"""The connection a command makes: to RunningHub, or to the built-in emulator started in
this process (``--emulator``), with the clock the run's times pass on."""

from __future__ import annotations

import argparse
import contextlib

from rhbatch.api import credentials
from rhbatch.api.client import Client
from rhbatch.run.clock import Clock


async def connect(
    args: argparse.Namespace, stack: contextlib.AsyncExitStack, *, legacy: bool = False
) -> tuple[Client, Clock]:
    """A client of RunningHub (or of the built-in emulator, started here with ``--emulator``)
    and the clock the run's times pass on. ``legacy``: workflows and apps start by the
    legacy calls."""
    if args.emulator:
        from rhbatch.emulator import Emulator  # only a --emulator run loads it

        speed = getattr(args, "emulator_speed", 1.0)
        emu = await stack.enter_async_context(
            Emulator(profile=getattr(args, "emulator_profile", "clean"), speed=speed)
        )
        client = await stack.enter_async_context(Client(emu.base_url, emu.api_key, legacy=legacy))
        return client, Clock(speed)  # the run's times pass as the emulator's
    base, key = credentials.base_url(args.base_url), credentials.api_key(args.api_key_env)
    return await stack.enter_async_context(Client(base, key, legacy=legacy)), Clock()
