"""Workflow and AI-app jobs are validated offline against their pins: node ids, field
names, value types and list options, every problem at once with its line, nothing sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rhbatch.api.wire import node_errors, node_info_body
from rhbatch.endpoints.pins import app_fields, differences, schema_of, workflow_fields
from tests.helpers import Result
from tests.pin_helpers import APP, APP_INPUTS, GRAPH, WORKFLOW, write_pin

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def test_a_graph_gives_the_inputs_that_are_values_not_links() -> None:
    fields = {f.key: f for f in workflow_fields(GRAPH)}
    assert fields["3.seed"].type == "INT"
    assert fields["3.cfg"].type == "FLOAT"
    assert fields["6.text"].type == "STRING"
    assert "3.model" not in fields  # a link to node 4's output
    assert "8.samples" not in fields


def test_an_app_gives_its_fields_with_types_and_options() -> None:
    fields = {f.key: f for f in app_fields(APP_INPUTS)}
    assert fields["4.select"].type == "SWITCH"  # a selector: its value is an option's index
    assert fields["4.select"].options == ("1", "2")
    assert fields["5.aspect_ratio"].options == ("1:1", "16:9", "9:16")
    assert fields["6.image"].type == "IMAGE"
    # ComfyUI's combo form of fieldData is read too.
    combo = [{**APP_INPUTS[4], "fieldData": [["a", "b"], {"default": "a"}]}]
    assert app_fields(combo)[0].options == ("a", "b")


def test_titles_that_name_one_node_are_aliases() -> None:
    from rhbatch.endpoints.pins import Pin

    pin = Pin("workflow", WORKFLOW, "", "", "", GRAPH, Path("x"))
    aliases = schema_of(pin)["x-rhbatch-aliases"]
    assert aliases["Positive.text"] == "6.text"
    assert aliases["Empty Latent Image.width"] == "5.width"


def test_the_body_is_a_node_info_list_and_the_options() -> None:
    body = node_info_body({"6.text": "a fox", "3.seed": 5, "instanceType": "plus"})
    assert body == {
        "nodeInfoList": [
            {"nodeId": "6", "fieldName": "text", "fieldValue": "a fox"},
            {"nodeId": "3", "fieldName": "seed", "fieldValue": "5"},
        ],
        "instanceType": "plus",
    }


def test_node_errors_in_prompt_tips_are_read() -> None:
    tips = {"node_errors": {"2": {"errors": [{"message": "bad", "details": "value: x"}]}}}
    assert node_errors({"promptTips": json.dumps(tips)}) == "node errors: node 2: bad: value: x"
    assert node_errors({"promptTips": json.dumps({"node_errors": {}})}) is None
    assert node_errors({"promptTips": ""}) is None


def test_differences_say_what_changed() -> None:
    old = workflow_fields(GRAPH)
    graph = json.loads(json.dumps(GRAPH))
    graph["3"]["inputs"]["seed"] = 7
    graph["3"]["class_type"] = "KSamplerOfAnotherPack"  # its inputs become guesses
    del graph["7"]
    said = differences(old, workflow_fields(graph))
    assert "input 3.seed was INT, is NUMBER" in said
    assert "input 7.text is gone" in said


def test_a_workflow_spec_validates_and_plans(cli: Cli, write: Write, tmp_path: Path) -> None:
    write_pin(tmp_path, "workflow", WORKFLOW, GRAPH)
    spec = write(
        "wf.yaml",
        f"""
        version: 1
        workflow: "{WORKFLOW}"
        defaults:
          3.steps: 25
          instanceType: plus
        matrix:
          subject: [a fox, a boat]
        jobs:
          - id: "t2i-{{subject}}"
            Positive.text: "a photo of {{subject}}"
            5.width: 768
        repeat: 2
        """,
    )
    assert cli("validate", str(spec)).code == 0
    planned = cli("plan", str(spec), "--json")
    assert planned.code == 0, planned.err
    jobs = json.loads(planned.out)["jobs"]
    assert len(jobs) == 4
    first = jobs[0]
    assert first["endpoint"] == f"workflow:{WORKFLOW}"
    params = first["params"]
    assert params["6.text"] == "a photo of a fox"  # the title became the node id
    assert "Positive.text" not in params
    assert params["3.steps"] == 25
    assert params["instanceType"] == "plus"
    assert {j["id"] for j in jobs} == {"t2i-a-fox-1", "t2i-a-fox-2", "t2i-a-boat-1", "t2i-a-boat-2"}


def test_every_mistake_is_refused_at_once_with_its_line(
    cli: Cli, write: Write, tmp_path: Path
) -> None:
    write_pin(tmp_path, "workflow", WORKFLOW, GRAPH)
    write_pin(tmp_path, "app", APP, APP_INPUTS, name="every field type")
    spec = write(
        "bad.yaml",
        f"""
        version: 1
        jobs:
          - workflow: "{WORKFLOW}"
            99.text: a node that does not exist
            6.txt: a field that does not exist
            3.seed: "forty-two"
            3.model: a link
            Positive.text: one
            6.text: two
          - app: {APP}
            5.aspect_ratio: "4:3"
            2.value: 2.5
            4.select: "yes"
            6.image: no-such-file.png
          - app: "1990000000000000999"
          - workflow: "{WORKFLOW}"
            endpoint: seedance-2.0/multimodal-video
        """,
    )
    result = cli("validate", str(spec))
    assert result.code == 2
    text = result.err
    assert "bad.yaml:4" in text
    assert f"workflow {WORKFLOW} has no node '99' (by id or title)" in text
    assert "bad.yaml:5" in text
    assert "did you mean '6.text'" in text
    assert "bad.yaml:6" in text
    assert "3.seed" in text
    assert "integer" in text
    assert "bad.yaml:7" in text
    assert "3.model is a link from node 4" in text
    assert "'Positive.text' and '6.text' are the same input" in text
    assert "bad.yaml:11" in text
    assert '"4:3"' in text
    assert "16:9" in text
    assert "bad.yaml:12" in text
    assert "2.value" in text
    assert "bad.yaml:13" in text
    assert "4.select" in text
    assert "bad.yaml:14" in text
    assert "no such file" in text
    assert "bad.yaml:15" in text
    assert "rhbatch pin app 1990000000000000999" in text
    assert "bad.yaml:16" in text
    assert "both set" in text


def test_a_pin_edited_by_hand_is_refused(cli: Cli, write: Write, tmp_path: Path) -> None:
    path = write_pin(tmp_path, "workflow", WORKFLOW, GRAPH)
    data = json.loads(path.read_text())
    data["workflow"]["3"]["inputs"]["steps"] = 99
    path.write_text(json.dumps(data))
    spec = write("wf.yaml", f'version: 1\nworkflow: "{WORKFLOW}"\n')
    result = cli("validate", str(spec))
    assert result.code == 2
    assert "edited by hand" in result.err


def test_rows_and_templates_feed_workflow_inputs(cli: Cli, write: Write, tmp_path: Path) -> None:
    write_pin(tmp_path, "workflow", WORKFLOW, GRAPH)
    write("shots.csv", "id,prompt,3.seed\nfox,a red fox,1\nboat,a paper boat,2\n")
    spec = write(
        "rows.yaml",
        f"""
        version: 1
        workflow: {WORKFLOW}
        defaults:
          6.text: "{{prompt}}, studio light"
        jobs_from: shots.csv
        """,
    )
    planned = cli("plan", str(spec), "--json")
    assert planned.code == 0, planned.err
    jobs = {j["id"]: j["params"] for j in json.loads(planned.out)["jobs"]}
    assert jobs["fox"]["6.text"] == "a red fox, studio light"
    assert jobs["boat"]["3.seed"] == 2  # a CSV cell, read as the input's type
