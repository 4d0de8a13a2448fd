"""Scenario 7: validating 100,000 matrix-expanded jobs.

Two specs of 100,000 jobs each. The generated one (a matrix of three numeric
axes, one prompt template) carries the goal; the shipped one,
``benchmarks/specs/matrix-100k.yaml`` (five axes, a reference image URL in every
job, the duration varied), is what a reader can run by hand, and is reported
beside it. Each is validated three times in its own process; the best wall time
of each is kept (the machine is shared).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import ROOT, Measured, Outcome, measure, rhbatch, write_spec

TITLE = "validate 100,000 matrix-expanded jobs"
SHIPPED = ROOT / "benchmarks" / "specs" / "matrix-100k.yaml"


def run(quick: bool, work: Path) -> Outcome:
    jobs = 2_000 if quick else 100_000
    spec = write_spec(work / "validate.yaml", jobs)
    outcome = Outcome("validation", TITLE, "python -m benchmarks validation")
    best = _best(spec)
    outcome.add("jobs", jobs, "jobs")
    outcome.add(
        "validate wall time (best of 3)",
        round(best.wall, 3),
        "s",
        "≤ 3 s",
        best.wall <= 3.0 or quick,
    )
    outcome.add("per job", round(best.wall / jobs * 1e6, 1), "µs")
    outcome.add("peak RSS", round(best.max_rss_mb, 1), "MB")
    if not quick:  # the shipped spec is always 100,000 jobs
        shipped = _best(SHIPPED)
        name = f"{SHIPPED.relative_to(ROOT)}: validate wall time (best of 3)"
        outcome.add(name, round(shipped.wall, 3), "s")
        outcome.add(f"{SHIPPED.relative_to(ROOT)}: peak RSS", round(shipped.max_rss_mb, 1), "MB")
    outcome.details["notes"] = [
        "The goal is judged on a generated spec: 100,000 jobs from a matrix of three numeric "
        "axes and one prompt template (`benchmarks/harness.py`, `write_spec`). "
        f"`python -m rhbatch validate {SHIPPED.relative_to(ROOT)}` validates a heavier "
        "shipped spec of 100,000 jobs (five axes, a reference image URL checked in every "
        "job, the duration varied); its time is reported beside it, without a goal.",
    ]
    return outcome


def _best(spec: Path) -> Measured:
    best: Measured | None = None
    for _ in range(3):
        result = measure(rhbatch("validate", str(spec)))
        assert result.code == 0, result.stderr
        best = result if best is None or result.wall < best.wall else best
    assert best is not None
    return best
