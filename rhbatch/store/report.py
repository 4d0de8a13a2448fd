"""The gallery of a run: ``report.html``, one self-contained page made from ``manifest.jsonl``.

The page needs nothing but a browser: no server, no network, no file of its own
beside it; it opens from ``file://``. Every job is a card: its result files
(by their paths relative to the output directory: images, videos, sounds,
text, links to anything else), its prompt, every parameter, status, cost,
error, and links to the cards of the jobs it used. Totals head the page;
filters by status and endpoint and a text search narrow the cards.

How it stays fast at 100,000 jobs: the manifest is read line by line and each
job reduced to a compact card (below), written out at once inside one
``<script type="application/json">`` (memory stays flat; the totals, known
only at the end, are written after the data). The page's script parses that
once and builds the cards of the jobs that match the filters in batches, as
the reader scrolls near the end of what is shown; media load only when shown
(``loading="lazy"``, ``preload="none"``).

Safety: every text of a job (prompt, error message, id, parameters, paths)
may be hostile. In the data, ``<``, ``>`` and ``&`` are JSON escapes, so
nothing can close the script element; the page's script puts text in the
page as text (``textContent``), never as markup, and turns paths into URLs
segment by segment (``encodeURIComponent``), so no name becomes a scheme; the
static parts are HTML-escaped. A Content-Security-Policy lets only the page's
own script and style run (by hash) and loads media only from files.

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

import base64
import hashlib
import html
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from rhbatch import readers
from rhbatch.errors import StateError
from rhbatch.models import JobStatus, prompt_of
from rhbatch.store.db import STATE_DIR
from rhbatch.store.files import PartFile, safe_path
from rhbatch.store.manifest import read_run
from rhbatch.store.state import Store
from rhbatch.version import __version__

REPORT = "report.html"
TEXT_PREVIEW = 2000  # characters of a text result shown on its card
CHUNK = 256  # cards per write

KINDS: dict[str, str] = {
    **dict.fromkeys(("png", "jpg", "jpeg", "webp", "gif", "bmp", "avif", "svg"), "image"),
    **dict.fromkeys(("mp4", "webm", "mov", "m4v", "ogv"), "video"),
    **dict.fromkeys(("wav", "mp3", "ogg", "oga", "flac", "m4a", "aac", "opus"), "audio"),
    **dict.fromkeys(("txt", "string"), "text"),
}
# < > & as JSON escapes: no "</script" nor "<!--" can appear inside the data element.
_UNSAFE_IN_SCRIPT = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


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


def write_report(out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` from its ``manifest.jsonl`` (and ``run.json``, if
    any, and the earlier versions its store keeps, if it has one: a merged directory
    has none), whole or not at all; its path. A missing manifest is FileNotFoundError."""
    manifest = out_dir / "manifest.jsonl"
    run = read_run(out_dir)
    versions = version_cards(out_dir)
    dest = out_dir / REPORT
    manifest_lines = (text for _, text in readers.lines(manifest, errors="replace"))
    with PartFile(dest) as out:
        for piece in page(manifest_lines, out_dir, run, versions):
            # A lone surrogate (from a "\ud800" in the manifest) becomes that escape again.
            out.write(piece.encode("utf-8", "backslashreplace"))
        out.finish()
    return dest


def page(
    lines: Iterator[str],
    out_dir: Path,
    run: dict[str, Any],
    versions: dict[str, list[dict[str, Any]]] | None = None,
) -> Iterator[str]:
    """The page in pieces: the head, the cards' data as they come, then the totals.
    ``versions``: the cards of earlier versions, by job id (``version_cards``)."""
    totals = Totals()
    name = _text(run.get("name")) or out_dir.resolve().name or str(out_dir)
    yield (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f'<meta name="generator" content="rhbatch {__version__}">\n'
        f"<title>{_esc(name)}: rhbatch report</title>\n<style>{STYLE}</style>\n</head>\n"
        '<body>\n<script type="application/json" id="jobs">[\n'
    )
    batch: list[str] = []
    first = True
    for line in lines:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError:
            job = None
        if not isinstance(job, dict):
            totals.unreadable += 1
            continue
        shown = card(job, out_dir, totals, _text(run.get("promptField")) or None)
        if versions and shown["id"] in versions:
            shown["vs"] = versions[shown["id"]]
            shown["vn"] = job.get("version") if isinstance(job.get("version"), int) else None
            totals.versions += len(shown["vs"])
        data = json.dumps(shown, ensure_ascii=False, separators=(",", ":"))
        batch.append(data.translate(_UNSAFE_IN_SCRIPT))
        if len(batch) >= CHUNK:
            yield ("" if first else ",\n") + ",\n".join(batch)
            batch, first = [], False
    if batch:
        yield ("" if first else ",\n") + ",\n".join(batch)
    yield "\n]</script>\n" + header(name, run, totals) + SKELETON + f"<script>{SCRIPT}</script>\n"
    yield "</body>\n</html>\n"


def card(
    job: dict[str, Any], out_dir: Path, totals: Totals, prompt_field: str | None = None
) -> dict[str, Any]:
    """One job's card (the keys are in the module's docstring); counted into ``totals``.
    ``prompt_field``: the parameter the spec names as the prompt (``output.prompt``)."""
    status, endpoint = _text(job.get("status")) or "?", _text(job.get("endpoint"))
    billed = _number(job.get("billed", job.get("cost")))
    quoted = _number(job.get("quoted"))
    totals.statuses[status] += 1
    totals.endpoints[endpoint] += 1
    totals.billed += billed or 0.0
    if quoted is not None:
        totals.quoted += quoted
        totals.quotes += 1
    params = job.get("params")
    c: dict[str, Any] = {
        "id": _text(job.get("id")),
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
        ("ec", _text(job.get("errorCode"))),
        ("em", _text(job.get("errorMessage"))),
        ("us", {str(k): _text(v) for k, v in uses.items()} if isinstance(uses, dict) else None),
        ("tk", [_text(t) for t in job.get("taskIds") or () if t] or None),
        ("at", job.get("attempts") if isinstance(job.get("attempts"), int) else None),
        ("fi", _text(job.get("finishedAt"))),
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
    results = [r if isinstance(r, dict) else {} for r in _list(job.get("results"))]
    files: list[dict[str, Any]] = []
    for out in _list(job.get("outputs")):
        path = out.get("path") if isinstance(out, dict) else None
        if not isinstance(path, str) or not path:
            continue
        ext = (_text(out.get("type")) or PurePosixPath(path).suffix[1:]).lower()
        f: dict[str, Any] = {"k": KINDS.get(ext, "file"), "p": path}
        size = out.get("bytes")
        if isinstance(size, int) and not isinstance(size, bool):
            f["b"] = size
            totals.bytes += size
        if out.get("nodeId") is not None:
            f["n"] = _text(out.get("nodeId"))
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


def header(name: str, run: dict[str, Any], totals: Totals) -> str:
    """The totals and the filters (static HTML, every text escaped)."""
    when = " to ".join(t for t in (_text(run.get("startedAt")), _text(run.get("endedAt"))) if t)
    sub = [
        _text(run.get("spec")),
        merged_note(run),
        when,
        f"written {_now()} by rhbatch {__version__}",
    ]
    order = [s.value for s in JobStatus]
    statuses = sorted(totals.statuses, key=lambda s: (order.index(s) if s in order else 99, s))
    items = [f"<li><b>{totals.jobs:,}</b> {_plural(totals.jobs, 'job')}</li>"]
    items += [
        f'<li class="st st-{_esc(s)}"><b>{totals.statuses[s]:,}</b> {_esc(s)}</li>'
        for s in statuses
    ]
    quoted = f" (quoted {totals.quoted:,.2f})" if totals.quotes else ""
    items.append(
        f"<li><b>{totals.billed:,.2f}</b> CNY billed{quoted}</li>"
        f"<li><b>{totals.files:,}</b> {_plural(totals.files, 'file')}</li>"
        f"<li><b>{_size(totals.bytes)}</b></li>"
    )
    spent = _number((run.get("money") or {}).get("spentInDirectory"))
    if spent is not None and spent > totals.billed + 0.005:
        items.append(f"<li><b>{spent:,.2f}</b> CNY spent in the directory in all</li>")
    if totals.versions:
        items.append(
            f"<li><b>{totals.versions:,}</b> earlier {_plural(totals.versions, 'version')} "
            "shown beside their jobs</li>"
        )
    if totals.unreadable:
        items.append(
            f'<li class="bad"><b>{totals.unreadable:,}</b> unreadable manifest '
            f"{_plural(totals.unreadable, 'line')}</li>"
        )
    status_options = "".join(
        f'<option value="{_esc(s)}">{_esc(s)} ({totals.statuses[s]:,})</option>' for s in statuses
    )
    endpoint_options = "".join(
        f'<option value="{_esc(e)}">{_esc(e)} ({n:,})</option>'
        for e, n in sorted(totals.endpoints.items())
    )
    return (
        f'<header class="top">\n<h1>{_esc(name)}</h1>\n'
        f'<p class="sub">{_esc(" · ".join(s for s in sub if s))}</p>\n'
        f'<ul class="totals" id="totals">{"".join(items)}</ul>\n</header>\n'
        '<nav class="filters">\n'
        f'<label>status <select id="f-status"><option value="">all</option>{status_options}'
        "</select></label>\n"
        f'<label>endpoint <select id="f-endpoint"><option value="">all</option>'
        f"{endpoint_options}</select></label>\n"
        '<input type="search" id="f-text" placeholder="search ids, prompts, errors, parameters"'
        ' aria-label="search">\n<span id="shown"></span>\n</nav>\n'
    )


def merged_note(run: dict[str, Any]) -> str:
    """What a merged directory's run.json says was joined, and what is missing ("" for
    a run's directory)."""
    joined = run.get("merged")
    if not isinstance(joined, list):
        return ""
    shards = [str(s) for s in _list(run.get("shards")) if s is not None]
    note = f"merged from {len(joined):,} {'directory' if len(joined) == 1 else 'directories'}"
    if shards:
        note += f" (shards {', '.join(shards)})"
    if run.get("complete") is True:
        return note + ", complete"
    gaps = [
        f"{len(_list(run.get(key))):,} {what}"
        for key, what in (
            ("missing", "missing"),
            ("unfinished", "unfinished"),
            ("duplicates", "in two shards"),
        )
        if _list(run.get(key))
    ]
    return note + ", incomplete" + (f": {', '.join(gaps)}" if gaps else "")


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


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _size(n: int) -> str:
    if n < 1000:
        return f"{n:,} bytes"
    size, unit = n / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:,.1f} {unit}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


SKELETON = (
    "<noscript><p>The cards of this page are drawn by its script: allow JavaScript.</p>"
    "</noscript>\n"
    '<main id="cards"></main>\n<p id="empty" hidden>No job matches.</p>\n'
    '<p id="more">more jobs below…</p>\n'
)

STYLE = """
:root{color-scheme:light dark;--bg:#f6f6f4;--card:#fff;--ink:#1d1d1f;--dim:#6b6b70;--line:#ddd}
@media (prefers-color-scheme:dark){:root{--bg:#161618;--card:#222226;--ink:#ececec;--dim:#9a9aa0;
--line:#3a3a40}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,sans-serif;background:var(--bg);color:var(--ink)}
.top{padding:16px 20px 6px}
h1{margin:0 0 2px;font-size:22px}
.sub{margin:0 0 8px;color:var(--dim)}
.totals{display:flex;flex-wrap:wrap;gap:6px 18px;list-style:none;margin:0;padding:0}
.filters{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;gap:8px 14px;
align-items:center;padding:8px 20px;background:var(--bg);border-bottom:1px solid var(--line)}
.filters input{flex:1 1 240px;padding:4px 8px}
#shown,#more,#empty{color:var(--dim)}
#more,#empty{padding:10px 20px}
#cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px;
padding:14px 20px}
.card{background:var(--card);border:1px solid var(--line);border-left:5px solid #999;
border-radius:8px;overflow:hidden;display:flex;flex-direction:column}
.card.flash{outline:3px solid #f0a020}
.files{display:flex;flex-direction:column;gap:4px;background:#0d0d0f}
.files img,.files video{display:block;width:100%;max-height:340px;object-fit:contain}
.files audio{width:100%}
.files pre,.files .file,.files .none{margin:0;padding:10px;color:#ddd;background:#0d0d0f}
.files pre{max-height:220px;overflow:auto;white-space:pre-wrap}
.files .file{display:block;color:#8ab4f8;word-break:break-all}
.node{color:#999;font-size:12px;padding:0 10px 4px}
.body{padding:10px 12px;display:flex;flex-direction:column;gap:6px;min-width:0}
.head{display:flex;gap:8px;align-items:baseline}
.jid{font-family:ui-monospace,monospace;font-weight:600;word-break:break-all}
.ep,.meta{color:var(--dim);font-size:12px;word-break:break-all}
.prompt{margin:0;max-height:9em;overflow:auto;white-space:pre-wrap}
.err{margin:0;color:#c62828;white-space:pre-wrap;word-break:break-word}
.uses a{margin-right:6px}
details pre{margin:4px 0;max-height:300px;overflow:auto;font-size:12px;white-space:pre-wrap;
word-break:break-all}
.badge{border-radius:9px;padding:0 8px;font-size:12px;color:#fff;background:#777}
.st-succeeded{--st:#2e7d32}.st-failed{--st:#c62828}.st-unknown{--st:#8e24aa}
.st-unfetched{--st:#ef6c00}.st-blocked{--st:#5d4037}.st-running,.st-submitting,
.st-downloading{--st:#1565c0}.st-pending{--st:#757575}
.card[class*=st-]{border-left-color:var(--st,#999)}.badge[class*=st-]{background:var(--st,#777)}
.totals .st b{color:var(--st)}.totals .bad b{color:#c62828}
.card.has-versions{grid-column:1/-1}
.versions{padding:6px 12px 12px;border-top:1px solid var(--line)}
.vrow{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:10px}
.vcol{border:1px solid var(--line);border-top:4px solid var(--st,#999);border-radius:6px;
overflow:hidden;min-width:0}
.vcol.now{box-shadow:0 0 0 2px var(--st,#999)}
.vhead{padding:4px 8px;font-size:12px;color:var(--dim)}
.vpa{margin:0;padding:6px 8px;display:grid;grid-template-columns:max-content 1fr;gap:2px 8px;
font-size:12px}
.vpa dt{color:var(--dim)}.vpa dd{margin:0;white-space:pre-wrap;word-break:break-word}
.vpa .diff{background:#fff1a8;color:#1d1d1f;border-radius:3px;padding:0 3px}
"""

SCRIPT = """
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const jobs = JSON.parse($("jobs").textContent);
  const where = new Map(jobs.map((j, i) => [j.id, i]));
  const grid = $("cards"), more = $("more"), empty = $("empty"), shown = $("shown");
  const byStatus = $("f-status"), byEndpoint = $("f-endpoint"), byText = $("f-text");
  const BATCH = 40;
  let order = jobs.map((_, i) => i);  // the jobs that match the filters
  let drawn = 0;  // how many of them have a card
  let hay = null;  // each job's searchable text, made at the first search

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null && text !== "") e.textContent = String(text);
    return e;
  }
  // A relative path as a URL, segment by segment: no name can turn into a scheme or a query.
  const href = (path) => path.split("/").map(encodeURIComponent).join("/");
  const money = (x) => x.toFixed(2);
  function size(n) {
    const units = ["bytes", "kB", "MB", "GB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return i ? n.toFixed(1) + " " + units[i] : n + " bytes";
  }

  function file(f) {
    let m;
    if (f.k === "image") {
      m = el("img");
      m.loading = "lazy";
      m.decoding = "async";
      m.alt = f.p;
      m.src = href(f.p);
    } else if (f.k === "video" || f.k === "audio") {
      m = el(f.k);
      m.controls = true;
      m.preload = "none";
      m.src = href(f.p);
    } else if (f.k === "text") {
      m = el("pre", "text", f.x);
    } else if (f.k === "link") {
      m = el("a", "file", "remote result (not downloaded): " + f.u);
      m.href = f.u;
      m.rel = "noopener noreferrer";
    } else {
      m = el("a", "file", f.p + (typeof f.b === "number" ? " (" + size(f.b) + ")" : ""));
      m.href = href(f.p);
    }
    if (!f.n) return m;
    const box = el("div");
    box.append(m, el("div", "node", "node " + f.n));
    return box;
  }

  function card(i) {
    const j = jobs[i];
    const c = el("article", "card st-" + j.st);
    c.id = "job-" + i;
    const files = el("div", "files");
    for (const f of j.f) files.appendChild(file(f));
    if (!j.f.length) files.appendChild(el("div", "none", "no files"));
    const body = el("div", "body");
    const head = el("div", "head");
    head.append(el("span", "badge st-" + j.st, j.st), el("span", "jid", j.id));
    body.append(head, el("div", "ep", j.ep));
    if (j.pr) body.appendChild(el("p", "prompt", j.pr));
    if (j.ec || j.em) body.appendChild(el("p", "err", [j.ec, j.em].filter(Boolean).join(": ")));
    if (j.us && Object.keys(j.us).length) {
      const uses = el("div", "uses", "uses ");
      for (const [name, id] of Object.entries(j.us)) {
        const at = where.get(id);
        const a = el(at === undefined ? "span" : "a", "", name + ": " + id);
        if (at !== undefined) { a.href = "#job-" + at; a.dataset.job = at; }
        uses.appendChild(a);
      }
      body.appendChild(uses);
    }
    const meta = [typeof j.bi === "number" ? "billed " + money(j.bi) + " CNY" : "not billed"];
    if (typeof j.qu === "number") meta.push("quoted " + money(j.qu));
    if (j.at) meta.push(j.at + (j.at === 1 ? " attempt" : " attempts"));
    if (j.fi) meta.push("finished " + j.fi.replace("T", " ").replace(/\\.\\d+Z$/, " UTC"));
    body.appendChild(el("div", "meta", meta.join(" · ")));
    const all = el("details");
    all.appendChild(el("summary", "", "parameters"));
    all.appendChild(el("pre", "", JSON.stringify(j.pa, null, 2)));
    if (j.so) all.appendChild(el("pre", "", "local sources " + JSON.stringify(j.so, null, 2)));
    if (j.tk) all.appendChild(el("pre", "", "tasks " + j.tk.join(", ")));
    body.appendChild(all);
    c.append(files, body);
    if (j.vs && j.vs.length) {
      c.classList.add("has-versions");
      c.appendChild(versions(j));
    }
    return c;
  }

  // A job's versions side by side, oldest first, the current one last: each with its
  // files, status and bill, and its parameters, those that differ from its neighbour's
  // marked.
  function versions(j) {
    const all = j.vs.concat([{ v: j.vn || j.vs.length + 1, st: j.st, bi: j.bi, pa: j.pa,
      f: j.f, now: true }]);
    const box = el("details", "versions");
    box.open = true;
    box.appendChild(el("summary", "", all.length + " versions of " + j.id + ", side by side"));
    const row = el("div", "vrow");
    all.forEach((x, k) => {
      const col = el("section", "vcol st-" + x.st + (x.now ? " now" : ""));
      const bill = typeof x.bi === "number" ? "billed " + money(x.bi) + " CNY" : "bill not known";
      col.appendChild(el("div", "vhead", "v" + x.v + (x.now ? " (current)" : "") + " · " +
        x.st + " · " + bill));
      const files = el("div", "files");
      for (const f of x.f) files.appendChild(file(f));
      if (!x.f.length) files.appendChild(el("div", "none", "no files"));
      col.appendChild(files);
      const other = all[k === 0 ? 1 : k - 1];
      if (!x.pa) {
        col.appendChild(el("p", "meta", "parameters not recorded (an older rhbatch)"));
      } else {
        const list = el("dl", "vpa");
        const names = new Set(Object.keys(x.pa).concat(Object.keys((other && other.pa) || {})));
        for (const name of names) {
          const a = x.pa[name], b = other && other.pa ? other.pa[name] : undefined;
          const differs = JSON.stringify(a) !== JSON.stringify(b);
          const text = a === undefined ? "(not set)" : typeof a === "string" ? a :
            JSON.stringify(a);
          list.append(el("dt", differs ? "diff" : "", name), el("dd", differs ? "diff" : "", text));
        }
        col.appendChild(list);
      }
      row.appendChild(col);
    });
    box.appendChild(row);
    return box;
  }

  function draw() {
    const end = Math.min(order.length, drawn + BATCH);
    const part = document.createDocumentFragment();
    for (; drawn < end; drawn++) part.appendChild(card(order[drawn]));
    grid.appendChild(part);
    more.hidden = drawn >= order.length;
    empty.hidden = order.length > 0;
    shown.textContent = order.length.toLocaleString() + " of " + jobs.length.toLocaleString() +
      " jobs" + (drawn < order.length ? " (" + drawn.toLocaleString() + " drawn)" : "");
  }
  // Draws a batch each time the end of the cards comes near; asks again after each
  // batch, since a tall window may need several.
  const watcher = new IntersectionObserver((seen) => {
    if (seen.some((e) => e.isIntersecting)) { draw(); ask(); }
  }, { rootMargin: "0px 0px 1200px 0px" });
  function ask() { watcher.unobserve(more); watcher.observe(more); }

  function filter() {
    const st = byStatus.value, ep = byEndpoint.value;
    const words = byText.value.toLowerCase().split(/\\s+/).filter(Boolean);
    if (words.length && !hay) {
      hay = jobs.map((j) => [j.id, j.ep, j.st, j.pr, j.ec, j.em, JSON.stringify(j.pa)]
        .join("\\n").toLowerCase());
    }
    order = [];
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i];
      if ((st && j.st !== st) || (ep && j.ep !== ep)) continue;
      if (words.length && !words.every((w) => hay[i].includes(w))) continue;
      order.push(i);
    }
    grid.replaceChildren();
    drawn = 0;
    draw();
    ask();
  }

  function reveal(i) {
    let at = order.indexOf(i);
    if (at < 0) {
      byStatus.value = byEndpoint.value = byText.value = "";
      filter();
      at = i;
    }
    while (drawn <= at) draw();
    const c = $("job-" + i);
    c.scrollIntoView({ block: "center" });
    c.classList.add("flash");
    setTimeout(() => c.classList.remove("flash"), 1500);
  }

  byStatus.addEventListener("change", filter);
  byEndpoint.addEventListener("change", filter);
  let typing = 0;
  byText.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(filter, 150);
  });
  grid.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-job]");
    if (!a) return;
    ev.preventDefault();
    history.replaceState(null, "", a.getAttribute("href"));
    reveal(Number(a.dataset.job));
  });
  draw();
  ask();
  const asked = /^#job-(\\d+)$/.exec(location.hash);
  if (asked && Number(asked[1]) < jobs.length) reveal(Number(asked[1]));
})();
"""

CSP = (
    f"default-src 'none'; script-src '{_hash(SCRIPT)}'; style-src '{_hash(STYLE)}'; "
    "img-src 'self' file: data:; media-src 'self' file:; base-uri 'none'; form-action 'none'"
)
