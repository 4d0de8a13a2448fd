"""A job's card in ``report.html``: the compact data the page's script draws it from.

Each record of the manifest is read field by field, defensively (a value of the
wrong type reads as absent), and reduced to a card, counted into the page's
``Totals`` as it goes; ``report.py`` writes the cards into the page.

A card's keys: ``id``, ``ep`` endpoint, ``st`` status, ``pr`` prompt, ``pa``
params as sent, ``so`` local sources, ``bi`` billed and ``qu`` quoted CNY,
``ec``/``em`` error code and message, ``us`` uses {name: job id}, ``tk`` task
ids, ``at`` attempts, ``fi`` finished at, ``f`` files: ``k`` kind (image,
video, audio, text, file, link), ``p`` path (or ``u`` a remote URL), ``b``
bytes, ``x`` the start of a text, ``n`` the workflow node that made it;
``vs`` its earlier versions (``version_cards``) and ``vn`` its version number:
a job with versions shows them side by side, oldest first, the parameters that
differ from the neighbouring version marked.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from rhbatch.errors import StateError
from rhbatch.models import prompt_of
from rhbatch.store.db import STATE_DIR
from rhbatch.store.files import safe_path
from rhbatch.store.records import number
from rhbatch.store.state import Store

TEXT_PREVIEW = 2000  # characters of a text result shown on its card

KINDS: dict[str, str] = {
    **dict.fromkeys(("png", "jpg", "jpeg", "webp", "gif", "bmp", "avif", "svg"), "image"),
    **dict.fromkeys(("mp4", "webm", "mov", "m4v", "ogv"), "video"),
    **dict.fromkeys(("wav", "mp3", "ogg", "oga", "flac", "m4a", "aac", "opus"), "audio"),
    **dict.fromkeys(("txt", "string"), "text"),
}


@dataclass
class Totals:
    """What the cards add up to, counted while they are written."""

    statuses: Counter[str] = field(default_factory=Counter)
    endpoints: Counter[str] = field(default_factory=Counter)
    billed: float = 0.0
    quoted: float = 0.0
    quotes: int = 0  # jobs with a quote
    files: int = 0
    bytes: int = 0
    unreadable: int = 0  # manifest lines that are not a JSON object
    versions: int = 0  # earlier versions shown beside their job

    @property
    def jobs(self) -> int:
        return sum(self.statuses.values())


def card(
    job: dict[str, Any], out_dir: Path, totals: Totals, prompt_field: str | None = None
) -> dict[str, Any]:
    """One job's card (its keys are in the module's docstring); counted into ``totals``.
    ``prompt_field``: the parameter the spec names as the prompt (``output.prompt``)."""
    status, endpoint = text_of(job.get("status")) or "?", text_of(job.get("endpoint"))
    billed = number(job.get("billed", job.get("cost")))
    quoted = number(job.get("quoted"))
    totals.statuses[status] += 1
    totals.endpoints[endpoint] += 1
    totals.billed += billed or 0.0
    if quoted is not None:
        totals.quoted += quoted
        totals.quotes += 1
    params = job.get("params")
    c: dict[str, Any] = {
        "id": text_of(job.get("id")),
        "ep": endpoint,
        "st": status,
        "pr": prompt_of(params, prompt_field),
        "pa": params if isinstance(params, dict) else {},
        "f": files_of(job, out_dir, totals),
    }
    sources = job.get("sources")
    uses = job.get("uses")
    for key, value in (
        ("so", sources if isinstance(sources, dict) and sources else None),
        ("bi", billed),
        ("qu", quoted),
        ("ec", text_of(job.get("errorCode"))),
        ("em", text_of(job.get("errorMessage"))),
        ("us", {str(k): text_of(v) for k, v in uses.items()} if isinstance(uses, dict) else None),
        ("tk", [text_of(t) for t in job.get("taskIds") or () if t] or None),
        ("at", job.get("attempts") if isinstance(job.get("attempts"), int) else None),
        ("fi", text_of(job.get("finishedAt"))),
    ):
        if value:
            c[key] = value
    return c


def version_cards(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The earlier versions of each job that has some, oldest first, as its card shows
    them: ``v``, ``st``, ``bi`` billed, ``pa`` params (None: not recorded), ``f`` files
    (in ``history/``), ``tk`` task id. From the directory's store; none without one."""
    if not (out_dir / STATE_DIR / "state.db").exists():
        return {}
    try:
        with Store.open(out_dir, lock=False, create=False) as store:
            rows = store.versions()
    except StateError:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for v in rows:
        outputs = [{"n": o.n, "path": o.path, "type": o.type, "bytes": o.bytes} for o in v.outputs]
        results = json.loads(v.results) if v.results else []
        shown: dict[str, Any] = {
            "v": v.v,
            "st": v.status,
            "pa": json.loads(v.params) if v.params else None,
            "f": files_of({"outputs": outputs, "results": results}, out_dir, Totals()),
        }
        if v.cost is not None:
            shown["bi"] = v.cost
        if v.task_id:
            shown["tk"] = v.task_id
        out.setdefault(v.job_id, []).append(shown)
    return out


def files_of(job: dict[str, Any], out_dir: Path, totals: Totals) -> list[dict[str, Any]]:
    """A job's result files as its card shows them; without any (downloads off), what the
    task reported: texts, and links to remote files."""
    results = [r if isinstance(r, dict) else {} for r in list_of(job.get("results"))]
    files: list[dict[str, Any]] = []
    for out in list_of(job.get("outputs")):
        path = out.get("path") if isinstance(out, dict) else None
        if not isinstance(path, str) or not path:
            continue
        ext = (text_of(out.get("type")) or PurePosixPath(path).suffix[1:]).lower()
        f: dict[str, Any] = {"k": KINDS.get(ext, "file"), "p": path}
        size = out.get("bytes")
        if isinstance(size, int) and not isinstance(size, bool):
            f["b"] = size
            totals.bytes += size
        if out.get("nodeId") is not None:
            f["n"] = text_of(out.get("nodeId"))
        if f["k"] == "text":
            n = out.get("n")
            said = (
                results[n - 1].get("text") if isinstance(n, int) and 0 < n <= len(results) else None
            )
            f["x"] = _read_text(out_dir, path) or _preview(said)
        totals.files += 1
        files.append(f)
    if files:
        return files
    for r in results:
        url = r.get("url")
        if isinstance(r.get("text"), str) and r["text"]:
            files.append({"k": "text", "x": _preview(r["text"])})
        elif isinstance(url, str) and url.startswith(("https://", "http://")):
            files.append({"k": "link", "u": url})
    return files


def _read_text(out_dir: Path, path: str) -> str:
    """The start of a text result on disk ("" when it is not there, or not inside)."""
    try:
        with safe_path(out_dir, path).open("rb") as fh:
            head = fh.read(TEXT_PREVIEW * 4 + 4)
    except (OSError, ValueError):
        return ""
    return _preview(head.decode("utf-8", "replace"))


def _preview(text: object) -> str:
    if not isinstance(text, str):
        return ""
    return text if len(text) <= TEXT_PREVIEW else text[:TEXT_PREVIEW] + " …"


def list_of(value: object) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def text_of(value: object) -> str:
    """``value`` as text ("" for None)."""
    return "" if value is None else value if isinstance(value, str) else str(value)
