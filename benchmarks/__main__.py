"""``python -m benchmarks [SCENARIO...] [--quick]``: run scenarios, print and record them.

Each scenario prints its figures, the emulator settings it used and the command
that reproduces it. A full run writes ``<date>.json`` to ``--out`` (default
``benchmarks/results``) and nothing else; ``--docs`` also rewrites
``docs/performance.md`` with charts in ``docs/img/`` from that day's results.
``--quick`` runs every scenario at a small size as a smoke test and writes
nothing unless ``--out`` says where.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT, Outcome
from benchmarks.report import write_docs

SCENARIOS = (
    "occupancy",
    "overhead",
    "polling",
    "memory",
    "resume",
    "downloads",
    "validation",
    "alternatives",
    "ledger",
    "first_submit",
    "profile",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"any of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: checks the harness works"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="where to write results (default: benchmarks/results)"
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help="also rewrite docs/performance.md and docs/img/ from the results",
    )
    args = parser.parse_args(argv)
    chosen = args.scenarios or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rhbatch-bench-") as tmp:
        for name in chosen:
            module = importlib.import_module(f"benchmarks.scenarios.{name}")
            work = Path(tmp) / name
            work.mkdir()
            print(f"== {name}: {module.TITLE}", flush=True)
            began = time.perf_counter()
            outcome: Outcome = module.run(quick=args.quick, work=work)
            for figure in outcome.figures:
                print(f"   {figure.shown()}")
            print(f"   emulator: {json.dumps(outcome.settings, sort_keys=True)}")
            print(f"   reproduce: {outcome.command}")
            took = time.perf_counter() - began
            outcome.details["seconds"] = round(took, 1)
            print(f"   ({took:.1f} s)", flush=True)
            outcomes.append(outcome)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    doc = {
        "date": stamp,
        "quick": args.quick,
        "python": sys.version.split()[0],
        "seconds": round(time.perf_counter() - started, 1),
        "scenarios": [o.to_dict() for o in outcomes],
    }
    if args.out or not args.quick:
        out_dir = Path(args.out) if args.out else ROOT / "benchmarks" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{stamp}.json"
        if path.exists() and not args.out:
            old = json.loads(path.read_text())
            kept = {s["name"]: s for s in old.get("scenarios", [])}
            kept.update({s["name"]: s for s in doc["scenarios"]})
            if set(kept) - set(chosen):  # scenarios of an earlier run: no one run's time
                doc.pop("seconds")
            doc["scenarios"] = [kept[n] for n in SCENARIOS if n in kept]
        path.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results: {path}")
        if args.docs and not args.quick:  # the page shows every scenario of the day's results
            everything = [Outcome.from_dict(s) for s in doc["scenarios"]]
            print(f"docs: {write_docs(doc, everything)}")
    missed = [f"{o.name}: {f.name}" for o in outcomes for f in o.figures if f.met is False]
    if missed:
        print("goals missed: " + "; ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
