"""The ComfyUI node definitions (schemas/comfyui-nodes.json, made by tools/gen_nodes.py): the
file's shape, facts about well-known nodes that a wrong reading of the sources would break, and
eight real public API-format graphs (tests/data/workflows/) checked against it, value by value.

CI cannot fetch the packs' sources, so `python -m tools.gen_nodes --check` (which regenerates
the file from the mirrors) is not run here; these tests hold the committed file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "schemas" / "comfyui-nodes.json"
GRAPHS = ROOT / "tests" / "data" / "workflows"
WIDGETS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SECTION_MARKERS = {"(required)", "(optional)", "(INPUT_TYPES)", "(input)", "(inputs)"}

# Values a graph holds for names its class does not declare, each for a known reason.
EXTRA_VALUES = {
    # The web page's upload button is a widget of its own; older frontends export its value.
    ("LoadImage", "upload"): "the upload button's widget value",
    # VHS adds the widgets of the chosen output format (its JSON format file) in JavaScript;
    # `format` itself is a list built at run time (ffmpeg's formats), unresolved in the data.
    ("VHS_VideoCombine", "pix_fmt"): "a widget of the chosen video format",
    ("VHS_VideoCombine", "crf"): "a widget of the chosen video format",
    ("VHS_VideoCombine", "save_metadata"): "a widget of the chosen video format",
    # A hidden input (INPUT_TYPES "hidden"), which the data leaves out.
    ("VHS_LoadVideo", "force_size"): "a hidden input",
    # rgthree keeps the comparer's state in a widget the Python class does not declare.
    ("Image Comparer (rgthree)", "rgthree_comparer"): "the comparer widget's state",
}
# Declared defaults outside their own range, as the packs' sources have them (ComfyUI does not
# check a default against min/max). KJNodes' rows: "Set to 0 for automatic calculation", min 1.
DEFAULTS_OUT_OF_RANGE = {("ImageGridtoBatch", "rows")}
# The share of each graph's node classes the data covers, as measured; a change that loses
# classes fails here. The classes not covered are named in tests/data/workflows/README.md.
COVERAGE = {
    "txt2img-sd15.json": (6, 6),
    "img2img-sd15.json": (7, 7),
    "video-matting-vhs.json": (4, 5),
    "wan21-t2v-webp.json": (8, 8),
    "flux-lora-custom-nodes.json": (20, 25),
    "reactor-faceswap.json": (5, 5),
    "supir-upscale.json": (12, 12),
    "flux-controlnet-dotted-titles.json": (8, 11),
}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def nodes(data: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = data["nodes"]
    return found


def graph(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAPHS / name).read_text(encoding="utf-8"))
    return loaded


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def misfit(spec: dict[str, Any], value: Any) -> str | None:
    """Why a value does not fit an input's definition, or None when it does."""
    kind = spec["type"]
    if spec.get("link"):
        return f"a value for a {kind} link input"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "INT" and not (number and float(value).is_integer()):
        return "not an INT"
    if kind == "FLOAT" and not number:
        return "not a FLOAT"
    if kind == "STRING" and not isinstance(value, str):
        return "not a STRING"
    if kind == "BOOLEAN" and not isinstance(value, bool):
        return "not a BOOLEAN"
    if kind == "COMBO" and spec.get("choices") is not None and value not in spec["choices"]:
        return "not among the choices"
    if number and "min" in spec and value < spec["min"]:
        return f"below the minimum {spec['min']}"
    if number and "max" in spec and value > spec["max"]:
        return f"above the maximum {spec['max']}"
    return None


# -- the file's shape --------------------------------------------------------------------------


def test_the_file_names_its_format_generator_and_sources(data: dict[str, Any]) -> None:
    """The header: format, generator, and every pack's repository, commit, licence and files."""
    assert data["format"] == "rhbatch-comfyui-nodes/1"
    assert data["generator"] == "tools/gen_nodes.py"
    packs = [s["pack"] for s in data["sources"]]
    assert packs[0] == "comfyui"
    assert len(set(packs)) == len(packs)
    for source in data["sources"]:
        assert set(source) == {"pack", "repo", "commit", "license", "files"}
        assert len(source["commit"]) == 40
        assert int(source["commit"], 16) >= 0
        assert source["files"] == sorted(source["files"])
        assert source["files"]
    assert {n["pack"] for n in data["nodes"].values()} <= set(packs)


def test_every_node_has_pack_inputs_outputs_and_output_node(nodes: dict[str, Any]) -> None:
    """Each node record has its five keys; optional names are inputs; a kind only on outputs."""
    assert len(nodes) > 1000
    assert list(nodes) == sorted(nodes)
    for name, node in nodes.items():
        assert {"pack", "inputs", "optional", "outputs", "output_node"} <= set(node), name
        assert set(node) <= {
            "pack",
            "inputs",
            "outputs",
            "output_node",
            "optional",
            "unresolved",
            "output_kind",
        }, name
        assert isinstance(node["output_node"], bool)
        assert all(isinstance(o, str) for o in node["outputs"]), name
        assert set(node["optional"]) <= set(node["inputs"]), name
        if "output_kind" in node:
            assert node["output_node"]
            assert node["output_kind"] in ("image", "video", "audio")


def test_every_input_has_a_known_type_and_sound_bounds(nodes: dict[str, Any]) -> None:
    """Widget types or links; choices a list, or null with the folder they come from; numbers
    finite, min <= default <= max where given."""
    for name, node in nodes.items():
        for input_name, spec in node["inputs"].items():
            where = f"{name}.{input_name}"
            kind = spec["type"]
            assert isinstance(kind, str), where
            assert kind, where
            assert kind in WIDGETS or spec.get("link") is True, where
            if spec.get("link"):
                assert kind not in WIDGETS, where
                assert "default" not in spec, where
            if "choices" in spec:
                assert kind == "COMBO", where
                if spec["choices"] is None:
                    assert isinstance(spec["choices_from"], str), where
                else:
                    assert isinstance(spec["choices"], list), where
            for key in ("default", "min", "max", "step"):
                value = spec.get(key)
                if isinstance(value, float):
                    assert math.isfinite(value), where
            if kind in ("INT", "FLOAT"):
                low, high = spec.get("min", -math.inf), spec.get("max", math.inf)
                assert low <= high, where
                if "default" in spec and (name, input_name) not in DEFAULTS_OUT_OF_RANGE:
                    assert low <= spec["default"] <= high, where
            if "media" in spec:
                assert spec["media"] in ("image", "video", "audio", "mask"), where
            assert spec.get("accepts", "url_or_path") in ("url_or_path", "directory"), where


# -- known facts -------------------------------------------------------------------------------


def test_ksampler_cfg_is_a_float_and_seed_a_64_bit_int(nodes: dict[str, Any]) -> None:
    """cfg is FLOAT 0..100 even though graphs save it as 8; seed spans 0..2**64-1."""
    inputs = nodes["KSampler"]["inputs"]
    assert inputs["cfg"]["type"] == "FLOAT"
    assert (inputs["cfg"]["min"], inputs["cfg"]["max"]) == (0.0, 100.0)
    assert inputs["seed"]["type"] == "INT"
    assert (inputs["seed"]["min"], inputs["seed"]["max"]) == (0, 18446744073709551615)
    assert inputs["seed"]["control_after_generate"] is True
    assert inputs["model"] == {"type": "MODEL", "link": True}


def test_ksampler_lists_the_samplers_and_schedulers_of_comfy_samplers(
    nodes: dict[str, Any],
) -> None:
    """sampler_name and scheduler resolve through comfy.samplers.KSampler to real lists."""
    inputs = nodes["KSampler"]["inputs"]
    assert {"euler", "dpmpp_2m", "uni_pc"} <= set(inputs["sampler_name"]["choices"])
    assert {"normal", "karras", "simple"} <= set(inputs["scheduler"]["choices"])
    assert "foo" not in inputs["sampler_name"]["choices"]


def test_loaders_name_their_media_and_where_their_choices_come_from(
    nodes: dict[str, Any],
) -> None:
    """LoadImage lists the input folder and takes an image; VHS_LoadVideo a video; a checkpoint
    name comes from the checkpoints folder, so its choices are not known offline."""
    image = nodes["LoadImage"]["inputs"]["image"]
    assert image == {"type": "COMBO", "choices": None, "choices_from": "input", "media": "image"}
    assert nodes["VHS_LoadVideo"]["inputs"]["video"]["media"] == "video"
    assert nodes["LoadAudio"]["inputs"]["audio"]["media"] == "audio"
    assert nodes["LoadVideo"]["inputs"]["file"]["media"] == "video"
    path = nodes["VHS_LoadVideoPath"]["inputs"]["video"]
    assert (path["type"], path["media"], path["accepts"]) == ("STRING", "video", "url_or_path")
    ckpt = nodes["CheckpointLoaderSimple"]["inputs"]["ckpt_name"]
    assert ckpt == {"type": "COMBO", "choices": None, "choices_from": "checkpoints"}


def test_savers_are_output_nodes_of_their_kind(nodes: dict[str, Any]) -> None:
    """SaveAnimatedWEBP and VHS_VideoCombine write video, SaveImage images; VAEDecode is not
    an output node."""
    assert (nodes["SaveAnimatedWEBP"]["output_node"], nodes["SaveAnimatedWEBP"]["output_kind"]) == (
        True,
        "video",
    )
    assert nodes["VHS_VideoCombine"]["output_kind"] == "video"
    assert nodes["SaveImage"]["output_kind"] == "image"
    assert nodes["PreviewImage"]["output_kind"] == "image"
    assert nodes["SaveAudio"]["output_kind"] == "audio"
    assert nodes["VAEDecode"]["output_node"] is False
    assert "output_kind" not in nodes["VAEDecode"]


def test_prompt_fields_are_multiline_strings(nodes: dict[str, Any]) -> None:
    """CLIPTextEncode.text is a multiline STRING, its clip a link."""
    assert nodes["CLIPTextEncode"]["inputs"]["text"] == {"type": "STRING", "multiline": True}
    assert nodes["CLIPTextEncode"]["inputs"]["clip"]["link"] is True


def test_optional_inputs_are_listed(nodes: dict[str, Any]) -> None:
    """WanImageToVideo's start image and clip vision output are optional, its vae is not."""
    optional = nodes["WanImageToVideo"]["optional"]
    assert {"start_image", "clip_vision_output"} <= set(optional)
    assert "vae" not in optional


# -- the real graphs ---------------------------------------------------------------------------


def test_the_graphs_are_api_format_and_listed_in_the_readme() -> None:
    """Every file is an API-format graph (class_type and inputs), named in the README."""
    readme = (GRAPHS / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in GRAPHS.glob("*.json")) == sorted(COVERAGE)
    for name in COVERAGE:
        nodes_of = graph(name)
        assert all("class_type" in n and "inputs" in n for n in nodes_of.values()), name
        assert f"`{name}`" in readme


@pytest.mark.parametrize("name", sorted(COVERAGE))
def test_the_data_covers_the_graphs_classes(nodes: dict[str, Any], name: str) -> None:
    """At least the measured number of each graph's classes is in the data."""
    classes = {n["class_type"] for n in graph(name).values()}
    covered = {c for c in classes if c in nodes}
    floor, total = COVERAGE[name]
    assert len(classes) == total
    assert len(covered) >= floor, sorted(classes - covered)


@pytest.mark.parametrize("name", sorted(COVERAGE))
def test_every_value_in_the_graphs_fits_its_definition(nodes: dict[str, Any], name: str) -> None:
    """Each input that is a value, not a link, is declared by its class (or is a known extra)
    and fits: its type, its choices where known, its range."""
    problems = []
    for node_id, node in graph(name).items():
        definition = nodes.get(node["class_type"])
        if definition is None:
            continue
        unresolved = set(definition.get("unresolved", []))
        for input_name, value in node["inputs"].items():
            if is_link(value):
                continue
            spec = definition["inputs"].get(input_name)
            if spec is None:
                known = (node["class_type"], input_name) in EXTRA_VALUES
                if not known and input_name not in unresolved and not unresolved & SECTION_MARKERS:
                    problems.append(f"{node_id} {node['class_type']}.{input_name}: not declared")
                continue
            why = misfit(spec, value)
            if why:
                problems.append(f"{node_id} {node['class_type']}.{input_name}={value!r}: {why}")
    assert problems == []


def test_the_wan_graph_writes_only_through_save_animated_webp(nodes: dict[str, Any]) -> None:
    """The Wan 2.1 text-to-video graph has one output node, SaveAnimatedWEBP, a video."""
    outputs = [n["class_type"] for n in graph("wan21-t2v-webp.json").values()]
    outputs = [c for c in outputs if nodes.get(c, {}).get("output_node")]
    assert outputs == ["SaveAnimatedWEBP"]
    assert nodes["SaveAnimatedWEBP"]["output_kind"] == "video"


def test_the_matting_graph_loads_a_video_file(nodes: dict[str, Any]) -> None:
    """The matting graph's VHS_LoadVideo names an uploaded video, its combines write video."""
    found = graph("video-matting-vhs.json")
    loaders = [n for n in found.values() if n["class_type"] == "VHS_LoadVideo"]
    assert loaders
    assert all(isinstance(n["inputs"]["video"], str) for n in loaders)
    combines = [n["class_type"] for n in found.values() if n["class_type"] == "VHS_VideoCombine"]
    assert combines
    assert nodes["VHS_VideoCombine"]["output_kind"] == "video"


def test_the_controlnet_graph_has_titles_with_dots() -> None:
    """Some node titles of the Flux ControlNet graph contain dots (``Flux.dev``)."""
    titles = [
        n.get("_meta", {}).get("title", "")
        for n in graph("flux-controlnet-dotted-titles.json").values()
    ]
    assert any("." in t for t in titles)
