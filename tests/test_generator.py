"""Tests of tools/gen_schemas.py and of the schemas it generated into schemas/."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "tools" / "data" / "runninghub-model-registry.json"
SCHEMAS = ROOT / "schemas"
DOC_BODIES = Path(__file__).resolve().parent / "data" / "doc_bodies"
MULTIMODAL = "rhart-video/sparkvideo-2.0/multimodal-video"
V1_LITE = "seedance-v1-lite/reference-to-video"
REFERENCE_TO_VIDEO = {
    "alibaba/happyhorse-1.0/reference-to-video",
    "alibaba/wan-2.6/reference-to-video",
    "alibaba/wan-2.6/reference-to-video-flash",
    "alibaba/wan-2.7/reference-to-video",
    "bytedance/seedance-2.0-global-fast/multimodal-video",
    "bytedance/seedance-2.0-global/multimodal-video",
    "kling-video-o1-std/refrence-to-video",
    "kling-video-o3-4k/reference-to-video",
    "kling-video-o3-pro/reference-to-video",
    "kling-video-o3-std/reference-to-video",
    "pixverse-c1/reference-to-video",
    "rhart-video-g-official/reference-to-video",
    "rhart-video-v3.1-pro-official/reference-to-video",
    "rhart-video/sparkvideo-2.0-fast/multimodal-video",
    "rhart-video/sparkvideo-2.0/multimodal-video",
    "seedance-v1-lite/reference-to-video",
    "skyreels-v3/reference-to-video",
    "skyreels-v4/omni-reference",
    "vidu/reference-to-video-q2",
    "vidu/reference-to-video-q2-pro",
    "vidu/reference-to-video-q3",
    "vidu/reference-to-video-q3-mix",
}


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_schemas", ROOT / "tools" / "gen_schemas.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_schemas"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((SCHEMAS / "endpoints").rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        out[schema["x-rhbatch"]["endpoint"]] = schema
    return out


@pytest.fixture(scope="module")
def index() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))
    return data


def tree(base: Path) -> dict[str, bytes]:
    files = {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}
    return {rel: data for rel, data in files.items() if rel.startswith("endpoints/")} | {
        "index.json": (base / "index.json").read_bytes()
    }


def run(gen: ModuleType, *args: str) -> int:
    code: int = gen.main([str(REGISTRY), *args])
    return code


def test_generation_reproduces_committed_files(gen: ModuleType, tmp_path: Path) -> None:
    """Generating into an empty directory gives the committed endpoints tree and index."""
    assert run(gen, "--out", str(tmp_path)) == 0
    assert tree(tmp_path) == tree(SCHEMAS)


def test_check_passes_on_the_repository(gen: ModuleType) -> None:
    """--check finds the committed schemas up to date."""
    assert run(gen, "--check") == 0


def test_check_fails_when_a_file_was_edited(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check exits 1 and names the file when a generated file was changed by hand."""
    out = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, out)
    edited = out / "endpoints" / f"{MULTIMODAL}.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"9"', '"90"'), "utf-8")
    capsys.readouterr()
    assert run(gen, "--out", str(out), "--check") == 1
    assert capsys.readouterr().out == f"differs: endpoints/{MULTIMODAL}.json\n"


def test_check_reports_missing_and_extra_files(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check lists a deleted schema as missing and a stray one as extra."""
    out = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, out)
    (out / "endpoints" / f"{V1_LITE}.json").unlink()
    (out / "endpoints" / "stray.json").write_text("{}\n", "utf-8")
    capsys.readouterr()
    assert run(gen, "--out", str(out), "--check") == 1
    assert capsys.readouterr().out.splitlines() == [
        f"missing: endpoints/{V1_LITE}.json",
        "extra: endpoints/stray.json",
    ]


def test_generation_deletes_stale_schemas_only(gen: ModuleType, tmp_path: Path) -> None:
    """A stale file under endpoints/ is deleted; other files in --out are left alone."""
    (tmp_path / "endpoints" / "old").mkdir(parents=True)
    (tmp_path / "endpoints" / "old" / "model.json").write_text("{}\n", "utf-8")
    (tmp_path / "spec.schema.json").write_text("{}\n", "utf-8")
    assert run(gen, "--out", str(tmp_path)) == 0
    assert not (tmp_path / "endpoints" / "old").exists()
    assert (tmp_path / "spec.schema.json").read_text("utf-8") == "{}\n"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(type="COLOR"), "unknown parameter type 'COLOR'"),
        (lambda p: p.update(fieldKey="repeat"), "the name is reserved for job keys"),
    ],
    ids=["unknown-type", "reserved-key"],
)
def test_unmappable_registry_data_fails(
    gen: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Any,
    message: str,
) -> None:
    """A parameter the generator cannot map stops it with exit 1 and a message."""
    registry = json.loads(REGISTRY.read_text(encoding="utf-8"))
    broken = copy.deepcopy(registry)
    mutate(broken["models"][0]["params"][0])
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(broken), "utf-8")
    assert gen.main([str(path), "--out", str(tmp_path / "out")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_there_is_one_schema_per_registry_model(
    schemas: dict[str, dict[str, Any]], index: dict[str, Any]
) -> None:
    """There are 299 endpoint schemas, and the index lists each once, sorted."""
    listed = [entry["endpoint"] for entry in index["endpoints"]]
    assert len(schemas) == index["count"] == 299
    assert listed == sorted(schemas)


def test_every_schema_is_valid_draft_2020_12(schemas: dict[str, dict[str, Any]]) -> None:
    """Every endpoint schema passes the draft 2020-12 metaschema."""
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("page", "endpoint"),
    [
        ("seedance-2.0-multimodal-video", MULTIMODAL),
        ("seedance-v1-lite-reference-to-video", V1_LITE),
    ],
)
def test_doc_example_bodies_are_valid(
    schemas: dict[str, dict[str, Any]], page: str, endpoint: str
) -> None:
    """The example request body of each documentation page is valid for its endpoint."""
    body = json.loads((DOC_BODIES / f"{page}.json").read_text(encoding="utf-8"))
    errors = [e.message for e in Draft202012Validator(schemas[endpoint]).iter_errors(body)]
    assert errors == []


def test_multimodal_real_person_mode_is_boolean(schemas: dict[str, dict[str, Any]]) -> None:
    """The multimodal endpoint has realPersonMode as a boolean, from the doc page."""
    assert schemas[MULTIMODAL]["properties"]["realPersonMode"] == {
        "type": "boolean",
        "default": True,
    }


def test_multimodal_duration_values_are_strings(schemas: dict[str, dict[str, Any]]) -> None:
    """duration on the multimodal endpoint accepts "5" and rejects the number 5."""
    validator = Draft202012Validator(schemas[MULTIMODAL]["properties"]["duration"])
    assert validator.is_valid("5")
    assert not validator.is_valid(5)


def test_multimodal_media_counts(schemas: dict[str, dict[str, Any]]) -> None:
    """The multimodal endpoint takes up to 9 images, 3 videos and 3 audio files."""
    props = schemas[MULTIMODAL]["properties"]
    assert [props[key]["maxItems"] for key in ("imageUrls", "videoUrls", "audioUrls")] == [9, 3, 3]


def test_v1_lite_images_and_camera_fixed(schemas: dict[str, dict[str, Any]]) -> None:
    """seedance-v1-lite takes up to 4 images, and cameraFixed is a string enum."""
    props = schemas[V1_LITE]["properties"]
    assert props["imageUrls"]["maxItems"] == 4
    assert props["cameraFixed"]["type"] == "string"
    assert props["cameraFixed"]["enum"] == ["false", "true"]


def test_no_schema_allows_unknown_parameters(schemas: dict[str, dict[str, Any]]) -> None:
    """additionalProperties is false in every endpoint schema."""
    assert {s["additionalProperties"] for s in schemas.values()} == {False}


def test_reference_to_video_set(index: dict[str, Any]) -> None:
    """Exactly the known reference-to-video endpoints carry that task."""
    found = {e["endpoint"] for e in index["endpoints"] if e["task"] == "reference-to-video"}
    assert found == REFERENCE_TO_VIDEO


def test_every_endpoint_has_a_task_and_an_output_type(index: dict[str, Any]) -> None:
    """Each index entry has a task and an output type from the closed set."""
    for entry in index["endpoints"]:
        assert entry["task"], entry["endpoint"]
        assert entry["outputType"] in {"video", "image", "audio", "3d", "string"}


def test_aliases_are_unique_across_endpoints(index: dict[str, Any]) -> None:
    """No alias (compared case-insensitively) names two endpoints."""
    aliases = [a.casefold() for e in index["endpoints"] for a in e["aliases"]]
    assert len(aliases) == len(set(aliases))


def test_schema_and_index_agree(schemas: dict[str, dict[str, Any]], index: dict[str, Any]) -> None:
    """Each index entry repeats its schema's title, aliases, task and parameter count."""
    for entry in index["endpoints"]:
        schema = schemas[entry["endpoint"]]
        meta = schema["x-rhbatch"]
        assert entry["file"] == f"endpoints/{entry['endpoint']}.json"
        assert (entry["title"], entry["aliases"], entry["task"]) == (
            schema["title"],
            meta["aliases"],
            meta["task"],
        )
        assert entry["params"] == len(schema["properties"])


NAV_PAGE = """\
RunningHub-API
  • Getting Started
    • Instructions for Use
  • Standard Model API
    • Video Generation & Processing
      • image-to-video
        • kling
          • kling-video-o1/image-to-video
          • kling-video-o1/image-to-video
      • reference-to-video
        • seedance-2.0/multimodal-video
          POST
    • 3D Generation & Processing
      • text-to-3D
        • hunyuan3d-v3.1/text-to-3d
    • Other
      • pixverse-v5.6/text-to-video
  • Task Query & webhook
    • Check Task Status
  1. reference-to-video
"""


def test_extract_nav_lists_leaves_with_their_sections(gen: ModuleType) -> None:
    """--extract-nav keeps Standard Model API leaves once each, with lower-cased sections."""
    assert gen.extract_nav(NAV_PAGE) == [
        {"title": "kling-video-o1/image-to-video", "section": "image-to-video"},
        {"title": "seedance-2.0/multimodal-video", "section": "reference-to-video"},
        {"title": "hunyuan3d-v3.1/text-to-3d", "section": "text-to-3d"},
        {"title": "pixverse-v5.6/text-to-video", "section": "other"},
    ]


TITLES = ROOT / "tools" / "data" / "doc-titles.json"


def run_with_titles(
    gen: ModuleType, tmp_path: Path, change: Any, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Generate into tmp_path/out with a changed copy of doc-titles.json: (exit code, stderr)."""
    titles = json.loads(TITLES.read_text(encoding="utf-8"))
    change(titles)
    path = tmp_path / "doc-titles.json"
    path.write_text(json.dumps(titles), "utf-8")
    capsys.readouterr()
    code = run(gen, "--titles", str(path), "--out", str(tmp_path / "out"))
    return code, capsys.readouterr().err


def test_index_lists_the_unlisted_titles_with_sections(index: dict[str, Any]) -> None:
    """index.json carries the 32 titles the registry lacks, in tree order, each with its
    section and note."""
    unlisted = index["unlisted"]
    assert len(unlisted) == 32
    assert unlisted[0] == {
        "title": "wan-2.2/image-to-video",
        "section": "image-to-video",
        "note": "",
    }
    assert {u["section"] for u in unlisted} == {
        "image-to-video",
        "text-to-video",
        "image-to-image",
        "text-to-image",
    }


def test_an_alias_makes_the_title_the_endpoints_doc_title(index: dict[str, Any]) -> None:
    """An aliased title is its endpoint's doc title and title; the registry's name stays an
    alias."""
    entry = next(
        e for e in index["endpoints"] if e["endpoint"] == "rhart-image-g-1.5/edit-[Deprecated]"
    )
    assert entry["title"] == entry["docTitle"] == "gpt-image-1.5/edit-channel-low-price"
    assert entry["nameEn"] in entry["aliases"]
    assert entry["task"] == "image-to-image"


def test_a_title_neither_matched_nor_listed_stops_generation(
    gen: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A title of the tree that matches no model and is not in doc-titles.json: exit 1,
    nothing written."""
    code, err = run_with_titles(gen, tmp_path, lambda t: t["unlisted"].pop("z-image/turbo"), capsys)
    assert code == 1
    assert err == (
        "gen_schemas: error: doc titles that match no registry model: z-image/turbo; add each "
        "to doc-titles.json, under 'aliases' when its endpoint is certain, else 'unlisted'\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t["unlisted"].update({"wan-2.7/image-to-video": ""}),
            "doc-titles.json: unlisted 'wan-2.7/image-to-video' names "
            "alibaba/wan-2.7/image-to-video now: remove it from unlisted",
        ),
        (
            lambda t: t["unlisted"].update({"no-such/title": ""}),
            "doc-titles.json: unlisted 'no-such/title' is not a title of the navigation tree",
        ),
        (
            lambda t: t["aliases"].update(
                {"wan-2.7/image-to-video": {"endpoint": "alibaba/wan-2.7/image-to-video"}}
            ),
            "doc-titles.json: alias 'wan-2.7/image-to-video' matches "
            "alibaba/wan-2.7/image-to-video by name now: remove the alias",
        ),
        (
            lambda t: t["aliases"].update({"z-image/turbo": {"endpoint": "z-image/turbo"}}),
            "doc-titles.json: both an alias and unlisted: z-image/turbo",
        ),
        (
            lambda t: t["aliases"]["gpt-image-1.5/edit-channel-low-price"].update(
                endpoint="rhart-image-g-1.5/edit"
            ),
            "doc-titles.json: alias 'gpt-image-1.5/edit-channel-low-price' names "
            "rhart-image-g-1.5/edit, which the registry lacks",
        ),
        (
            lambda t: t["aliases"]["gpt-image-1.5/edit-channel-low-price"].update(
                endpoint="rhart-image-g-1.5/text-to-image-[Deprecated]"
            ),
            "doc-titles.json: alias 'gpt-image-1.5/text-to-image-channel-low-price': "
            "rhart-image-g-1.5/text-to-image-[Deprecated] already has the doc title "
            "'gpt-image-1.5/edit-channel-low-price'",
        ),
    ],
    ids=[
        "unlisted-matches",
        "unlisted-not-in-tree",
        "alias-matches",
        "alias-and-unlisted",
        "alias-to-nothing",
        "two-aliases-one-endpoint",
    ],
)
def test_a_stale_doc_titles_entry_stops_generation(
    gen: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Any,
    message: str,
) -> None:
    """An entry of doc-titles.json the data contradicts stops generation with exit 1."""
    code, err = run_with_titles(gen, tmp_path, change, capsys)
    assert code == 1
    assert err == f"gen_schemas: error: {message}\n"


def test_module_form_checks_the_committed_registry() -> None:
    """`python -m tools.gen_schemas --check` (no registry argument) finds schemas/ current."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "tools.gen_schemas", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "")
