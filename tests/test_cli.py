"""The command line itself: every command's help, the exit codes `rhbatch --help` and the
README list, and the usage errors every command meets (a directory or file that is not
there, no API key), each exit 2 with nothing sent or written."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rhbatch import errors
from rhbatch.commands.parser import build_parser
from rhbatch.commands.usage import DOCS, EXIT_CODES
from rhbatch.store.state import Store
from tests.helpers import ROOT, Result
from tests.run_helpers import emulator, spec_text

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


COMMANDS = sorted(subcommands())


def test_every_command_and_argument_is_described() -> None:
    """Each subcommand has a description to head its --help, and each of its arguments,
    positional or not, says what it is for."""
    commands = subcommands()
    assert len(commands) == 15
    missing = []
    for name, parser in commands.items():
        if not (parser.description or "").strip():
            missing.append(f"rhbatch {name}: no description")
        for action in parser._actions:
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                shown = "/".join(action.option_strings) or action.metavar or action.dest
                missing.append(f"rhbatch {name} {shown}: no help")
    assert missing == []


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help(cli: Cli, command: str) -> None:
    """`rhbatch COMMAND --help` exits 0 and prints its description and each argument's help."""
    parser = subcommands()[command]
    result = cli(command, "--help")
    assert result.code == 0, result.err
    flat = " ".join(result.out.split())
    assert " ".join((parser.description or "").split()) in flat
    for action in parser._actions:
        assert " ".join((action.help or "").split()) in flat, action.dest


@pytest.mark.parametrize(
    ("command", "option", "words"),
    [
        ("status", "--json", "one JSON document"),
        ("export", "--format", "the table's format"),
        ("cancel", "--base-url", "API base URL"),
        ("attach", "--base-url", "API base URL"),
        ("pin", "--base-url", "API base URL"),
        ("pin", "--api-key-env", "environment variable holding the API key"),
        ("attach", "TASK_ID", "the task's id"),
        ("status", "DIR", "a run's output directory"),
        ("validate", "SPEC", "spec files"),
    ],
)
def test_the_arguments_the_issue_named_have_help(
    cli: Cli, command: str, option: str, words: str
) -> None:
    """The arguments that once had none (status --json, export --format, the --base-url of
    cancel, attach and pin, the positional DIR and SPEC) say what they are for."""
    out = cli(command, "--help").out
    line = next(line for line in out.splitlines() if line.strip().startswith(option))
    rest = out[out.index(line) :]
    assert words in " ".join(rest.split()[:30])


def test_top_level_help_names_the_exit_codes_and_the_docs(cli: Cli) -> None:
    """`rhbatch --help` lists every exit code with its meaning, and the documents."""
    result = cli("--help")
    assert result.code == 0
    flat = " ".join(result.out.split())
    assert "exit codes:" in result.out
    for code, meaning in EXIT_CODES:
        assert f"{code} {meaning}" in flat
    for name, what in DOCS:
        assert f"{name} {what}" in flat
        assert (ROOT / name).is_file(), name


def test_exit_codes_are_those_of_errors_and_the_readme() -> None:
    """The codes `--help` lists are exactly the EXIT_* constants, and the README's table
    says the same, word for word."""
    constants = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert [code for code, _ in EXIT_CODES] == sorted(constants)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", readme, flags=re.MULTILINE)
    assert [(int(code), meaning) for code, meaning in rows] == list(EXIT_CODES)


# --- usage errors: exit 2 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("status", "{dir}"),
        ("status", "{dir}", "--json"),
        ("report", "{dir}"),
        ("verify", "{dir}"),
        ("export", "{dir}"),
        ("export", "{dir}", "--format", "csv"),
        ("cancel", "{dir}"),
        ("attach", "{dir}", "shot-1", "123"),
    ],
)
def test_a_directory_that_is_not_there(cli: Cli, tmp_path: Path, argv: tuple[str, ...]) -> None:
    """Every command that reads a run's directory: one that is not there is a usage error
    (exit 2) naming it; nothing is created."""
    missing = tmp_path / "no" / "such"
    result = cli(*(a.format(dir=missing) for a in argv))
    assert result.code == 2, result.err
    assert f"no such directory: {missing}" in result.err
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ("status", "{dir}"),
        ("verify", "{dir}"),
        ("cancel", "{dir}"),
        ("attach", "{dir}", "shot-1", "123"),
        ("report", "{dir}"),
        ("export", "{dir}"),
        ("merge", "{dir}", "--out", "{dir}/merged"),
    ],
)
def test_a_directory_that_holds_no_run(cli: Cli, tmp_path: Path, argv: tuple[str, ...]) -> None:
    """A directory that is there but holds no run: the wrong directory, exit 2 too."""
    result = cli(*(a.format(dir=tmp_path) for a in argv))
    assert result.code == 2, result.err
    assert str(tmp_path) in result.err
    assert list(tmp_path.iterdir()) == []


def test_a_path_that_is_a_file_not_a_directory(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    result = cli("status", str(tmp_path / "plain"))
    assert result.code == 2
    assert f"not a directory: {tmp_path / 'plain'}" in result.err


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_a_spec_that_is_not_there(cli: Cli, write: Write, command: str) -> None:
    result = cli(command, "nope.yaml")
    assert result.code == 2
    assert result.err.startswith("nope.yaml: no such spec file\n")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("new", "seedance-2.0/multimodal-video", "--out", "no/such/s.yaml"), "cannot write"),
        (("new", "workflow", "123", "--dir", "no/such"), "is not pinned"),
        (("schema", "--write", "no/such/spec.schema.json"), "cannot write"),
        (("emulator", "--config", "no/such.yaml"), "No such file"),
        (("merge", "no/such", "--out", "merged"), "no/such"),
    ],
)
def test_other_paths_that_are_not_there(
    cli: Cli, write: Write, argv: tuple[str, ...], words: str
) -> None:
    """The files and directories other commands read or write into: exit 2 as well."""
    write("s.yaml", spec_text(1))
    result = cli(*argv)
    assert result.code == 2, result.err
    assert words in result.err
    assert not Path("no").exists()


def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RUNNINGHUB_API_KEY", "RH_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_run_without_an_api_key(cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key: a usage error (exit 2) saying what to set, and no output directory."""
    write("s.yaml", spec_text(2))
    _no_key(monkeypatch)
    result = cli("run", "s.yaml", "--out", "out")
    assert result.code == 2
    assert result.err == (
        "rhbatch: error: no API key: set $RUNNINGHUB_API_KEY (or $RH_API_KEY), or name "
        "another variable with --api-key-env; --emulator runs against the built-in emulator "
        "without one\n"
    )
    assert not Path("out").exists()
    named = cli("run", "s.yaml", "--out", "out", "--api-key-env", "MY_KEY")
    assert named.code == 2
    assert "no API key: set $MY_KEY" in named.err


def test_cancel_attach_and_pin_without_an_api_key(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other commands that talk to RunningHub: no key is exit 2 as well."""
    out = tmp_path / "out"
    with Store.open(out) as store:
        endpoint = "seedance-2.0/multimodal-video"
        store.sync(
            [("shot-1", 0, endpoint, {"prompt": "a"}), ("shot-2", 1, endpoint, {"prompt": "b"})]
        )
        attempt = store.begin_attempt("shot-2", {"prompt": "b"}, {})
        store.record_task("shot-2", attempt, "2013508786110730241", "RUNNING")
    _no_key(monkeypatch)
    monkeypatch.chdir(tmp_path)
    for argv in (
        ("cancel", str(out)),
        ("attach", str(out), "shot-1", "2013508786110730242"),
        ("pin", "workflow", "123"),
    ):
        result = cli(*argv)
        assert result.code == 2, (argv, result.err)
        assert "rhbatch: error: no API key" in result.err
    assert not (tmp_path / "pins").exists()


def test_a_missing_key_is_a_usage_error_and_an_auth_error() -> None:
    """Code that catches AuthError (every key problem) still catches a missing key."""
    assert issubclass(errors.MissingKey, errors.UsageError)
    assert issubclass(errors.MissingKey, errors.AuthError)
    assert errors.MissingKey.exit_code == errors.EXIT_INVALID
    assert issubclass(errors.NotARun, errors.StateError)
    assert errors.NotARun.exit_code == errors.EXIT_INVALID


def test_the_exit_code_of_the_process(tmp_path: Path) -> None:
    """As a process, not only in-process: `rhbatch status` of no directory exits 2, one line
    of usage and the error, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNINGHUB_", "RH_"))}
    done = subprocess.run(
        [sys.executable, "-m", "rhbatch", "status", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"rhbatch status: error: argument DIR: no such directory: {tmp_path / 'nowhere'} "
        "(give the output directory of a run, the --out of `rhbatch run`)"
    )
    assert "Traceback" not in done.stderr


def test_an_invalid_spec_with_an_unknown_endpoint_sends_nothing(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown endpoint and a bad placeholder are both told by one `run`, exit 2, and
    not one request reaches the API."""
    write(
        "s.yaml",
        """
        version: 1
        endpoint: seedance-3.0/multimodal
        jobs:
          - prompt: "a {nope} fox"
        """,
    )
    with emulator(monkeypatch) as emu:
        result = cli("run", "s.yaml", "--out", "out")
        stats = emu.stats()
    assert result.code == 2
    assert result.problems[0].startswith(
        "s.yaml:2: endpoint: unknown endpoint 'seedance-3.0/multimodal'; did you mean "
    )
    assert result.problems[1:] == [
        "s.yaml:4: job 1: prompt: unknown placeholder {nope}; known here: copy"
    ]
    assert sum(stats["requests"].values()) == 0
    assert not Path("out").exists()
