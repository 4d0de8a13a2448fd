"""When to ask about a task again: learned from how long tasks of each endpoint take.

Before anything is known, checks come quickly at first and then less often (a
doubling interval up to the maximum). Once tasks of an endpoint have finished,
the first check of a new task waits until the typical duration (the median so
far) has passed, and later checks spread out (a quarter of it, then as long as the
task has overrun it): most tasks are found in one or two checks, a straggler in a
few more.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

# Primed (a late notice idles no slot): check when most tasks of the endpoint have ended,
# by these quantiles of the durations seen, so most tasks take one query.
PRIMED_QUANTILES = (0.7, 0.9, 0.97, 0.995)


class Schedule:
    def __init__(
        self, maximum: float, minimum: float | None = None, *, primed: bool = False
    ) -> None:
        self.maximum = maximum
        self.minimum = minimum if minimum is not None else min(1.0, maximum / 5)
        self.primed = primed
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
        seen = self._seen.get(endpoint)
        if self.primed and seen and len(seen) >= 8:
            later = [q for q in (seen[int(level * (len(seen) - 1))] for level in PRIMED_QUANTILES)]
            ahead = [d for d in later if d > elapsed + self.minimum]
            if ahead:
                return min(self.maximum, max(self.minimum, ahead[0] - elapsed))
        if (
            typical is None
        ):  # nothing learned yet: doubling checks (from the longest / 12 if primed)
            first = self.maximum / 60 if self.primed else self.minimum
            delay = first * 2.0**polls
        elif elapsed < typical:
            delay = typical - elapsed
        else:  # past the typical duration: checks spread out (1.25, 1.5, 2, 3, 5 x typical)
            delay = max(typical / 4, elapsed - typical)
        return min(self.maximum, max(self.minimum, delay))
