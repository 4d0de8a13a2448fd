"""When to ask about a task again: learned from how long tasks of each endpoint take.

Before anything is known, checks come quickly at first and then less often (a
doubling interval up to the maximum). Once tasks of an endpoint have finished,
the first check of a new task waits until the typical duration (the median so
far) has passed, and later checks come at a tenth of it: completions are found
soon after they happen, with few queries for long tasks.
"""

from __future__ import annotations

import bisect
from collections import defaultdict


class Schedule:
    def __init__(self, maximum: float, minimum: float | None = None) -> None:
        self.maximum = maximum
        self.minimum = minimum if minimum is not None else min(1.0, maximum / 5)
        self._seen: dict[str, list[float]] = defaultdict(list)

    def observe(self, endpoint: str, seconds: float) -> None:
        """A task of ``endpoint`` was seen finished ``seconds`` after its submit."""
        seen = self._seen[endpoint]
        bisect.insort(seen, seconds)
        if len(seen) > 512:  # keep a bounded, still representative sample
            del seen[::2]

    def durations(self, endpoint: str) -> list[float]:
        """The durations seen for ``endpoint``, sorted (a sample of at most 512)."""
        return self._seen.get(endpoint, [])

    def typical(self, endpoint: str) -> float | None:
        seen = self._seen.get(endpoint)
        return seen[len(seen) // 2] if seen else None

    def next_delay(self, endpoint: str, elapsed: float, polls: int) -> float:
        """Seconds to wait before the next check of a task running for ``elapsed``."""
        typical = self.typical(endpoint)
        if typical is None:
            delay = self.minimum * 2.0**polls
        elif elapsed < typical:
            delay = typical - elapsed
        else:
            delay = typical / 10
        return min(self.maximum, max(self.minimum, delay))
