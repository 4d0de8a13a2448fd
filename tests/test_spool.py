"""The spec expanded once per command: validation spools every valid job, and the
store's sync, the shard split, the dry run's plan and `plan --json/--out` read the
spool back. The spool keeps rows in order, whole, in memory or in a file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rhbatch.endpoints.registry import registry
from rhbatch.spec import spool as spool_module
from rhbatch.spec.expand import Expander
from rhbatch.spec.spool import Spool
from rhbatch.spec.validate import check_spec
from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, manifest

Cli = Callable[..., Result]
PIPELINE = ROOT / "examples" / "pipeline.yaml"
MATRIX = ROOT / "examples" / "matrix-and-zip.yaml"


@pytest.fixture
def expansions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a spec is expanded (each call of ``Expander.jobs`` run to its end
    or not), counted for the command under test."""
    calls: list[int] = []
    real = Expander.jobs

    def counted(self: Expander) -> Iterator[Any]:
        calls.append(1)
        yield from real(self)

    monkeypatch.setattr(Expander, "jobs", counted)
    return calls


def spooled(path: Path) -> tuple[Spool, list[Any]]:
    reg = registry()
    jobs = Spool(reg)
    seen: list[Any] = []

    def add(job: Any, price: float | None) -> None:
        seen.append((job.id, job.index, job.endpoint, job.params, price, dict(job.uses)))
        jobs.add(job, price)

    report = check_spec(path, reg, on_job=add)
    assert report.ok
    return jobs, seen


@pytest.mark.parametrize("in_memory", [64 << 20, 200])
def test_the_spool_gives_back_every_job_whole_and_in_order(
    monkeypatch: pytest.MonkeyPatch, in_memory: int
) -> None:
    """Rows come back as validation saw them, prices and pipeline links included, also
    once they spilled to a temporary file (a small memory budget), and as often as asked."""
    monkeypatch.setattr(spool_module, "IN_MEMORY", in_memory)
    monkeypatch.setattr(spool_module, "BATCH", 2)  # several blocks, and a part-filled last one
    jobs, seen = spooled(PIPELINE)
    with jobs:
        rows = [(s.id, s.idx, s.endpoint, s.params, s.quoted, s.uses) for s in jobs]
        assert rows == seen
        assert len(rows) == jobs.count == 9
        assert jobs.piped
        assert [s.id for s in jobs] == [r[0] for r in seen]  # read again: the same
        if in_memory == 200:
            assert jobs._file._rolled  # it went to a file  # type: ignore[attr-defined]


def test_a_spec_without_pipelines_is_not_piped_and_vars_are_kept() -> None:
    jobs, _ = spooled(MATRIX)
    with jobs:
        assert not jobs.piped
        assert all(isinstance(s.vars, dict) for s in jobs)
        assert jobs.count == len(list(jobs)) > 1


def test_a_run_expands_its_spec_once(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_clock: float,
    expansions: list[int],
) -> None:
    """Validation, the store's sync, the shard split of a pipeline: one expansion."""
    out = tmp_path / "out"
    with emulator(monkeypatch):
        result = cli("run", str(PIPELINE), "--out", str(out), "-q", "--shard", "0/1")
    assert result.code == 0, result.err
    assert len(expansions) == 1
    assert [r["status"] for r in manifest(out)] == ["succeeded"] * 9


def test_a_dry_run_and_the_plans_expand_once(
    cli: Cli, tmp_path: Path, expansions: list[int]
) -> None:
    out = tmp_path / "out"
    for argv in (
        ("run", str(MATRIX), "--out", str(out), "--dry-run"),
        ("plan", str(MATRIX), "--out", str(out)),
        ("plan", str(MATRIX), "--json"),
        ("plan", str(MATRIX), "--json", "--out", str(out)),
    ):
        expansions.clear()
        result = cli(*argv)
        assert result.code == 0, (argv, result.err)
        assert len(expansions) == 1, argv
