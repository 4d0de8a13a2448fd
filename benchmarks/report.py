"""docs/performance.md and its charts, from one run's outcomes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT, Figure, Outcome

DOC = ROOT / "docs" / "performance.md"
IMG = ROOT / "docs" / "img"
NOTES = ROOT / "benchmarks" / "notes"


def write_docs(doc: dict[str, Any], outcomes: list[Outcome]) -> Path:
    charts = _charts(outcomes)
    lines = [
        "# Performance",
        "",
        f"Measured on {doc['date']} with Python {doc['python']} by `python -m benchmarks --docs` "
        "(2 cores, shared machine: compare ratios measured in one run, not absolute times). "
        "rhbatch and the emulator run as separate processes; CPU and memory figures are "
        "rhbatch's alone. Each scenario below names the command that reproduces it"
        + (f"; the whole run took {_duration(doc['seconds'])}." if "seconds" in doc else "."),
        "",
        "## Goals",
        "",
        "| scenario | figure | value | goal | reproduce |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        for f in o.figures:
            if f.goal:
                lines.append(
                    f"| {o.name} | {f.name} | {_value(f.value)} {f.unit} | {_goal(f)} "
                    f"| `{o.command}` |"
                )
    lines += [
        "",
        "## Every figure",
        "",
        "| scenario | figure | value | goal |",
        "|---|---|---|---|",
    ]
    for o in outcomes:
        for f in o.figures:
            goal = _goal(f) if f.goal else ""
            lines.append(f"| {o.name} | {f.name} | {_value(f.value)} {f.unit} | {goal} |")
    for o in outcomes:
        took = o.details.get("seconds")
        took_text = f" ({_duration(took)} in this run)" if took is not None else ""
        lines += ["", f"## {o.name}: {o.title}", "", f"Reproduce: `{o.command}`{took_text}", ""]
        if o.settings:
            lines.append(f"Emulator settings: `{_settings(o.settings)}`")
            lines.append("")
        for note in o.details.get("notes", []):
            lines.append(note)
            lines.append("")
        for name in charts.get(o.name, []):
            lines.append(f"![{o.name}](img/{name})")
            lines.append("")
    # Comparisons no single run makes (two checkouts side by side, say), written by hand:
    # each file of benchmarks/notes/ is a section of its own, kept on every rewrite.
    for note in sorted(NOTES.glob("*.md")):
        lines += ["", note.read_text(encoding="utf-8").strip()]
    DOC.write_text("\n".join(lines).rstrip() + "\n")
    return DOC


def _goal(f: Figure) -> str:
    return f"{f.goal} ({'met' if f.met else '**missed**'})"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _value(v: float) -> str:
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.3f}".rstrip("0").rstrip(".")


def _settings(settings: dict[str, Any]) -> str:
    import json

    return json.dumps(settings, sort_keys=True)


def _charts(outcomes: list[Outcome]) -> dict[str, list[str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the page is still written, without its charts: say so
        print("docs: no charts (matplotlib is missing: pip install -e '.[bench]')", file=sys.stderr)
        return {}
    IMG.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[str]] = {}
    for o in outcomes:
        for key, series in o.series.items():
            fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
            for label, (xs, ys) in series["lines"].items():
                ax.plot(
                    xs, ys, label=label, drawstyle=series.get("drawstyle", "default"), linewidth=1.2
                )
            ax.set_xlabel(series.get("x", ""))
            ax.set_ylabel(series.get("y", ""))
            ax.set_title(series.get("title", key))
            if series.get("logx"):
                ax.set_xscale("log")
            ax.grid(alpha=0.3)
            ax.legend(loc="best", fontsize="small")
            fig.tight_layout()
            name = f"{o.name}-{key}.png"
            fig.savefig(IMG / name)
            plt.close(fig)
            made.setdefault(o.name, []).append(name)
    return made
