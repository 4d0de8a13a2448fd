"""How many jobs a spec makes, counted before any is made, and the cap they must stay under.

A matrix of 40 values on 6 axes is 4.1 billion jobs: counting them takes a
multiplication, making them takes forever. ``count`` multiplies the sizes
(matrix, a job's own matrix, repeat, rows) and says where a spec over the cap
explodes; ``Cap`` is the cap in force: ``--max-jobs``, else ``run.max_jobs``,
else the default of ``RunSettings``.
"""

from __future__ import annotations

from rhbatch.models import Entry, RunSettings
from rhbatch.spec import yaml_source


class Cap:
    """The most jobs a spec may make: ``--max-jobs``, else ``run.max_jobs``, else the default."""

    def __init__(self, data: yaml_source.Located, flag: int | None) -> None:
        run = data.get("run")
        written = run.get("max_jobs") if isinstance(run, dict) else None
        if flag is not None:
            self.most, self.name = flag, "--max-jobs"
        elif isinstance(written, (int, float)) and not isinstance(written, bool) and written >= 1:
            self.most, self.name = int(written), "run.max_jobs"  # the schema saw it is whole
        else:
            self.most, self.name = RunSettings().max_jobs, "run.max_jobs"

    def message(self, count: int, *, at_least: bool = False) -> str:
        how = (
            "pass a larger --max-jobs"
            if self.name == "--max-jobs"
            else "raise run.max_jobs or pass --max-jobs"
        )
        return (
            f"this spec expands to {'at least ' if at_least else ''}{count:,} jobs, "
            f"more than {self.name} ({self.most:,}); {how} if you mean it"
        )


def count(
    entries: list[Entry], data: yaml_source.Located, file: str, across: int, repeat: int, cap: int
) -> tuple[int, tuple[str, int]]:
    """The jobs the entries expand to, and where to point if that is more than ``cap``:
    when one entry is too many alone, its largest factor (the spec's matrix, its own
    matrix, its repeat); else the matrix, job list or row files that add up to it."""
    total, most = 0, 0
    biggest: Entry | None = None
    made = {False: 0, True: 0}  # jobs from `jobs` entries, and from rows
    entries_of = {False: 0, True: 0}
    for entry in entries:
        n = across * (entry.matrix.size if entry.matrix else 1) * (entry.repeat or repeat)
        total += n
        made[entry.row] += n
        entries_of[entry.row] += 1
        if n > most:
            biggest, most = entry, n
    if biggest is not None and most > cap:
        factors = [
            (across, (file, data.line_of("matrix"))),
            (
                biggest.matrix.size if biggest.matrix else 1,
                (biggest.file, biggest.line_of("matrix")),
            ),
            (
                biggest.repeat or repeat,
                (biggest.file, biggest.line_of("repeat"))
                if biggest.repeat
                else (file, data.line_of("repeat")),
            ),
        ]
        return total, max(factors, key=lambda f: f[0])[1]  # the first of equals
    from_rows = made[True] > made[False]
    if across > entries_of[from_rows]:
        return total, (file, data.line_of("matrix"))
    return total, (file, data.line_of("jobs_from" if from_rows else "jobs"))
