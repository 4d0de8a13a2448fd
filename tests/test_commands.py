"""The read-only commands: plan, endpoints, schema, --version, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from rhbatch import __version__
from rhbatch.endpoints.registry import registry
from tests.helpers import ROOT, Result

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def test_version(cli: Cli) -> None:
    """--version prints the version and exits 0."""
    result = cli("--version")
    assert result.code == 0
    assert result.out == f"rhbatch {__version__}\n"


def test_no_command_is_a_usage_error(cli: Cli) -> None:
    """A bare `rhbatch` explains itself and exits 2."""
    result = cli()
    assert result.code == 2
    assert "COMMAND" in result.err


def test_plan_summary_and_table(cli: Cli) -> None:
    """plan shows counts per endpoint, seconds of video and the jobs."""
    result = cli("plan", str(ROOT / "specs" / "quickstart.yaml"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].endswith("quickstart.yaml: quickstart, 4 jobs")
    rows = [line.split() for line in lines]
    assert ["seedance-2.0/multimodal-video", "4", "video", "24.00"] in rows
    assert "video: 20 s (0.3 min)" in result.out
    assert "local files to upload: 4" in result.out
    table = lines[lines.index(next(line for line in lines if line.startswith("#  ID"))) :]
    assert [row.split()[1] for row in table[2:]] == [
        "hotpot-wide",
        "hotpot-tall",
        "friends-wide",
        "friends-tall",
    ]


def test_plan_limit(cli: Cli) -> None:
    """-n limits the table and says how many more there are."""
    result = cli(
        "plan", str(ROOT / "specs" / "seedance-v1-lite-reference-to-video.yaml"), "-n", "2"
    )
    assert result.code == 0
    assert "... 5 more (-n N shows more, --json shows all)" in result.out


def test_plan_json_lists_every_job(cli: Cli) -> None:
    """plan --json is one JSON document with every job and its exact body."""
    result = cli("plan", str(ROOT / "specs" / "seedance-2.0-multimodal-video.yaml"), "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["count"] == len(doc["jobs"]) == 5
    first = doc["jobs"][0]
    body = json.loads(
        (ROOT / "tests/data/doc_bodies/seedance-2.0-multimodal-video.json").read_text()
    )
    assert first["id"] == "doc-example"
    assert first["endpoint"] == "rhart-video/sparkvideo-2.0/multimodal-video"
    assert first["params"] == body


def test_plan_of_invalid_spec_prints_no_plan(cli: Cli, write: Write) -> None:
    """plan on an invalid spec lists the problems, prints no jobs, exits 2."""
    write(
        "bad.yaml",
        "version: 1\nendpoint: seedance-2.0/multimodal-video\njobs: [{prompt: x, ratio: '5:4'}]\n",
    )
    result = cli("plan", "bad.yaml", "--json")
    assert result.code == 2
    assert result.out == ""
    assert 'ratio: "5:4" is not one of the allowed values' in result.err


def test_endpoints_by_task(cli: Cli) -> None:
    """--task reference-to-video lists every reference-to-video endpoint of the registry."""
    result = cli("endpoints", "--task", "reference-to-video", "--json")
    found = {e["endpoint"] for e in json.loads(result.out)}
    expected = {e for e, info in registry().endpoints.items() if info.task == "reference-to-video"}
    assert found == expected
    assert len(found) == 22
    assert {
        "rhart-video/sparkvideo-2.0/multimodal-video",
        "seedance-v1-lite/reference-to-video",
        "vidu/reference-to-video-q3",
        "skyreels-v4/omni-reference",
    } <= found
    text = cli("endpoints", "--task", "reference-to-video")
    assert text.out.rstrip().endswith("22 endpoints (registry public-2026-04-29)")


def test_endpoints_search_and_output_type(cli: Cli) -> None:
    """Search words must all match; --output-type filters."""
    result = cli("endpoints", "--output-type", "video", "seedance", "multimodal", "--json")
    assert {e["title"] for e in json.loads(result.out)} == {
        "seedance-2.0/multimodal-video",
        "seedance-2.0-fast/multimodal-video",
        "seedance-2.0-global/multimodal-video",
        "seedance-2.0-global-fast/multimodal-video",
    }


def test_endpoints_unknown_task(cli: Cli) -> None:
    """An unknown task is a usage error listing the tasks."""
    result = cli("endpoints", "--task", "text-to-smell")
    assert result.code == 2
    assert result.err.startswith("rhbatch: error: unknown task 'text-to-smell'; tasks: ")
    assert "reference-to-video" in result.err


def test_schema_table(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """schema shows every parameter with type, default and allowed values (on a terminal
    wide enough for each row to fit on one line; the table wraps to the terminal)."""
    monkeypatch.setenv("COLUMNS", "200")
    result = cli("schema", "seedance-v1-lite-reference-to-video")
    assert result.code == 0
    assert "POST /openapi/v2/seedance-v1-lite/reference-to-video" in result.out
    rows = {line.split()[0]: line for line in result.out.splitlines() if line[:1].isalpha()}
    assert rows["imageUrls"].split()[1:4] == ["image", "list", "yes"]
    assert "1-4 URLs or local files; JPG/PNG, up to 10 MB each" in rows["imageUrls"]
    assert '"false", "true"' in rows["cameraFixed"]


def test_schema_by_any_name(cli: Cli) -> None:
    """Path, doc title and English name all find the same schema."""
    outs = {
        cli("schema", name, "--json").out
        for name in (
            "rhart-video/sparkvideo-2.0/multimodal-video",
            "seedance-2.0/multimodal-video",
            "Seedance2.0 Multimodal Video",
            "/openapi/v2/rhart-video/sparkvideo-2.0/multimodal-video",
        )
    }
    assert len(outs) == 1
    assert json.loads(outs.pop())["properties"]["realPersonMode"]["type"] == "boolean"


def test_schema_unknown_endpoint(cli: Cli) -> None:
    """An unknown endpoint name gets suggestions and exit 2."""
    result = cli("schema", "seedance-v1-lite")
    assert result.code == 2
    assert result.err == (
        "rhbatch: unknown endpoint 'seedance-v1-lite'; did you mean "
        "'seedance-v1-lite-reference-to-video'?\n"
    )


def test_plan_shows_estimated_cost(cli: Cli) -> None:
    """plan prices the quickstart by the public list: 4 jobs x 720p x 5 s x 1.20."""
    result = cli("plan", str(ROOT / "specs" / "quickstart.yaml"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[2].split() == ["ENDPOINT", "JOBS", "OUTPUT", "EST.", "COST"]
    assert "quote: 24.00 CNY (public price list; `run --quote online` asks RunningHub)" in lines


def test_plan_json_carries_estimated_cost(cli: Cli) -> None:
    """plan --json has the estimated cost, its currency and the jobs without a price."""
    result = cli("plan", str(ROOT / "specs" / "quickstart.yaml"), "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["estimatedCost"] == {"amount": 24.0, "currency": "CNY", "unpricedJobs": 0}


def test_plan_counts_jobs_without_a_price(cli: Cli, write: Write) -> None:
    """Jobs on an endpoint absent from the price list are counted, not priced."""
    write("mesh.yaml", "version: 1\nendpoint: meshy6/text-to-3d\njobs: [{prompt: a chair}]\n")
    result = cli("plan", "mesh.yaml")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert ["meshy6/text-to-3d", "1", "3d", "-"] in [line.split() for line in lines]
    assert (
        "quote: unknown (no public price for 1 job) (public price list; `run --quote online` asks RunningHub)"
        in lines
    )
    doc = json.loads(cli("plan", "mesh.yaml", "--json").out)
    assert doc["estimatedCost"] == {"amount": None, "currency": "CNY", "unpricedJobs": 1}
