"""Helpers shared by test modules: where the repository is, what a CLI call returned, and
a way to let the event loop catch up.

Test modules import these from here (``from tests.helpers import ...``), never from
``conftest.py``, which holds only fixtures: pytest imports a conftest under a name of
its own choosing, so importing it as a module is fragile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC_BODIES = ROOT / "tests" / "data" / "doc_bodies"


@dataclass
class Result:
    """What one in-process ``rhbatch`` call returned: its exit code and captured output."""

    code: int
    out: str
    err: str

    @property
    def problems(self) -> list[str]:
        """The problem lines of stderr (each starts with a file location)."""
        return [line for line in self.err.splitlines() if ":" in line and " invalid (" not in line]


async def settle() -> None:
    """Let every asyncio task that can run do so: a few turns of the loop, no timers."""
    for _ in range(10):
        await asyncio.sleep(0)
