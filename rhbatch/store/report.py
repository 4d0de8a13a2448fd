"""The gallery of a run: ``report.html``, one self-contained page made from ``manifest.jsonl``.

The page needs nothing but a browser: no server, no network, no file of its own
beside it; it opens from ``file://``. Every job is a card: its result files
(by their paths relative to the output directory: images, videos, sounds,
text, links to anything else), its prompt, every parameter, status, cost,
error, and links to the cards of the jobs it used. Totals head the page;
filters by status and endpoint and a text search narrow the cards.

How it stays fast at 100,000 jobs: the manifest is read line by line and each
job reduced to a compact card (``cards.py``), written out at once inside one
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

What a job's card holds is ``cards.py``; the page's style and script are package
data (``assets/report.css``, ``assets/report.js``), embedded in the page as they are.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rhbatch.models import JobStatus
from rhbatch.store.cards import Totals, card, list_of, text_of, version_cards
from rhbatch.store.files import PartFile
from rhbatch.store.manifest import read_run
from rhbatch.store.records import number, records
from rhbatch.version import __version__

REPORT = "report.html"
CHUNK = 256  # cards per write

# < > & as JSON escapes: no "</script" nor "<!--" can appear inside the data element.
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # made once
_UNSAFE_IN_SCRIPT = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def write_report(out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` from its ``manifest.jsonl`` (and ``run.json``, if
    any, and the earlier versions its store keeps, if it has one: a merged directory
    has none), whole or not at all; its path. A missing manifest is FileNotFoundError."""
    run = read_run(out_dir)
    versions = version_cards(out_dir)
    dest = out_dir / REPORT
    with PartFile(dest) as out:
        for piece in page((job for _, job in records(out_dir)), out_dir, run, versions):
            # A lone surrogate (from a "\ud800" in the manifest) becomes that escape again.
            out.write(piece.encode("utf-8", "backslashreplace"))
        out.finish()
    return dest


def page(
    jobs: Iterable[dict[str, Any] | None],
    out_dir: Path,
    run: dict[str, Any],
    versions: dict[str, list[dict[str, Any]]] | None = None,
) -> Iterator[str]:
    """The page in pieces: the head, the cards' data as they come, then the totals.
    ``jobs``: the manifest's records (None for a line that is not one: counted as
    unreadable). ``versions``: the cards of earlier versions, by job id (``version_cards``)."""
    totals = Totals()
    name = text_of(run.get("name")) or out_dir.resolve().name or str(out_dir)
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
    for job in jobs:
        if job is None:
            totals.unreadable += 1
            continue
        shown = card(job, out_dir, totals, text_of(run.get("promptField")) or None)
        if versions and shown["id"] in versions:
            shown["vs"] = versions[shown["id"]]
            shown["vn"] = job.get("version") if isinstance(job.get("version"), int) else None
            totals.versions += len(shown["vs"])
        data = _compact(shown)
        if "<" in data or ">" in data or "&" in data:  # (most cards hold none)
            data = data.translate(_UNSAFE_IN_SCRIPT)
        batch.append(data)
        if len(batch) >= CHUNK:
            yield ("" if first else ",\n") + ",\n".join(batch)
            batch, first = [], False
    if batch:
        yield ("" if first else ",\n") + ",\n".join(batch)
    yield "\n]</script>\n" + header(name, run, totals) + SKELETON + f"<script>{SCRIPT}</script>\n"
    yield "</body>\n</html>\n"


def header(name: str, run: dict[str, Any], totals: Totals) -> str:
    """The totals and the filters (static HTML, every text escaped)."""
    when = " to ".join(t for t in (text_of(run.get("startedAt")), text_of(run.get("endedAt"))) if t)
    sub = [
        text_of(run.get("spec")),
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
    spent = number((run.get("money") or {}).get("spentInDirectory"))
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
    shards = [str(s) for s in list_of(run.get("shards")) if s is not None]
    note = f"merged from {len(joined):,} {'directory' if len(joined) == 1 else 'directories'}"
    if shards:
        note += f" (shards {', '.join(shards)})"
    if run.get("complete") is True:
        return note + ", complete"
    gaps = [
        f"{len(list_of(run.get(key))):,} {what}"
        for key, what in (
            ("missing", "missing"),
            ("unfinished", "unfinished"),
            ("duplicates", "in two shards"),
        )
        if list_of(run.get(key))
    ]
    return note + ", incomplete" + (f": {', '.join(gaps)}" if gaps else "")


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


def _asset(name: str) -> str:
    """A file of ``assets/`` (read with universal newlines: the same page from any checkout)."""
    return (resources.files("rhbatch.store") / "assets" / name).read_text(encoding="utf-8")


SKELETON = (
    "<noscript><p>The cards of this page are drawn by its script: allow JavaScript.</p>"
    "</noscript>\n"
    '<main id="cards"></main>\n<p id="empty" hidden>No job matches.</p>\n'
    '<p id="more">more jobs below…</p>\n'
)

# The page's style and script, package data (``assets/``), embedded in the page as they are.
STYLE = "\n" + _asset("report.css")
SCRIPT = "\n" + _asset("report.js")

CSP = (
    f"default-src 'none'; script-src '{_hash(SCRIPT)}'; style-src '{_hash(STYLE)}'; "
    "img-src 'self' file: data:; media-src 'self' file:; base-uri 'none'; form-action 'none'"
)
