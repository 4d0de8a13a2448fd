"""A real single-node Slurm cluster for a test: munged, slurmctld and slurmd on this machine.

``start_slurm(root)`` (the ``slurm`` fixture of ``conftest.py``) writes a slurm.conf
under ``root`` (state, spool, logs and munge's key and socket live there too; the ports
are free ones, so it never meets a cluster the machine already runs), starts the three
daemons, waits until ``sinfo`` shows the node idle, and yields a ``Slurm`` whose ``env``
points the Slurm commands at it. However the test ends, its jobs are cancelled and the
daemons stopped.

Where the cluster cannot start (Debian's slurm-wlm and munge packages missing, not
root, a daemon that exits or a node that never comes up) the test skips with the
reason and the tail of the daemon's log, or fails if ``RHBATCH_TESTS_REQUIRE`` names
``slurm``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from tests.helpers import unavailable

PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scontrol", "scancel")
# Daemons live in sbin, which a user's PATH may leave out.
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
INSTALL = "Debian's slurm-wlm and munge packages bring them"
START_LIMIT = 60.0  # seconds for the daemons to come up and the node to show idle


@dataclass
class Slurm:
    """The running cluster: its directory, node, and the environment of its commands."""

    root: Path
    node: str
    env: dict[str, str]
    logs: dict[str, Path] = field(default_factory=dict)

    def run(self, *argv: str, cwd: Path | None = None, check: bool = True) -> str:
        """Run a Slurm command against this cluster; its stdout (it must exit 0 if ``check``)."""
        done = subprocess.run(
            argv, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}\n{self.tails()}"
            )
        return done.stdout

    def job(self, job: str) -> dict[str, str]:
        """``scontrol show job`` of one job (or array task, ``ID_I``) as a dict; {} once gone."""
        out = self.run("scontrol", "-o", "show", "job", job, check=False)
        return dict(w.split("=", 1) for w in out.split() if "=" in w)

    def wait(self, check: Callable[[], bool], what: str, limit: float = 120.0) -> None:
        """Poll ``check`` until it holds (bounded: fail saying ``what`` after ``limit`` s)."""
        end = time.monotonic() + limit
        while not check():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {limit:g} s: {what}\n{self.tails()}")
            time.sleep(0.1)

    def tails(self, chars: int = 1500) -> str:
        """The end of every daemon's log: what to read when something went wrong."""
        return "\n".join(f"--- {name} ---\n{tail(path, chars)}" for name, path in self.logs.items())


def tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:].strip() or "(empty)"
    except OSError:
        return "(no log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def program(name: str) -> str:
    return shutil.which(name, path=SEARCH) or name


def node_line() -> str:
    """The node as slurmd finds this machine (name, CPUs, sockets, memory): ``slurmd -C``."""
    argv = [program("slurmd"), "-C"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("NodeName=")), "")
    if not line:
        unavailable("slurm", f"slurmd -C did not describe this machine: {out.stderr.strip()}")
    return line


def slurm_conf(root: Path, node: str, munge_socket: Path) -> str:
    name = node.split()[0].split("=", 1)[1]
    return f"""\
ClusterName=rhbatchtest
SlurmctldHost={name}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# This cluster's own munged; a requeued job waits cred_expire + 1 s before it starts again
# (120 s by default): 5, the shortest Slurm allows.
AuthInfo=socket={munge_socket},cred_expire=5
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
# No cgroups, no accounting database: processes tracked by their parents, jobs not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Jobs are not requeueable unless they ask (sbatch --requeue): a recipe that needs it says so.
JobRequeue=0
KillWait=2
{node} NodeAddr=127.0.0.1 State=UNKNOWN
# The node's real CPUs, each shared by up to 16 jobs: a whole job array runs at once.
PartitionName=batch Nodes={name} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:16
"""


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_slurm(root: Path) -> Iterator[Slurm]:
    """Start the cluster in ``root``; yield it; cancel its jobs and stop it at the end."""
    missing = [p for p in PROGRAMS if shutil.which(p, path=SEARCH) is None]
    if missing:
        unavailable("slurm", f"{', '.join(missing)} not installed ({INSTALL})")
    if os.geteuid() != 0:
        unavailable("slurm", "not root: slurmd starts jobs as their user, so it runs as root")
    root.mkdir(parents=True, exist_ok=True)
    for d in ("state", "spool"):
        (root / d).mkdir(exist_ok=True)
    # A unix socket's path has at most 107 bytes: a deep temporary directory gets a short one.
    sock_dir = root if len(str(root)) < 80 else Path(tempfile.mkdtemp(prefix="rhslurm-"))
    munge_socket = sock_dir / "munge.sock"
    key = root / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    node = node_line()
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, node, munge_socket))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for var in [v for v in env if v.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SINFO_"))]:
        if var != "SLURM_CONF":  # a test run inside a Slurm job: not that job's settings
            del env[var]
    cluster = Slurm(
        root,
        node.split()[0].split("=", 1)[1],
        env,
        {
            "munged": root / "munged.out",  # in the foreground, munged logs to stderr
            "slurmctld": root / "slurmctld.log",
            "slurmd": root / "slurmd.log",
        },
    )
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def launch(name: str, *argv: str) -> None:
        with (root / f"{name}.out").open("wb") as out:
            procs[name] = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def give_up(why: str) -> NoReturn:
        for name, proc in procs.items():
            if proc.poll() is not None:
                why += f"\n{name} exited {proc.returncode}: {tail(root / f'{name}.out', 500)}"
        unavailable("slurm", f"{why}\n{cluster.tails()}")

    try:
        launch(
            "munged",
            program("munged"),
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={munge_socket}",
            f"--pid-file={root}/munged.pid",
            f"--seed-file={root}/munged.seed",
        )
        end = time.monotonic() + START_LIMIT
        while not munge_socket.exists():
            if procs["munged"].poll() is not None or time.monotonic() > end:
                give_up("munged did not start")
            time.sleep(0.05)
        launch("slurmctld", program("slurmctld"), "-D", "-i", "-f", str(conf))
        launch("slurmd", program("slurmd"), "-D", "-f", str(conf))
        while True:
            exited = [name for name, proc in procs.items() if proc.poll() is not None]
            if exited:
                give_up(f"{' and '.join(exited)} exited before the Slurm node came up")
            try:
                state = cluster.run("sinfo", "-h", "-N", "-o", "%t", check=False).strip()
            except subprocess.TimeoutExpired:
                state = "(sinfo timed out)"
            if state == "idle":
                break
            if time.monotonic() > end:
                give_up(f"the Slurm node did not come up idle in time (sinfo says {state!r})")
            time.sleep(0.2)
        yield cluster
    finally:
        if "slurmctld" in procs and procs["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, AssertionError):
                cluster.run("scancel", f"--user={pwd.getpwuid(os.geteuid()).pw_name}", check=False)
                cluster.wait(
                    lambda: not cluster.run("squeue", "-h", check=False).strip(),
                    "the cluster's jobs to end",
                    limit=30,
                )
        for name in ("slurmd", "slurmctld", "munged"):
            if name in procs:
                stop(procs[name])
        if sock_dir != root:
            shutil.rmtree(sock_dir, ignore_errors=True)
