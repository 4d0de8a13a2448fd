"""A just-booted machine for every Python process of a test run.

Put this folder on ``PYTHONPATH`` and each process (pytest, the CLI it starts,
the emulators) reads ``time.monotonic()`` (and ``monotonic_ns``, ``perf_counter``)
as if the machine had booted a moment before the run: the readings start near
zero. Code that takes a monotonic reading for anything but a difference from
another (``last = 0.0`` meaning "long ago") shows itself. The origin is shared
through the environment, so the processes of one run agree on the clock as they
would on a real machine.

    PYTHONPATH=tools/fresh_boot python -m pytest
"""

import os
import time

_VAR = "RHBATCH_FRESH_BOOT_AT"
_real_monotonic = time.monotonic
_real_monotonic_ns = time.monotonic_ns
_real_perf_counter = time.perf_counter

if _VAR not in os.environ:
    os.environ[_VAR] = repr(_real_monotonic() - 0.25)  # "booted" a quarter second ago
_BOOT = float(os.environ[_VAR])
_BOOT_NS = int(_BOOT * 1e9)


def monotonic() -> float:
    return _real_monotonic() - _BOOT


def monotonic_ns() -> int:
    return _real_monotonic_ns() - _BOOT_NS


def perf_counter() -> float:
    return _real_perf_counter() - _BOOT


time.monotonic = monotonic
time.monotonic_ns = monotonic_ns
time.perf_counter = perf_counter
