"""A directory made by `rhbatch merge` is a result directory like a run's: `status`,
`verify`, `report` and `export` read it from its manifest and run.json (it has no state
store), and the merge writes its gallery, report.html."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.cli import main
from tests.helpers import Result
from tests.run_helpers import emulator, manifest
from tests.virtual_clock import virtual_time

Cli = Callable[..., Result]
SPEC = """\
version: 1
name: boats
endpoint: seedance-2.0/multimodal-video
defaults: {resolution: 480p, duration: '4'}
matrix:
  look: [dark, light, foggy]
  take: [1, 2]
jobs:
  - id: 'boat-{look}-{take}'
    prompt: 'a {look} paper boat, take {take}'
run: {poll_interval: 2}
"""
JOBS = 6
PRICE = 2.4  # CNY a job (480p, 4 s)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spec run as shards 0/2 and 1/2 against the emulator, once for the module; each
    test works on a copy (``work``)."""
    root = tmp_path_factory.mktemp("merged")
    (root / "s.yaml").write_text(SPEC)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with virtual_time(), emulator(mp):
            for i in range(2):
                code = main(["run", "s.yaml", "--out", f"s{i}", "--shard", f"{i}/2", "-q"])
                assert code == 0
    return root


@pytest.fixture
def work(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the spec and its shards' directories, the working directory."""
    for name in ("s.yaml", "s0", "s1"):
        src = built / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name)
        else:
            shutil.copy(src, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def merge(cli: Cli, *dirs: str, out: str = "all", extra: tuple[str, ...] = ()) -> Result:
    return cli("merge", *dirs, "--out", out, "--spec", "s.yaml", *extra)


def edit(out: Path, job_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change one record of a directory's manifest by hand."""
    lines = (out / "manifest.jsonl").read_text().splitlines()
    for n, line in enumerate(lines):
        record = json.loads(line)
        if record["id"] == job_id:
            change(record)
            lines[n] = json.dumps(record)
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def test_merge_writes_the_gallery(cli: Cli, work: Path) -> None:
    result = merge(cli, "s0", "s1")
    assert result.code == 0, result.err
    assert "gallery: all/report.html" in result.out
    page = Path("all/report.html").read_text()
    for record in manifest(Path("all")):
        assert f'"id":"{record["id"]}"' in page
        assert record["outputs"][0]["path"] in page
    assert "<title>boats: rhbatch report</title>" in page
    assert "merged from 2 directories (shards 0/2, 1/2), complete" in page
    info = json.loads(Path("all/run.json").read_text())
    assert (info["name"], info["spec"], info["planned"]) == ("boats", "s.yaml", JOBS)
    shard = json.loads(Path("s0/run.json").read_text())
    assert info["startedAt"] <= shard["startedAt"] <= shard["endedAt"] <= info["endedAt"]


def test_status_of_a_merged_directory(cli: Cli, work: Path) -> None:
    """Counts, money and the merge's completeness from the records and run.json; a job
    edited to failed and one to unfetched are named as a run's would be."""
    assert merge(cli, "s0", "s1").code == 0
    shown = cli("status", "all")
    assert shown.code == 0, shown.err
    lines = shown.out.splitlines()
    assert lines[0] == f"all: {JOBS} jobs of s.yaml"
    assert "  merged from 2 directories (shards 0/2, 1/2): 6 jobs of 6 planned" in lines
    assert "  complete: every planned job has exactly one terminal record" in lines
    assert "  succeeded           6" in lines
    assert f"  cost            {JOBS * PRICE:,.2f} CNY" in lines
    assert any(line.startswith("rhart-video/sparkvideo-2.0/multimodal-video  ") for line in lines)

    def failed(r: dict[str, Any]) -> None:
        r.update(status="failed", errorCode="1004", errorMessage="the boat sank", outputs=[])

    def unfetched(r: dict[str, Any]) -> None:
        r.update(status="unfetched", errorMessage="result 1: 403 from the file server")

    edit(Path("all"), "boat-dark-1", failed)
    edit(Path("all"), "boat-light-2", unfetched)
    shown = cli("status", "all")
    assert "  failed              1" in shown.out
    assert "  unfetched           1" in shown.out
    assert "     1 x 1004: the boat sank (e.g. boat-dark-1)" in shown.out
    assert "  boat-light-2: result 1: 403 from the file server" in shown.out

    doc = json.loads(cli("status", "all", "--json").out)
    assert doc["source"] == "manifest"
    assert doc["directory"] is None
    assert {k: v for k, v in doc["counts"].items() if v} == {
        "succeeded": 4,
        "failed": 1,
        "unfetched": 1,
    }
    assert doc["billed"] == pytest.approx(JOBS * PRICE)
    assert doc["failed"] == [{"id": "boat-dark-1", "code": "1004", "message": "the boat sank"}]
    assert [u["id"] for u in doc["unfetched"]] == ["boat-light-2"]
    assert doc["merged"] | {"from": None} == {
        "from": None,
        "shards": ["0/2", "1/2"],
        "planned": JOBS,
        "complete": True,
        "missing": [],
        "unfinished": [],
        "duplicates": [],
    }
    # A run's directory still reads from its store.
    assert json.loads(cli("status", "s0", "--json").out)["source"] == "state"


def test_status_of_an_incomplete_merge_names_what_is_missing(cli: Cli, work: Path) -> None:
    assert merge(cli, "s0").code == 1
    lost = sorted(r["id"] for r in manifest(Path("s1")))
    shown = cli("status", "all")
    assert shown.code == 0, shown.err
    n = JOBS - len(lost)
    assert f"  merged from 1 directory (shards 0/2): {n} jobs of 6 planned" in shown.out
    many = "jobs" if len(lost) > 1 else "job"
    assert f"  incomplete: {len(lost)} planned {many} with no record" in shown.out
    missing = json.loads(Path("all/run.json").read_text())["missing"]
    assert sorted(missing) == lost
    assert f"  missing: {', '.join(missing)}" in shown.out
    page = Path("all/report.html").read_text()
    assert f"merged from 1 directory (shards 0/2), incomplete: {len(lost)} missing" in page


def test_verify_hashes_every_file_a_merged_manifest_records(cli: Cli, work: Path) -> None:
    """Every file hashed again; a missing one, a changed one and a line that is no record
    are each named, exit 1."""
    assert merge(cli, "s0", "s1").code == 0
    checked = cli("verify", "all")
    assert (checked.code, checked.out) == (0, f"all: {JOBS} files verified\n")

    records = manifest(Path("all"))
    gone, changed = records[0], records[3]
    gone_path = Path("all") / gone["outputs"][0]["path"]
    gone_path.unlink()
    changed_path = Path("all") / changed["outputs"][0]["path"]
    data = bytearray(changed_path.read_bytes())
    data[50] ^= 0xFF
    changed_path.unlink()  # a hard link to the shard's file: the shard keeps its bytes
    changed_path.write_bytes(bytes(data))
    with Path("all/manifest.jsonl").open("a") as fh:
        fh.write("not a record\n")
    checked = cli("verify", "all")
    assert checked.code == 1
    assert f"missing  {gone['outputs'][0]['path']} (job {gone['id']})" in checked.err
    assert f"corrupt  {changed['outputs'][0]['path']} (job {changed['id']}): " in checked.err
    assert f"unreadable manifest line {JOBS + 1}: not a job's record" in checked.err
    assert checked.out.startswith(
        f"all: 2 of {JOBS} files missing or corrupt; 1 manifest line(s) that are no job's "
        "record; the shards' directories hold the files"
    )
    assert cli("verify", "s0").code == 0  # the shard's own files are untouched


def test_a_merge_without_files_is_verified_where_its_records_point(cli: Cli, work: Path) -> None:
    """--no-files leaves the files in the shards: verify follows the records' paths there;
    status reads the records all the same."""
    assert merge(cli, "s0", "s1", out="lean", extra=("--no-files",)).code == 0
    assert all(r["outputs"][0]["path"].startswith("../s") for r in manifest(Path("lean")))
    assert cli("verify", "lean").out == f"lean: {JOBS} files verified\n"
    assert "  succeeded           6" in cli("status", "lean").out
    assert Path("lean/report.html").is_file()


def test_report_and_export_read_a_merged_directory(cli: Cli, work: Path) -> None:
    assert merge(cli, "s0", "s1").code == 0
    Path("all/report.html").unlink()
    rewritten = cli("report", "all")
    assert (rewritten.code, rewritten.out) == (0, "all/report.html\n")
    assert "merged from 2 directories" in Path("all/report.html").read_text()
    exported = cli("export", "all", "--format", "csv", "--to", "table.csv")
    assert exported.code == 0, exported.err
    assert exported.out == f"table.csv: {JOBS} rows (csv)\n"
    with Path("table.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["job_id"] for r in rows) == sorted(r["id"] for r in manifest(Path("all")))


def test_a_directory_that_is_neither_is_still_refused(cli: Cli, tmp_path: Path) -> None:
    for command in ("status", "verify"):
        result = cli(command, str(tmp_path))
        assert result.code == 2  # a directory that holds no run: a usage error
        assert "holds no rhbatch run" in result.err


def test_the_merged_table_has_the_variables_and_a_shards_edited_vars_are_refused(
    cli: Cli, work: Path
) -> None:
    """The records keep their jobs' matrix values (vars) through the merge, and the merged
    metadata.jsonl has a column for each; a shard whose vars were edited by hand is not
    merged (they are not what the spec makes)."""
    assert merge(cli, "s0", "s1").code == 0
    rows = [json.loads(line) for line in Path("all/metadata.jsonl").read_text().splitlines()]
    assert sorted((r["var.look"], r["var.take"]) for r in rows) == sorted(
        (look, take) for look in ("dark", "light", "foggy") for take in (1, 2)
    )
    first = manifest(Path("s0"))[0]
    edit(Path("s0"), first["id"], lambda r: r["vars"].update(look="golden"))
    refused = merge(cli, "s0", "s1", out="again")
    assert refused.code == 2
    assert f"job {first['index'] + 1} (id {first['id']}): vars: " in refused.err
    assert '"golden"' in refused.err
