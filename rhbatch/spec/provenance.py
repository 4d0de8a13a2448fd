"""Where a spec file comes from: its sha256 and, in a git repository, the commit.

A result is tied to the spec version that made it: the spec's sha256 always,
and where the spec lives in a git repository, the commit checked out, whether
the working tree had uncommitted changes (``dirty``), the branch (none when
HEAD is detached) and the spec's path in the repository. ``git`` is asked as a
subprocess, briefly and with repository hooks that could run code turned off;
no git, a directory outside a repository, or a repository without commits is
not an error: the figures it cannot give are None.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from rhbatch.store.history import SpecVersion

GIT_SECONDS = 5.0  # the most one git question may take
# No hook, pager or filesystem monitor of the repository runs for these questions.
_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "--no-pager")


def provenance(spec_path: Path) -> SpecVersion:
    """The spec version of the file at ``spec_path`` (n is 0 until the store numbers it)."""
    sha = hashlib.sha256(spec_path.read_bytes()).hexdigest()
    where = spec_path.resolve().parent
    top = _git(where, "rev-parse", "--show-toplevel")
    if top is None:
        return SpecVersion(0, sha, str(spec_path))
    commit = _git(where, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    branch = _git(where, "symbolic-ref", "-q", "--short", "HEAD") if commit else None
    status = _git(where, "status", "--porcelain", "--untracked-files=no") if commit else None
    inside = _relative(spec_path.resolve(), Path(top))
    tracked = commit is not None and bool(
        inside and _git(where, "ls-files", "--error-unmatch", "--", inside) is not None
    )
    dirty = None if commit is None else bool(status) or not tracked
    return SpecVersion(0, sha, str(spec_path), commit, dirty, branch, inside)


def _relative(path: Path, top: Path) -> str | None:
    try:
        return path.relative_to(top.resolve()).as_posix()
    except ValueError:
        return None


def _git(where: Path, *argv: str) -> str | None:
    """What ``git argv`` prints in ``where`` (stripped), or None if it fails or is absent."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        done = subprocess.run(
            ["git", *_SAFE, *argv],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()
