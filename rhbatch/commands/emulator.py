"""``rhbatch emulator``: serve the built-in RunningHub emulator until Ctrl-C; with
``--state DIR``, its tasks and uploads kept in DIR and taken up again next time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from rhbatch.commands.common import plural
from rhbatch.errors import EXIT_OK, UsageError

PROFILES = ("clean", "flaky", "chaos")


def run(args: argparse.Namespace) -> int:
    from rhbatch.emulator import Account, Emulator, EmulatorConfig

    overrides = {"speed": args.speed, "seed": args.seed}
    try:
        config = EmulatorConfig.load(args.profile, args.config, **overrides)
    except (ValueError, TypeError, OSError) as exc:
        raise UsageError(f"emulator config: {exc}") from None
    if args.key:
        config.accounts = {args.key: next(iter(config.accounts.values()), Account())}
    state = getattr(args, "state", None)
    try:  # the workflows and apps of the config are read here
        emu = Emulator(config, host=args.host, port=args.port, state_dir=state)
    except (ValueError, TypeError) as exc:
        where = f" {args.config}" if args.config else ""
        raise UsageError(f"emulator config{where}: {exc}") from None

    async def serve() -> None:
        try:
            await emu.start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        try:
            print(
                f"RunningHub emulator on {emu.base_url} "
                f"(profile {args.profile}, speed {config.speed:g}x, seed {config.seed})"
            )
            print(f"API key: {emu.api_key}")
            print(f"  export RUNNINGHUB_BASE_URL={emu.base_url} RUNNINGHUB_API_KEY={emu.api_key}")
            print(f"  stats: {emu.base_url}/_emulator/stats")
            if state:
                kept = emu.restored
                print(
                    f"State kept in {state} ({plural(kept['tasks'], 'task')} and "
                    f"{plural(kept['uploads'], 'upload')} taken up again)"
                )
            print("Ctrl-C stops it.", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):  # not on Windows
                    loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await emu.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    print("emulator stopped", file=sys.stderr)
    return EXIT_OK
