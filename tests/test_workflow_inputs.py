"""A pinned workflow's inputs as a user writes them: what each name means, and what a
name that is no settable input is told (a link, a title of several nodes, a node that is
not there, a widget's own state), the same on the client and on the emulator."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.endpoints.pins import pin_path
from tests.helpers import Result
from tests.pin_helpers import GRAPH, WORKFLOW, write_pin
from tests.run_helpers import emulator, manifest

pytestmark = pytest.mark.usefixtures("virtual_clock")  # runs wait no real time

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def two_loaders() -> dict[str, Any]:
    """The sample graph with two image loaders sharing the title "Load Image" and an
    rgthree-style image comparer whose widget holds an object."""
    graph = copy.deepcopy(GRAPH)
    for node in ("11", "12"):
        graph[node] = {
            "class_type": "LoadImage",
            "inputs": {"image": "example.png", "upload": "image"},
            "_meta": {"title": "Load Image"},
        }
    graph["13"] = {
        "class_type": "Image Comparer (rgthree)",
        "inputs": {"image_a": ["8", 0], "image_b": ["11", 0], "comparer": {"images": []}},
        "_meta": {"title": "Compare"},
    }
    return graph


def test_each_name_that_is_no_input_says_what_it_is(cli: Cli, write: Write, tmp_path: Path) -> None:
    """A link named by title is a link (as by id); a title two nodes share names both and
    the form to use; a node that is not there says so; a widget holding an object cannot be
    set; an unknown field of a known node lists that node's inputs; the same input set
    twice names the job's id."""
    write_pin(tmp_path, "workflow", WORKFLOW, two_loaders())
    write(
        "s.yaml",
        f"""
        version: 1
        workflow: "{WORKFLOW}"
        jobs:
          - id: a
            KSampler.positive: a fox
          - id: b
            Load Image.image: refs/face.png
          - id: c
            99.text: x
          - id: d
            Compare.comparer: x
          - id: e
            Positive.txt: x
          - id: f
            Positive.text: x
            6.text: y
        """,
    )
    result = cli("validate", "s.yaml")
    assert result.code == 2
    label = f"workflow {WORKFLOW}"
    assert result.problems == [
        f"s.yaml:5: job 1 (id a): KSampler.positive: KSampler.positive is a link from node "
        f"6's output in {label}, not a value: it cannot be set",
        f"s.yaml:7: job 2 (id b): Load Image.image: 'Load Image' is the title of 2 nodes of "
        f"{label}: 11 (LoadImage), 12 (LoadImage); name the node by its id: '11.image' or "
        "'12.image'",
        f"s.yaml:9: job 3 (id c): 99.text: {label} has no node '99' (by id or title); its "
        "nodes: 3 (KSampler), 4 (Load Checkpoint), 5 (Empty Latent Image), 6 (Positive), "
        "7 (Negative), 8 (VAE Decode), 9 (Save Image), 11 (Load Image), 12 (Load Image), "
        "13 (Compare)",
        f"s.yaml:11: job 4 (id d): Compare.comparer: Compare.comparer in {label} holds an "
        "object (a widget's own state), not a value nodeInfoList can set: it cannot be set",
        f"s.yaml:13: job 5 (id e): Positive.txt: node 6 (CLIPTextEncode, 'Positive') of "
        f"{label} has no input 'txt' a job can set; did you mean 'Positive.text'? Its "
        "inputs: text",
        "s.yaml:15: job 6 (id f): Positive.text: 'Positive.text' and '6.text' are the same "
        "input; set it once",
    ]


def test_an_unknown_parameter_without_a_guess_still_lists_what_is_allowed(
    cli: Cli, write: Write
) -> None:
    """The list of allowed names follows a '; ' whether or not there is a guess."""
    write(
        "s.yaml",
        "version: 1\nendpoint: seedance-2.0/multimodal-video\njobs:\n  - {prompt: a, zzz: 1}\n",
    )
    result = cli("validate", "s.yaml")
    [line] = result.problems
    assert "unknown parameter 'zzz' for seedance-2.0/multimodal-video; allowed: prompt, " in line


def test_client_and_emulator_agree_that_a_widget_s_state_is_not_settable(
    cli: Cli, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator refuses a nodeInfoList that sets an object-valued widget with the same
    reason, and a run of a job that leaves it alone succeeds."""
    graph = two_loaders()
    workflows = {WORKFLOW: {"name": "loaders", "ran": True, "prompt": graph}}
    with emulator(monkeypatch, workflows=workflows) as emu:
        assert cli("pin", "workflow", WORKFLOW).code == 0
        write("s.yaml", f'version: 1\nworkflow: "{WORKFLOW}"\njobs:\n  - 6.text: a fox\n')
        ran = cli("run", "s.yaml", "--out", "out", "-q")
        refused = emu.call(lambda e: e.catalog.workflows[WORKFLOW].find("13", "comparer"))
    assert ran.code == 0, ran.err
    assert refused == "node 13 input 'comparer' holds a widget's own state, not a value to set"


def test_a_graph_whose_only_output_is_an_animated_webp_runs(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Wan text-to-video graph ends in SaveAnimatedWEBP: the emulator serves it (it was
    an internal error), the pin calls it a video workflow, and a run makes its file; a
    config's `outputs` overrides what the graph's nodes say."""
    graph = copy.deepcopy(GRAPH)
    graph["9"] = {
        "class_type": "SaveAnimatedWEBP",
        "inputs": {
            "images": ["8", 0],
            "fps": 16,
            "lossless": False,
            "quality": 90,
            "method": "default",
            "filename_prefix": "wan",
        },
        "_meta": {"title": "Save Animated WEBP"},
    }
    other = "1990000000000000077"
    workflows = {
        WORKFLOW: {"name": "wan t2v", "ran": True, "prompt": graph},
        other: {
            "name": "told",
            "ran": True,
            "prompt": {"1": graph["6"]},
            "outputs": [{"nodeId": "1", "outputType": "image"}],
        },
    }
    with emulator(monkeypatch, workflows=workflows):
        pinned = cli("pin", "workflow", WORKFLOW)
        write("s.yaml", f'version: 1\nworkflow: "{WORKFLOW}"\njobs:\n  - 6.text: a fox\n')
        ran = cli("run", "s.yaml", "--out", "out", "-q")
        assert cli("pin", "workflow", other).code == 0
    assert pinned.code == 0, pinned.err
    assert ran.code == 0, ran.err
    [record] = manifest(Path("out"))
    assert [o["nodeId"] for o in record["outputs"]] == ["9"]
    pin = json.loads(pin_path(Path("."), "workflow", WORKFLOW).read_text())
    assert pin["workflow"]["9"]["class_type"] == "SaveAnimatedWEBP"
