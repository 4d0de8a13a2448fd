"""Bad input is refused before anything is sent or paid: every case of the corpus
(``bad_input_cases.py``) runs as its own ``python -m rhbatch run s.yaml --out out``
against a real emulator, and must exit 2 with a located message, no traceback, no
request and no output directory.

The runs of the selected cases go in parallel, once per module, on a few workers; each
worker has an emulator of its own, so the requests a run makes are counted exactly as
the difference of that emulator's counters before and after it.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.thread import EmulatorThread
from tests.reliability.bad_input_cases import CASES, Case, make
from tests.run_helpers import emulator_config

WORKERS = 3
TIMEOUT = 60  # seconds; a case that hangs (a FIFO opened for reading) fails on it
SETPRIV = shutil.which("setpriv")
AREAS = {
    "yaml",
    "types",
    "unknown-keys",
    "endpoints",
    "enums",
    "counts",
    "required",
    "files",
    "encodings",
    "duplicates",
    "placeholders",
    "explosions",
    "naming",
    "ref-paths",
    "url-schemes",
    "base-url",
    "run-settings",
}


@dataclass
class Outcome:
    code: int | None  # None: it did not end within TIMEOUT
    out: str
    err: str
    requests: dict[str, int]  # per route, during this run only
    root: Path


def _command(case: Case) -> list[str]:
    command = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out", *case.args]
    if case.unreadable and os.geteuid() == 0:
        # root reads any file; without its DAC capabilities it meets mode 000 like anyone
        assert SETPRIV is not None
        command = [SETPRIV, "--bounding-set", "-dac_override,-dac_read_search", *command]
    return command


def _run(case: Case, emu: EmulatorThread, root: Path) -> Outcome:
    make(case, root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNINGHUB_", "RH_"))}
    env |= {"RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key, **case.env}
    before = emu.stats()["requests"]
    try:
        done = subprocess.run(
            _command(case),
            cwd=root,
            env=env,
            input="",  # stdin is a pipe whose writer has gone: opening /dev/stdin would block
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = None, str(exc.stdout or ""), str(exc.stderr or "")
    after = emu.stats()["requests"]
    requests = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    return Outcome(code, out, err, requests, root)


def _selected(request: pytest.FixtureRequest) -> list[Case]:
    """The cases of the tests pytest is about to run in this module."""
    names = {
        item.callspec.params["case"].name
        for item in request.session.items
        if item.module is sys.modules[__name__] and hasattr(item, "callspec")
    }
    return [c for c in CASES if c.name in names]


@pytest.fixture(scope="module")
def outcomes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Outcome]]:
    cases = _selected(request)
    todo: queue.Queue[Case] = queue.Queue()
    for case in cases:
        todo.put(case)
    found: dict[str, Outcome] = {}
    top = tmp_path_factory.mktemp("bad-input")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with EmulatorThread(emulator_config()) as emu:
                while True:
                    try:
                        case = todo.get_nowait()
                    except queue.Empty:
                        return
                    found[case.name] = _run(case, emu, top / case.name)
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(min(WORKERS, len(cases)) or 1)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        yield found
    finally:
        for path in top.rglob("*"):  # FIFOs and unreadable files go, the rest is pytest's
            if path.is_fifo() or (not path.is_symlink() and path.stat().st_mode & 0o777 == 0):
                path.unlink()


def _needs(case: Case) -> Any:
    if case.unreadable and os.geteuid() == 0 and SETPRIV is None:
        return pytest.mark.skip(reason="root reads every file, and setpriv is not here")
    return ()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=_needs(c)) for c in CASES])
def test_refused_before_anything_is_sent(case: Case, outcomes: dict[str, Outcome]) -> None:
    """Exit 2 with the located message, no traceback, no request, no output directory."""
    got = outcomes[case.name]
    assert got.code is not None, f"still running after {TIMEOUT} s: {got.err}"
    assert got.code == 2, got.err
    assert "Traceback" not in got.err
    assert "internal error" not in got.err
    for fragment in case.expect:
        assert fragment in got.err, got.err
    assert got.requests == {}
    assert not (got.root / "out").exists()
    if case.secret is not None:
        assert case.secret not in got.err + got.out


def test_the_corpus_covers_every_area() -> None:
    """At least 80 cases, over every kind of bad input, each with a distinct name."""
    assert len(CASES) >= 80
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.area for c in CASES} == AREAS
