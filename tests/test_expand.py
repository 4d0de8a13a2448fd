"""Expansion of specs into jobs: matrix, zip, templates, repeat, jobs_from, stable ids."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from rhbatch.endpoints.registry import registry
from rhbatch.errors import InvalidInput, UsageError
from rhbatch.models import Job
from rhbatch.spec.validate import Report, check_spec

Write = Callable[[str, str], Path]
HEAD = "version: 1\nendpoint: seedance-2.0/multimodal-video\n"


def expand(write: Write, body: str, name: str = "s.yaml") -> Report:
    write(name, body)
    return check_spec(name, registry(), keep=10_000)  # relative: problems name "s.yaml"


def jobs(write: Write, body: str) -> list[Job]:
    report = expand(write, body)
    assert report.problems == [], [p.render() for p in report.problems]
    return report.first


def test_matrix_is_a_cartesian_product(write: Write) -> None:
    """Two axes of 2 and 3 values make 6 jobs, the first axis varying slowest."""
    found = jobs(
        write,
        HEAD
        + """
matrix:
  ratio: ["16:9", "9:16"]
  duration: ["4", "5", "6"]
jobs:
  - prompt: p
""",
    )
    assert [(j.params["ratio"], j.params["duration"]) for j in found] == [
        ("16:9", "4"),
        ("16:9", "5"),
        ("16:9", "6"),
        ("9:16", "4"),
        ("9:16", "5"),
        ("9:16", "6"),
    ]


def test_zip_rows_move_together(write: Write) -> None:
    """A zip of rows is one axis: its keys change together."""
    found = jobs(
        write,
        HEAD
        + """
matrix:
  zip:
    - {ratio: "16:9", look: wide}
    - {ratio: "9:16", look: tall}
jobs:
  - prompt: "a {look} shot"
""",
    )
    assert [(j.params["ratio"], j.params["prompt"]) for j in found] == [
        ("16:9", "a wide shot"),
        ("9:16", "a tall shot"),
    ]


def test_zip_of_lists(write: Write) -> None:
    """The zip form with lists of equal length, crossed with a plain axis."""
    found = jobs(
        write,
        HEAD
        + """
matrix:
  duration: ["4", "8"]
  zip:
    ratio: ["1:1", "21:9"]
    look: [square, cinema]
jobs:
  - prompt: "{look} {duration}s"
""",
    )
    assert [j.params["prompt"] for j in found] == [
        "square 4s",
        "cinema 4s",
        "square 8s",
        "cinema 8s",
    ]


def test_zip_lists_of_unequal_length(write: Write) -> None:
    """Zip lists of different lengths are an error naming both lengths."""
    with pytest.raises(InvalidInput) as info:
        expand(
            write,
            HEAD + "matrix:\n  zip:\n    ratio: ['1:1']\n    look: [a, b]\njobs: [{prompt: x}]\n",
        )
    assert [p.render() for p in info.value.problems] == [
        "s.yaml:4: matrix.zip: zip lists must have the same length (ratio: 1, look: 2)"
    ]


def test_template_variables_from_vars(write: Write) -> None:
    """Spec vars and job vars fill placeholders; a job var wins over a spec var."""
    found = jobs(
        write,
        HEAD
        + """
vars: {who: a cat, where: Paris}
jobs:
  - prompt: "{who} in {where}"
  - prompt: "{who} in {where}"
    vars: {where: Rome}
""",
    )
    assert [j.params["prompt"] for j in found] == ["a cat in Paris", "a cat in Rome"]


def test_literal_braces(write: Write) -> None:
    """{{ and }} are literal braces."""
    found = jobs(write, HEAD + 'jobs:\n  - prompt: "json {{\\"a\\": 1}} here"\n')
    assert found[0].params["prompt"] == 'json {"a": 1} here'


def test_whole_value_placeholder_keeps_the_type(write: Write) -> None:
    """A value that is exactly one placeholder takes the variable's list as is."""
    found = jobs(
        write,
        HEAD
        + """
matrix:
  zip:
    - {refs: ["https://example.com/a.jpg", "https://example.com/b.jpg"], n: two}
    - {refs: ["https://example.com/c.jpg"], n: one}
jobs:
  - prompt: "{n}"
    imageUrls: "{refs}"
""",
    )
    assert [j.params["imageUrls"] for j in found] == [
        ["https://example.com/a.jpg", "https://example.com/b.jpg"],
        ["https://example.com/c.jpg"],
    ]


def test_unknown_placeholder_is_an_error(write: Write) -> None:
    """A placeholder with no variable is reported with a suggestion."""
    report = expand(write, HEAD + "vars: {subject: x}\njobs:\n  - prompt: '{subjet}'\n")
    assert [p.render() for p in report.problems] == [
        "s.yaml:5: job 1: prompt: unknown placeholder {subjet} (did you mean {subject}?); "
        "known here: copy, subject"
    ]


def test_matrix_key_that_nothing_uses(write: Write) -> None:
    """A matrix key that is neither a parameter nor a placeholder is a typo."""
    report = expand(write, HEAD + "matrix:\n  mood: [a, b]\njobs:\n  - prompt: x\n")
    assert [p.render() for p in report.problems] == [
        "s.yaml:4: matrix.mood: matrix key 'mood' is not a parameter of "
        "seedance-2.0/multimodal-video and no {mood} placeholder uses it"
    ]
    assert report.jobs == 1  # its axis is dropped, so the job is not doubled


def test_job_value_and_matrix_clash(write: Write) -> None:
    """A parameter set both by the job and by the matrix is an error."""
    report = expand(
        write, HEAD + "matrix:\n  ratio: ['1:1']\njobs:\n  - prompt: x\n    ratio: '16:9'\n"
    )
    assert [p.render() for p in report.problems] == [
        "s.yaml:7: jobs[0]: ratio: 'ratio' is set both here and by the matrix (line 4); remove one"
    ]


def test_defaults_under_job_values(write: Write) -> None:
    """A job's own value wins over the defaults."""
    found = jobs(
        write,
        HEAD + "defaults: {ratio: '1:1', duration: '8'}\njobs:\n  - {prompt: x, ratio: '4:3'}\n",
    )
    assert found[0].params["ratio"] == "4:3"
    assert found[0].params["duration"] == "8"


def test_required_choices_get_their_default(write: Write) -> None:
    """Required choices left out are filled from the endpoint; optional ones are not."""
    found = jobs(write, HEAD + "jobs:\n  - prompt: x\n")
    assert found[0].params == {"prompt": "x", "resolution": "720p", "duration": "5"}


def test_defaults_apply_where_the_endpoint_has_the_parameter(write: Write) -> None:
    """In a mixed spec, a default goes only to jobs whose endpoint has that parameter."""
    found = jobs(
        write,
        """
version: 1
defaults: {realPersonMode: false, cameraFixed: "true"}
jobs:
  - {endpoint: seedance-2.0/multimodal-video, prompt: a}
  - endpoint: seedance-v1-lite-reference-to-video
    prompt: b
    imageUrls: ["https://example.com/x.jpg"]
""",
    )
    assert "cameraFixed" not in found[0].params
    assert found[0].params["realPersonMode"] is False
    assert "realPersonMode" not in found[1].params
    assert found[1].params["cameraFixed"] == "true"


def test_repeat_derives_distinct_seeds(write: Write) -> None:
    """repeat: 5 on an endpoint with a seed gives 5 distinct seeds within its range."""
    found = jobs(
        write,
        "version: 1\nendpoint: wan-2.5-preview/text-to-image\njobs:\n  - {prompt: x, size: 1280*1280, repeat: 5}\n",
    )
    seeds = [j.params["seed"] for j in found]
    assert len(set(seeds)) == 5
    assert all(0 <= s <= 2147483647 for s in seeds)
    assert len({j.id for j in found}) == 5
    again = jobs(
        write,
        "version: 1\nendpoint: wan-2.5-preview/text-to-image\njobs:\n  - {prompt: x, size: 1280*1280, repeat: 5}\n",
    )
    assert [j.params["seed"] for j in again] == seeds  # reproducible


def test_repeat_counts_up_from_a_given_seed(write: Write) -> None:
    """With a seed given, copies take seed, seed+1, seed+2."""
    found = jobs(
        write,
        "version: 1\nendpoint: wan-2.5-preview/text-to-image\njobs:\n  - {prompt: x, size: 1280*1280, seed: 7, repeat: 3}\n",
    )
    assert [j.params["seed"] for j in found] == [7, 8, 9]


def test_repeat_without_seed_parameter(write: Write) -> None:
    """Copies on an endpoint without a seed differ only by id; no seed is invented."""
    found = jobs(write, HEAD + "repeat: 3\njobs:\n  - prompt: x\n")
    assert len({j.id for j in found}) == 3
    assert all("seed" not in j.params for j in found)
    assert [j.copy for j in found] == [1, 2, 3]


def test_explicit_id_with_repeat_and_copy(write: Write) -> None:
    """An explicit id gets -<copy> with repeat, unless it uses {copy} itself."""
    found = jobs(
        write,
        HEAD
        + "jobs:\n  - {id: a, prompt: x, repeat: 2}\n  - {id: 'b{copy}', prompt: y, repeat: 2}\n",
    )
    assert [j.id for j in found] == ["a-1", "a-2", "b1", "b2"]


def test_placeholders_in_ids_are_made_file_name_safe(write: Write) -> None:
    """'shot-{ratio}' with ratio 16:9 gives the id shot-16-9."""
    found = jobs(
        write, HEAD + "matrix:\n  ratio: ['16:9']\njobs:\n  - {id: 'shot-{ratio}', prompt: x}\n"
    )
    assert found[0].id == "shot-16-9"


def test_ids_survive_reordering(write: Write) -> None:
    """Content ids do not depend on a job's position."""
    a = jobs(write, HEAD + "jobs:\n  - prompt: one\n  - prompt: two\n  - prompt: three\n")
    b = jobs(write, HEAD + "jobs:\n  - prompt: three\n  - prompt: one\n  - prompt: two\n")
    assert {j.params["prompt"]: j.id for j in a} == {j.params["prompt"]: j.id for j in b}
    assert all(len(j.id) == 12 for j in a)


def test_changing_one_job_changes_only_its_id(write: Write) -> None:
    """Editing one job's prompt changes that job's id and no other."""
    a = jobs(write, HEAD + "jobs:\n  - prompt: one\n  - prompt: two\n")
    b = jobs(write, HEAD + "jobs:\n  - prompt: one\n  - prompt: two, revised\n")
    assert a[0].id == b[0].id
    assert a[1].id != b[1].id


def test_filled_defaults_do_not_change_ids(write: Write) -> None:
    """Writing an endpoint default explicitly or leaving it to rhbatch gives different
    bodies' ids only by what the spec says: the id hashes the spec's own values."""
    a = jobs(write, HEAD + "jobs:\n  - prompt: one\n")
    b = jobs(write, HEAD + "jobs:\n  - {prompt: one, resolution: 720p, duration: '5'}\n")
    assert a[0].params == b[0].params
    assert a[0].id != b[0].id


def test_jobs_from_csv(write: Write) -> None:
    """CSV rows become jobs: text converted to each parameter's type, lists split on |,
    other columns are variables."""
    write(
        "rows.csv",
        "id,prompt,ratio,generateAudio,imageUrls,who\n"
        "r1,{who} runs,16:9,false,https://e.com/a.jpg|https://e.com/b.jpg,fox\n"
        'r2,"{who}, slowly",9:16,true,"[""https://e.com/c.jpg""]",owl\n',
    )
    found = jobs(write, HEAD + "jobs_from: rows.csv\n")
    assert [(j.id, j.params["prompt"], j.params["generateAudio"]) for j in found] == [
        ("r1", "fox runs", False),
        ("r2", "owl, slowly", True),
    ]
    assert found[0].params["imageUrls"] == ["https://e.com/a.jpg", "https://e.com/b.jpg"]
    assert found[1].params["imageUrls"] == ["https://e.com/c.jpg"]


def test_jobs_from_csv_bad_cell(write: Write) -> None:
    """A CSV cell that cannot be read as its parameter's type names the row's line."""
    write("rows.csv", "prompt,generateAudio,ratio\nok,maybe,16:9\n")
    report = expand(write, HEAD + "jobs_from: rows.csv\n")
    assert [p.render() for p in report.problems] == [
        'rows.csv:2: row 2: generateAudio: "maybe": expected true or false'
    ]


def test_jobs_from_unknown_column(write: Write) -> None:
    """A column that is neither a parameter nor used by a template is a typo."""
    write("rows.csv", "prompt,ratoi\nx,16:9\n")
    report = expand(write, HEAD + "jobs_from: rows.csv\n")
    assert [p.render() for p in report.problems] == [
        "rows.csv:2: row 2: ratoi: column 'ratoi' is not a parameter of "
        "seedance-2.0/multimodal-video and no {ratoi} placeholder uses it; "
        "did you mean 'ratio' or 'duration'?"
    ]


def test_jobs_from_jsonl(write: Write) -> None:
    """JSON Lines rows keep their types; a bad line is reported with its number."""
    write(
        "rows.jsonl",
        '{"prompt": "a", "generateAudio": false}\n\n{"prompt": "b", "duration": 5}\nnot json\n',
    )
    report = expand(write, HEAD + "jobs_from: rows.jsonl\n")
    found = [p.render() for p in report.problems]
    assert found[1] == "rows.jsonl:4:1: invalid JSON: Expecting value"
    assert found[0].startswith("rows.jsonl:3: job 2 (id ")
    assert found[0].endswith('(the values are strings: write "5" with quotes)')


def test_jobs_from_missing_file(write: Write) -> None:
    """A jobs_from file that does not exist is named with the spec's line."""
    report = expand(write, HEAD + "jobs_from: nope.csv\n")
    assert report.problems[0].render().startswith("s.yaml:3: jobs_from: no such file 'nope.csv'")


def test_no_jobs_means_one_job_of_defaults(write: Write) -> None:
    """A spec with only defaults and a matrix makes one job per combination."""
    found = jobs(write, HEAD + "defaults: {prompt: 'a {x}'}\nmatrix:\n  x: [1, 2]\n")
    assert [j.params["prompt"] for j in found] == ["a 1", "a 2"]


# --- row files: regular, bounded, UTF-8 ---------------------------------------------------


def test_jobs_from_utf8_with_bom(write: Write, tmp_path: Path) -> None:
    """A UTF-8 byte order mark (as spreadsheets write it) is dropped, not read as a column name."""
    (tmp_path / "rows.csv").write_bytes(b"\xef\xbb\xbfprompt\na fox\n")
    found = jobs(write, HEAD + "jobs_from: rows.csv\n")
    assert [j.params["prompt"] for j in found] == ["a fox"]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            b"prompt\ncaf\xe9 au lait\n",
            "rows.csv:2: not UTF-8 text (byte 0xe9 at column 4); save the file as UTF-8",
        ),
        (
            "prompt\nok\n".encode("utf-16"),
            "rows.csv:1: UTF-16 text, not UTF-8; save the file as UTF-8",
        ),
        (
            "prompt\nok\n".encode("utf-16-le"),
            "rows.csv:1: a NUL byte at column 2 (UTF-16 text?); save the file as UTF-8",
        ),
        (
            "prompt\nok\n".encode("utf-32"),
            "rows.csv:1: UTF-32 text, not UTF-8; save the file as UTF-8",
        ),
    ],
)
def test_jobs_from_bad_encoding(write: Write, tmp_path: Path, data: bytes, problem: str) -> None:
    """A row file that is not UTF-8 is one problem with its line, not a traceback."""
    (tmp_path / "rows.csv").write_bytes(data)
    report = expand(write, HEAD + "jobs_from: rows.csv\n")
    assert [p.render() for p in report.problems] == [problem]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("pipe.csv", "'pipe.csv' is a named pipe (FIFO), not a regular file"),
        ("folder.csv", "'folder.csv' is a directory, not a regular file"),
        ("{path: /dev/zero, format: csv}", "'/dev/zero' is a character device, not a regular file"),
        (
            "huge.csv",
            "'huge.csv' is 256.0 MiB; rhbatch reads files of at most 256 MiB",
        ),
    ],
)
def test_jobs_from_must_be_a_regular_file_of_bounded_size(
    write: Write, tmp_path: Path, source: str, problem: str
) -> None:
    """FIFOs, directories and devices are refused from their stat (a FIFO would block the
    read), and a file over 256 MiB before it is read."""
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "folder.csv").mkdir()
    with (tmp_path / "huge.csv").open("wb") as fh:
        fh.truncate(256 * 1024 * 1024 + 1)  # sparse: costs no disk
    report = expand(write, HEAD + f"jobs_from: {source}\n")
    assert [p.render() for p in report.problems] == [f"s.yaml:3: jobs_from: {problem}"]


def test_row_repeat_is_bounded(write: Write) -> None:
    """A row's repeat is 1 to 10,000, as in a spec; a number too big for any batch is refused."""
    write("rows.csv", "prompt,repeat\na,99999999999999999999\nb,0\nc,²\n")
    report = expand(write, HEAD + "jobs_from: rows.csv\n")
    assert [p.render() for p in report.problems] == [
        "rows.csv:2: repeat: must be a whole number from 1 to 10,000, not '99999999999999999999'",
        "rows.csv:3: repeat: must be a whole number from 1 to 10,000, not '0'",
        "rows.csv:4: repeat: must be a whole number from 1 to 10,000, not '²'",
    ]


def test_jsonl_row_nested_too_deeply(write: Write) -> None:
    """A JSON Lines row nested beyond any use is refused, however deep (no RecursionError)."""
    write("rows.jsonl", '{"prompt": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    report = expand(write, HEAD + "jobs_from: rows.jsonl\n")
    assert [p.render() for p in report.problems] == [
        "rows.jsonl:1: nested more than 64 levels deep; a job needs far fewer"
    ]


# --- the job cap: counted before anything is expanded -------------------------------------

AXIS = "[" + ", ".join(str(i) for i in range(40)) + "]"
EXPLODING = (
    HEAD
    + "defaults: {prompt: 'x {a} {b} {c} {d} {e} {f}'}\n"
    + "matrix:\n"
    + "".join(f"  {k}: {AXIS}\n" for k in "abcdef")
)


def refused(write: Write, body: str, **kwargs: int) -> list[str]:
    write("s.yaml", body)
    with pytest.raises(InvalidInput) as info:
        check_spec("s.yaml", registry(), **kwargs)
    return [p.render() for p in info.value.problems]


def test_huge_matrix_is_refused_at_once(write: Write) -> None:
    """40^6 combinations are counted, not made: refused in well under a second, in little
    memory, at the matrix's line."""
    write("s.yaml", EXPLODING)
    tracemalloc.start()
    began = time.perf_counter()
    with pytest.raises(InvalidInput) as info:
        check_spec("s.yaml", registry())
    seconds = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [p.render() for p in info.value.problems] == [
        "s.yaml:4: this spec expands to 4,096,000,000 jobs, more than run.max_jobs (1,000,000); "
        "raise run.max_jobs or pass --max-jobs if you mean it"
    ]
    assert seconds < 0.5
    assert peak < 20 * 1024 * 1024


def test_max_jobs_flag_wins_over_the_spec(write: Write) -> None:
    """--max-jobs (check_spec's max_jobs) overrides run.max_jobs, both ways."""
    body = (
        HEAD
        + "run: {max_jobs: 1}\nmatrix:\n  ratio: ['16:9', '9:16', '1:1']\njobs:\n  - prompt: p\n"
    )
    assert refused(write, body) == [
        "s.yaml:4: this spec expands to 3 jobs, more than run.max_jobs (1); "
        "raise run.max_jobs or pass --max-jobs if you mean it"
    ]
    assert check_spec("s.yaml", registry(), max_jobs=3).jobs == 3
    assert refused(write, body, max_jobs=2) == [
        "s.yaml:4: this spec expands to 3 jobs, more than --max-jobs (2); "
        "pass a larger --max-jobs if you mean it"
    ]


def test_max_jobs_flag_must_be_positive(write: Write) -> None:
    """--max-jobs 0 is a usage error, not a cap nothing passes."""
    write("s.yaml", HEAD + "jobs:\n  - prompt: p\n")
    with pytest.raises(UsageError, match="--max-jobs must be at least 1, not 0"):
        check_spec("s.yaml", registry(), max_jobs=0)


def test_repeat_times_matrix_points_at_the_larger_factor(write: Write) -> None:
    """repeat 10,000 over a 2-value matrix: the repeat line is where the jobs come from."""
    body = HEAD + "matrix:\n  ratio: ['16:9', '9:16']\njobs:\n  - prompt: p\n    repeat: 10000\n"
    assert refused(write, body, max_jobs=100) == [
        "s.yaml:7: this spec expands to 20,000 jobs, more than --max-jobs (100); "
        "pass a larger --max-jobs if you mean it"
    ]


def test_job_matrix_is_counted(write: Write) -> None:
    """A job's own matrix multiplies with the spec's: the job's matrix line is named."""
    body = (
        HEAD
        + "matrix:\n  ratio: ['16:9', '9:16']\n"
        + "jobs:\n  - prompt: 'p {take}'\n    matrix:\n      take: "
        + AXIS
        + "\n"
    )
    assert refused(write, body, max_jobs=50) == [
        "s.yaml:7: this spec expands to 80 jobs, more than --max-jobs (50); "
        "pass a larger --max-jobs if you mean it"
    ]


def test_many_small_jobs_point_at_the_job_list(write: Write) -> None:
    """No job is too many alone; together they are: the `jobs:` line is named."""
    body = HEAD + "jobs:\n" + "".join(f"  - prompt: p{i}\n" for i in range(5))
    assert refused(write, body, max_jobs=4) == [
        "s.yaml:3: this spec expands to 5 jobs, more than --max-jobs (4); "
        "pass a larger --max-jobs if you mean it"
    ]


def test_rows_are_counted_before_they_are_parsed(write: Write) -> None:
    """A row file with more rows than the cap allows (times the matrix) is refused before
    its rows become jobs; repeat columns could only add, so the count is a floor."""
    write("rows.csv", "prompt\n" + "".join(f"p{i}\n" for i in range(30)))
    body = HEAD + "matrix:\n  ratio: ['16:9', '9:16']\njobs_from: rows.csv\n"
    assert refused(write, body, max_jobs=50) == [
        "s.yaml:5: this spec expands to at least 60 jobs, more than --max-jobs (50); "
        "pass a larger --max-jobs if you mean it"
    ]


def test_row_repeat_column_is_counted(write: Write) -> None:
    """Rows within the cap whose repeat column takes the batch over it: the row is named."""
    write("rows.csv", "prompt,repeat\na,1\nb,5000\n")
    assert refused(write, HEAD + "jobs_from: rows.csv\n", max_jobs=1000) == [
        "rows.csv:3: this spec expands to 5,001 jobs, more than --max-jobs (1,000); "
        "pass a larger --max-jobs if you mean it"
    ]


def test_cap_counts_exactly_what_expansion_makes(write: Write) -> None:
    """At the cap exactly, the spec passes: the count and the expansion agree."""
    write("rows.csv", "prompt,repeat\na,2\nb,\n")
    body = (
        HEAD
        + "repeat: 3\nmatrix:\n  ratio: ['16:9', '9:16']\njobs:\n  - prompt: j\n    matrix: {duration: ['4', '5']}\njobs_from: rows.csv\n"
    )
    write("s.yaml", body)
    report = check_spec("s.yaml", registry(), max_jobs=2 * 3 * 2 + 2 * 2 + 2 * 3)
    assert report.problems == []
    assert report.jobs == report.spec.planned == 22


# --- YAML that would make unbounded work ----------------------------------------------------


def test_alias_bomb_is_refused(write: Write) -> None:
    """Nested aliases standing for 10^9 values are refused from a count of the distinct
    nodes, without ever walking the expansion."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        name, prev = chr(97 + i), chr(96 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    body = "version: 1\nvars:\n" + "".join(f"  {line}\n" for line in lines)
    problems = refused(write, body)
    assert problems == [
        "s.yaml:9: through its aliases (*name) this YAML stands for more than 10,000,000 "
        "values; write the values out, or use a matrix"
    ]


def test_deep_nesting_is_refused(write: Write) -> None:
    """A spec nested 900 levels deep is a problem at its line, not a RecursionError."""
    body = "version: 1\nvars:\n  x: " + "[" * 900 + "]" * 900 + "\n"
    assert refused(write, body) == [
        "s.yaml:3: nested more than 64 levels deep; a spec needs far fewer"
    ]


def test_recursive_alias_is_refused(write: Write) -> None:
    """An alias inside its own anchor would be an endless value."""
    assert refused(write, "version: 1\nvars:\n  x: &x [*x]\n") == [
        "s.yaml:3:6: YAML syntax error: an alias (*name) inside its own anchor (&name) makes "
        "the value endless"
    ]
