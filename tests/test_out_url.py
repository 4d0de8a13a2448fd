"""``--out memory://...``: a run into object storage in this process, on virtual time, with
fsspec's memory filesystem for a bucket. The quick part's look at the store's remote side
(remote.py, bucket.py, ledger.py); test_storage.py runs against an S3-compatible server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import fsspec
import pytest

from tests.helpers import ROOT, Result
from tests.run_helpers import emulator

pytestmark = pytest.mark.usefixtures("virtual_clock")

Cli = Callable[..., Result]
QUICKSTART = ROOT / "specs" / "quickstart.yaml"


def test_a_run_puts_its_files_manifest_and_ledger_in_the_bucket_and_a_rerun_sends_nothing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = fsspec.filesystem("memory")
    where = f"/smoke-{tmp_path.name}/batch"  # the memory filesystem is the whole process's
    args = ("run", str(QUICKSTART), "--out", f"memory:/{where}", "--state", str(tmp_path / "st"))
    with emulator(monkeypatch):
        result = cli(*args, "-q")
    assert result.code == 0, result.err
    assert f"put in: memory:/{where}" in result.out
    records = [json.loads(line) for line in bucket.cat(f"{where}/manifest.jsonl").splitlines()]
    assert [r["status"] for r in records] == ["succeeded"] * 4
    for record in records:
        for out in record["outputs"]:
            data = bucket.cat(f"{where}/{out['path']}")
            assert hashlib.sha256(data).hexdigest() == out["sha256"]
    assert bucket.exists(f"{where}/run.json")
    assert bucket.ls(f"{where}/.rhbatch/ledger")  # what a new machine needs to go on
    assert not bucket.exists(f"{where}/.rhbatch/lease.json")  # given back at the end

    with emulator(monkeypatch) as emu:
        again = cli(*args)
        assert emu.stats()["submissions"] == 0
    assert again.code == 0, again.err
