"""rhbatch new: starter specs for every endpoint and for pinned workflows and apps."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from rhbatch.endpoints.describe import show
from rhbatch.endpoints.registry import registry
from tests.helpers import ROOT, Result, media_bytes

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]

# RunningHub's example prompt for seedance-v1-lite (Chinese), as the comment shortens it.
EXAMPLE = show(
    registry().schema("seedance-v1-lite/reference-to-video").properties["prompt"]["default"], 40
)
V1_LITE_JOB = f"""\
jobs:
  - id: first
    prompt: "{{TODO_prompt}}"           # required; string; up to 5,000 characters; example {EXAMPLE}
    imageUrls: [TODO-imageUrls-1.jpg] # required; image list; 1-4 URLs or local files; JPG/PNG, up to 10 MB each
    duration: "5"                     # required; choice; "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"; default "5"
    cameraFixed: "false"              # required; choice; "false", "true"; default "false"
    resolution: 720p                  # required; choice; "720p", "480p"; default "720p"
    aspectRatio: "16:9"               # required; choice; "16:9", "9:16", "4:3", "3:4", "21:9", "1:1"; default "16:9"
"""
TODO_TEXT = re.compile(r'"\{TODO_\w+\}"')
TODO_FILE = re.compile(r"TODO-[\w.-]+")


def fill(text: str, folder: Path, uncomment: bool = False) -> str:
    """The spec with its TODO texts written and its TODO files made (optionally with
    every commented parameter line of the job uncommented first)."""
    if uncomment:
        text = re.sub(r"(?m)^    # (?!Options)", "    ", text)
    for name in TODO_FILE.findall(text):
        (folder / name).write_bytes(media_bytes(name))
    return TODO_TEXT.sub('"a red fox in fresh snow"', text)


def test_printed_starter_of_v1_lite(cli: Cli) -> None:
    """The job lists every parameter with type, allowed values, limits and default; required
    choices at their default, the prompt and the reference files as TODOs."""
    result = cli("new", "seedance-v1-lite/reference-to-video")
    assert result.code == 0, result.err
    assert result.out.endswith("\n\n" + V1_LITE_JOB)
    assert (
        "# seedance-v1-lite-reference-to-video: POST /openapi/v2/seedance-v1-lite/reference-to-video\n"
        in result.out
    )
    assert "\nversion: 1\nendpoint: seedance-v1-lite-reference-to-video\n" in result.out


def test_optional_parameters_are_commented_out_at_their_default(cli: Cli) -> None:
    """Optional parameters are commented lines holding their default (media: a TODO file)."""
    lines = cli("new", "seedance-2.0/multimodal-video").out.splitlines()
    job = lines[lines.index("  - id: first") + 1 :]
    assert [line.split("#")[1].strip() for line in job if line.startswith("    # ")] == [
        "imageUrls: [TODO-imageUrls-1.jpg]",
        "videoUrls: [TODO-videoUrls-1.mp4]",
        "audioUrls: [TODO-audioUrls-1.mp3]",
        "generateAudio: true",
        "ratio: adaptive",
        "returnLastFrame: false",
        "realPersonMode: true",
    ]
    assert (
        "    # audioUrls: [TODO-audioUrls-1.mp3] # audio list; 0-3 URLs or local files; MP3/WAV, up to 50 MB each"
        in job
    )


def test_unfilled_starter_is_refused(cli: Cli, write: Write) -> None:
    """As printed, validation refuses the spec at each TODO, so nothing can be sent by
    mistake."""
    assert cli("new", "seedance-v1-lite-reference-to-video", "--out", "s.yaml").code == 0
    result = cli("validate", "s.yaml")
    assert result.code == 2
    assert result.problems == [
        "s.yaml:23: job 1: prompt: fill in this TODO ({TODO_prompt})",
        "s.yaml:24: job 1 (id first): imageUrls[0]: fill in this TODO (TODO-imageUrls-1.jpg): "
        "a file (its path relative to the spec) or a URL",
    ]


def test_every_endpoints_starter_validates_once_filled(cli: Cli, tmp_path: Path) -> None:
    """For each of the 299 endpoints the printed spec validates once its TODOs are filled,
    and so it does with every commented parameter uncommented too."""
    specs = []
    for endpoint in registry().endpoints:
        text = cli("new", endpoint).out
        for uncomment in (False, True):
            folder = tmp_path / f"{len(specs):03d}"
            folder.mkdir()
            path = folder / "spec.yaml"
            path.write_text(fill(text, folder, uncomment), encoding="utf-8")
            specs.append(str(path))
    assert len(specs) == 2 * 299
    result = cli("validate", "--max-problems", "0", *specs)
    assert result.code == 0, result.err


def test_out_writes_the_file_and_refuses_to_replace_it(cli: Cli, write: Write) -> None:
    """--out writes the spec and says what is left to do; an existing file is replaced only
    with --force."""
    first = cli("new", "wan-2.7-reference-to-video", "--out", "s.yaml")
    assert first == Result(
        0, "wrote s.yaml: fill in the TODO values on 1 line, then `rhbatch validate s.yaml`\n", ""
    )
    Path("s.yaml").write_text("mine\n", encoding="utf-8")
    again = cli("new", "vidu/reference-to-video-q3", "--out", "s.yaml")
    assert again == Result(2, "", "rhbatch: error: s.yaml exists; --force replaces it\n")
    assert Path("s.yaml").read_text(encoding="utf-8") == "mine\n"
    forced = cli("new", "vidu/reference-to-video-q3", "--out", "s.yaml", "--force")
    assert forced.code == 0
    assert "endpoint: Vidu-reference-to-video-q3\n" in Path("s.yaml").read_text(encoding="utf-8")


def test_the_editor_line_names_the_nearest_spec_schema(cli: Cli, write: Write) -> None:
    """With a spec schema written by `schema --write` up the tree, the first line points at
    it, relative to the spec; without one, it says how to make one."""
    assert cli("new", "f-dev", "--out", "a.yaml").code == 0
    assert (
        Path("a.yaml")
        .read_text(encoding="utf-8")
        .startswith(
            "# Editors: `rhbatch schema --spec --write spec.schema.json` writes the schema of\n"
        )
    )
    assert cli("schema", "--write", "spec.schema.json").code == 0
    Path("specs").mkdir()
    assert cli("new", "f-dev", "--out", "specs/b.yaml").code == 0
    first = Path("specs/b.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../spec.schema.json"


def test_an_endpoint_without_parameters(cli: Cli, write: Write) -> None:
    """An endpoint whose registry entry has no parameters gets a job of only its id, valid."""
    assert cli("new", "f-dev", "--out", "f.yaml").code == 0
    text = Path("f.yaml").read_text(encoding="utf-8")
    assert text.endswith("\njobs:\n  - id: first\n")
    assert "# The registry lists no parameters for this endpoint: its body is empty.\n" in text
    assert cli("validate", "f.yaml").code == 0


def test_unknown_and_unlisted_names(cli: Cli) -> None:
    """An unknown name gets suggestions, a documented title the registry lacks its reason."""
    unknown = cli("new", "seedance-v1-lite")
    assert (unknown.code, unknown.out) == (2, "")
    assert unknown.err == (
        "rhbatch: unknown endpoint 'seedance-v1-lite'; did you mean "
        "'seedance-v1-lite-reference-to-video'?\n"
    )
    unlisted = cli("new", "qwen-image/edit-2511")
    assert unlisted.code == 2
    assert unlisted.err == (
        "rhbatch: unknown endpoint 'qwen-image/edit-2511': RunningHub's documentation lists "
        "it under image-to-image, but its public model registry (public-2026-04-29) does not, "
        "so rhbatch has no schema for it\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("seedance-2.0/multimodal-video", "42"),
            "rhbatch new takes one endpoint; '42' is one too many (only workflow and app take an ID)",
        ),
        (("workflow",), "rhbatch new workflow needs the workflow's ID"),
        (("f-dev", "--dir", "."), "--dir is for `rhbatch new workflow|app ID`; use --out FILE"),
    ],
    ids=["endpoint-with-id", "workflow-without-id", "endpoint-with-dir"],
)
def test_usage_errors(cli: Cli, argv: tuple[str, ...], message: str) -> None:
    """Arguments that do not fit are usage errors, exit 2, with what to do."""
    assert cli("new", *argv) == Result(2, "", f"rhbatch: error: {message}\n")


def pinned_dir(tmp_path: Path) -> Path:
    """A spec directory holding a copy of the examples' pins."""
    shutil.copytree(ROOT / "examples/pins", tmp_path / "pins")
    return tmp_path


def test_workflow_starter_lists_every_input_at_its_pinned_value(cli: Cli, tmp_path: Path) -> None:
    """Every input of the pinned graph is a commented NODE.FIELD line at its pinned value,
    with its node, type and title alias; then the start call's options."""
    base = pinned_dir(tmp_path)
    result = cli("new", "workflow", "1990000000000000001", "--dir", str(base))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    inputs = [line for line in lines if re.match(r"    # \d+\.", line)]
    assert [line.split(":")[0].strip("# ") for line in inputs] == [
        "3.seed", "3.steps", "3.cfg", "3.sampler_name", "3.scheduler", "3.denoise",
        "4.ckpt_name", "5.width", "5.height", "5.batch_size", "6.text", "7.text",
        "9.filename_prefix",
    ]  # fmt: skip
    assert (
        "    # 6.text: \"a photo of a cat\"      # node 6 'Positive' (CLIPTextEncode), also Positive.text; string"
        in lines
    )
    assert (
        "    # 3.cfg: 7.0                      # node 3 'KSampler', also KSampler.cfg; number; 0.0 to 100.0"
        in lines
    )
    assert 'workflow: "1990000000000000001"' in lines
    assert (
        '    # instanceType: default           # choice; "default", "plus"; GPU of the run: default (24 GB) or plus (48 GB)'
        in lines
    )


def test_app_starter_shows_options_and_descriptions(cli: Cli, tmp_path: Path) -> None:
    """An app's LIST input shows its options, a media input its limits, each its description."""
    base = pinned_dir(tmp_path)
    out = cli("new", "app", "1990000000000000102", "--dir", str(base)).out
    assert (
        '    # 3.duration: "5"                 # node 3 \'RH_Duration\': Duration (seconds), also RH_Duration.duration; choice; "5", "10"\n'
        in out
    )
    assert (
        "    # 1.image: TODO-1.image.jpg       # node 1 'LoadImage': Start frame, also "
        "LoadImage.image; image; URL or local file; JPG/JPEG/PNG/WEBP, up to 30 MB; pinned "
        '"api/53bffb06c2b09bd5ee1821ff3695b9a55f5fa68abece6e99399cff976fcd1163.png"\n'
    ) in out


@pytest.mark.parametrize(
    ("kind", "ident"),
    [
        ("workflow", "1990000000000000001"),
        ("workflow", "1990000000000000002"),
        ("app", "1990000000000000102"),
    ],
)
def test_pinned_starters_validate_as_printed_and_uncommented(
    cli: Cli, tmp_path: Path, kind: str, ident: str
) -> None:
    """A pinned starter, written into the pin's directory, validates as it is and with every
    input and option uncommented (its pinned values)."""
    base = pinned_dir(tmp_path)
    spec = base / "spec.yaml"
    assert cli("new", kind, ident, "--dir", str(base), "--out", str(spec)).code == 0
    assert cli("validate", str(spec)).code == 0
    spec.write_text(fill(spec.read_text(encoding="utf-8"), base, uncomment=True), "utf-8")
    commented = re.findall(r"(?m)^    # .*", spec.read_text(encoding="utf-8"))
    assert commented == ["    # Options of the start call:"]
    result = cli("validate", str(spec))
    assert result.code == 0, result.err


def test_pinned_starter_needs_its_pin(cli: Cli, tmp_path: Path) -> None:
    """Without a pin the command says how to make one; a spec written away from the pin's
    directory is refused."""
    missing = cli("new", "app", "1990000000000000102", "--dir", str(tmp_path))
    assert missing == Result(
        2,
        "",
        f"rhbatch: error: app 1990000000000000102 is not pinned: no "
        f"{tmp_path}/pins/app-1990000000000000102.json; run `rhbatch pin app "
        f"1990000000000000102 --dir {tmp_path}` to fetch its inputs (nothing is run or paid)\n",
    )
    base = pinned_dir(tmp_path)
    away = cli(
        "new",
        "app",
        "1990000000000000102",
        "--dir",
        str(base),
        "--out",
        str(base / "sub" / "s.yaml"),
    )
    assert away.code == 2
    assert away.err.endswith("must sit in " + str(base) + ", beside pins/, to find its pin\n")


def test_out_under_a_plain_file_is_said_plainly(cli: Cli, write: Write) -> None:
    """The machine refuses the path: said with the file, not as an internal error."""
    write("plain", "")
    result = cli("new", "seedance-2.0/multimodal-video", "--out", "plain/s.yaml")
    assert result.code == 2
    assert "cannot write plain/s.yaml: Not a directory" in result.err
