"""The garbage collector during a run: the lasting heap set aside, young objects swept less often.

A run makes and drops a few dozen small objects per request (replies, states,
futures, rows), and keeps a large heap that does not change (modules, the
registry, schemas). With the collector's defaults a sweep of the young objects
runs every 700 allocations and the full sweeps walk that whole heap: together
about 7% of a run's CPU. For the run's length the heap that exists when it
starts is frozen (``gc.freeze``: no sweep looks at it again) and the youngest
generation is swept every ``YOUNG`` allocations; both are put back when the run
ends, so a program that runs batches from Python keeps its own settings.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG = 10_000  # allocations between two sweeps of the youngest objects (the default: 700)


@contextlib.contextmanager
def run_heap() -> Iterator[None]:
    """Collect once, freeze what is left, sweep the young less often; undone at the end."""
    threshold = gc.get_threshold()
    gc.collect()  # garbage made before the run is not frozen for its length
    gc.freeze()
    gc.set_threshold(max(YOUNG, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
