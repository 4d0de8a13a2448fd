"""The specs in specs/: one for every reference-to-video title of the docs, each valid and run
against the emulator over loopback; and the spec files' schema, for editors."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.endpoints.registry import registry
from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, manifest, verify_files

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]

SPECS = sorted((ROOT / "specs").glob("*.yaml"))
NAV = json.loads((ROOT / "tools/data/doc-nav.json").read_text(encoding="utf-8"))


def plan(cli: Cli, spec: Path) -> dict[str, Any]:
    result = cli("plan", str(spec), "--json")
    assert result.code == 0, result.err
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def test_every_spec_validates(cli: Cli) -> None:
    """Every spec in specs/ is valid, its local files included."""
    result = cli("validate", *map(str, SPECS))
    assert result.code == 0, result.err
    assert len(SPECS) == 20


def test_every_reference_to_video_title_of_the_docs_has_a_spec(cli: Cli) -> None:
    """Each of the 16 titles of the navigation tree that names a reference-to-video endpoint
    (10 in its reference-to-video section, 6 filed elsewhere) has a spec of its own in specs/
    whose jobs all run that endpoint."""
    reg = registry()
    wanted = {
        endpoint
        for endpoint in (reg.lookup(n["title"]) for n in NAV)
        if endpoint is not None and reg.endpoints[endpoint].task == "reference-to-video"
    }
    assert len(wanted) == 16
    covered = {}
    for spec in SPECS:
        endpoints = {job["endpoint"] for job in plan(cli, spec)["jobs"]}
        if len(endpoints) == 1:
            covered.setdefault(endpoints.pop(), spec.name)
    assert wanted <= covered.keys(), sorted(wanted - covered.keys())


def test_an_image_an_audio_and_a_dataset_spec(cli: Cli) -> None:
    """Besides video, specs/ shows an image and an audio endpoint, and a dataset: rows of a
    CSV times a matrix times repeat, each copy with its own seed."""
    assert output_types(cli, "seedream-v4.5-image-to-image") == {"image"}
    assert output_types(cli, "minimax-speech-2.8-hd") == {"audio"}
    jobs = plan(cli, ROOT / "specs/dataset-text-to-image.yaml")["jobs"]
    assert len(jobs) == 4 * 2 * 2 * 2
    assert len({job["params"]["seed"] for job in jobs}) == 32
    assert jobs[0]["id"] == "lantern-square-film-photo-1"
    assert jobs[0]["params"]["prompt"] == (
        "a paper lantern floating over a night market, film photo, centered, plain background"
    )


def output_types(cli: Cli, name: str) -> set[str]:
    jobs = plan(cli, ROOT / f"specs/{name}.yaml")["jobs"]
    return {registry().endpoints[job["endpoint"]].output_type for job in jobs}


def test_new_specs_use_local_reference_media_of_the_repository() -> None:
    """The specs added for the docs' models name local files of examples/media only (the two
    older doc-example specs keep RunningHub's own URLs), so the repository stays small."""
    local = set()
    for spec in SPECS:
        text = spec.read_text(encoding="utf-8")
        local |= {word.strip("[],") for word in text.split() if "examples/media/" in word}
    assert local == {
        "../examples/media/hotpot.jpg",
        "../examples/media/friends.png",
        "../examples/media/steam.mp4",
        "../examples/media/bell.mp3",
    }
    assert sorted(p.name for p in (ROOT / "specs").iterdir() if p.suffix != ".yaml") == [
        "dataset-prompts.csv"
    ]


@pytest.mark.usefixtures("virtual_clock")
@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_every_spec_runs_against_the_emulator(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: Path
) -> None:
    """The spec runs to the end against the emulator over loopback: every job succeeds,
    submitted once, with its files checksummed and its local references uploaded. Only the
    copies of a `repeat` on an endpoint without a seed send the same body more than once."""
    expected = plan(cli, spec)
    same = Counter(json.dumps(job["params"], sort_keys=True) for job in expected["jobs"])
    out = tmp_path / "out"
    with emulator(monkeypatch) as emu:
        result = cli("run", str(spec), "--out", str(out), "-q")
        stats = emu.stats()
    assert result.code == 0, result.err
    records = manifest(out)
    assert [r["id"] for r in records] == [job["id"] for job in expected["jobs"]]
    assert {r["status"] for r in records} == {"succeeded"}
    assert verify_files(out, records) >= len(records)
    assert stats["submissions"] == len(records)
    assert sorted(stats["duplicateSubmissions"].values()) == sorted(
        n for n in same.values() if n > 1
    )
    for record in records:
        for value in record["params"].values():
            for item in value if isinstance(value, list) else [value]:
                assert not (isinstance(item, str) and "examples/media" in item), record["id"]


def test_schema_spec_prints_the_spec_schema(cli: Cli) -> None:
    """`rhbatch schema --spec` prints the spec files' JSON Schema, as the registry has it."""
    result = cli("schema", "--spec")
    assert result.code == 0, result.err
    assert json.loads(result.out) == registry().spec_schema()
    assert json.loads(result.out)["$id"] == "urn:rhbatch:spec:v1"


def test_schema_write_makes_a_file_editors_can_use(cli: Cli, write: Write) -> None:
    """--write writes the schema (replacing an older copy) and says how a spec points at it."""
    Path("spec.schema.json").write_text("{}\n", encoding="utf-8")
    result = cli("schema", "--write", "spec.schema.json")
    assert result == Result(
        0,
        "wrote spec.schema.json; a spec whose first line is `# yaml-language-server: "
        "$schema=PATH`, PATH being spec.schema.json as seen from the spec, is checked as you "
        "type (docs/editors.md)\n",
        "",
    )
    written = json.loads(Path("spec.schema.json").read_text(encoding="utf-8"))
    assert written == registry().spec_schema()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "name an endpoint (`rhbatch endpoints` lists them), or --spec"),
        (
            ("spec",),
            "'spec' is not an endpoint: `rhbatch schema --spec` prints the schema of spec files",
        ),
        (("f-dev", "--spec"), "give an endpoint, or --spec for the schema of spec files; not both"),
        (("--write", "."), ". is a directory; give a file name, e.g. ./spec.schema.json"),
    ],
    ids=["nothing", "spec-as-endpoint", "both", "write-a-directory"],
)
def test_schema_usage_errors(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    """Asking for both, neither, or `schema spec` is a usage error that says what to type."""
    assert cli("schema", *argv) == Result(2, "", f"rhbatch: error: {message}\n")
