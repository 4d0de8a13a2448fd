"""Validation of specs: every problem at once, each with file, line, job, field and what is allowed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rhbatch.api import credentials
from rhbatch.endpoints.registry import registry
from rhbatch.errors import UsageError
from tests.helpers import DOC_BODIES, ROOT, Result

MULTIMODAL = "rhart-video/sparkvideo-2.0/multimodal-video"
V1_LITE = "seedance-v1-lite/reference-to-video"
Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def doc_spec(write: Write, body: dict[str, object], endpoint: str = MULTIMODAL) -> Path:
    """A one-job spec whose job is exactly ``body``."""
    text = yaml.safe_dump({"version": 1, "endpoint": endpoint, "jobs": [body]}, sort_keys=False)
    return write("spec.yaml", text)


def multimodal_body() -> dict[str, object]:
    return json.loads((DOC_BODIES / "seedance-2.0-multimodal-video.json").read_text())


def test_doc_bodies_pass_the_endpoint_check() -> None:
    """The exact bodies of both documentation pages have no problems."""
    reg = registry()
    for name, endpoint in (
        ("seedance-2.0-multimodal-video.json", MULTIMODAL),
        ("seedance-v1-lite-reference-to-video.json", V1_LITE),
    ):
        body = json.loads((DOC_BODIES / name).read_text())
        assert reg.schema(endpoint).check(body) == []
        assert reg.schema(endpoint).check_full(body) == []


def test_doc_body_validates_as_a_spec(cli: Cli, write: Write) -> None:
    """The multimodal page's body, written as a one-job spec, validates."""
    doc_spec(write, multimodal_body())
    result = cli("validate", "spec.yaml")
    assert result.code == 0, result.err
    assert result.out == "spec.yaml: ok, 1 job (1 endpoint)\n"


def test_bad_enum_names_every_allowed_value(cli: Cli, write: Write) -> None:
    """A resolution outside the list is reported with the whole list."""
    body = multimodal_body() | {"resolution": "1440p"}
    doc_spec(write, body)
    result = cli("validate", "spec.yaml")
    assert result.code == 2
    job_id = result.problems[0].split("(id ")[1].split(")")[0]
    assert result.problems == [
        f'spec.yaml:6: job 1 (id {job_id}): resolution: "1440p" is not one of the allowed values: '
        '"480p", "720p", "native1080p", "1080p", "2k", "4k"'
    ]
    assert result.err.endswith("spec.yaml: invalid (1 problem; 1 job expanded); nothing was sent\n")


def test_too_many_images(cli: Cli, write: Write) -> None:
    """Ten reference images where nine are allowed."""
    body = multimodal_body()
    body["imageUrls"] = [f"https://example.com/{i}.jpg" for i in range(10)]
    doc_spec(write, body)
    result = cli("validate", "spec.yaml")
    assert result.code == 2
    assert len(result.problems) == 1
    assert result.problems[0].endswith("imageUrls: 10 items; at most 9 allowed")
    assert result.problems[0].startswith("spec.yaml:8: job 1 (id ")


def test_wrong_type_suggests_quotes(cli: Cli, write: Write) -> None:
    """duration 5 (a number) where the API wants the string "5"."""
    doc_spec(write, multimodal_body() | {"duration": 5})
    result = cli("validate", "spec.yaml")
    assert result.code == 2
    assert result.problems[0].endswith(
        'duration: 5 is not one of the allowed values: "4", "5", "6", "7", "8", "9", "10", '
        '"11", "12", "13", "14", "15" (the values are strings: write "5" with quotes)'
    )


def test_boolean_given_as_text(cli: Cli, write: Write) -> None:
    """realPersonMode must be a boolean, not the word "yes"."""
    doc_spec(write, multimodal_body() | {"realPersonMode": "yes"})
    result = cli("validate", "spec.yaml")
    assert result.problems[0].endswith(
        'realPersonMode: "yes" is a string; expected a boolean (true or false)'
    )


def test_unknown_key_suggests_the_parameter(cli: Cli, write: Write) -> None:
    """A misspelt parameter is an error with a suggestion and the allowed names."""
    doc_spec(write, multimodal_body() | {"promt": "x"})
    result = cli("validate", "spec.yaml")
    assert result.code == 2
    assert result.problems[0].split(": ", 2)[2] == (
        "promt: unknown parameter 'promt' for seedance-2.0/multimodal-video; did you mean "
        "'prompt'? Allowed: prompt, resolution, duration, imageUrls, videoUrls, audioUrls, "
        "generateAudio, ratio, returnLastFrame, realPersonMode"
    )


def test_missing_prompt(cli: Cli, write: Write) -> None:
    """A job without its required prompt."""
    body = multimodal_body()
    del body["prompt"]
    doc_spec(write, body)
    result = cli("validate", "spec.yaml")
    assert result.code == 2
    assert result.problems[0].startswith("spec.yaml:4: job 1 (id ")  # the job's first line
    assert result.problems[0].endswith("prompt: missing required parameter 'prompt'")


def test_v1_lite_mutations(cli: Cli, write: Write) -> None:
    """The v1-lite body with five images and an unknown aspect ratio: two problems."""
    body = json.loads((DOC_BODIES / "seedance-v1-lite-reference-to-video.json").read_text())
    body["imageUrls"] = [f"https://example.com/{i}.jpg" for i in range(5)]
    body["aspectRatio"] = "2:1"
    doc_spec(write, body, endpoint="seedance-v1-lite-reference-to-video")
    result = cli("validate", "spec.yaml")
    tails = sorted(p.split(": ", 2)[2] for p in result.problems)
    assert tails == [
        'aspectRatio: "2:1" is not one of the allowed values: "16:9", "9:16", "4:3", "3:4", '
        '"21:9", "1:1"',
        "imageUrls: 5 items; at most 4 allowed",
    ]


TEN_MISTAKES = """
version: 1
endpoint: seedance-2.0/multimodal-video
defualts: {resolution: 720p}
jobs:
  - prompt: "A {subject} eating hot pot"
    resolution: 1440p
    duration: 5
    imageUrls: [missing.jpg]
    promt: hi
  - endpoint: seedance-3.0/multimodal
    prompt: x
  - resolution: 720p
  - id: "a b"
    prompt: ok
  - id: twin
    prompt: one
  - id: twin
    prompt: two
"""


def test_ten_mistakes_ten_problems(cli: Cli, write: Write) -> None:
    """A spec with ten different mistakes gets ten precise problems, in line order, exit 2."""
    write("bad.yaml", TEN_MISTAKES)
    result = cli("validate", "bad.yaml")
    assert result.code == 2
    p = result.problems
    assert len(p) == 10, result.err
    ids = [line.split("(id ")[1].split(")")[0] if "(id " in line else "" for line in p]
    assert p == [
        "bad.yaml:3: defualts: unknown key 'defualts'; did you mean 'defaults'? Allowed here: "
        "version, name, description, endpoint, workflow, app, defaults, vars, matrix, jobs, "
        "jobs_from, "
        "repeat, output, run",
        "bad.yaml:5: job 1: prompt: unknown placeholder {subject}; known here: copy",
        f'bad.yaml:6: job 1 (id {ids[2]}): resolution: "1440p" is not one of the allowed '
        'values: "480p", "720p", "native1080p", "1080p", "2k", "4k"',
        f"bad.yaml:7: job 1 (id {ids[3]}): duration: 5 is not one of the allowed values: "
        '"4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15" '
        '(the values are strings: write "5" with quotes)',
        f"bad.yaml:8: job 1 (id {ids[4]}): imageUrls[0]: no such file "
        f"(looked at {Path.cwd() / 'missing.jpg'})",
        f"bad.yaml:9: job 1 (id {ids[5]}): promt: unknown parameter 'promt' for "
        "seedance-2.0/multimodal-video; did you mean 'prompt'? Allowed: prompt, resolution, "
        "duration, imageUrls, videoUrls, audioUrls, generateAudio, ratio, returnLastFrame, "
        "realPersonMode",
        "bad.yaml:10: endpoint: unknown endpoint 'seedance-3.0/multimodal'; did you mean "
        "'seedance-2.0/multimodal-video', 'seedance-2.0-fast/multimodal-video', "
        "'seedance-2.0-global/multimodal-video'?",
        # The job of the unknown endpoint is job 2: the jobs after it keep the numbers they
        # will have once it is fixed.
        f"bad.yaml:12: job 3 (id {ids[7]}): prompt: missing required parameter 'prompt'",
        "bad.yaml:13: job 4: id: id \"a b\" must be 1-100 letters, digits, '.', '_' or '-' "
        "(it names a directory)",
        "bad.yaml:17: job 6 (id twin): id: duplicate id 'twin', also job 5 (id twin) (line 15); "
        "give each job its own id (with a matrix, a template such as 'shot-{ratio}')",
    ]
    assert result.err.endswith(
        "bad.yaml: invalid (10 problems; 5 jobs expanded); nothing was sent\n"
    )


def _line_no(problem: str) -> int:
    return int(problem.split(":")[1])


def test_duplicate_ids(cli: Cli, write: Write) -> None:
    """Two jobs with one id: the second is reported with the first's line."""
    write(
        "dup.yaml",
        """
        version: 1
        endpoint: seedance-2.0/multimodal-video
        jobs:
          - id: twin
            prompt: one
          - id: twin
            prompt: two
        """,
    )
    result = cli("validate", "dup.yaml")
    assert result.code == 2
    assert result.problems == [
        "dup.yaml:6: job 2 (id twin): id: duplicate id 'twin', also job 1 (id twin) (line 4); "
        "give each job its own id (with a matrix, a template such as 'shot-{ratio}')"
    ]


def test_identical_jobs_without_ids(cli: Cli, write: Write) -> None:
    """Two identical jobs without ids are a duplicate, with a hint about repeat."""
    write(
        "dup.yaml",
        """
        version: 1
        endpoint: seedance-2.0/multimodal-video
        jobs:
          - prompt: same
          - prompt: same
        """,
    )
    result = cli("validate", "dup.yaml")
    assert result.problems[0].endswith("use `repeat:` for copies, or give the jobs ids")
    assert "same endpoint and parameters as job 1" in result.problems[0]


def test_yaml_syntax_error_has_line_and_column(cli: Cli, write: Write) -> None:
    """A YAML syntax error names line and column."""
    write("broken.yaml", "version: 1\njobs:\n  - prompt: [unclosed\n")
    result = cli("validate", "broken.yaml")
    assert result.code == 2
    assert result.problems[0].startswith("broken.yaml:4:1: YAML syntax error: ")


def test_duplicate_yaml_key(cli: Cli, write: Write) -> None:
    """A key written twice in one mapping is an error, not a silent override."""
    write("dup.yaml", "version: 1\nendpoint: a\nendpoint: b\n")
    result = cli("validate", "dup.yaml")
    assert result.problems == [
        "dup.yaml:3: duplicate key 'endpoint' (first defined on line 2); "
        "YAML would silently keep only the last one"
    ]


def test_unknown_top_level_endpoint(cli: Cli, write: Write) -> None:
    """An unknown endpoint gets a did-you-mean list."""
    write("e.yaml", "version: 1\nendpoint: seedance-2.0/multimodal\njobs: [{prompt: x}]\n")
    result = cli("validate", "e.yaml")
    assert result.code == 2
    assert result.problems == [
        "e.yaml:2: endpoint: unknown endpoint 'seedance-2.0/multimodal'; did you mean "
        "'seedance-2.0/multimodal-video'?"
    ]


def test_missing_spec_file(cli: Cli, write: Write) -> None:
    """A spec path that does not exist."""
    result = cli("validate", "nope.yaml")
    assert result.code == 2
    assert result.err.startswith("nope.yaml: no such spec file\n")


def test_missing_version(cli: Cli, write: Write) -> None:
    """A spec must say which format version it is."""
    write("v.yaml", "endpoint: seedance-2.0/multimodal-video\n")
    result = cli("validate", "v.yaml")
    assert result.problems == ["v.yaml:1: missing `version: 1` at the top of the spec"]


def test_local_file_too_large(cli: Cli, write: Write, tmp_path: Path) -> None:
    """A local reference image over the endpoint's maxSize."""
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (11 * 1024 * 1024))
    write(
        "s.yaml",
        """
        version: 1
        endpoint: seedance-v1-lite-reference-to-video
        jobs:
          - prompt: a dog
            imageUrls: [big.png]
        """,
    )
    result = cli("validate", "s.yaml")
    assert result.problems[0].endswith("imageUrls[0]: 'big.png' is 11.0 MB; at most 10 MB allowed")


def test_local_file_wrong_format(cli: Cli, write: Write, tmp_path: Path) -> None:
    """A WEBP where the endpoint accepts only JPG and PNG, even named .jpg."""
    (tmp_path / "photo.jpg").write_bytes(b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 32)
    write(
        "s.yaml",
        """
        version: 1
        endpoint: seedance-v1-lite-reference-to-video
        jobs:
          - prompt: a dog
            imageUrls: [photo.jpg]
        """,
    )
    result = cli("validate", "s.yaml")
    assert result.problems[0].endswith(
        "imageUrls[0]: 'photo.jpg' is WEBP (by its content); accepted: JPG, PNG"
    )


def test_every_shipped_spec_and_example_validates(cli: Cli) -> None:
    """Everything in specs/ and examples/ is valid."""
    files = sorted(ROOT.glob("specs/**/*.yaml")) + sorted(ROOT.glob("examples/**/*.yaml"))
    assert len(files) >= 7
    result = cli("validate", *map(str, files))
    assert result.code == 0, result.err
    assert result.out.count(": ok, ") == len(files)


def test_many_specs_one_bad(cli: Cli, write: Write) -> None:
    """validate checks every spec given and fails if any is invalid."""
    write("good.yaml", "version: 1\nendpoint: seedance-2.0/multimodal-video\njobs: [{prompt: x}]\n")
    write("bad.yaml", "version: 2\n")
    result = cli("validate", "good.yaml", "bad.yaml")
    assert result.code == 2
    assert "good.yaml: ok, 1 job (1 endpoint)" in result.out
    assert "bad.yaml:1: version: unsupported version 2; this rhbatch reads version 1" in result.err


def test_unknown_placeholder_in_naming(cli: Cli, write: Write) -> None:
    """output.naming may only use {id}, {n}, {ext}, {endpoint}, {index} and parameters."""
    write(
        "n.yaml",
        "version: 1\nendpoint: seedance-2.0/multimodal-video\njobs: [{id: a, prompt: x}]\n"
        "output:\n  naming: '{mood}/{id}.{ext}'\n",
    )
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:5: job 1 (id a): output.naming: {mood} in output.naming is not {id}, {n}, "
        "{ext}, {endpoint}, {index} or a parameter of this job"
    ]


# --- input files: regular, bounded, UTF-8 ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            b"version: 1\nname: caf\xe9\n",
            "s.yaml:2: not UTF-8 text (byte 0xe9 at column 10); save the file as UTF-8",
        ),
        (
            "version: 1\n".encode("utf-16"),
            "s.yaml:1: UTF-16 text, not UTF-8; save the file as UTF-8",
        ),
        (
            "version: 1\n".encode("utf-16-be"),
            "s.yaml:1: a NUL byte at column 1 (UTF-16 text?); save the file as UTF-8",
        ),
    ],
)
def test_spec_in_another_encoding(
    cli: Cli, write: Write, tmp_path: Path, data: bytes, problem: str
) -> None:
    """A spec that is not UTF-8 is one problem with its line."""
    (tmp_path / "s.yaml").write_bytes(data)
    result = cli("validate", "s.yaml")
    assert result.code == 2
    assert result.problems == [problem]


def test_spec_with_utf8_bom(cli: Cli, write: Write, tmp_path: Path) -> None:
    """A UTF-8 byte order mark is fine."""
    (tmp_path / "s.yaml").write_bytes(
        b"\xef\xbb\xbfversion: 1\nendpoint: seedance-2.0/multimodal-video\njobs: [{prompt: x}]\n"
    )
    assert cli("validate", "s.yaml").code == 0


def test_spec_that_is_not_a_regular_file(cli: Cli, write: Write, tmp_path: Path) -> None:
    """A FIFO, a device or a directory named as a spec is refused from its stat, at once."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "dir.yaml").mkdir()
    result = cli("validate", "pipe.yaml", "/dev/zero", "dir.yaml")
    assert result.code == 2
    assert result.err.splitlines()[::2] == [
        "pipe.yaml: is a named pipe (FIFO), not a regular file",
        "/dev/zero: is a character device, not a regular file",
        "dir.yaml: is a directory, not a regular file",
    ]


# --- output paths: refused before paying for results that could not be saved ---------------

HEAD = "version: 1\nendpoint: seedance-2.0/multimodal-video\n"


def naming_spec(
    write: Write, naming: str, jobs: str = "  - {id: a, prompt: x}\n  - {id: b, prompt: y}\n"
) -> None:
    write("n.yaml", HEAD + "jobs:\n" + jobs + f"output:\n  naming: {json.dumps(naming)}\n")


OWN = (
    "it is one of rhbatch's own files (.rhbatch/, history/, manifest.jsonl, run.json, "
    "metadata.jsonl, report.html)"
)


@pytest.mark.parametrize(
    ("naming", "problem"),
    [
        ("../x/{id}.{ext}", "it has an empty, '.' or '..' component"),
        ("/tmp/{id}.{ext}", "it is absolute"),
        ("C:\\x\\{id}.{ext}", "it names a drive"),
        ("{id}//{n}.{ext}", "it has an empty, '.' or '..' component"),
        ("{id}/./{n}.{ext}", "it has an empty, '.' or '..' component"),
        ("{id}/\x07{n}.{ext}", "it contains a control character"),
        ("x" * 201 + "/{id}.{ext}", "a component is longer than 200 characters"),
        ("镜头" * 50 + "/{id}.{ext}", "a component is longer than 240 bytes in UTF-8"),
        (
            ".rhbatch/{id}.{ext}",
            OWN,
        ),
        ("run.json", OWN),
        ("report.html", OWN),
        ("History/{id}.{ext}", OWN),  # where earlier versions of changed jobs are kept
    ],
)
def test_naming_outside_the_output_directory(
    cli: Cli, write: Write, naming: str, problem: str
) -> None:
    """A naming whose own text leaves the output directory is one problem at its line."""
    naming_spec(write, naming)
    result = cli("validate", "n.yaml")
    assert result.code == 2
    assert result.problems == [
        f"n.yaml:7: output.naming: {naming!r} is not a path inside the output directory: {problem}"
    ]


def test_naming_that_leaves_through_a_value(cli: Cli, write: Write) -> None:
    """A value that fills the naming with '..' is a problem of that job only."""
    naming_spec(
        write, "{prompt}/{id}.{ext}", "  - {id: a, prompt: '..'}\n  - {id: b, prompt: ok}\n"
    )
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:7: job 1 (id a): output.naming: gives '../a.mp4' for this job, which is not a "
        "path inside the output directory: it has an empty, '.' or '..' component"
    ]


def test_naming_with_an_overlong_value(cli: Cli, write: Write) -> None:
    """A 300-character prompt makes a 300-character file name: refused, shown shortened."""
    naming_spec(write, "{prompt}.{ext}", "  - {id: a, prompt: " + "p" * 300 + "}\n")
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:6: job 1 (id a): output.naming: gives '" + "p" * 77 + "...' for this job, which "
        "is not a path inside the output directory: a component is longer than 200 characters"
    ]


def test_naming_with_unbalanced_braces(cli: Cli, write: Write) -> None:
    """A naming that is not a template at all is said once."""
    naming_spec(write, "{id/{n}.{ext}")
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:7: output.naming: unexpected '{' in field name in '{id/{n}.{ext}'; "
        "write {{ and }} for literal braces"
    ]


def test_naming_with_a_list_parameter(cli: Cli, write: Write) -> None:
    """A list cannot name a file; without this check the job would fail after it was paid."""
    naming_spec(
        write,
        "{imageUrls}/{id}.{ext}",
        "  - {id: a, prompt: x, imageUrls: ['https://e.com/a.png']}\n",
    )
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:6: job 1 (id a): output.naming: {imageUrls} in output.naming is a list or "
        "mapping for this job; only text, numbers and true/false can name a file"
    ]


def test_colliding_output_paths(cli: Cli, write: Write) -> None:
    """Two jobs whose first results would land on one path: both jobs and lines named,
    and jobs of one entry that all collide are one problem with a count."""
    write(
        "n.yaml",
        HEAD
        + "matrix:\n  ratio: ['16:9', '9:16', '1:1']\n"
        + "jobs:\n  - {id: 'a-{ratio}', prompt: x}\n  - {id: 'b-{ratio}', prompt: y, resolution: 720p}\n"
        + "output:\n  naming: '{resolution}/{n}.{ext}'\n",
    )
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:6: job 2 (id a-9-16) and 1 more: output.naming: its first result would be "
        "written to '720p/1.mp4', the same file as job 1's (id a-16-9, line 6); make "
        "output.naming tell them apart, e.g. with {id}",
        "n.yaml:7: job 4 (id b-16-9) and 2 more: output.naming: its first result would be "
        "written to '720p/1.mp4', the same file as job 1's (id a-16-9, line 6); make "
        "output.naming tell them apart, e.g. with {id}",
    ]


def test_ids_that_differ_only_in_case(cli: Cli, write: Write) -> None:
    """'Shot' and 'shot' are one directory on macOS and Windows: refused everywhere."""
    write("n.yaml", HEAD + "jobs:\n  - {id: shot, prompt: x}\n  - {id: Shot, prompt: y}\n")
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:5: job 2 (id Shot): output.naming: its first result would be written to "
        "'Shot/1.mp4' and job 1's (id shot, line 4) to 'shot/1.mp4': one file where letter case "
        "does not count (macOS, Windows); make the ids or output.naming differ in more than "
        "letter case"
    ]


def test_output_type_sets_the_first_extension(cli: Cli, write: Write) -> None:
    """The first result's extension follows the endpoint's output type: a video job and an
    image job both named 'all.{ext}' write all.mp4 and all.png, which do not collide."""
    write(
        "n.yaml",
        "version: 1\njobs:\n"
        "  - {id: v, endpoint: seedance-2.0/multimodal-video, prompt: x}\n"
        "  - {id: i, endpoint: wan-2.5-preview/text-to-image, prompt: x, size: 1280*1280}\n"
        "output:\n  naming: 'all.{ext}'\n",
    )
    assert cli("validate", "n.yaml").code == 0


def test_nan_and_infinity_are_refused_where_they_are_written(cli: Cli, write: Write) -> None:
    """YAML's .nan and .inf and a CSV cell 'nan' pass JSON Schema's number checks (NaN is
    neither below a minimum nor above a maximum) and no request body can carry them: each
    is refused at its line, in a job's parameters, in a row file and in the run settings."""
    head = (
        "version: 1\nendpoint: kling-v2.5-turbo-std/text-to-video\n"
        "defaults:\n  duration: '5'\n  aspectRatio: '16:9'\n"
    )
    write(
        "n.yaml",
        head + "jobs:\n"
        "  - id: a\n    prompt: a boat\n    guidanceScale: .nan\n"
        "  - id: b\n    prompt: a boat\n    guidanceScale: .inf\n"
        "run:\n  poll_interval: .inf\n",
    )
    write("rows.csv", "id,prompt,guidanceScale\nc,a boat,nan\nd,a boat,-inf\n")
    write("r.yaml", head + "jobs_from: rows.csv\n")
    result = cli("validate", "n.yaml", "r.yaml")
    assert result.code == 2
    for where in (
        "n.yaml:9: job 1 (id a): guidanceScale: NaN is not a finite number",
        "n.yaml:12: job 2 (id b): guidanceScale: Infinity is not a finite number",
        "n.yaml:14: run.poll_interval: Infinity is not a finite number",
        "rows.csv:2: job 1 (id c): guidanceScale: NaN is not a finite number",
        "rows.csv:3: job 2 (id d): guidanceScale: -Infinity is not a finite number",
    ):
        assert where in result.err, result.err


def test_a_bound_that_excludes_its_limit_is_said_plainly(cli: Cli, write: Write) -> None:
    write(
        "z.yaml",
        "version: 1\nendpoint: seedance-2.0/multimodal-video\njobs:\n  - prompt: x\n"
        "run:\n  poll_interval: 0\n",
    )
    result = cli("validate", "z.yaml")
    assert result.code == 2
    assert "z.yaml:6: run.poll_interval: 0 is not allowed; it must be above 0" in result.err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--max-spend", "inf"), "--max-spend must be an amount above 0, not inf"),
        (("--emulator", "--emulator-speed", "nan"), "must be a number above 0, not nan"),
    ],
)
def test_flags_refuse_numbers_that_are_not_finite(
    cli: Cli, write: Write, args: tuple[str, ...], said: str
) -> None:
    write("s.yaml", "version: 1\nendpoint: seedance-2.0/multimodal-video\njobs:\n  - prompt: x\n")
    result = cli("run", "s.yaml", "--out", "out", *args)
    assert result.code == 2
    assert said in result.err
    assert not Path("out").exists()


# --- the base URL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com", "--base-url 'ftp://example.com' must start with http:// or https://"),
        ("www.runninghub.ai", "--base-url 'www.runninghub.ai' must start with http:// or https://"),
        ("https://", "--base-url 'https://' is not a complete URL (it has no host)"),
        ("https://:8080", "--base-url 'https://:8080' is not a complete URL (it has no host)"),
        (
            "https://example.com:99999",
            "--base-url 'https://example.com:99999' has an invalid port; ports are 1 to 65535",
        ),
        (
            "https://example.com:0",
            "--base-url 'https://example.com:0' has an invalid port; ports are 1 to 65535",
        ),
        (
            "https://example.com/?a=1",
            "--base-url 'https://example.com/?a=1' must not have a query (?...) or a fragment (#...)",
        ),
        (
            "https://example.com#top",
            "--base-url 'https://example.com#top' must not have a query (?...) or a fragment (#...)",
        ),
        (
            "https://exa mple.com",
            "--base-url 'https://exa mple.com' contains spaces or control characters (write a space as %20)",
        ),
        (
            "https://example.com/\x1b[2J",
            "--base-url 'https://example.com/\\x1b[2J' contains spaces or control characters (write a space as %20)",
        ),
        (
            "https://user:s3cret@example.com",
            "--base-url 'https://***@example.com' must not hold a user name or password; the API "
            "key goes in $RUNNINGHUB_API_KEY (or the variable named by --api-key-env)",
        ),
        (
            "https://u:s3cret@exa mple.com",
            "--base-url 'https://***@exa mple.com' contains spaces or control characters (write a space as %20)",
        ),
        (
            "u:s3cret@example.com",
            "--base-url '***@example.com' must start with http:// or https://",
        ),
    ],
)
def test_bad_base_url(url: str, message: str) -> None:
    """A base URL is checked like any other input (exit 2), and a password is never shown."""
    with pytest.raises(UsageError) as info:
        credentials.base_url(url, {})
    assert str(info.value) == message
    assert info.value.exit_code == 2
    assert "s3cret" not in str(info.value)


def test_base_url_from_the_environment() -> None:
    """$RUNNINGHUB_BASE_URL is checked the same way, and named as the source."""
    with pytest.raises(UsageError, match=r"^\$RUNNINGHUB_BASE_URL 'https://\*\*\*@h' must not"):
        credentials.base_url(None, {"RUNNINGHUB_BASE_URL": "https://k:pw@h"})
    assert credentials.base_url(None, {"RUNNINGHUB_BASE_URL": " http://127.0.0.1:8484/ "}) == (
        "http://127.0.0.1:8484"
    )
    assert credentials.base_url("https://proxy.example/rh/", {}) == "https://proxy.example/rh"
    assert credentials.base_url(None, {}) == credentials.DEFAULT_BASE_URL


def test_unknown_default(cli: Cli, write: Write) -> None:
    """A default that no job's endpoint has is a typo, reported at its line, not ignored."""
    write(
        "d.yaml",
        "version: 1\ndefaults:\n  promt: x\n  resolution: 720p\njobs:\n"
        "  - {id: v, endpoint: seedance-2.0/multimodal-video, prompt: x}\n"
        "  - {id: i, endpoint: wan-2.5-preview/text-to-image, prompt: x, size: 1280*1280}\n",
    )
    result = cli("validate", "d.yaml")
    assert result.problems == [
        "d.yaml:3: defaults.promt: unknown parameter 'promt': no job's endpoint has it "
        "(seedance-2.0/multimodal-video, wan-2.5-preview/text-to-image); did you mean 'prompt'?"
    ]


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("run: 5", "run: 5 is an integer; expected a mapping"),
        ("output: [a]", 'output: ["a"] is a list; expected a mapping'),
        ("output: {naming: 5}", "output.naming: 5 is an integer; expected a string"),
    ],
)
def test_sections_of_the_wrong_type(cli: Cli, write: Write, section: str, problem: str) -> None:
    """run and output that are not mappings are problems, not internal errors."""
    write("w.yaml", HEAD + "jobs: [{id: a, prompt: x}]\n" + section + "\n")
    result = cli("validate", "w.yaml")
    assert result.problems == [f"w.yaml:4: {problem}"]


def test_max_jobs_on_validate_and_plan(cli: Cli, write: Write) -> None:
    """--max-jobs refuses on validate and plan as it does on run; the spec's cap otherwise."""
    write("m.yaml", HEAD + "matrix:\n  ratio: ['16:9', '9:16', '1:1']\njobs: [{prompt: x}]\n")
    message = (
        "m.yaml:3: this spec expands to 3 jobs, more than --max-jobs (2); "
        "pass a larger --max-jobs if you mean it"
    )
    for command in ("validate", "plan"):
        result = cli(command, "m.yaml", "--max-jobs", "2")
        assert result.code == 2
        assert result.problems == [message]
    assert cli("plan", "m.yaml", "--max-jobs", "3").code == 0


# --- did you mean: keys, matrix axes, columns and choices --------------------------------


def test_a_misspelt_matrix_axis_is_answered_with_the_parameter(cli: Cli, write: Write) -> None:
    """A matrix key that becomes no parameter gets the parameter it may misspell, as an
    unknown parameter does."""
    write(
        "m.yaml",
        """
        version: 1
        endpoint: seedance-v1-lite/reference-to-video
        defaults: {imageUrls: ["https://example.com/a.jpg"]}
        matrix:
          aspectRaito: ["16:9", "9:16"]
        jobs:
          - prompt: a fox
        """,
    )
    result = cli("validate", "m.yaml")
    assert result.code == 2
    assert result.problems == [
        "m.yaml:5: matrix.aspectRaito: matrix key 'aspectRaito' is not a parameter of "
        "seedance-v1-lite-reference-to-video and no {aspectRaito} placeholder uses it; "
        "did you mean 'aspectRatio'?"
    ]


def test_a_misspelt_job_key_is_answered_with_the_key(cli: Cli, write: Write) -> None:
    """A job's own key misspelt (repeat, matrix, vars, endpoint, id in capitals) is not
    called a parameter with no suggestion: the key is offered, with the job keys and the
    parameters."""
    write(
        "k.yaml",
        """
        version: 1
        endpoint: seedance-2.0/multimodal-video
        jobs:
          - prompt: a fox
            repaet: 2
          - prompt: a cat
            Id: cat
          - prompt: an owl
            endpiont: seedance-2.0/multimodal-video
        """,
    )
    result = cli("validate", "k.yaml")
    assert result.code == 2
    listed = (
        " Job keys: id, endpoint, workflow, app, uses, vars, repeat, matrix; parameters: "
        "prompt, resolution, duration, imageUrls, videoUrls, audioUrls, generateAudio, ratio, "
        "returnLastFrame, realPersonMode"
    )
    assert [p.split(": ", 2)[0] for p in result.problems] == ["k.yaml:5", "k.yaml:7", "k.yaml:9"]
    assert [p.split(": ", 2)[1].split(" (id ")[0] for p in result.problems] == [
        "job 1",
        "job 2",
        "job 3",
    ]
    assert [p.split(": ", 2)[2] for p in result.problems] == [
        "repaet: unknown key 'repaet': neither a job key nor a parameter of "
        "seedance-2.0/multimodal-video; did you mean 'repeat'?" + listed,
        "Id: unknown key 'Id': neither a job key nor a parameter of "
        "seedance-2.0/multimodal-video; did you mean 'id'?" + listed,
        "endpiont: unknown key 'endpiont': neither a job key nor a parameter of "
        "seedance-2.0/multimodal-video; did you mean 'endpoint'?" + listed,
    ]


def test_a_misspelt_top_level_key_in_capitals(cli: Cli, write: Write) -> None:
    """A key that differs from one of the spec's only in letter case is offered too."""
    write("t.yaml", HEAD + "Defaults: {resolution: 720p}\njobs: [{prompt: x}]\n")
    result = cli("validate", "t.yaml")
    assert result.code == 2
    assert result.problems[0].startswith(
        "t.yaml:3: Defaults: unknown key 'Defaults'; did you mean 'defaults'? Allowed here: "
    )


def test_a_row_column_misspelling_a_job_key(cli: Cli, write: Write) -> None:
    """A jobs_from column close to no parameter but to a row's job key gets that key."""
    write("rows.csv", "prompt,endpiont\nx,seedance-2.0/multimodal-video\n")
    write("r.yaml", HEAD + "jobs_from: rows.csv\n")
    result = cli("validate", "r.yaml")
    assert result.problems == [
        "rows.csv:2: row 2: endpiont: column 'endpiont' is not a parameter of "
        "seedance-2.0/multimodal-video and no {endpiont} placeholder uses it; "
        "did you mean 'endpoint'?"
    ]


@pytest.mark.parametrize(("written", "meant"), [("480P", "480p"), (" 720p ", "720p")])
def test_a_choice_in_the_wrong_letter_case(
    cli: Cli, write: Write, written: str, meant: str
) -> None:
    """ "480P" for a choice of "480p": the allowed values, and the one it means."""
    doc_spec(write, multimodal_body() | {"resolution": written})
    result = cli("validate", "spec.yaml")
    assert result.code == 2
    assert result.problems[0].split(": ", 2)[2] == (
        f'resolution: "{written}" is not one of the allowed values: "480p", "720p", '
        f'"native1080p", "1080p", "2k", "4k"; did you mean "{meant}"?'
    )


def test_a_setting_choice_in_the_wrong_letter_case(cli: Cli, write: Write) -> None:
    """The spec's own settings are answered the same way (run.quote: List)."""
    write("q.yaml", HEAD + "jobs: [{prompt: x}]\nrun: {quote: List}\n")
    result = cli("validate", "q.yaml")
    assert result.code == 2
    assert result.problems == [
        'q.yaml:4: run.quote: "List" is not one of the allowed values: "list", "online"; '
        'did you mean "list"?'
    ]


def test_a_choice_that_is_only_wrong_gets_no_guess(cli: Cli, write: Write) -> None:
    doc_spec(write, multimodal_body() | {"resolution": "1440p"})
    assert "did you mean" not in cli("validate", "spec.yaml").err


# --- every problem at once, an unknown endpoint too ---------------------------------------


def test_an_unknown_endpoint_and_what_does_not_depend_on_it(cli: Cli, write: Write) -> None:
    """An unknown endpoint does not hide the problems that do not depend on it: a bad
    placeholder, a misspelt top-level key, a bad id, the same in one go (exit 2)."""
    write(
        "u.yaml",
        """
        version: 1
        endpoint: seedance-3.0/multimodal
        defualts: {resolution: 720p}
        matrix:
          ratio: ["16:9", "9:16"]
        jobs:
          - prompt: "a {nope} fox, {ratio}"
          - id: "owl {ratio}"
            prompt: an owl
        """,
    )
    for command in ("validate", "plan", "run"):
        result = cli(command, "u.yaml")
        assert result.code == 2, command
        assert result.problems == [
            "u.yaml:2: endpoint: unknown endpoint 'seedance-3.0/multimodal'; did you mean "
            "'seedance-2.0/multimodal-video', 'seedance-2.0-fast/multimodal-video', "
            "'seedance-2.0-global/multimodal-video'?",
            "u.yaml:3: defualts: unknown key 'defualts'; did you mean 'defaults'? Allowed here: "
            "version, name, description, endpoint, workflow, app, defaults, vars, matrix, jobs, "
            "jobs_from, repeat, output, run",
            "u.yaml:7: job 1 and 1 more: prompt: unknown placeholder {nope}; known here: copy, "
            "ratio",
            "u.yaml:8: job 3: id: id \"owl 16-9\" must be 1-100 letters, digits, '.', '_' or '-' "
            "(it names a directory)",
            "u.yaml:8: job 4: id: id \"owl 9-16\" must be 1-100 letters, digits, '.', '_' or '-' "
            "(it names a directory)",
        ], command
    assert Path("out").exists() is False


def test_a_jobs_unknown_endpoint_keeps_its_place(cli: Cli, write: Write) -> None:
    """A job whose own endpoint is unknown: its placeholders are checked, the jobs after it
    keep the numbers they will have, and a job that uses its results is not told that it
    names a job the spec does not have."""
    write(
        "j.yaml",
        """
        version: 1
        endpoint: seedance-2.0/multimodal-video
        jobs:
          - id: frame
            endpoint: nope-model/image
            prompt: "{TODO_prompt}, {colour}"
          - id: clip
            uses: {f: frame}
            prompt: a fox
            imageUrls: ["{f.url}"]
          - prompt: "a {nope} owl"
        """,
    )
    result = cli("validate", "j.yaml")
    assert result.code == 2
    assert result.problems == [
        "j.yaml:5: endpoint: unknown endpoint 'nope-model/image'; run `rhbatch endpoints` to "
        "list them",
        "j.yaml:6: job 1: prompt: fill in this TODO ({TODO_prompt})",
        "j.yaml:11: job 3: prompt: unknown placeholder {nope}; known here: copy",
    ]
    assert result.err.endswith("j.yaml: invalid (3 problems; 2 jobs expanded); nothing was sent\n")


def test_a_spec_without_jobs_and_an_unknown_endpoint(cli: Cli, write: Write) -> None:
    write("n.yaml", "version: 1\nendpoint: nope-model/x\ndefaults: {prompt: '{who}'}\n")
    result = cli("validate", "n.yaml")
    assert result.problems == [
        "n.yaml:2: endpoint: unknown endpoint 'nope-model/x'; run `rhbatch endpoints` to list them",
        "n.yaml:3: job 1: prompt: unknown placeholder {who}; known here: copy",
    ]
