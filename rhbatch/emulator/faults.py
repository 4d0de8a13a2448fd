"""Which requests meet which fault: seeded, rate-based, independent of timing.

A fault fires when a hash of (seed, fault kind, request key) falls below the
fault's rate. The request key names the request by content and by how many
times it was made before (``body-hash#2``, ``task-id#poll-7``), never by arrival
order, so a run with the same seed meets the same faults however its requests
interleave. Every fault that fires is counted.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from rhbatch.emulator.config import USUAL_ROUTES, EmulatorConfig, Fault


def unit_hash(*parts: object) -> float:
    """A number in [0, 1) determined by ``parts``."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Faults:
    """Decides faults for requests and counts the ones injected."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.injected: Counter[str] = Counter()

    def hit(self, kind: str, route: str, key: str) -> Fault | None:
        """The fault if it fires for this request, else None (and counts it if it fires)."""
        fault = self.config.fault(kind)
        if fault is None:
            return None
        routes = fault.routes or USUAL_ROUTES[kind]
        if route not in routes:
            return None
        if unit_hash(self.config.seed, kind, route, key) >= fault.rate:
            return None
        self.injected[kind] += 1
        return fault

    def pick(self, kind: str, key: str, choices: tuple[str, ...]) -> str:
        """A deterministic choice among ``choices`` for this request."""
        index = int(unit_hash(self.config.seed, kind, "pick", key) * len(choices))
        return choices[min(index, len(choices) - 1)]
