"""AI apps as RunningHub describes them: SWITCH indexes, LIST choices by index, fieldData
ranges, "None" for an empty image slot, values sent as text; real apps' input lists
(tests/data/apps/) pinned from the emulator, written as a user would, validated and run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.api.wire import node_info_body
from rhbatch.emulator import EmulatorConfig
from rhbatch.emulator.thread import EmulatorThread
from rhbatch.endpoints.pins import app_fields
from tests.helpers import ROOT, Result, media_bytes
from tests.pin_helpers import write_pin
from tests.run_helpers import emulator, manifest, verify_files

pytestmark = pytest.mark.usefixtures("virtual_clock")  # runs wait no real time

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]
DATA = ROOT / "tests" / "data" / "apps"
REAL = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DATA.glob("*.json"))}
SAMPLES = json.loads((ROOT / "rhbatch" / "emulator" / "samples" / "apps.json").read_text())
LTX = "2035369813215813634"  # SWITCH 185 and 193, INT 58 and 116 (range), IMAGE 191 ("None")
FLUX = "1937084629516193794"  # LIST 37.model and 37.aspect_ratio by {name, index}
EVERY = "1990000000000000101"  # the emulator's sample of every field type
LINE = re.compile(r"^    # (\d+\.[^\s:]+): (.*?) +# ", re.M)


def pin_real(tmp_path: Path, app: str) -> None:
    write_pin(tmp_path, "app", app, REAL[app]["nodeInfoList"], name=REAL[app]["name"])


def pro_max(tmp_path: Path) -> None:
    options = [{"name": "Pro", "index": "pro"}, {"name": "Max", "index": "max"}]
    item = {
        "nodeId": "7",
        "nodeName": "Picker",
        "fieldName": "model",
        "fieldType": "LIST",
        "fieldValue": "pro",
        "fieldData": json.dumps(options),
    }
    write_pin(tmp_path, "app", "42", [item])


# --- 8: SWITCH ---------------------------------------------------------------------------


def test_a_switch_takes_the_index_of_an_option(cli: Cli, write: Write, tmp_path: Path) -> None:
    """185.select: 1 and "2" are indexes of its options; true and 3 are refused, with the
    options' names; the job keeps the index as text."""
    pin_real(tmp_path, LTX)
    spec = write(
        "s.yaml",
        f"""
        version: 1
        app: "{LTX}"
        jobs:
          - id: one
            185.select: 1
          - id: two
            185.select: "2"
          - id: bad
            185.select: true
          - id: three
            185.select: 3
        """,
    )
    result = cli("validate", str(spec))
    assert result.code == 2
    assert "s.yaml:9" in result.err
    assert "185.select" in result.err
    assert '"2" (input2: qwen large model generates content)' in result.err
    assert "s.yaml:11" in result.err
    assert "s.yaml:5" not in result.err
    assert "s.yaml:7" not in result.err
    spec.write_text(spec.read_text().split("  - id: bad")[0])
    planned = cli("plan", str(spec), "--json")
    assert planned.code == 0, planned.err
    assert [j["params"]["185.select"] for j in json.loads(planned.out)["jobs"]] == ["1", "2"]


def test_a_csv_cell_of_a_switch_stays_its_index(cli: Cli, write: Write, tmp_path: Path) -> None:
    """A CSV cell 1 is the index "1" (not true), 2 is "2"."""
    pin_real(tmp_path, LTX)
    write("rows.csv", "id,185.select\na,1\nb,2\n")
    spec = write("s.yaml", f'version: 1\napp: "{LTX}"\njobs_from: rows.csv\n')
    planned = cli("plan", str(spec), "--json")
    assert planned.code == 0, planned.err
    assert [j["params"]["185.select"] for j in json.loads(planned.out)["jobs"]] == ["1", "2"]


def test_fields_of_a_real_app_are_read_from_fieldData() -> None:
    fields = {f.key: f for f in app_fields(REAL[LTX]["nodeInfoList"])}
    assert fields["185.select"].type == "SWITCH"
    assert fields["185.select"].options == ("2", "1")
    assert fields["116.value"].rule is not None
    assert (fields["116.value"].rule.minimum, fields["116.value"].rule.maximum) == (
        -999999,
        999999,
    )
    assert fields["191.image"].rule is not None
    assert fields["191.image"].rule.empty
    flux = {f.key: f for f in app_fields(REAL[FLUX]["nodeInfoList"])}
    assert flux["37.model"].options == ("flux-kontext-pro", "flux-kontext-max")  # no "default"
    objects = [
        {**item, "fieldData": json.loads(item["fieldData"])} for item in REAL[FLUX]["nodeInfoList"]
    ]
    assert {f.key: f.options for f in app_fields(objects)} == {
        f: v.options for f, v in flux.items()
    }


# --- 9: LIST by index ---------------------------------------------------------------------


def test_a_list_choice_is_its_index(cli: Cli, write: Write, tmp_path: Path) -> None:
    """Options {name: Pro, index: pro}: pro is valid; Max, the name the console shows, is
    taken as its index max; a value that is neither is refused with the options named."""
    pro_max(tmp_path)
    spec = write(
        "s.yaml",
        """
        version: 1
        app: "42"
        jobs:
          - {id: a, 7.model: pro}
          - {id: b, 7.model: Max}
          - {id: c, 7.model: Ultra}
        """,
    )
    result = cli("validate", str(spec))
    assert result.code == 2
    assert "s.yaml:6" in result.err
    assert '"pro" (Pro), "max" (Max)' in result.err
    assert "s.yaml:4" not in result.err
    assert "s.yaml:5" not in result.err
    spec.write_text(spec.read_text().replace("  - {id: c, 7.model: Ultra}\n", ""))
    planned = cli("plan", str(spec), "--json")
    assert [j["params"]["7.model"] for j in json.loads(planned.out)["jobs"]] == ["pro", "max"]


# --- 10: ranges ---------------------------------------------------------------------------


def test_ranges_from_fieldData_are_enforced(cli: Cli, write: Write, tmp_path: Path) -> None:
    """An INT with max 999999 refuses 99999999; steps with min 1 max 50 refuse 0 and 500."""
    pin_real(tmp_path, LTX)
    write_pin(tmp_path, "app", EVERY, SAMPLES[EVERY]["nodeInfoList"])
    spec = write(
        "s.yaml",
        f"""
        version: 1
        jobs:
          - {{id: a, app: "{LTX}", 116.value: 99999999}}
          - {{id: b, app: "{EVERY}", 2.value: 0}}
          - {{id: c, app: "{EVERY}", 2.value: 500}}
          - {{id: d, app: "{EVERY}", 2.value: "50"}}
        """,
    )
    result = cli("validate", str(spec))
    assert result.code == 2
    assert "s.yaml:3" in result.err
    assert "999999" in result.err
    assert "s.yaml:4" in result.err
    assert "s.yaml:5" in result.err
    assert "s.yaml:6" not in result.err


# --- 11: the console's text; new app validates ------------------------------------------


def test_the_console_text_of_every_type_is_accepted(cli: Cli, write: Write, tmp_path: Path) -> None:
    """ "8" for an INT, "7.5" for a FLOAT, "true" for a BOOLEAN, "2" for a SWITCH, a number
    for a STRING: one job each way, kept in one form."""
    write_pin(tmp_path, "app", EVERY, SAMPLES[EVERY]["nodeInfoList"])
    spec = write(
        "s.yaml",
        f"""
        version: 1
        app: "{EVERY}"
        jobs:
          - {{id: a, 2.value: "8", 3.value: "0.5", 9.flag: "true", 4.select: "2", 1.text: 12}}
        """,
    )
    planned = cli("plan", str(spec), "--json")
    assert planned.code == 0, planned.err
    params = json.loads(planned.out)["jobs"][0]["params"]
    assert params == {"2.value": 8, "3.value": 0.5, "9.flag": True, "4.select": "2", "1.text": "12"}


def fill_starter(text: str, folder: Path) -> str:
    """Every input line uncommented, as a user sets them, and each TODO file made."""
    text = LINE.sub(lambda m: f"    {m.group(1)}: {m.group(2)}  # ", text)
    for name in re.findall(r"TODO-[\w.-]+", text):
        (folder / name).write_bytes(media_bytes(name))
    return text


@pytest.mark.parametrize("app", [*sorted(k for k, v in SAMPLES.items() if v["ran"]), *REAL])
def test_new_app_writes_a_starter_that_validates(cli: Cli, tmp_path: Path, app: str) -> None:
    """For every sample app and every real one: `new app`, every input uncommented at its
    pinned value and the TODO files made, `validate` passes."""
    nodes = REAL[app]["nodeInfoList"] if app in REAL else SAMPLES[app]["nodeInfoList"]
    served = [{**n, "fieldData": n.get("fieldData", "")} for n in nodes]
    write_pin(tmp_path, "app", app, served)
    out = tmp_path / "s.yaml"
    assert cli("new", "app", app, "--dir", str(tmp_path), "--out", str(out)).code == 0
    out.write_text(fill_starter(out.read_text(), tmp_path))
    assert len(LINE.findall(out.read_text())) == 0  # none left commented
    result = cli("validate", str(out))
    assert result.code == 0, result.err + out.read_text()


# --- 12: "None" ---------------------------------------------------------------------------


def test_none_leaves_an_optional_image_empty(cli: Cli, write: Write, tmp_path: Path) -> None:
    """ "None" in a slot whose loader lists it is valid and sent as it is; elsewhere it is a
    file that does not exist."""
    pin_real(tmp_path, LTX)
    pin_real(tmp_path, FLUX)
    spec = write(
        "s.yaml",
        f"""
        version: 1
        jobs:
          - {{id: a, app: "{LTX}", 191.image: "None"}}
          - {{id: b, app: "{FLUX}", 39.image: "None"}}
        """,
    )
    result = cli("validate", str(spec))
    assert result.code == 2
    assert "s.yaml:4" in result.err
    assert "no such file" in result.err
    assert "s.yaml:3" not in result.err


# --- 14: content, numbers as text -----------------------------------------------------


def test_a_text_file_named_png_is_no_app_image(cli: Cli, write: Write, tmp_path: Path) -> None:
    pin_real(tmp_path, FLUX)
    write("fake.png", "hello")
    spec = write("s.yaml", f'version: 1\napp: "{FLUX}"\njobs:\n  - {{id: a, 39.image: fake.png}}\n')
    result = cli("validate", str(spec))
    assert result.code == 2
    assert "'fake.png' does not start as a JPG, JPEG, PNG, WEBP file does" in result.err


def test_values_are_sent_as_text() -> None:
    """fieldValue as RunningHub's clients send it: numbers as decimal text, booleans as
    "true"/"false" (workflows too)."""
    body = node_info_body({"58.value": 8, "3.cfg": 7.5, "9.flag": True, "1.text": "a fox"})
    assert [n["fieldValue"] for n in body["nodeInfoList"]] == ["8", "7.5", "true", "a fox"]


# --- 13: the emulator ---------------------------------------------------------------------


def test_the_emulator_serves_fieldData_as_given(tmp_path: Path) -> None:
    """JSON text stays text, objects stay objects, for every type; a null fieldValue is
    null; a LIST's options are pinned by their index."""
    objects = [dict(n, fieldData=json.loads(n["fieldData"])) for n in REAL[LTX]["nodeInfoList"]]
    nodes = [*objects, {"nodeId": "9", "fieldName": "x", "fieldType": "STRING", "fieldValue": None}]
    apps = {"5": {"name": "objects", "nodeInfoList": nodes, "outputs": REAL[LTX]["outputs"]}}
    apps[FLUX] = REAL[FLUX]
    import asyncio

    from rhbatch.api.client import Client

    with EmulatorThread(EmulatorConfig.load("clean", apps=apps)) as emu:

        async def fetch() -> tuple[Any, Any]:
            async with Client(emu.base_url, emu.api_key) as client:
                return (await client.app_inputs("5"))[1], (await client.app_inputs(FLUX))[1]

        served, flux = asyncio.run(fetch())
    assert [n["fieldData"] for n in served[:-1]] == [n["fieldData"] for n in objects]
    assert served[-1]["fieldValue"] is None
    assert [n["fieldData"] for n in flux] == [n["fieldData"] for n in REAL[FLUX]["nodeInfoList"]]
    assert app_fields(flux)[1].options == ("flux-kontext-pro", "flux-kontext-max")


def test_a_lowercase_field_type_is_a_config_error(cli: Cli, tmp_path: Path) -> None:
    """Exit 2 naming the file and the key, never an internal error."""
    nodes = [{"nodeId": "1", "fieldName": "t", "fieldType": "string", "fieldValue": "x"}]
    config = tmp_path / "emu.json"
    config.write_text(json.dumps({"apps": {"5": {"nodeInfoList": nodes, "outputs": []}}}))
    result = cli("emulator", "--config", str(config), "--port", "0")
    assert result.code == 2
    assert f"{config}: apps[5].nodeInfoList[0].fieldType: 'string'" in result.err
    assert "write 'STRING'" in result.err
    with pytest.raises(ValueError, match=r"emu\.json: apps\[5\]\.nodeInfoList\[0\]\.fieldType"):
        EmulatorConfig.load("clean", config)
    config.write_text(json.dumps({"apps": {"5": {"nodeInfoList": [1]}}}))
    result = cli("emulator", "--config", str(config), "--port", "0")
    assert (result.code, "apps[5].nodeInfoList[0]: an input is a mapping" in result.err) == (
        2,
        True,
    )


# --- the real apps through the runner ---------------------------------------------------


@pytest.mark.parametrize("app", sorted(REAL))
def test_a_real_app_is_pinned_written_and_run(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: str
) -> None:
    """Served by the emulator: pinned, its starter filled as a user would, validated,
    planned and run; every job makes its file; every value was sent as text."""
    monkeypatch.chdir(tmp_path)
    with emulator(monkeypatch, apps={app: REAL[app]}) as emu:
        pinned = cli("pin", "app", app, "--dir", str(tmp_path))
        assert pinned.code == 0, pinned.err
        spec = tmp_path / "s.yaml"
        assert cli("new", "app", app, "--dir", str(tmp_path), "--out", str(spec)).code == 0
        spec.write_text(fill_starter(spec.read_text(), tmp_path))
        assert cli("validate", str(spec)).code == 0
        assert cli("plan", str(spec)).code == 0
        out = tmp_path / "out"
        result = cli("run", str(spec), "--out", str(out), "-q")
        bodies = [t.body for t in emu.emulator.board.tasks.values()]
    assert result.code == 0, result.err
    records = manifest(out)
    assert [r["status"] for r in records] == ["succeeded"]
    assert verify_files(out, records) == 1
    sent = [n["fieldValue"] for body in bodies for n in body["nodeInfoList"]]
    assert sent
    assert all(isinstance(v, str) for v in sent)


def test_switch_none_and_text_reach_the_emulator(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LTX app with select 1, its image slot "None" and a duration written 8: the task
    runs (no 433) and the emulator got "1", "None" and "8"."""
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f'version: 1\napp: "{LTX}"\njobs:\n'
        '  - {id: a, 185.select: 1, 191.image: "None", 58.value: 8, 116.value: "1280"}\n'
    )
    with emulator(monkeypatch, apps={LTX: REAL[LTX]}) as emu:
        pinned = cli("pin", "app", LTX, "--dir", str(tmp_path))
        result = cli("run", str(spec), "--out", str(tmp_path / "out"), "-q")
        (body,) = [t.body for t in emu.emulator.board.tasks.values()]
    assert pinned.code == 0, pinned.err
    assert '185.select               SWITCH   one of "2" (input2: qwen large model' in pinned.out
    assert result.code == 0, result.err
    sent = {f"{n['nodeId']}.{n['fieldName']}": n["fieldValue"] for n in body["nodeInfoList"]}
    assert sent == {"185.select": "1", "191.image": "None", "58.value": "8", "116.value": "1280"}


def test_copy_data_is_what_the_readme_lists() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}.json`" in readme for name in REAL)
