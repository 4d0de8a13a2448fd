"""The results table (metadata.jsonl and `rhbatch export`): a row only for a file that is
there, a column for each variable the jobs were made with that is not a parameter, and
with --spread-params a column for each parameter."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.store.dataset import COLUMNS, write_table
from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, manifest

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]
pytestmark = pytest.mark.usefixtures("virtual_clock")

SPEC = """\
version: 1
name: boats
endpoint: seedance-2.0/multimodal-video
defaults: {duration: '4'}
vars: {style: watercolour}
jobs:
  - id: 'boat-{look}-{resolution}'
    prompt: 'a {look} paper boat, {style}'
    vars: {series: harbour}
    matrix:
      look: [dark, light]
      resolution: [480p, 720p]
jobs_from: rows.csv
run: {poll_interval: 2}
"""
ROWS = "id,prompt,mood,resolution\nfox,a {mood} fox,calm,480p\nowl,a {mood} owl,tense,480p\n"


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def boats(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Four matrix jobs and two rows, run against the emulator into out/."""
    write("s.yaml", SPEC)
    write("rows.csv", ROWS)
    with emulator(monkeypatch):
        result = cli("run", "s.yaml", "--out", "out", "-q")
    assert result.code == 0, result.err
    return Path("out")


def test_each_variable_that_is_no_parameter_is_a_column(boats: Path) -> None:
    """The manifest keeps each job's variables that are not parameters (matrix values,
    row columns, the job's vars; not the spec's, the same for every job); metadata.jsonl
    has a var.NAME column for each, null where a job has none."""
    records = {r["id"]: r for r in manifest(boats)}
    assert records["boat-dark-480p"]["vars"] == {"series": "harbour", "look": "dark"}
    assert records["fox"]["vars"] == {"mood": "calm"}
    assert records["boat-dark-480p"]["params"]["resolution"] == "480p"  # a parameter, not a var
    rows = rows_of(boats / "metadata.jsonl")
    assert len(rows) == 6
    assert tuple(rows[0]) == (*COLUMNS, "var.look", "var.mood", "var.series")
    by_job = {r["job_id"]: r for r in rows}
    assert (by_job["boat-light-720p"]["var.look"], by_job["boat-light-720p"]["var.mood"]) == (
        "light",
        None,
    )
    assert (by_job["owl"]["var.mood"], by_job["owl"]["var.look"]) == ("tense", None)
    assert all("var.style" not in r and "var.resolution" not in r for r in rows)


def test_a_file_that_is_not_there_has_no_row(
    cli: Cli, boats: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file deleted, whose job cannot be fetched again (its URL expired): the job is
    unfetched, its file still recorded; metadata.jsonl leaves it out and the run says
    so, as export does."""
    gone = boats / "fox" / "1.mp4"
    gone.unlink()
    with emulator(monkeypatch) as emu:
        emu.emulator.config.result_ttl = 1e-9  # every result URL has expired since
        again = cli("run", "s.yaml", "--out", "out")
    assert again.code == 1
    record = {r["id"]: r for r in manifest(boats)}["fox"]
    assert (record["status"], record["outputs"][0]["path"]) == ("unfetched", "fox/1.mp4")
    rows = rows_of(boats / "metadata.jsonl")
    assert sorted(r["job_id"] for r in rows) == [
        "boat-dark-480p",
        "boat-dark-720p",
        "boat-light-480p",
        "boat-light-720p",
        "owl",
    ]
    said = "metadata.jsonl leaves out 1 recorded file not there (`rhbatch verify out` names it)"
    assert said in again.out

    (boats / "owl" / "1.mp4").unlink()  # deleted after the run: export leaves it out too
    exported = cli("export", "out", "--format", "csv", "--to", "t.csv")
    assert exported.out == (
        "t.csv: 4 rows (csv)\n"
        "  left out: 2 recorded files not in out (`rhbatch verify out` names them)\n"
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_spread_params_gives_each_parameter_a_column(cli: Cli, boats: Path, fmt: str) -> None:
    """--spread-params: a param.NAME column per parameter, so a table can be sliced by one;
    params stays the JSON of them all."""
    dest = Path(f"t.{fmt}")
    result = cli("export", "out", "--format", fmt, "--spread-params", "--to", str(dest))
    assert result.code == 0, result.err
    if fmt == "jsonl":
        rows = rows_of(dest)
    elif fmt == "csv":
        with dest.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
        rows = pq.read_table(dest).to_pylist()
    spread = ("param.duration", "param.prompt", "param.resolution")
    assert tuple(rows[0]) == (*COLUMNS, "var.look", "var.mood", "var.series", *spread)
    hd = [r["job_id"] for r in rows if r["param.resolution"] == "720p"]
    assert sorted(hd) == ["boat-dark-720p", "boat-light-720p"]
    for row in rows:
        assert row["param.prompt"] == json.loads(row["params"])["prompt"]
    plain = cli("export", "out", "--to", "plain.jsonl")
    assert not any(k.startswith("param.") for k in rows_of(Path("plain.jsonl"))[0])
    assert plain.code == 0


def test_columns_keep_one_type_each(tmp_path: Path) -> None:
    """A column whose values share a type keeps it (whole numbers and numbers make
    numbers); one that mixes types, or holds lists, holds text, JSON for what is not text.
    A var and a parameter of the same name are two columns. Formulas are defused in
    every text cell of a CSV."""
    out = tmp_path / "out"
    out.mkdir()
    jobs = [
        ({"n": 1, "seed": 5, "refs": ["a.png"], "look": "=1+1"}, {"look": "dark", "n": True}),
        ({"n": 2.5, "seed": "5", "refs": ["b.png", "c.png"]}, {"look": 3}),
    ]
    lines = []
    for i, (params, named) in enumerate(jobs):
        (out / f"j{i}.png").write_bytes(b"x")
        outputs = [{"n": 1, "path": f"j{i}.png", "bytes": 1, "sha256": "0" * 64, "type": "png"}]
        record = {"id": f"j{i}", "status": "succeeded", "params": params, "vars": named}
        lines.append(json.dumps(record | {"endpoint": "e", "outputs": outputs}))
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")

    written = write_table(out, tmp_path / "t.jsonl", "jsonl", spread=True)
    assert (written.rows, written.left_out) == (2, 0)
    rows = rows_of(tmp_path / "t.jsonl")
    extra = [(k, [r[k] for r in rows]) for k in rows[0] if k not in COLUMNS]
    assert extra == [
        ("var.look", ["dark", "3"]),
        ("var.n", [True, None]),
        ("param.look", ["=1+1", None]),
        ("param.n", [1.0, 2.5]),
        ("param.refs", ['["a.png"]', '["b.png", "c.png"]']),
        ("param.seed", ["5", "5"]),
    ]
    write_table(out, tmp_path / "t.csv", "csv", spread=True)
    with (tmp_path / "t.csv").open(newline="") as fh:
        assert next(csv.DictReader(fh))["param.look"] == "'=1+1"
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
    write_table(out, tmp_path / "t.parquet", "parquet", spread=True)
    schema = pq.read_schema(tmp_path / "t.parquet")
    kinds = {name: str(schema.field(name).type) for name in schema.names if "." in name}
    assert kinds == {
        "var.look": "string",
        "var.n": "bool",
        "param.look": "string",
        "param.n": "double",
        "param.refs": "string",
        "param.seed": "string",
    }


def test_an_older_run_has_no_variable_columns(cli: Cli, tmp_path: Path) -> None:
    """A directory of an earlier rhbatch, whose manifest has no vars: the columns of before
    (its store is brought up to date, its rows unchanged)."""
    shutil.copytree(ROOT / "tests" / "data" / "store-v4", tmp_path / "v4")
    out = tmp_path / "v4" / "out"
    assert all("vars" not in r for r in manifest(out))
    result = cli("export", str(out), "--to", str(tmp_path / "t.jsonl"))
    assert result.code == 0, result.err
    rows = rows_of(tmp_path / "t.jsonl")
    assert rows
    assert all(tuple(r) == COLUMNS for r in rows)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_an_export_that_fails_midway_leaves_the_old_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """A table is written whole or not at all, in every format: a fault at the second row
    leaves the table written before, and no part file beside it."""
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="pyarrow is not installed")
    from rhbatch.store import dataset

    out = tmp_path / "out"
    out.mkdir()
    lines = []
    for i in range(2):
        (out / f"j{i}.png").write_bytes(b"x")
        outputs = [{"n": 1, "path": f"j{i}.png", "bytes": 1, "sha256": "0" * 64, "type": "png"}]
        lines.append(json.dumps({"id": f"j{i}", "endpoint": "e", "outputs": outputs}))
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    dest = tmp_path / f"t.{fmt}"
    assert write_table(out, dest, fmt).rows == 2
    before = dest.read_bytes()
    filled = dataset._Columns.fill
    calls: list[int] = []

    def broken(self: Any, *args: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return filled(self, *args)

    monkeypatch.setattr(dataset._Columns, "fill", broken)
    with pytest.raises(OSError, match="disk full"):
        write_table(out, dest, fmt)
    assert dest.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", f"t.{fmt}"]
