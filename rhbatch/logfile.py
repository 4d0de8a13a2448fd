"""Where rhbatch writes what a person should not have to read: tracebacks of its own faults.

A fault of rhbatch itself (a bug) is never shown as a traceback. Inside a run,
one job's fault is that job's failure; at the command line's boundary, any
other becomes one line and exit 3. The traceback goes to a log file: the
output directory's ``.rhbatch/log`` once a command knows it (``use``), else
``~/.cache/rhbatch/log``. Every line is scrubbed of secrets first.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

from rhbatch.redact import scrub

_where: Path | None = None


def use(state_dir: Path | None) -> None:
    """Log to ``state_dir/log`` from now on (the output directory's ``.rhbatch``); None:
    back to the user's cache."""
    global _where
    _where = None if state_dir is None else state_dir / "log"


def location() -> Path:
    if _where is not None:
        return _where
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rhbatch" / "log"


def record(what: str, exc: BaseException) -> Path | None:
    """Append ``what`` and the traceback of ``exc``; the log's path, or None if it could
    not be written (a full disk must not turn one fault into two)."""
    path = location()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    text = "".join(traceback.format_exception(exc))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(scrub(f"--- {stamp} pid {os.getpid()}: {what}\n{text}\n"))
    except OSError:
        return None
    return path
