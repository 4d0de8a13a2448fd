"""rhbatch: declarative, resumable batch runs of RunningHub generation jobs.

From Python (docs/library.md)::

    import rhbatch

    run = rhbatch.run("specs/quickstart.yaml", emulator=True)
    run.counts            # {'succeeded': 4}
    run.jobs[0].files     # (PosixPath('out/quickstart/hotpot-wide/1.mp4'),)

``rhbatch.run``, ``run_async``, ``validate``, ``plan`` and ``open`` are loaded
on first use, so ``import rhbatch`` stays light (the command line imports only
what each command needs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "EVENTS",
    "AuthError",
    "Event",
    "FatalError",
    "FundsError",
    "InvalidSpec",
    "Job",
    "Planned",
    "Problem",
    "RhbatchError",
    "Run",
    "SpendCapReached",
    "StateError",
    "UsageError",
    "Validation",
    "__version__",
    "open",
    "plan",
    "run",
    "run_async",
    "validate",
]

if TYPE_CHECKING:
    from rhbatch.errors import (
        AuthError,
        FatalError,
        FundsError,
        Problem,
        RhbatchError,
        SpendCapReached,
        StateError,
        UsageError,
    )
    from rhbatch.library import (
        InvalidSpec,
        Job,
        Run,
        Validation,
        plan,
        run,
        run_async,
        validate,
    )
    from rhbatch.library import open_run as open
    from rhbatch.runner.events import EVENTS, Event
    from rhbatch.runner.plan import Planned
    from rhbatch.version import __version__

_WHERE = {
    **dict.fromkeys(
        (
            "AuthError",
            "FatalError",
            "FundsError",
            "Problem",
            "RhbatchError",
            "SpendCapReached",
            "StateError",
            "UsageError",
        ),
        "rhbatch.errors",
    ),
    **dict.fromkeys(
        ("InvalidSpec", "Job", "Run", "Validation", "plan", "run", "run_async", "validate"),
        "rhbatch.library",
    ),
    "open": "rhbatch.library",
    "Event": "rhbatch.runner.events",
    "EVENTS": "rhbatch.runner.events",
    "Planned": "rhbatch.runner.plan",
    "__version__": "rhbatch.version",
}


def __getattr__(name: str) -> Any:
    """The public API, imported when first used."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rhbatch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), "open_run" if name == "open" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
