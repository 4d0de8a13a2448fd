"""Count which ComfyUI node classes public API-format workflows use.

This script owns, and is the only writer of, ``tools/data/comfyui-node-popularity.json``. It reads
the repositories listed in ``tools/data/comfyui-workflow-repos.txt`` (one ``owner/name`` a line,
each a git mirror under ``--mirror-root`` named ``<owner>+<name>/repo``) at their newest commit,
parses every ``.json`` file of at most 3 MB, and takes every API-format graph in it: an object
whose values are all objects with a string ``class_type`` and an object ``inputs`` (found at the
top or nested up to four levels, as in ``{"input": {"workflow": {...}}}``). UI-format files
(``nodes``/``links`` arrays) are not graphs. The same graph in several files or repositories
(forks, copies) counts once: graphs are told apart by the sha256 of their canonical JSON.

``counts`` is, for each class, the number of distinct graphs that use it at least once (not how
many nodes); ``repos`` the number of repositories whose graphs use it; ``sources`` each
repository's commit and how many distinct graphs it added. How the repository list was found
is in ``METHOD`` (written into the file as ``method``).

Usage::

    python -m tools.node_popularity --mirror-root DIR [--check]

Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPOS_FILE = ROOT / "tools" / "data" / "comfyui-workflow-repos.txt"
OUT = ROOT / "tools" / "data" / "comfyui-node-popularity.json"
MAX_BYTES = 3_000_000
_METHOD_TEXT = """
Every .json file (<= 3 MB) at the newest commit of the repositories in
tools/data/comfyui-workflow-repos.txt, parsed; every API-format graph in it (an object whose
values all have a string class_type and an object inputs, at the top or nested up to four
levels) taken once, identical graphs in several files or repositories counted once (sha256 of
canonical JSON). counts[class] = number of distinct graphs using the class at least once;
repos[class] = number of repositories with such a graph. The repositories were found with the
search tools' file index, by exact path: workflow_api.json (the first 100 repositories the index
lists, forks of ComfyUI itself left out for their size), workflows/workflow_api.json (all 28),
and some of those holding workflow/workflow_api.json, comfyui/workflow_api.json,
src/workflow_api.json, workflow- api.json, flux_workflow_api.json, workflow_api_flux.json,
workflows/flux_api.json and flux_api.json; plus repositories named for RunningHub and known
collections of API-format workflows (replicate/cog-comfyui examples/api_workflows,
SaladTechnologies/comfyui-api, runpod-workers/worker-comfyui). Repositories the store had no
snapshot of were skipped; UI-format workflows (nodes/links arrays) are not counted.
"""
METHOD = " ".join(_METHOD_TEXT.split())


def is_graph(obj: Any) -> bool:
    if not isinstance(obj, dict) or not obj:
        return False
    return all(
        isinstance(v, dict)
        and isinstance(v.get("class_type"), str)
        and isinstance(v.get("inputs"), dict)
        for v in obj.values()
    )


def graphs_in(obj: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 4:
        return
    if is_graph(obj):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from graphs_in(value, depth + 1)
    elif isinstance(obj, list) and depth < 3:
        for value in obj[:50]:
            yield from graphs_in(value, depth + 1)


def git_dir(mirror_root: Path, repo: str) -> Path:
    base = mirror_root / repo.replace("/", "+") / "repo"
    return base / ".git" if (base / ".git").is_dir() else base


def scan(mirror_root: Path, repos: list[str]) -> dict[str, Any]:
    seen: dict[str, tuple[str, set[str]]] = {}
    scanned = []
    for repo in repos:
        gd = git_dir(mirror_root, repo)
        if not gd.is_dir():
            raise SystemExit(f"node_popularity: no mirror of {repo} at {gd}")
        head = subprocess.run(
            ["git", "--git-dir", str(gd), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        listing = subprocess.run(
            ["git", "--git-dir", str(gd), "ls-tree", "-r", "-l", head],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = 0
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            _mode, kind, blob, size = meta.split()
            if kind != "blob" or not path.lower().endswith(".json"):
                continue
            if not size.isdigit() or int(size) > MAX_BYTES:
                continue
            data = subprocess.run(
                ["git", "--git-dir", str(gd), "cat-file", "blob", blob],
                capture_output=True,
                check=True,
            ).stdout
            try:
                obj = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                continue
            for graph in graphs_in(obj):
                digest = hashlib.sha256(
                    json.dumps(graph, sort_keys=True, ensure_ascii=False).encode()
                ).hexdigest()
                if digest not in seen:
                    seen[digest] = (repo, {n["class_type"] for n in graph.values()})
                    found += 1
        scanned.append({"repo": repo, "commit": head, "graphs": found})
    counts: Counter[str] = Counter()
    repos_of: dict[str, set[str]] = defaultdict(set)
    for repo, classes in seen.values():
        for cls in classes:
            counts[cls] += 1
            repos_of[cls].add(repo)
    order = sorted(counts, key=lambda c: (-counts[c], c))
    return {
        "method": METHOD,
        "files": len(seen),
        "counts": {c: counts[c] for c in order},
        "repos": {c: len(repos_of[c]) for c in order},
        "sources": scanned,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--mirror-root",
        type=Path,
        required=True,
        metavar="DIR",
        help="where the bare git copies of ComfyUI and the packs are (owner+name/ folders)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    repos = [
        line.strip()
        for line in REPOS_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    text = json.dumps(scan(args.mirror_root, repos), indent=1, ensure_ascii=False) + "\n"
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print("node_popularity: " + ("up to date" if same else f"{args.out} differs"))
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"node_popularity: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
