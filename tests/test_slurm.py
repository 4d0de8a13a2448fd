"""docs/scale.md's Slurm recipe, run as written on a real single-node Slurm cluster.

The job array of the docs runs a 24-job spec as 8 shards against the emulator (over
loopback). Shard 2 is killed (SIGKILL, as when its node dies) while its tasks are in
flight, and requeued as the docs say: it runs the same line again and resumes its shard.
The merge, submitted as the docs say, finds every planned job exactly once, and the
emulator's ledger shows every job submitted and paid exactly once. The kill waits until
the shard's state holds a task id for each of its jobs, so no submit is on the wire when
it lands: no job is left unknown, and the assertions are exact."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

from rhbatch.emulator.thread import EmulatorThread
from rhbatch.spec.shard import shard_of
from tests.helpers import ROOT
from tests.run_helpers import emulator_config, manifest, spec_text, verify_files
from tests.slurm_cluster import Slurm

# The recipe, verbatim from docs/scale.md (the test checks that the docs still say it).
SCRIPT = """\
#!/bin/sh
#SBATCH --array=0-7
#SBATCH --time=06:00:00
#SBATCH --requeue
rhbatch run spec.yaml --shard "$SLURM_ARRAY_TASK_ID/8" \\
  --out "results/shard-$SLURM_ARRAY_TASK_ID" --concurrency 6
"""
SUBMIT = "ARRAY_JOB_ID=$(sbatch --parsable shards.sh)"
REQUEUE = 'scontrol requeue "${ARRAY_JOB_ID}_2"'
VICTIM = 2  # the shard the docs requeue, and the test kills
MERGE = "sbatch --dependency=afterany:$ARRAY_JOB_ID --wrap 'rhbatch merge results/shard-* --out results/all'"
SHARDS, CONCURRENCY = 8, 6
JOBS = 24
# Tasks of 4 to 6 s (at speed 2000): a shard's submits are all answered long before its
# first task ends, so the kill lands with tasks in flight and no submit on the wire.
SLOW_VIDEO = {"video": {"kind": "uniform", "low": 8000, "high": 12000}}
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED"}


def sh(command: str, cwd: Path, env: dict[str, str]) -> str:
    """Run a line of the docs as a shell would; its stdout (it must exit 0)."""
    done = subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stderr}"
    return done.stdout


def shard_state(out: Path) -> dict[str, tuple[str, str | None]]:
    """A shard's jobs as its state.db has them now: id -> (status, task id); {} before it exists."""
    path = out / ".rhbatch" / "state.db"
    if not path.exists():
        return {}
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db,
    ):
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, status, task_id FROM jobs")}
    return {}


def test_the_slurm_job_array_recipe(slurm: Slurm, tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    for line in (SCRIPT, SUBMIT, MERGE, REQUEUE):
        assert line in doc, f"docs/scale.md no longer says:\n{line}"

    work = tmp_path / "work"
    work.mkdir()
    (work / "spec.yaml").write_text(spec_text(JOBS))
    (work / "shards.sh").write_text(SCRIPT)
    # `rhbatch` on the jobs' PATH is this test's Python, with this rhbatch.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rhbatch").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rhbatch "$@"\n')
    (bin_dir / "rhbatch").chmod(0o755)

    ids = [f"shot-{n}" for n in range(1, JOBS + 1)]
    size = sum(shard_of(job_id, SHARDS) == VICTIM for job_id in ids)
    assert 2 <= size <= CONCURRENCY  # several jobs, all in flight at once
    victim_out = work / "results" / f"shard-{VICTIM}"

    with EmulatorThread(emulator_config(durations=SLOW_VIDEO)) as emu:
        env = {
            **slurm.env,
            "PATH": f"{bin_dir}:{slurm.env.get('PATH', '/usr/bin:/bin')}",
            "RUNNINGHUB_BASE_URL": emu.base_url,
            "RUNNINGHUB_API_KEY": emu.api_key,
        }
        array = sh(f'{SUBMIT}\necho "$ARRAY_JOB_ID"', work, env).strip()
        task = f"{array}_{VICTIM}"

        # Kill the shard once every one of its jobs has its task: all in flight.
        slurm.wait(
            lambda: sum(t is not None for _, t in shard_state(victim_out).values()) == size,
            f"shard {VICTIM} to submit its {size} jobs",
        )
        slurm.run("scancel", "--signal=KILL", task)
        slurm.wait(lambda: slurm.job(task).get("JobState") in ENDED, f"{task} to die")
        killed = shard_state(victim_out)
        assert slurm.job(task)["JobState"] == "CANCELLED"
        assert "running" in {status for status, _ in killed.values()}, killed

        # Put back as the docs say (it runs the same line), then the merge.
        env["ARRAY_JOB_ID"] = array
        sh(REQUEUE, work, env)
        submitted = sh(MERGE, work, env)
        merge = submitted.split()[-1]
        slurm.wait(lambda: slurm.job(merge).get("JobState") in ENDED, "the merge to end", 180)
        stats = emu.stats()

    merged = slurm.job(merge)
    merge_log = (work / f"slurm-{merge}.out").read_text()
    assert (merged["JobState"], merged["ExitCode"]) == ("COMPLETED", "0:0"), merge_log
    assert "complete: every planned job has exactly one terminal record" in merge_log
    for i in range(SHARDS):
        shard = slurm.job(f"{array}_{i}")
        assert (shard["JobState"], shard["ExitCode"]) == ("COMPLETED", "0:0"), (i, shard)
    assert slurm.job(task)["Restarts"] == "1"

    # Every job submitted once and paid once, the killed shard's included: its rerun
    # found its tasks and polled them.
    assert stats["submissions"] == stats["tasks"] == JOBS
    assert stats["duplicateSubmissions"] == {}
    assert stats["paidTwice"] == {}
    assert stats["byStatus"] == {"SUCCESS": JOBS}
    records = manifest(work / "results" / "all")
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert {r["status"] for r in records} == {"succeeded"}
    assert verify_files(work / "results" / "all", records) == JOBS
