"""Attacks on what spend control, workflows, pipelines and results added, each against the
fault that once broke it. Money is judged by the emulator's ledger."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.config import Fault
from rhbatch.emulator.thread import EmulatorThread
from tests.helpers import Result
from tests.run_helpers import emulator, emulator_config, manifest
from tests.virtual_clock import VirtualClock

# Runs in this process are on virtual time (``virtual_clock``); those in processes of their
# own, against an emulator on a thread of this one, are on real time (the emulator's speed).
Cli = Callable[..., Result]
Write = Callable[[str, str], Path]
HEAD = (
    "version: 1\nendpoint: seedance-2.0/multimodal-video\n"
    "defaults: {resolution: 480p, duration: '4'}\nrun: {poll_interval: 2, signal_interval: 0.5}\n"
)  # 2.40 CNY a job


def jobs(*ids: str) -> str:
    return HEAD + "jobs:\n" + "".join(f"  - {{id: {i}, prompt: 'a {i}'}}\n" for i in ids)


@pytest.mark.usefixtures("virtual_clock")
def test_the_cap_holds_a_lost_submit_sent_again(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose submit lost its answer may have been paid (its task exists: the ledger
    charged it). --resubmit-unknown under a cap that has no room for a second payment
    sends nothing and stops at the cap; with room for it, it sends it once."""
    with emulator(monkeypatch) as emu:
        emu.emulator.config.faults = {"lost_submit": Fault(rate=1.0)}
        write("s.yaml", jobs("eel"))
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 1  # eel: unknown
        emu.emulator.config.faults = {}
        write("s.yaml", jobs("eel", "fox", "owl", "cat"))
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 1  # eel still unknown
        before = emu.stats()
        assert before["charged"] == pytest.approx(9.6)  # eel's task was made, and paid
        capped = cli("run", "s.yaml", "--out", "out", "--resubmit-unknown", "--max-spend", "9.61")
        after_cap = emu.stats()
        room = cli("run", "s.yaml", "--out", "out", "--resubmit-unknown", "--max-spend", "12")
        after = emu.stats()
    assert capped.code == 4, capped.err
    assert after_cap["submissions"] == before["submissions"]  # nothing was sent
    assert "--max-spend 12.00" in capped.err  # the cap that has room for it
    assert room.code == 0, room.err
    assert after["submissions"] == before["submissions"] + 1
    assert after["charged"] == pytest.approx(12.0)  # at the cap, never past it
    assert {r["status"] for r in manifest(Path("out"))} == {"succeeded"}


def test_lost_first_replies_under_a_cap_do_not_hang(tmp_path: Path) -> None:
    """Every submit's answer lost, under a cap: until an endpoint's first bill one task at
    a time may be in flight; each that goes unknown lets the next go. The run ends (every
    job unknown, exit 1) instead of waiting forever."""
    (tmp_path / "s.yaml").write_text(jobs("a", "b", "c", "d", "e"))
    config = emulator_config(faults={"lost_submit": {"rate": 1.0}})
    with EmulatorThread(config) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url}
        env["RUNNINGHUB_API_KEY"] = emu.api_key
        argv = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out"]
        done = subprocess.run(
            [*argv, "--max-spend", "100", "-q"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,  # before the fix it never ended
        )
    assert done.returncode == 1, done.stderr
    assert [r["status"] for r in manifest(tmp_path / "out")] == ["unknown"] * 5


# --- pipeline placeholders: data stays text ------------------------------------------------

PIPE = """version: 1
vars: {note: "said {frame.url} here"}
jobs_from: [rows.csv, rows.jsonl]
jobs:
  - id: frame
    endpoint: wan-2.7/text-to-image
    prompt: a red fox
  - id: clip
    endpoint: wan-2.7/image-to-video
    uses: {frame: frame}
    firstImageUrl: "{frame.url}"
    resolution: 720P
    duration: "5"
    prompt: "braces {{frame.url}}; note {note}; axis {axis}"
    matrix: {axis: ["{frame.url} axis"]}
"""
ROW = (
    "id,endpoint,uses.frame,firstImageUrl,resolution,duration,prompt,caption\n"
    "row,wan-2.7/image-to-video,frame,{frame.url},720P,5,cell {caption},{frame.url} injected\n"
)
LINE = json.dumps(
    {
        "id": "line",
        "endpoint": "wan-2.7/image-to-video",
        "uses": {"frame": "frame"},
        "firstImageUrl": "{frame.url}",
        "resolution": "720P",
        "duration": "5",
        "prompt": "line {caption}",
        "caption": "{frame.url} from JSON Lines",
    }
)


@pytest.mark.usefixtures("virtual_clock")
def test_placeholders_are_filled_once_on_the_template(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the placeholders the spec (or a row) writes for another job's results are
    filled with them: literal braces, and text brought in by vars, a matrix value, a CSV
    cell or a JSON Lines value (each holding "{frame.url}"), reach RunningHub as text."""
    write("rows.csv", ROW)
    write("rows.jsonl", LINE + "\n")
    write("s.yaml", PIPE)
    with emulator(monkeypatch):
        ran = cli("run", "s.yaml", "--out", "out", "-q")
    assert ran.code == 0, ran.err
    sent = {r["id"]: r["params"] for r in manifest(Path("out"))}
    for job in ("row", "line", *(k for k in sent if k.startswith("clip"))):
        assert sent[job]["firstImageUrl"].startswith("http"), job
    [clip] = [v for k, v in sent.items() if k.startswith("clip")]
    assert clip["prompt"] == "braces {frame.url}; note said {frame.url} here; axis {frame.url} axis"
    assert sent["row"]["prompt"] == "cell {frame.url} injected"
    assert sent["line"]["prompt"] == "line {frame.url} from JSON Lines"


# --- pin files: read within bounds ---------------------------------------------------------


def hostile_pin(kind: str, path: Path, tmp_path: Path) -> None:
    """Put a hostile thing where a pin is read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":
        with path.open("wb") as fh:
            fh.truncate(17 * 1024 * 1024)
    elif kind == "deep":
        path.write_text("[" * 200_000 + "]" * 200_000)
    elif kind == "utf16":
        path.write_text('{"format": "rhbatch-pin/1"}', encoding="utf-16")
    elif kind == "latin1":
        path.write_bytes(b'{"name": "caf\xe9"}')


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("fifo", "is a named pipe (FIFO), not a regular file"),
        ("device", "is a character device, not a regular file"),
        ("directory", "is a directory, not a regular file"),
        ("huge", "is 17.0 MiB; rhbatch reads files of at most 16 MiB"),
        ("deep", "nests lists and objects more than 64 deep"),
        ("utf16", "UTF-16 text, not UTF-8; save the file as UTF-8"),
        ("latin1", "not UTF-8 text (byte 0xe9 at column 14); save the file as UTF-8"),
    ],
)
def test_a_hostile_pin_is_refused_plainly(
    cli: Cli, write: Write, tmp_path: Path, kind: str, said: str
) -> None:
    """A pin that is a FIFO (it hung validate), a link to /dev/zero (it read until
    MemoryError), a directory, 17 MiB, 200,000 nested brackets (an internal error), or not
    UTF-8: validate says what it is, exit 2, at once."""
    wid = "1990000000000000001"
    write("s.yaml", f'version: 1\nworkflow: "{wid}"\njobs:\n  - 6.text: a fox\n')
    hostile_pin(kind, tmp_path / "pins" / f"workflow-{wid}.json", tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "rhbatch", "validate", "s.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO blocked the reader forever
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def test_a_fifo_in_place_of_the_state_is_refused(tmp_path: Path) -> None:
    """A named pipe where .rhbatch/state.db lives: status says so and exits 3 (a state
    error, like any unreadable state), never blocking on the open."""
    state = tmp_path / "out" / ".rhbatch"
    state.mkdir(parents=True)
    os.mkfifo(state / "state.db")
    done = subprocess.run(
        [sys.executable, "-m", "rhbatch", "status", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert "is a named pipe (FIFO), not a regular file" in done.stderr
    assert "Traceback" not in done.stderr


# --- exports of hostile text ---------------------------------------------------------------

HOSTILE_PROMPTS = {
    "cr": "one\rtwo",
    "lf": "one\ntwo",
    "crlf": "one\r\ntwo",
    "nul": "one\x00two",
    "rtl": "\u202eevil.exe\u202c a fox",
    "formula": '=HYPERLINK("http://x.invalid","click")',
    "plus": "+1+1",
    "minus": "-2+3",
    "at": "@SUM(A1)",
    "tab": "\tindented",
    "long": "a fox " * 834,  # 5,004 characters
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose prompts are hostile text, against the emulator (one job each)."""
    where = tmp_path_factory.mktemp("hostile-export")
    jobs = "".join(
        f"  - id: {name}\n    prompt: {json.dumps(text)}\n"
        for name, text in HOSTILE_PROMPTS.items()
    )
    (where / "s.yaml").write_text(HEAD + "jobs:\n" + jobs, encoding="utf-8")
    with EmulatorThread(emulator_config()) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url}
        env["RUNNINGHUB_API_KEY"] = emu.api_key
        done = subprocess.run(
            [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out", "-q"],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    return where / "out"


def export(out: Path, fmt: str, *extra: str) -> Path:
    dest = out.parent / f"table.{fmt}{''.join(extra)}"
    argv = [sys.executable, "-m", "rhbatch", "export", str(out), "--format", fmt, "--to", str(dest)]
    done = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dest


def prompts_of(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {str(r["job_id"]): str(r["prompt"]) for r in rows}


def test_csv_keeps_every_row_whole_and_defuses_formulas(hostile_run: Path) -> None:
    """A bare CR in a prompt is quoted (it split the row before: rows are CRLF now);
    cells a spreadsheet would run as a formula get a leading apostrophe; every other text
    comes back as it was."""
    with export(hostile_run, "csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(HOSTILE_PROMPTS)
    got = prompts_of(rows)
    for name, text in HOSTILE_PROMPTS.items():
        formula = text.startswith(("=", "+", "-", "@", "\t", "\r"))
        assert got[name] == ("'" + text if formula else text), name


def test_csv_can_keep_formulas_for_tools_that_want_raw_text(hostile_run: Path) -> None:
    with export(hostile_run, "csv", "--keep-formulas").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert prompts_of(rows) == HOSTILE_PROMPTS


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_keep_hostile_text_as_it_is(hostile_run: Path, fmt: str) -> None:
    dest = export(hostile_run, fmt)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in dest.read_text(encoding="utf-8").splitlines()]
    else:
        pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
        rows = pq.read_table(dest).to_pylist()
    assert prompts_of(rows) == HOSTILE_PROMPTS


# --- merge: nothing taken on trust ---------------------------------------------------------


@pytest.fixture
def shards(
    cli: Cli,
    write: Write,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    virtual_clock: VirtualClock,
) -> list[Path]:
    """A spec of six jobs run as two shards; and a second spec's shard beside them."""
    write("s.yaml", jobs("fox", "owl", "cat", "elk", "eel", "bee"))
    write("other.yaml", jobs("fox", "owl", "cat", "elk", "eel", "bee").replace("'a ", "'the "))
    dirs = [tmp_path / "s0", tmp_path / "s1", tmp_path / "other1"]
    with emulator(monkeypatch):
        for spec, d, shard in (("s.yaml", dirs[0], "0/2"), ("s.yaml", dirs[1], "1/2")):
            assert cli("run", spec, "--out", str(d), "--shard", shard, "-q").code == 0
        assert cli("run", "other.yaml", "--out", str(dirs[2]), "--shard", "1/2", "-q").code == 0
    return dirs


def merge(cli: Cli, *dirs: Path) -> Result:
    return cli("merge", *map(str, dirs), "--out", "merged", "--spec", "s.yaml")


def records_of(d: Path) -> list[dict[str, Any]]:
    return manifest(d)


def rewrite(d: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Edit the first record of a shard's manifest by hand; the record after."""
    lines = (d / "manifest.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    change(record)
    lines[0] = json.dumps(record)
    (d / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return record


def test_an_untouched_merge_is_complete(cli: Cli, shards: list[Path]) -> None:
    result = merge(cli, shards[0], shards[1])
    assert result.code == 0, result.err
    assert "complete: every planned job has exactly one terminal record" in result.out


def test_a_byte_flipped_in_a_result_file_is_refused(cli: Cli, shards: list[Path]) -> None:
    record = records_of(shards[0])[0]
    path = shards[0] / record["outputs"][0]["path"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    result = merge(cli, shards[0], shards[1])
    assert result.code == 2
    assert f"job {record['index'] + 1} (id {record['id']}): outputs[0]:" in result.err
    assert "its bytes are not the ones the run recorded" in result.err
    assert not Path("merged/manifest.jsonl").exists()


def test_a_manifest_line_edited_by_hand_is_refused(cli: Cli, shards: list[Path]) -> None:
    """The prompt changed and the sha256 zeroed in a shard's manifest: both named."""

    def edit(record: dict[str, Any]) -> None:
        record["params"]["prompt"] = "something else"
        record["outputs"][0]["sha256"] = "0" * 64

    record = rewrite(shards[0], edit)
    result = merge(cli, shards[0], shards[1])
    assert result.code == 2
    label = f"job {record['index'] + 1} (id {record['id']})"
    assert f'{label}: params.prompt: "something else" in the shard, "a ' in result.err
    assert f"{label}: outputs[0]:" in result.err


def test_a_shard_of_another_spec_with_its_run_json_patched_is_refused(
    cli: Cli, shards: list[Path]
) -> None:
    """Its run.json made to name this spec's sha256: its records are still not what this
    spec makes (other prompts), each one named."""
    ours = json.loads((shards[0] / "run.json").read_text())
    theirs = json.loads((shards[2] / "run.json").read_text())
    theirs["specSha256"], theirs["specPath"] = ours["specSha256"], ours["specPath"]
    (shards[2] / "run.json").write_text(json.dumps(theirs))
    result = merge(cli, shards[0], shards[2])
    assert result.code == 2
    assert 'params.prompt: "the ' in result.err
    assert 'in the shard, "a ' in result.err


def test_a_shard_given_twice_is_refused(cli: Cli, shards: list[Path]) -> None:
    result = merge(cli, shards[0], shards[1], shards[0])
    assert result.code == 2
    assert "shard 0/2 is given twice" in result.err


# --- credentials in URL-like arguments -----------------------------------------------------

SECRET = "Secr3tPassw0rd"


def run_out(
    tmp_path: Path, out: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", out, "-q"],
        cwd=tmp_path,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def nowhere(tmp_path: Path, done: subprocess.CompletedProcess[str], secret: str = SECRET) -> None:
    """The secret is in no output and in no file or folder name rhbatch made."""
    assert secret not in done.stdout
    assert secret not in done.stderr
    for path in tmp_path.rglob("*"):
        assert secret not in str(path.relative_to(tmp_path)), path
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_refused_out_url_is_shown_without_its_credentials(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(jobs("fox"))
    done = run_out(tmp_path, f"zzz://user:{SECRET}@bucket/x")
    assert done.returncode == 2
    assert "--out zzz://***@bucket/x: 'zzz' is not a storage protocol" in done.stderr
    nowhere(tmp_path, done)


def test_an_out_url_with_credentials_is_masked_in_every_line(tmp_path: Path) -> None:
    """A run into object storage whose URL holds a user and password: the "put in" line,
    the state folder's name and every file say *** where the credentials were."""
    (tmp_path / "s.yaml").write_text(jobs("fox", "owl"))
    with EmulatorThread(emulator_config()) as emu:
        env = {"RUNNINGHUB_BASE_URL": emu.base_url, "RUNNINGHUB_API_KEY": emu.api_key}
        done = run_out(tmp_path, f"memory://user:{SECRET}@bucket/batch", env)
    assert done.returncode == 0, done.stderr
    assert "put in: memory://***@bucket/batch (state: " in done.stdout
    nowhere(tmp_path, done)


def test_the_resume_command_never_shows_the_credentials(tmp_path: Path) -> None:
    """Stopped with a URL holding credentials, the resume line masks them and says so."""
    from rhbatch.cli import build_parser
    from rhbatch.commands.run import resume_command

    argv = ["run", "s.yaml", "--out", f"s3://KEYID:{SECRET}@bucket/x", "--max-spend", "5"]
    args = build_parser().parse_args(argv)
    args.argv = argv
    line = resume_command(args, tmp_path)
    assert SECRET not in line
    assert "--out 's3://***@bucket/x'" in line
    assert "(with the credentials of the URL, shown as ***, put back)" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "s3://KEYID:{s}@bucket/x"],
        ["report", "s3://KEYID:{s}@bucket/x"],
        ["export", "s3://KEYID:{s}@bucket/x", "--to=s3://KEYID:{s}@bucket/x.csv"],
        ["merge", "s3://KEYID:{s}@bucket/a", "--out", "gs://KEYID:{s}@b/c"],
        ["cancel", "s3://KEYID:{s}@bucket/x"],
        ["s3://KEYID:{s}@bucket/x"],
        ["run", "s.yaml", "--max-spend", "s3://KEYID:{s}@b"],
        ["run", "s.yaml", "--base-url", "http://KEYID:{s}@127.0.0.1:9/"],
    ],
    ids=["status", "report", "export", "merge", "cancel", "command", "number", "base-url"],
)
def test_credentials_in_any_argument_are_never_echoed(tmp_path: Path, argv: list[str]) -> None:
    """A URL with a user and password in any argument (a directory argument, a bad number,
    the command itself) is refused with *** in its place: argparse and each command's
    errors quote arguments, and the Path of "s3://K:S@b" reads "s3:/K:S@b"."""
    (tmp_path / "s.yaml").write_text(jobs("fox"))
    done = subprocess.run(
        [sys.executable, "-m", "rhbatch", *[a.format(s=SECRET) for a in argv]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "***" in done.stderr, done.stderr
    assert "KEYID" not in done.stderr
    nowhere(tmp_path, done)


# --- a stop with a task that never ends ----------------------------------------------------


@pytest.mark.parametrize("pause", [0.0, 0.3, 1.0])
def test_two_sigterms_with_a_stuck_task_exit_cleanly(tmp_path: Path, pause: float) -> None:
    """A task that never ends, then SIGTERM twice (at once, and a moment apart): the run
    exits 130 with the command to resume, no traceback (a CancelledError once escaped
    from closing the HTTP session) and no unclosed session."""
    (tmp_path / "s.yaml").write_text(jobs("stuck", "also"))
    with EmulatorThread(emulator_config(faults={"stuck": {"rate": 1.0}})) as emu:
        env = {**os.environ, "RUNNINGHUB_BASE_URL": emu.base_url}
        env["RUNNINGHUB_API_KEY"] = emu.api_key
        argv = [sys.executable, "-m", "rhbatch", "run", "s.yaml", "--out", "out"]
        with subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            deadline = time.monotonic() + 60
            while emu.stats()["submissions"] < 2:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            time.sleep(pause)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "CancelledError" not in err
    assert "Unclosed" not in err
    assert "resume with: rhbatch run s.yaml --out out" in err
