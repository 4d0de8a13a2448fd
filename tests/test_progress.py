"""What a run shows: the bar's figures, the log lines, and output nobody reads any more."""

from __future__ import annotations

import io
import os
import sys

import pytest

from rhbatch.runner.progress import Bar, Lines, Outlet, outlet, outlets


def test_an_outlet_falls_silent_when_its_reader_is_gone() -> None:
    """The first write that meets a closed pipe silences the stream; later writes and
    flushes do not fail, and the descriptor then leads nowhere (a flush at exit is fine)."""
    read, write = os.pipe()
    os.close(read)
    stream = os.fdopen(write, "w", buffering=1)
    try:
        out = Outlet(stream)
        assert out.write("nobody reads this\n") >= 0
        out.flush()
        assert out.gone
        assert out.write("nor this\n") == len("nor this\n")
        out.flush()
        stream.write("left in the buffer\n")
        stream.flush()  # the descriptor now points at the null device
    finally:
        stream.close()


def test_an_outlet_passes_everything_through_while_read() -> None:
    text = io.StringIO()
    out = outlet(text)
    print("hello", file=out)
    assert text.getvalue() == "hello\n"
    assert outlet(out) is out
    assert out.getvalue() == "hello\n"  # other attributes are the stream's


def test_outlets_wrap_the_standard_streams_for_a_while() -> None:
    before = sys.stdout, sys.stderr
    with outlets():
        assert isinstance(sys.stdout, Outlet)
        assert isinstance(sys.stderr, Outlet)
    assert (sys.stdout, sys.stderr) == before


def test_the_bar_shows_the_oldest_task_only_while_one_is_in_flight() -> None:
    text = io.StringIO()
    bar = Bar(text, "t")
    in_flight = [2]
    bar.sources(running=lambda: in_flight[0], oldest=lambda: 75.0 if in_flight[0] else None)
    bar.start(4, 0, 0.0)
    assert bar.bar is not None
    assert "oldest=1m15s" in bar.bar.postfix
    in_flight[0] = 0
    bar.emit("succeeded", cost=6.0)  # within the second: the age is not looked up again
    assert "oldest" not in bar.bar.postfix
    assert "running=0" in bar.bar.postfix
    assert "cost=6.00 CNY" in bar.bar.postfix
    bar.close()


def test_lines_say_the_end_at_once_and_otherwise_every_few_seconds() -> None:
    text = io.StringIO()
    lines = Lines(text, every=3600)
    lines.sources(running=lambda: 0, oldest=lambda: None)
    lines.start(2, 0, 0.0)
    lines.emit("succeeded", cost=1.5)
    lines.emit("failed")
    said = text.getvalue().splitlines()
    assert said[0].startswith("rhbatch: 1/2 done, 0 running, 1.50 CNY")
    assert said[-1].startswith("rhbatch: 2/2 done (1 failed), 0 running, 1.50 CNY")
    assert len(said) == 2


def test_a_machine_just_booted_sees_the_first_line_and_the_oldest_age_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A monotonic clock counts from the boot: half a second after it, the first log line
    and the bar's first age are shown at once, not after ``every`` seconds of uptime."""
    monkeypatch.setattr("rhbatch.runner.progress.time.monotonic", lambda: 0.5)
    text = io.StringIO()
    lines = Lines(text, every=10)
    lines.sources(running=lambda: 1, oldest=lambda: None)
    lines.start(3, 0, 0.0)
    lines.emit("succeeded", cost=1.0)
    assert text.getvalue().startswith("rhbatch: 1/3 done, 1 running, 1.00 CNY")
    bar = Bar(io.StringIO(), "t")
    bar.sources(running=lambda: 1, oldest=lambda: 5.0)
    bar.start(3, 0, 0.0)
    assert bar.bar is not None
    assert "oldest=5s" in bar.bar.postfix
    bar.close()


def test_a_job_that_fails_at_its_start_leaves_nothing_running() -> None:
    """The only job fails before its slot is handed back: the line says 1/1 done (1
    failed), 0 running, not 1 running."""
    text = io.StringIO()
    lines = Lines(text, every=3600)
    lines.sources(running=lambda: 1, oldest=lambda: None)  # the slot is still held
    lines.start(1, 0, 0.0)
    lines.emit("failed")
    assert text.getvalue().startswith("rhbatch: 1/1 done (1 failed), 0 running, 0.00 CNY")
