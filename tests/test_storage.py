"""--out s3://...: results, manifest and metadata put in a real S3-compatible server (moto's
server mode, started here), the state kept on local disk; bad locations refused up front."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, Result
from tests.run_helpers import emulator

Cli = Callable[..., Result]
QUICKSTART = ROOT / "specs" / "quickstart.yaml"


def test_a_run_puts_verified_files_manifest_and_metadata_in_a_bucket(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3: Any
) -> None:
    s3.mkdir("batches")
    state = tmp_path / "state"
    with emulator(monkeypatch):
        result = cli(
            "run", str(QUICKSTART), "--out", "s3://batches/quick", "--state", str(state), "-q"
        )
    assert result.code == 0, result.err
    assert "put in: s3://batches/quick" in result.out
    s3.invalidate_cache()
    records = [json.loads(line) for line in s3.cat("batches/quick/manifest.jsonl").splitlines()]
    assert [r["status"] for r in records] == ["succeeded"] * 4
    for record in records:
        for out in record["outputs"]:
            data = s3.cat(f"batches/quick/{out['path']}")
            assert len(data) == out["bytes"]
            assert hashlib.sha256(data).hexdigest() == out["sha256"]
    rows = s3.cat("batches/quick/metadata.jsonl").splitlines()
    assert len(rows) == 4
    assert json.loads(rows[0])["prompt"]
    assert s3.exists("batches/quick/run.json")
    assert (state / ".rhbatch" / "state.db").is_file()  # the state stays local
    # The ledger is in the bucket too (what a new machine needs), and the lease was given back.
    segments = s3.ls("batches/quick/.rhbatch/ledger")
    assert segments
    assert all(p.endswith(".jsonl") for p in segments)
    assert not s3.exists("batches/quick/.rhbatch/lease.json")

    # A rerun sends nothing and puts nothing new: the bucket already holds it all.
    with emulator(monkeypatch) as emu:
        again = cli("run", str(QUICKSTART), "--out", "s3://batches/quick", "--state", str(state))
        assert emu.stats()["submissions"] == 0
    assert again.code == 0, again.err


def test_a_file_removed_from_the_bucket_is_fetched_and_put_again(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3: Any
) -> None:
    """The local copy of each file is removed once it is in the bucket; a rerun lists the
    bucket, finds an object gone, fetches it again from its result URL and puts it,
    sending nothing to RunningHub (a bucket that lost data is not reported complete)."""
    s3.mkdir("again")
    state = tmp_path / "state"
    args = ("run", str(QUICKSTART), "--out", "s3://again/q", "--state", str(state), "-q")
    with emulator(monkeypatch) as emu:
        done = cli(*args)
        assert done.code == 0, done.err
        assert "4 result files put this run, 0 failed" in done.out
        records = [json.loads(line) for line in s3.cat("again/q/manifest.jsonl").splitlines()]
        kept = [p for p in state.rglob("*") if p.suffix == ".mp4"]
        assert kept == []  # the state directory holds no result file once it is put
        path = f"again/q/{records[0]['outputs'][0]['path']}"
        s3.rm(path)
        again = cli(*args)
        assert again.code == 0, again.err
        assert emu.stats()["submissions"] == 4
    assert "1 result file put this run, 0 failed" in again.out
    s3.invalidate_cache()
    data = s3.cat(path)
    assert hashlib.sha256(data).hexdigest() == records[0]["outputs"][0]["sha256"]
    verified = cli("verify", "s3://again/q")
    assert verified.code == 0, verified.err
    assert "s3://again/q: 4 files verified (in the bucket)" in verified.out

    # verify reads the bucket: a byte changed there is found; the state directory says
    # where the files are.
    s3.pipe(path, b"x" + data[1:])
    corrupt = cli("verify", "s3://again/q")
    assert corrupt.code == 1
    assert f"corrupt  {records[0]['outputs'][0]['path']} (job {records[0]['id']})" in corrupt.err
    local = cli("verify", str(state))
    assert local.code == 2
    assert "its files are there, not here: rhbatch verify s3://again/q" in local.err


@pytest.mark.parametrize(
    ("out", "said"),
    [
        ("nope://bucket/x", "is not a storage protocol fsspec knows"),
        ("gs://bucket/x", "needs a package that is not installed"),
    ],
)
def test_bad_locations_are_refused_before_anything_is_sent(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3: Any, out: str, said: str
) -> None:
    with emulator(monkeypatch) as emu:
        result = cli("run", str(QUICKSTART), "--out", out, "--state", str(tmp_path / "s"))
        stats = emu.stats()
    assert result.code == 2
    assert said in result.err
    assert stats["submissions"] == 0


def test_file_urls_are_local_directories(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "local"
    with emulator(monkeypatch):
        result = cli("run", str(QUICKSTART), "--out", f"file://{out}", "-q")
    assert result.code == 0, result.err
    assert (out / "manifest.jsonl").is_file()


def test_an_edited_job_keeps_its_earlier_file_in_the_bucket(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3: Any
) -> None:
    """Edit a job's prompt and run again into the same bucket: the earlier version's
    object moves to its history path there (not overwritten by the new one), as a local
    output directory keeps it under history/."""
    if not s3.exists("edits"):
        s3.mkdir("edits")
    spec = tmp_path / "s.yaml"
    body = "version: 1\nname: edits\nendpoint: alibaba/qwen-image-2.0/text-to-image\njobs:\n"
    spec.write_text(body + "  - {id: fox, prompt: a fox}\n")
    args = ("run", str(spec), "--out", "s3://edits/b", "--state", str(tmp_path / "st"), "-q")
    with emulator(monkeypatch):
        assert cli(*args).code == 0
        first = json.loads(s3.cat("edits/b/manifest.jsonl").splitlines()[0])
        spec.write_text(body + "  - {id: fox, prompt: a red fox}\n")
        done = cli(*args)
        assert done.code == 0, done.err
    s3.invalidate_cache()
    second = json.loads(s3.cat("edits/b/manifest.jsonl").splitlines()[0])
    old = first["outputs"][0]
    new = second["outputs"][0]
    assert new["path"] == old["path"]
    assert new["sha256"] != old["sha256"]
    assert hashlib.sha256(s3.cat(f"edits/b/{new['path']}")).hexdigest() == new["sha256"]
    kept = [p for p in s3.find("edits/b/history")]
    assert len(kept) == 1
    assert hashlib.sha256(s3.cat(kept[0])).hexdigest() == old["sha256"]


def test_verify_of_a_bucket_it_cannot_read_says_so(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No credentials (or no server): a plain error naming the URL, exit 2, not an
    internal error."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "FSSPEC_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    pytest.importorskip("s3fs", reason="s3fs is not installed")
    result = cli("verify", "s3://nobucket/batch")
    assert result.code == 2, result.err
    # "cannot be read: Unable to locate credentials", or, where another test's s3fs with
    # credentials is still cached in the process, "has no manifest.jsonl"
    assert "rhbatch: error: s3://nobucket/batch " in result.err
    assert "internal error" not in result.err
