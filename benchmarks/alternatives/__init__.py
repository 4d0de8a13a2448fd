"""What users would run instead of rhbatch, for the ``alternatives`` scenario.

The two alternatives, ``sequential`` and ``sdk_pool``, are complete clients,
each run as its own process with the same command line (``--base-url``,
``--jobs``, ``--out``, ``--poll``): the jobs file is a JSON list of ``{"id",
"endpoint", "params"}`` objects (the jobs of ``rhbatch plan --json``), results
go to ``OUT/<id>/<n>.<ext>``, and ``OUT/manifest.jsonl`` records per job its
task id, status, and how many results the task had and how many files were
written, so the scenario can check that every client really finished.

This module holds only what the clients share; none imports rhbatch.
``fixed_poll`` (the ``polling`` scenario's reference) and ``floor`` (the
``overhead`` scenario's) are not alternatives but yardsticks: they submit and
query, download nothing and take their own command lines.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit


def parser(
    prog: str, description: str, poll_default: float, wait_default: float
) -> argparse.ArgumentParser:
    """The command line both clients take."""
    p = client_parser(prog, description)
    p.add_argument("--out", required=True, type=Path, help="where results are written")
    p.add_argument("--poll", type=float, default=poll_default, help="seconds between queries")
    p.add_argument("--max-wait", type=float, default=wait_default, help="seconds to wait per task")
    return p


def client_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """What every client is told: where the API is, the jobs, where the key is."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--base-url", required=True, help="API base URL")
    p.add_argument("--jobs", required=True, type=Path, help="JSON list of {id, endpoint, params}")
    p.add_argument("--api-key-env", default="RUNNINGHUB_API_KEY", help="variable holding the key")
    return p


def read_jobs(path: Path) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = json.loads(path.read_text())
    return jobs


def result_path(out: Path, job_id: str, n: int, item: dict[str, Any]) -> Path:
    """``OUT/<id>/<n>.<ext>``: the extension from ``outputType``, else from the URL."""
    ext = str(item.get("outputType") or "").lstrip(".")
    if not ext:
        ext = PurePosixPath(urlsplit(str(item["url"])).path).suffix.lstrip(".") or "bin"
    return out / job_id / f"{n}.{ext}"


def record(out: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``OUT/manifest.jsonl``: one line per job."""
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, sort_keys=True) for row in rows]
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def summary(rows: list[dict[str, Any]]) -> str:
    done = sum(1 for row in rows if row["status"] == "SUCCESS")
    files = sum(row["files"] for row in rows)
    return f"{done} succeeded of {len(rows)} jobs; {files} files"
