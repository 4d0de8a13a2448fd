"""A local RunningHub: the API with its accounts, timing and faults, for tests and rehearsals.

    from rhbatch.emulator import Emulator

    async with Emulator(profile="flaky", speed=100, seed=7) as emu:
        emu.base_url, emu.api_key   # point any RunningHub client here
        emu.stats()                 # submissions per body, polls, peak concurrency, faults

Nothing in the rest of rhbatch imports this package; it is product code with
its own tests, usable by anyone who wants to rehearse against RunningHub.
"""

from rhbatch.emulator.config import PROFILES, Account, Duration, EmulatorConfig, Fault
from rhbatch.emulator.server import Emulator

__all__ = ["PROFILES", "Account", "Duration", "Emulator", "EmulatorConfig", "Fault"]
