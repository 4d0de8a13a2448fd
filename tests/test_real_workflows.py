"""Real public ComfyUI workflows (tests/data/workflows, sources and licences in its README)
served by the emulator, pinned, written against as a user would, planned and run.

Their inputs take types from the node classes' published definitions: a FLOAT saved as a
whole number takes 7.5, choices and ranges are checked on both sides, loaders of every
kind take local files (uploaded once), savers of every kind are outputs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, manifest, verify_files

pytestmark = pytest.mark.usefixtures("virtual_clock")

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]
GRAPHS = ROOT / "tests" / "data" / "workflows"
MEDIA = ROOT / "examples" / "media"


def graph(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAPHS / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


# Each graph, the workflow id it is served under, and a job as a user would write it
# (what it sets exercises what the graph is about).
CASES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "txt2img-sd15": (
        "1990000000000000301",
        "3.cfg: 7.5\n    3.denoise: 0.6\n    KSampler.sampler_name: dpmpp_2m\n"
        "    6.text: a lighthouse at dusk",
        None,
    ),
    "img2img-sd15": (
        "1990000000000000302",
        "10.image: media/hotpot.jpg\n    3.denoise: 0.45\n    3.cfg: 6.5",
        None,
    ),
    "video-matting-vhs": (
        "1990000000000000303",
        "1.video: media/steam.mp4\n    2.bg_color: white\n    4.scale_by: 0.5",
        None,
    ),
    "wan21-t2v-webp": (
        "1990000000000000304",
        "3.cfg: 5.5\n    6.text: a red fox running through snow\n    40.length: 49",
        None,
    ),
    "reactor-faceswap": (
        "1990000000000000305",
        "1.image: media/friends.png\n    3.image: media/hotpot.jpg\n"
        "    2.face_restore_visibility: 0.8",
        None,
    ),
    "supir-upscale": (
        "1990000000000000306",
        "9.positive_prompt: a sharp photograph of a harbour\n    7.s_noise: 1.01\n"
        "    13.width: 1024",
        None,
    ),
    "flux-controlnet-dotted-titles": (
        "1990000000000000307",
        "26.t5xxl: a model in a silver coat, studio light\n"
        "    LoraLoaderModelOnly.strength_model: 0.8\n"
        "    Apply MistoCN-Flux.dev.strength: 0.7\n"
        "    KSampler for MistoCN-Flux.dev.guidance: 3.5",
        None,
    ),
    "flux-lora-custom-nodes": (
        "1990000000000000308",
        "Guidance.Xf: 3.5\n    Scheduler.steps: 24\n    Positive.string: a cabin in a pine forest",
        # Its savers (comfy-image-saver's Image Saver) are of a pack the definitions do not
        # cover: the config says what it outputs, as for any such workflow.
        {"outputs": [{"nodeId": "22", "outputType": "image"}]},
    ),
}


def served() -> dict[str, Any]:
    out = {}
    for name, (wid, _, extra) in CASES.items():
        out[wid] = {"name": name, "ran": True, "prompt": graph(name), **(extra or {})}
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_a_real_workflow_pins_validates_plans_and_runs(
    cli: Cli, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Pinned from the emulator, a starter from `new` validates, a job written as a user
    would validates, plans and runs: every output of the graph is a checksummed file, the
    local media went up once each, and what was sent is what the job set."""
    wid, job, _ = CASES[name]
    shutil.copytree(MEDIA, tmp_path / "media")
    with emulator(monkeypatch, workflows=served()) as emu:
        pinned = cli("pin", "workflow", wid)
        assert pinned.code == 0, pinned.err
        starter = cli("new", "workflow", wid, "--dir", ".", "--out", "starter.yaml")
        assert starter.code == 0, starter.err
        assert cli("validate", "starter.yaml").code == 0
        write("s.yaml", f'version: 1\nworkflow: "{wid}"\njobs:\n  - id: one\n    {job}\n')
        checked = cli("validate", "s.yaml")
        assert checked.code == 0, checked.err
        assert cli("plan", "s.yaml", "--json").code == 0
        ran = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert ran.code == 0, ran.err
    [record] = manifest(Path("out"))
    assert record["status"] == "succeeded"
    assert verify_files(Path("out"), [record]) == len(record["outputs"]) > 0
    assert stats["submissions"] == 1
    local = [v for v in record["sources"].values() if str(v).startswith("media/")]
    assert stats["uploads"] == len(local)


def pinned_workflow(cli: Cli, monkeypatch: pytest.MonkeyPatch, name: str) -> str:
    """The workflow pinned into the working directory (the tests' own, by ``write``)."""
    wid = CASES[name][0]
    with emulator(monkeypatch, workflows=served()):
        assert cli("pin", "workflow", wid).code == 0
    return wid


def test_a_float_saved_as_a_whole_number_takes_a_float(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cfg saved as 8, denoise as 1 (KSampler), strength_model as 1 (LoRA) and guidance as 4
    (FluxGuidance) are FLOAT by their definitions: 7.5, 0.6, 0.8 and 3.5 pass, as text from
    the console or a CSV cell too; `new` calls them numbers."""
    wid = pinned_workflow(cli, monkeypatch, "txt2img-sd15")
    write("rows.csv", "id,cfg\ncsv-row,7.5\n")
    write(
        "s.yaml",
        f'version: 1\nworkflow: "{wid}"\njobs:\n  - {{id: a, 3.cfg: 7.5, 3.denoise: 0.6}}\n'
        f'  - {{id: b, 3.cfg: "7.5"}}\njobs_from: {{path: rows.csv}}\n'
        "defaults: {3.cfg: '{cfg}'}\n",
    )
    checked = cli("validate", "s.yaml")
    assert checked.code == 0, checked.err
    jobs = {j["id"]: j["params"] for j in json.loads(cli("plan", "s.yaml", "--json").out)["jobs"]}
    assert jobs["a"]["3.cfg"] == 7.5
    assert jobs["b"]["3.cfg"] == 7.5
    lines = cli("new", "workflow", wid, "--dir", ".").out.splitlines()
    [cfg] = [line for line in lines if "# 3.cfg:" in line]
    assert cfg.endswith("number; 0.0 to 100.0")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("3.sampler_name: foo", '3.sampler_name: "foo" is not one of the allowed values: "euler"'),
        ("3.scheduler: bogus", '3.scheduler: "bogus" is not one of the allowed values: "simple"'),
        ("3.seed: -1", "3.seed: -1 is below the minimum 0; allowed: 0 to 18446744073709551615"),
        ("3.seed: 18446744073709551616", "3.seed: 18446744073709551616 is above the maximum"),
        ("3.steps: 0", "3.steps: 0 is below the minimum 1; allowed: 1 to 10000"),
        ("5.width: 8", "5.width: 8 is below the minimum 16; allowed: 16 to 16384"),
    ],
)
def test_choices_and_ranges_of_known_nodes_are_checked(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    """A sampler or scheduler not in ComfyUI's lists, a seed outside 0..2^64-1, steps or a
    width outside their ranges: refused before anything is sent."""
    wid = pinned_workflow(cli, monkeypatch, "txt2img-sd15")
    write("s.yaml", f'version: 1\nworkflow: "{wid}"\njobs:\n  - {{id: a, {value}}}\n')
    result = cli("validate", "s.yaml")
    assert result.code == 2
    [line] = result.problems
    assert problem in line, line


@pytest.mark.parametrize(
    ("field", "value", "details"),
    [
        ("sampler_name", "foo", "sampler_name: 'foo' not in"),
        ("scheduler", "bogus", "scheduler: 'bogus' not in"),
        ("seed", "-1", "seed: Value -1 smaller than min of 0"),
        ("seed", str(2**64), "seed: Value 18446744073709551616 bigger than max of"),
        ("cfg", "7.5", None),
    ],
)
def test_the_emulator_checks_the_same_definitions(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, details: str | None
) -> None:  # no file is written
    """A nodeInfoList sent straight to the emulator (as another client might): the same
    choices and ranges are ComfyUI validation errors there; a float for cfg is fine."""
    from rhbatch.emulator.catalog import check

    wid = CASES["txt2img-sd15"][0]
    with emulator(monkeypatch, workflows=served()) as emu:
        workflow = emu.call(lambda e: e.catalog.workflows[wid])
        checked = check(
            [{"nodeId": "3", "fieldName": field, "fieldValue": value}],
            workflow.find,
            lambda _: True,
            ["9"],
        )
    assert checked.refused is None
    if details is None:
        assert checked.node_errors == {}
        assert checked.values[0][1] == 7.5
    else:
        [error] = checked.node_errors["3"]["errors"]
        assert error["details"].startswith(details)


def test_a_custom_image_loader_takes_a_local_file(
    cli: Cli, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LoadImageFromUrlOrPath (a pack the definitions do not cover) is an image loader by
    its name and its input's: a local file is checked (a missing one refused) and goes up
    once, as a URL, which is what the node takes."""
    g = graph("img2img-sd15")
    g["10"] = {
        "class_type": "LoadImageFromUrlOrPath",
        "inputs": {"url_or_path": ""},
        "_meta": {"title": "Load Image From URL"},
    }
    wid = "1990000000000000309"
    shutil.copytree(MEDIA, tmp_path / "media")
    with emulator(monkeypatch, workflows={wid: {"name": "url loader", "prompt": g}}) as emu:
        assert cli("pin", "workflow", wid).code == 0
        write("bad.yaml", f'version: 1\nworkflow: "{wid}"\njobs:\n  - 10.url_or_path: no.png\n')
        missing = cli("validate", "bad.yaml")
        write(
            "s.yaml",
            f'version: 1\nworkflow: "{wid}"\njobs:\n  - 10.url_or_path: media/friends.png\n'
            "  - {10.url_or_path: media/friends.png, 3.seed: 7}\n",
        )
        ran = cli("run", "s.yaml", "--out", "out", "-q")
        stats = emu.stats()
    assert missing.code == 2
    assert "10.url_or_path" in missing.err
    assert "no such file" in missing.err
    assert ran.code == 0, ran.err
    assert stats["uploads"] == 1
    sent = [r["params"]["10.url_or_path"] for r in manifest(Path("out"))]
    assert all(s.startswith("http") for s in sent)


def test_the_pin_table_says_what_is_typed_by_definition_and_what_by_guess(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known classes' inputs are `def` (with ranges and choices); an unknown class's are
    `guess`; object-valued widgets and links are not offered."""
    monkeypatch.chdir(tmp_path)
    wid = CASES["flux-controlnet-dotted-titles"][0]
    with emulator(monkeypatch, workflows=served()):
        result = cli("pin", "workflow", wid)
    lines = result.out.splitlines()
    assert result.code == 0
    [strength] = [line for line in lines if line.strip().startswith("15.strength_model ")]
    assert " def   FLOAT    -100..100 LoraLoaderModelOnly" in strength
    [guidance] = [line for line in lines if line.strip().startswith("19.guidance ")]
    assert " guess NUMBER " in guidance
    supir = GRAPHS / "supir-upscale.json"
    assert "rgthree_comparer" in supir.read_text()
    wid = CASES["supir-upscale"][0]
    with emulator(monkeypatch, workflows=served()):
        table = cli("pin", "workflow", wid).out
    assert "20.rgthree_comparer" not in table


def test_metadata_names_the_prompt_of_workflows_whose_prompt_is_not_text(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SUPIR's prompt is positive_prompt, Flux's t5xxl: metadata.jsonl says it (it said
    null); a spec's output.prompt names another parameter."""
    supir = CASES["supir-upscale"][0]
    with emulator(monkeypatch, workflows=served()):
        assert cli("pin", "workflow", supir).code == 0
        write(
            "s.yaml",
            f'version: 1\nworkflow: "{supir}"\njobs:\n'
            "  - {9.positive_prompt: a harbour at dawn, 9.negative_prompt: blur}\n",
        )
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        write(
            "t.yaml",
            f'version: 1\nworkflow: "{supir}"\noutput: {{prompt: 9.negative_prompt}}\n'
            "jobs:\n  - {9.positive_prompt: a harbour at noon, 9.negative_prompt: haze}\n",
        )
        assert cli("run", "t.yaml", "--out", "out2", "-q").code == 0
    rows = [json.loads(x) for x in Path("out/metadata.jsonl").read_text().splitlines()]
    assert {r["prompt"] for r in rows} == {"a harbour at dawn"}
    rows = [json.loads(x) for x in Path("out2/metadata.jsonl").read_text().splitlines()]
    assert {r["prompt"] for r in rows} == {"haze"}
