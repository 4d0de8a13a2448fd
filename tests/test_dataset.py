"""Results people use: metadata.jsonl read by the real `datasets`, the same table exported,
and a spec run as shards on several workers, merged and proven complete."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rhbatch.spec.shard import parse_shard, shard_of
from rhbatch.store.dataset import COLUMNS
from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, manifest

Cli = Callable[..., Result]
QUICKSTART = ROOT / "specs" / "quickstart.yaml"


@pytest.fixture
def quickstart(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "out"
    with emulator(monkeypatch):
        result = cli("run", str(QUICKSTART), "--out", str(out), "-q")
    assert result.code == 0, result.err
    return out


def test_load_dataset_reads_the_prompts(quickstart: Path) -> None:
    """After the quickstart run, `load_dataset("videofolder", data_dir=OUT)` has one row per
    clip with its prompt, parameters, job and task ids and checksum."""
    datasets = pytest.importorskip("datasets", reason="the dataset extra is not installed")
    records = {r["id"]: r for r in manifest(quickstart)}
    ds = datasets.load_dataset("videofolder", data_dir=str(quickstart), split="train")
    assert ds.num_rows == 4
    for column in ("prompt", "params", "job_id", "task_id", "sha256", "cost", "made_from"):
        assert column in ds.column_names
    assert "var.shape" in ds.column_names  # the matrix's variable that is no parameter
    plain = ds.remove_columns("video")  # no decoding needed to read the rest
    for row in plain:
        job = records[row["job_id"]]
        assert row["prompt"] == job["params"]["prompt"]
        assert json.loads(row["params"]) == job["params"]
        assert row["task_id"] == job["taskId"]
        assert row["sha256"] == job["outputs"][0]["sha256"]
        assert row["var.shape"] == job["vars"]["shape"]


# The quickstart's matrix sets ratio (a parameter) and shape (only used in ids): shape is
# a column of its own.
QUICKSTART_COLUMNS = (*COLUMNS, "var.shape")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_writes_one_row_per_file(cli: Cli, quickstart: Path, fmt: str) -> None:
    dest = quickstart.parent / f"table.{fmt}"
    result = cli("export", str(quickstart), "--format", fmt, "--to", str(dest))
    assert result.code == 0, result.err
    assert "4 rows" in result.out
    if fmt == "jsonl":
        rows = [json.loads(line) for line in dest.read_text().splitlines()]
        assert [tuple(r) for r in rows] == [QUICKSTART_COLUMNS] * 4
    elif fmt == "csv":
        with dest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 4
        assert tuple(rows[0]) == QUICKSTART_COLUMNS
    else:
        pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
        table = pq.read_table(dest)
        assert table.num_rows == 4
        assert tuple(table.column_names) == QUICKSTART_COLUMNS
        assert all(p for p in table.column("prompt").to_pylist())
    shapes = sorted(str(r["var.shape"]) for r in (rows if fmt != "parquet" else table.to_pylist()))
    assert shapes == ["tall", "tall", "wide", "wide"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_where_nothing_can_be_written_says_so(
    cli: Cli, quickstart: Path, tmp_path: Path, fmt: str
) -> None:
    """A destination under a plain file: exit 3 naming it, not an internal error."""
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    (tmp_path / "plain").write_text("")
    dest = tmp_path / "plain" / f"table.{fmt}"
    result = cli("export", str(quickstart), "--format", fmt, "--to", str(dest))
    assert result.code == 3
    assert f"cannot write {dest}" in result.err
    assert "internal error" not in result.err


def test_a_file_the_machine_refuses_is_named_not_called_a_fault(cli: Cli, quickstart: Path) -> None:
    """Whatever command meets a path the machine refuses (here report.html is a
    directory) says which path and why, exit 3, not 'a fault of rhbatch'."""
    (quickstart / "report.html").unlink()
    (quickstart / "report.html").mkdir()
    result = cli("report", str(quickstart))
    assert result.code == 3
    assert "report.html: Is a directory" in result.err
    assert "internal error" not in result.err


def test_export_refuses_a_directory_that_is_no_run(cli: Cli, tmp_path: Path) -> None:
    result = cli("export", str(tmp_path))
    assert result.code == 2
    assert "has no manifest.jsonl" in result.err


def test_shard_arguments() -> None:
    assert parse_shard("2/5") == (2, 5)
    for bad in ("5/5", "1", "-1/3", "a/b", "0/0"):
        with pytest.raises(Exception, match="--shard"):
            parse_shard(bad)
    counts = [shard_of(f"job-{i}", 4) for i in range(4000)]
    assert all(800 < counts.count(k) < 1200 for k in range(4))  # an even split


def test_three_shards_merge_into_one_complete_run(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline example as shards 0/3, 1/3, 2/3: each chain runs whole on one shard,
    every job is submitted once in all, and merge proves completeness. Without one shard,
    merge names the missing jobs and exits 1."""
    spec = ROOT / "examples" / "pipeline.yaml"
    dirs = [tmp_path / f"s{i}" for i in range(3)]
    with emulator(monkeypatch) as emu:
        for i, d in enumerate(dirs):
            result = cli("run", str(spec), "--out", str(d), "--shard", f"{i}/3", "-q")
            assert result.code == 0, result.err
        stats = emu.stats()
    assert stats["submissions"] == 9
    assert stats["duplicateSubmissions"] == {}
    for d in dirs:  # a shard holds whole chains: every job it used is its own
        ids = {r["id"] for r in manifest(d)}
        assert all(set(r["uses"].values()) <= ids for r in manifest(d))
        assert json.loads((d / "run.json").read_text())["shard"] == f"{dirs.index(d)}/3"
    merged = tmp_path / "all"
    result = cli("merge", *map(str, dirs), "--out", str(merged))
    assert result.code == 0, result.err
    assert "complete: every planned job has exactly one terminal record" in result.out
    records = manifest(merged)
    assert [r["status"] for r in records] == ["succeeded"] * 9
    assert len((merged / "metadata.jsonl").read_text().splitlines()) == 9
    assert all((merged / r["outputs"][0]["path"]).is_file() for r in records)
    info = json.loads((merged / "run.json").read_text())
    assert info["complete"] is True
    assert info["planned"] == 9

    k = max(range(3), key=lambda i: len(manifest(dirs[i])))  # leave out the fullest shard
    lost = [r["id"] for r in manifest(dirs[k])]
    kept = [str(d) for i, d in enumerate(dirs) if i != k]
    partial = cli("merge", *kept, "--out", str(tmp_path / "part"))
    assert partial.code == 1
    assert f"missing: {len(lost)} planned job" in partial.err
    assert all(job_id in partial.err for job_id in lost)
    assert f"shard {k}/3" in partial.err


def test_a_graph_that_cannot_be_split_is_refused(
    cli: Cli, write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose inputs come from chains that hash to different shards: refused before
    anything is sent."""
    jobs = "".join(
        f"  - id: f{i}\n    endpoint: wan-2.7/text-to-image\n    prompt: p{i}\n" for i in range(8)
    )
    uses = ", ".join(f"i{i}: f{i}" for i in range(8))
    write(
        "s.yaml",
        f"version: 1\njobs:\n{jobs}  - id: all\n    endpoint: seedance-2.0/multimodal-video\n"
        f"    uses: {{{uses}}}\n    prompt: together\n"
        f'    imageUrls: ["{{i0.url}}", "{{i1.url}}"]\n',
    )
    with emulator(monkeypatch) as emu:
        result = cli("run", "s.yaml", "--out", "out", "--shard", "0/4")
        stats = emu.stats()
    assert result.code == 2
    assert "must come from one chain to be sharded" in result.err
    assert stats["requests"] == {}
