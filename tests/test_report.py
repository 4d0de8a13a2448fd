"""report.html, the gallery of a run: the generator on synthetic manifests (escaping, totals,
relative paths, 10,000 jobs), `rhbatch report`, and the page itself in headless Chromium.

The browser tests start one Chromium (Debian's `chromium`) for the module and drive it
over the DevTools protocol on a websocket (aiohttp); they skip when no Chromium is found.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.models import prompt_of
from rhbatch.store import cards, report
from rhbatch.store.report import write_report
from tests.browser import CARDS, DRAW_ALL, HEIGHT, Tab, choose, until, visit
from tests.helpers import ROOT, Result

Cli = Callable[..., Result]

HOSTILE = "</script><img src=x onerror=alert(1)>"
HOSTILE_TOO = '<!--<script>document.title="pwned"</script>--><b onmouseover=alert(2)>&amp;'
PINK = (255, 0, 128)  # the colour of the test images: nothing else on the page has it
TEAL = (0, 128, 128)


# ---------------------------------------------------------------------------------------
# Synthetic runs


def png(size: int = 32, square: int = 8) -> bytes:
    """A checkerboard PNG of PINK and TEAL squares, made with the standard library (squares
    large enough that scaling keeps their middles of pure colour)."""
    rows = b"".join(
        b"\x00"
        + b"".join(bytes(PINK if (x // square + y // square) % 2 else TEAL) for x in range(size))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def status_of(i: int) -> str:
    return "failed" if i % 7 == 3 else "unknown" if i % 11 == 5 else "succeeded"


def job(i: int, **fields: Any) -> dict[str, Any]:
    """Job ``i`` of a synthetic run as the manifest has it: every 7th failed, every 11th
    unknown, the rest succeeded with one image; three endpoints in turn."""
    status = status_of(i)
    jid = f"job-{i:05d}"
    outputs = []
    if status == "succeeded":
        outputs = [
            {
                "n": 1,
                "url": f"https://example.invalid/{jid}.png",
                "path": f"{jid}/1.png",
                "bytes": 100 + i,
                "sha256": "0" * 64,
                "type": "png",
            }
        ]
    record = {
        "id": jid,
        "index": i,
        "endpoint": ("alibaba/wan-2.7/text-to-image", "seedream-v4/edit", "kling/v2")[i % 3],
        "status": status,
        "params": {"prompt": f"a red fox number {i} in fresh snow", "seed": i, "width": 1024},
        "sources": {},
        "taskId": str(2000 + i),
        "taskIds": [str(2000 + i)],
        "attempts": 1,
        "errorCode": "1505" if status == "failed" else None,
        "errorMessage": f"refused job {i}" if status == "failed" else None,
        "outputs": outputs,
        "results": [],
        "usage": {},
        "cost": 0.5 if status == "succeeded" else None,
        "billed": 0.5 if status == "succeeded" else None,
        "quoted": 0.5,
        "quoteSource": "list",
        "submittedAt": None,
        "finishedAt": None,
        "uses": {},
    }
    record.update(fields)
    return record


def write_run(
    out: Path, jobs: list[dict[str, Any]], *, images: bool = False, run: bool = True
) -> Path:
    """An output directory with this manifest (and run.json; the images when asked)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as fh:
        for rec in jobs:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    if run:
        info = {"name": "synthetic", "spec": "specs/synthetic.yaml", "jobs": len(jobs)}
        (out / "run.json").write_text(json.dumps(info), encoding="utf-8")
    if images:
        picture = png()
        for rec in jobs:
            for o in rec["outputs"]:
                if o["type"] == "png":
                    (out / o["path"]).parent.mkdir(parents=True, exist_ok=True)
                    (out / o["path"]).write_bytes(picture)
    return out


def hostile_jobs(n: int) -> list[dict[str, Any]]:
    """``n`` synthetic jobs; the first carries hostile text in every field it can."""
    jobs = [job(i) for i in range(n)]
    jobs[0] = job(
        0,
        id=f"{HOSTILE}-id",
        endpoint=f"ep{HOSTILE}",
        status="failed",
        params={"prompt": HOSTILE, f"k{HOSTILE}": HOSTILE_TOO},
        errorCode="1505",
        errorMessage=HOSTILE_TOO,
        outputs=[{"n": 1, "path": "javascript:alert(1)", "bytes": 3, "type": "bin"}],
        billed=None,
        cost=None,
    )
    jobs[1]["uses"] = {f"n{HOSTILE}": f"{HOSTILE}-id", "gone": "not-in-this-run"}
    return jobs


def embedded(page: str) -> list[dict[str, Any]]:
    """The cards' data as the page carries it."""
    marker = '<script type="application/json" id="jobs">'
    start = page.index(marker) + len(marker)
    cards: list[dict[str, Any]] = json.loads(page[start : page.index("</script>", start)])
    return cards


# ---------------------------------------------------------------------------------------
# The generator


def test_hostile_text_stays_text(tmp_path: Path) -> None:
    """A prompt, error, id or endpoint that closes the script or opens a tag is data only."""
    out = write_run(tmp_path / "r", hostile_jobs(3))
    page = write_report(out).read_text(encoding="utf-8")
    assert "<img src=x" not in page
    assert "<b onmouseover" not in page
    assert "<!--" not in page
    assert page.count("<script") == 2  # the data and the page's own script
    assert page.count("</script>") == 2
    cards = embedded(page)
    assert cards[0]["pr"] == HOSTILE
    assert cards[0]["em"] == HOSTILE_TOO
    assert cards[0]["id"] == f"{HOSTILE}-id"
    assert cards[0]["pa"][f"k{HOSTILE}"] == HOSTILE_TOO
    assert cards[1]["us"] == {f"n{HOSTILE}": f"{HOSTILE}-id", "gone": "not-in-this-run"}
    # The endpoint is also an option of the endpoint filter: there it is HTML-escaped.
    assert '<option value="ep&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;">' in page


def test_totals_count_every_job(tmp_path: Path) -> None:
    """The header counts jobs by status, billed CNY, files and their bytes."""
    jobs = [job(i) for i in range(30)]
    out = write_run(tmp_path / "r", jobs)
    page = write_report(out).read_text(encoding="utf-8")
    statuses = [status_of(i) for i in range(30)]
    succeeded = statuses.count("succeeded")
    assert (succeeded, statuses.count("failed"), statuses.count("unknown")) == (23, 4, 3)
    totals = re.search(r'<ul class="totals" id="totals">(.*?)</ul>', page)
    assert totals is not None
    text = re.sub(r"<[^>]+>", " ", totals.group(1)).split()
    assert " ".join(text) == (
        "30 jobs 23 succeeded 4 failed 3 unknown 11.50 CNY billed (quoted 15.00) 23 files 2.6 kB"
    )
    assert '<option value="failed">failed (4)</option>' in page
    assert '<option value="kling/v2">kling/v2 (10)</option>' in page
    assert len(embedded(page)) == 30


def test_no_quote_no_quoted_total(tmp_path: Path) -> None:
    """Jobs without a quote (workflows, apps) make no "quoted 0.00" claim."""
    out = write_run(tmp_path / "r", [job(0, quoted=None), job(1, quoted=None)])
    page = write_report(out).read_text(encoding="utf-8")
    assert "<li><b>1.00</b> CNY billed</li>" in page
    assert all("qu" not in c for c in embedded(page))


def test_cards_keep_relative_paths(tmp_path: Path) -> None:
    """Files are named by their paths relative to the output directory: the page moves
    with the directory, and names no absolute path."""
    out = write_run(tmp_path / "r", [job(0), job(1)])
    page = write_report(out).read_text(encoding="utf-8")
    assert [c["f"] for c in embedded(page)] == [
        [{"k": "image", "p": "job-00000/1.png", "b": 100}],
        [{"k": "image", "p": "job-00001/1.png", "b": 101}],
    ]
    assert str(tmp_path) not in page
    assert "example.invalid" not in page  # remote URLs of downloaded files stay out


def test_every_kind_of_file(tmp_path: Path) -> None:
    """Images, videos, sounds, text (read from the file, capped), other files, a workflow's
    node; without downloads, the task's texts and links to its remote files."""
    out = tmp_path / "r"
    (out / "t").mkdir(parents=True)
    (out / "t/1.txt").write_text("x" * 5000, encoding="utf-8")
    outputs = [
        {"n": 1, "path": "t/1.txt", "bytes": 5000, "type": "txt"},
        {"n": 2, "path": "t/2.mp4", "bytes": 1, "type": "mp4", "nodeId": "9"},
        {"n": 3, "path": "t/3.wav", "bytes": 1, "type": "wav"},
        {"n": 4, "path": "t/4.glb", "bytes": 1, "type": "glb"},
        {"n": 5, "path": "t/5.txt", "bytes": 1, "type": "txt"},  # not on disk
    ]
    results = [{}, {}, {}, {}, {"text": "said by the task", "outputType": "txt"}]
    remote = [
        {"url": "https://cdn.example.invalid/1.mp4", "outputType": "mp4", "text": None},
        {"url": "javascript:alert(1)", "outputType": "mp4", "text": None},
        {"url": None, "outputType": "txt", "text": "a caption"},
    ]
    write_run(
        out,
        [job(0, outputs=outputs, results=results), job(1, outputs=[], results=remote)],
        run=False,
    )
    first, second = embedded(write_report(out).read_text(encoding="utf-8"))
    assert [f["k"] for f in first["f"]] == ["text", "video", "audio", "file", "text"]
    assert first["f"][0]["x"] == "x" * cards.TEXT_PREVIEW + " …"
    assert first["f"][1]["n"] == "9"
    assert first["f"][4]["x"] == "said by the task"
    assert second["f"] == [
        {"k": "link", "u": "https://cdn.example.invalid/1.mp4"},
        {"k": "text", "x": "a caption"},
    ]


def test_a_text_path_outside_the_directory_is_not_read(tmp_path: Path) -> None:
    """A manifest naming ../secret.txt gets no preview of it."""
    (tmp_path / "secret.txt").write_text("do not show", encoding="utf-8")
    outputs = [{"n": 1, "path": "../secret.txt", "bytes": 11, "type": "txt"}]
    out = write_run(tmp_path / "r", [job(0, outputs=outputs)])
    assert "do not show" not in write_report(out).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("params", "prompt"),
    [
        ({"prompt": "a fox", "text": "no"}, "a fox"),
        ({"3.seed": 1, "6.text": "a fox in snow", "7.text": "blurry"}, "a fox in snow"),
        ({"1.image": "api/x.png", "2.prompt": "steam rises"}, "steam rises"),
        ({"negativePrompt": "blurry", "positivePrompt": "a fox"}, "a fox"),
        ({"imageUrl": "https://x.invalid/a b.png", "style": "oil on canvas"}, "oil on canvas"),
        ({"seed": 3, "ratio": "16:9"}, ""),
        (None, ""),
        # Workflows whose prompt input is not .text (metadata.jsonl said null for these).
        ({"13.negative_prompt": "bad", "12.positive_prompt": "a cat, oil"}, "a cat, oil"),
        (
            {"5.clip_l": "a dog", "5.t5xxl": "a dog on a beach, at dusk", "3.seed": 1},
            "a dog on a beach, at dusk",
        ),
        ({"7.wildcard_text": "a __animal__ in the rain"}, "a __animal__ in the rain"),
    ],
)
def test_the_prompt_of_a_job(params: object, prompt: str) -> None:
    """`prompt`, else a known prompt input (NODE.text, positive_prompt, t5xxl, ...; never
    a negative one), else a *Prompt or *text parameter, else words."""
    assert prompt_of(params) == prompt


def test_the_prompt_the_spec_names() -> None:
    """A spec's output.prompt names the parameter that is the prompt, whatever else is set."""
    params = {"prompt": "not this", "9.caption": "a boat on a lake"}
    assert prompt_of(params, "9.caption") == "a boat on a lake"
    assert prompt_of(params, "9.missing") == ""


def test_without_run_json(tmp_path: Path) -> None:
    """run.json is optional: the page is named after the directory."""
    out = write_run(tmp_path / "lonely-run", [job(0)], run=False)
    page = write_report(out).read_text(encoding="utf-8")
    assert "<title>lonely-run: rhbatch report</title>" in page
    assert "<h1>lonely-run</h1>" in page


def test_unreadable_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    """A line that is not a JSON object is skipped, and the header says how many were."""
    out = write_run(tmp_path / "r", [job(0), job(1)])
    with (out / "manifest.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"id": "cut short\n[1, 2]\n\n')
    page = write_report(out).read_text(encoding="utf-8")
    assert len(embedded(page)) == 2
    assert "<b>2</b> unreadable manifest lines" in page


def test_a_failed_write_keeps_the_old_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page is written whole or not at all: a fault midway leaves the last one."""
    out = write_run(tmp_path / "r", [job(i) for i in range(600)])
    old = write_report(out).read_bytes()

    def broken(job: dict[str, Any], out_dir: Path, totals: cards.Totals, *_: Any) -> dict[str, Any]:
        if job["index"] == 500:
            raise OSError("disk full")
        return {"id": job["id"]}

    monkeypatch.setattr(report, "card", broken)
    with pytest.raises(OSError, match="disk full"):
        write_report(out)
    assert (out / "report.html").read_bytes() == old
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "manifest.jsonl",
        "report.html",
        "run.json",
    ]


def test_ten_thousand_jobs_are_data_not_markup(tmp_path: Path) -> None:
    """10,000 jobs: every card is in the data once, none is markup, and the page is
    smaller than the manifest (the cards drop URLs, hashes and usage)."""
    out = write_run(tmp_path / "r", [job(i) for i in range(10_000)])
    page = write_report(out).read_text(encoding="utf-8")
    cards = embedded(page)
    assert len(cards) == 10_000
    assert len({c["id"] for c in cards}) == 10_000
    assert "<article" not in page
    assert len(page) < (out / "manifest.jsonl").stat().st_size


def test_a_lone_surrogate_survives(tmp_path: Path) -> None:
    """A lone surrogate escape in the manifest cannot stop the write; it stays an escape."""
    out = tmp_path / "r"
    out.mkdir()
    line = json.dumps(job(0, params={"prompt": "half \ud800 a pair"}))
    (out / "manifest.jsonl").write_text(line + "\n", encoding="utf-8")
    page = write_report(out).read_text(encoding="utf-8")
    assert embedded(page)[0]["pr"] == "half \ud800 a pair"


def test_the_report_command(cli: Cli, tmp_path: Path) -> None:
    """`rhbatch report DIR` writes DIR/report.html and prints its path."""
    out = write_run(tmp_path / "r", [job(0)])
    result = cli("report", str(out))
    assert result.code == 0, result.err
    assert result.out == f"{out / 'report.html'}\n"
    assert len(embedded((out / "report.html").read_text(encoding="utf-8"))) == 1


def test_the_report_command_needs_a_manifest(cli: Cli, tmp_path: Path) -> None:
    """A directory without manifest.jsonl is a usage error (exit 2), and no page is made."""
    result = cli("report", str(tmp_path))
    assert result.code == 2
    assert result.err == (
        f"rhbatch: error: {tmp_path}: no manifest.jsonl here; give the output directory of "
        "a run (`rhbatch run SPEC --out DIR` writes one)\n"
    )
    assert not (tmp_path / "report.html").exists()


# ---------------------------------------------------------------------------------------
# The page in headless Chromium, over the DevTools protocol


def colours(png_bytes: bytes) -> set[bytes]:
    """The distinct pixel colours of an 8-bit RGB or RGBA PNG (standard library only)."""
    pos, idat, width = 8, b"", 0
    kind = 0
    while pos < len(png_bytes):
        (length,) = struct.unpack(">I", png_bytes[pos : pos + 4])
        name, body = png_bytes[pos + 4 : pos + 8], png_bytes[pos + 8 : pos + 8 + length]
        if name == b"IHDR":
            width, _, depth, kind, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, kind in (2, 6), interlace) == (8, True, 0), "unexpected PNG format"
        elif name == b"IDAT":
            idat += body
        pos += 12 + length
    size = 4 if kind == 6 else 3
    raw, stride = zlib.decompress(idat), width * size
    prev, seen = bytearray(stride), set()
    for at in range(0, len(raw), stride + 1):
        kind_of_filter, line = raw[at], bytearray(raw[at + 1 : at + 1 + stride])
        for i in range(stride):
            a = line[i - size] if i >= size else 0
            b, c = prev[i], prev[i - size] if i >= size else 0
            if kind_of_filter == 1:
                line[i] = (line[i] + a) & 255
            elif kind_of_filter == 2:
                line[i] = (line[i] + b) & 255
            elif kind_of_filter == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_of_filter == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        seen.update(bytes(line[i : i + 3]) for i in range(0, stride, size))
        prev = line
    return seen


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic run of 300 jobs with real images; the first is hostile."""
    out = write_run(tmp_path_factory.mktemp("gallery"), hostile_jobs(300), images=True)
    return write_report(out)


def test_the_page_loads_cleanly_and_draws_lazily(browser: str, gallery: Path) -> None:
    """No console error; a first batch of cards, then all 300 as the page is scrolled;
    images load from their relative paths; the hostile job's text is only text."""

    async def scenario(tab: Tab) -> dict[str, Any]:
        first = await tab.js(CARDS)
        total = await tab.js(DRAW_ALL)
        # The images in view (at the end of the page) load from their relative paths.
        loaded = await tab.js(
            until(
                '[...document.querySelectorAll("#cards img")].filter((i) => {'
                "  const r = i.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight;"
                "}).every((i) => i.complete && i.naturalWidth === 32)"
            )
        )
        in_view = await tab.js(
            '[...document.querySelectorAll("#cards img")].filter((i) => '
            "i.getBoundingClientRect().bottom > 0 && i.getBoundingClientRect().top < innerHeight"
            " && i.naturalWidth === 32).length"
        )
        facts = await tab.js("""(() => {
          const c = document.getElementById("job-0");
          return {
            prompt: c.querySelector(".prompt").textContent,
            error: c.querySelector(".err").textContent,
            injected: document.querySelectorAll('img[src="x"], b[onmouseover]').length,
            title: document.title,
            link: c.querySelector("a.file").href,
            images: document.querySelectorAll("#cards img[loading=lazy]").length,
            shown: document.getElementById("shown").textContent,
          };
        })()""")
        errors = tab.errors()
        return {
            "first": first,
            "total": total,
            "loaded": loaded,
            "in_view": in_view,
            **facts,
            "errors": errors,
        }

    seen = visit(browser, gallery, scenario)
    assert seen["errors"] == []
    assert 0 < seen["first"] < 300
    assert seen["total"] == 300
    assert seen["loaded"] is True
    assert seen["in_view"] > 0
    assert seen["images"] == sum(status_of(i) == "succeeded" for i in range(1, 300))
    assert seen["prompt"] == HOSTILE
    assert seen["error"] == f"1505: {HOSTILE_TOO}"
    assert seen["injected"] == 0
    assert seen["title"] == "synthetic: rhbatch report"
    assert (
        seen["link"] == f"{gallery.parent.as_uri()}/javascript%3Aalert(1)"
    )  # a file, not a scheme
    assert seen["shown"] == "300 of 300 jobs"


def test_filters_hide_cards(browser: str, gallery: Path) -> None:
    """The status filter shows exactly the jobs of that status, the endpoint filter
    narrows further, the search finds a job by its prompt, and "all" brings them back."""
    failed = 1 + sum(status_of(i) == "failed" for i in range(1, 300))
    failed_kling = sum(status_of(i) == "failed" and i % 3 == 2 for i in range(1, 300))

    async def scenario(tab: Tab) -> list[Any]:
        seen = [await tab.js(choose("f-status", "failed")), await tab.js(DRAW_ALL)]
        seen.append(
            await tab.js(
                '[...document.querySelectorAll("#cards .card")].every('
                '(c) => c.classList.contains("st-failed"))'
            )
        )
        await tab.js(choose("f-endpoint", "kling/v2"))
        seen.append(await tab.js(DRAW_ALL))
        await tab.js(choose("f-status", ""))
        await tab.js(choose("f-endpoint", ""))
        await tab.js(
            'const t = document.getElementById("f-text"); t.value = "FOX number 123 ";'
            't.dispatchEvent(new Event("input"))'
        )
        seen.append(await tab.js(until(f"{CARDS} === 1") + f".then(() => {CARDS})"))
        seen.append(await tab.js('document.querySelector("#cards .jid").textContent'))
        seen.append(tab.errors())
        return seen

    assert visit(browser, gallery, scenario) == [
        "failed",
        failed,
        True,
        failed_kling,
        1,
        "job-00123",
        [],
    ]


def test_a_uses_link_reveals_its_job(browser: str, gallery: Path) -> None:
    """Clicking a job in `uses` shows its card, even when the filters had hidden it."""

    async def scenario(tab: Tab) -> list[Any]:
        await tab.js(choose("f-status", "succeeded"))  # job 0 (failed) is hidden
        hidden = await tab.js('document.getElementById("job-0") === null')
        await tab.js('document.querySelector("#job-1 .uses a").click()')
        box = await tab.js(
            'JSON.stringify(document.getElementById("job-0").getBoundingClientRect())'
        )
        return [hidden, await tab.js("location.hash"), json.loads(box), tab.errors()]

    hidden, where, box, errors = visit(browser, gallery, scenario)
    assert hidden is True
    assert where == "#job-0"
    assert 0 <= box["top"] < HEIGHT  # scrolled into view
    assert errors == []


def test_a_screenshot_shows_the_gallery(browser: str, gallery: Path) -> None:
    """The page paints: many colours, among them the test images' own."""

    async def scenario(tab: Tab) -> bytes:
        await tab.js(
            until('[...document.querySelectorAll("#cards img")].slice(0, 3).every(i => i.complete)')
        )
        shot = await tab.send("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])

    seen = colours(visit(browser, gallery, scenario))
    assert len(seen) > 20
    assert bytes(PINK) in seen
    assert bytes(TEAL) in seen


@pytest.mark.usefixtures("virtual_clock")
def test_the_quickstart_run_in_chromium(cli: Cli, browser: str, tmp_path: Path) -> None:
    """A real emulator run of the quickstart: its report shows 4 cards, each a video of
    the run's own file, not preloaded."""
    out = tmp_path / "q"
    spec = str(ROOT / "specs/quickstart.yaml")
    ran = cli("run", spec, "--emulator", "--emulator-speed", "1000", "--out", str(out), "-q")
    assert ran.code == 0, ran.err
    made = cli("report", str(out))
    assert made.code == 0, made.err
    page = Path(made.out.strip())

    async def scenario(tab: Tab) -> Any:
        return await tab.js("""(() => [...document.querySelectorAll("#cards .card")].map((c) => {
          const v = c.querySelector("video");
          return [c.querySelector(".jid").textContent, v.getAttribute("preload"), v.src];
        }))()""")

    cards = visit(browser, page, scenario)
    assert [c[0] for c in cards] == ["hotpot-wide", "hotpot-tall", "friends-wide", "friends-tall"]
    assert [c[1] for c in cards] == ["none"] * 4
    assert [c[2] for c in cards] == [(out / c[0] / "1.mp4").as_uri() for c in cards]
    assert all((out / c[0] / "1.mp4").is_file() for c in cards)
