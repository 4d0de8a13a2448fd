"""What every scenario needs: the emulator and rhbatch as separate processes, measured.

The emulator runs in its own process (``rhbatch emulator``) and rhbatch in
another (``python -m rhbatch``), so that the CPU time and peak memory reported
for rhbatch are rhbatch's alone (``os.wait4`` gives a child's resource usage).
Nothing here knows anything about rhbatch beyond its command line, so the
alternatives are driven the same way.
"""

from __future__ import annotations

import compileall
import functools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "rhemu000000000000000000000000000"


@dataclass
class Figure:
    """One reported number, with its goal when the issue sets one."""

    name: str
    value: float
    unit: str
    goal: str | None = None
    met: bool | None = None

    def shown(self) -> str:
        value = (
            f"{self.value:,.3f}".rstrip("0").rstrip(".")
            if isinstance(self.value, float)
            else f"{self.value:,}"
        )
        goal = ""
        if self.goal:
            goal = f"  (goal {self.goal}: {'met' if self.met else 'MISSED'})"
        return f"{self.name}: {value} {self.unit}{goal}"


@dataclass
class Outcome:
    """What a scenario reports."""

    name: str
    title: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)  # data for charts

    def add(
        self, name: str, value: float, unit: str, goal: str | None = None, met: bool | None = None
    ) -> None:
        self.figures.append(Figure(name, value, unit, goal, met))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "command": self.command,
            "figures": [f.__dict__ for f in self.figures],
            "settings": self.settings,
            "details": self.details,
            "series": self.series,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        outcome = cls(data["name"], data["title"], data["command"])
        outcome.figures = [Figure(**f) for f in data["figures"]]
        outcome.settings = data.get("settings", {})
        outcome.details = data.get("details", {})
        outcome.series = data.get("series", {})
        return outcome


class Emulator:
    """``rhbatch emulator`` in a child process, with its settings written to a file."""

    def __init__(self, settings: dict[str, Any], profile: str = "clean") -> None:
        self.settings = settings
        self.profile = profile
        self._file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
        json.dump(settings, self._file)
        self._file.close()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rhbatch",
                "emulator",
                "--port",
                "0",
                "--profile",
                profile,
                "--config",
                self._file.name,
                "--key",
                KEY,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first.startswith("RunningHub emulator on "):
            self.close()
            raise RuntimeError(f"the emulator did not start: {first!r}")
        self.base_url = first.split()[3]
        self.api_key = KEY

    def stats(self, tasks: bool = False) -> dict[str, Any]:
        url = f"{self.base_url}/_emulator/stats" + ("?tasks=1" if tasks else "")
        with urllib.request.urlopen(url, timeout=60) as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RUNNINGHUB_BASE_URL": self.base_url,
            "RUNNINGHUB_API_KEY": self.api_key,
        }

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        Path(self._file.name).unlink(missing_ok=True)


@contextmanager
def emulator(settings: dict[str, Any], profile: str = "clean") -> Iterator[Emulator]:
    emu = Emulator(settings, profile)
    try:
        yield emu
    finally:
        emu.close()


@dataclass
class Measured:
    """A finished child process: exit code, wall and CPU seconds, peak RSS, output."""

    code: int
    wall: float
    user: float
    system: float
    max_rss_mb: float
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.user + self.system

    def events(self) -> list[dict[str, Any]]:
        """The JSON events of a ``--log-json`` run."""
        out = []
        for line in self.stderr.splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out


@functools.cache  # once per checkout and benchmark run: the files do not change meanwhile
def compiled(root: Path = ROOT) -> None:
    """rhbatch's and the benchmarks' modules compiled to bytecode, as an install leaves
    them (pip compiles a wheel's modules; aiohttp's are compiled already): a checkout run
    with PYTHONDONTWRITEBYTECODE set would otherwise compile every module on every start."""
    for package in ("rhbatch", "benchmarks"):
        compileall.compile_dir(root / package, quiet=1)


def measure(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    root: Path = ROOT,
) -> Measured:
    """Run a command to completion and measure it: its own CPU and peak memory (through
    ``benchmarks.spawn``, so the harness's size does not leak into the figure). The
    modules are compiled first (``compiled``), as in an installed rhbatch. ``root``: the
    checkout whose rhbatch runs (another one: an earlier rhbatch, side by side)."""
    compiled(root)
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.NamedTemporaryFile("r", suffix=".json") as usage,
    ):
        launcher = [sys.executable, "-m", "benchmarks.spawn", usage.name, *argv]
        proc = subprocess.run(
            launcher, stdout=out, stderr=err, env=_with_path(env, root), cwd=cwd, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"benchmarks.spawn failed ({proc.returncode})")
        facts = json.loads(Path(usage.name).read_text())
        out.seek(0)
        err.seek(0)
        return Measured(
            code=facts["code"],
            wall=facts["wall"],
            user=facts["user"],
            system=facts["system"],
            max_rss_mb=facts["max_rss_kb"] / 1024,
            stdout=out.read(),
            stderr=err.read(),
        )


def _with_path(env: dict[str, str] | None, root: Path = ROOT) -> dict[str, str]:
    """The environment, with the repository importable (``benchmarks.spawn`` runs from cwd)."""
    base = dict(os.environ if env is None else env)
    base["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), base.get("PYTHONPATH", "")) if p)
    return base


def rhbatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "rhbatch", *args]


def write_spec(
    path: Path,
    jobs: int,
    *,
    endpoint: str = "seedance-2.0/multimodal-video",
    run: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    output: dict[str, Any] | None = None,
) -> Path:
    """A spec of ``jobs`` distinct jobs: a matrix over up to three axes of numbers."""
    axes = _axes(jobs)
    lines = ["version: 1", f"name: {path.stem}", f"endpoint: {endpoint}"]
    lines.append(
        "defaults: " + json.dumps({"resolution": "480p", "duration": "5", **(defaults or {})})
    )
    lines.append("matrix:")
    for name, n in axes:
        lines.append(f"  {name}: [{', '.join(str(i) for i in range(n))}]")
    names = "-".join("{" + name + "}" for name, _ in axes)
    lines.append("jobs:")
    lines.append(f"  - id: 'j-{names}'")
    lines.append(f"    prompt: 'a paper boat, take {names}'")
    if run:
        lines.append("run: " + json.dumps(run))
    if output:
        lines.append("output: " + json.dumps(output))
    path.write_text("\n".join(lines) + "\n")
    return path


def _axes(jobs: int) -> list[tuple[str, int]]:
    """Factor ``jobs`` into at most three matrix axes (the last may be short)."""
    if jobs <= 1000:
        return [("a", jobs)]
    if jobs <= 1_000_000:
        assert jobs % 1000 == 0, "sizes above 1,000 must be multiples of 1,000"
        return [("a", jobs // 1000), ("b", 1000)]
    raise ValueError("too many jobs")


def shown_command(argv: Sequence[str]) -> str:
    parts = list(argv)
    if parts and parts[0] == sys.executable:
        parts[0] = "python"
    return shlex.join(parts)


def ideal_makespan(durations: Sequence[float], slots: int) -> float:
    """A perfect scheduler's makespan: each task, in submission order, starts the instant
    a slot frees (greedy list scheduling of the actual durations)."""
    import heapq

    free = [0.0] * slots
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


def timeline(tasks: Sequence[dict[str, Any]]) -> tuple[list[float], list[int]]:
    """Tasks running over time (a step function) from the emulator's task list."""
    events: list[tuple[float, int]] = []
    for t in tasks:
        if t.get("started") is not None and t.get("ended") is not None:
            events.append((t["started"], 1))
            events.append((t["ended"], -1))
    events.sort()
    origin = events[0][0] if events else 0.0
    xs, ys, level = [0.0], [0], 0
    for at, step in events:
        level += step
        xs.append(at - origin)
        ys.append(level)
    return xs, ys


def succeeded_at(result: Measured) -> dict[str, float]:
    """When rhbatch noticed each task's success (wall clock), from its --log-json events."""
    return {
        e["task"]: float(e["ts"]) for e in result.events() if e.get("event") == "task_succeeded"
    }
