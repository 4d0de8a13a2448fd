"""The emulator on a background thread, for synchronous code and tests.

    with EmulatorThread(EmulatorConfig.load("flaky", speed=500)) as emu:
        subprocess.run(["my-tool", "--base-url", emu.base_url], env={"KEY": emu.api_key})
        emu.stats()

The emulator keeps its own event loop on the thread; ``stats`` and ``call``
run on that loop, so reading the ledger never races with requests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from rhbatch.emulator.config import EmulatorConfig
from rhbatch.emulator.server import Emulator

T = TypeVar("T")


class EmulatorThread:
    def __init__(self, config: EmulatorConfig | None = None, **kwargs: Any) -> None:
        self.emulator = Emulator(config, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="rhbatch-emulator", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.emulator.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.emulator.stop())
        self._loop.close()

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    @property
    def api_key(self) -> str:
        return self.emulator.api_key

    def call(self, fn: Callable[[Emulator], T]) -> T:
        """Run ``fn(emulator)`` on the emulator's loop and return its result."""

        async def on_loop() -> T:
            return fn(self.emulator)

        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result(timeout=30)

    def stats(self, tasks: bool = False) -> dict[str, Any]:
        return self.call(lambda emu: emu.stats(tasks=tasks))
