"""Keys seen before: the first's note, in memory and, past a size, from a scratch file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from rhbatch.store.seen import FirstSeen
from tests.helpers import Result


def test_the_first_note_comes_back_before_and_after_the_spill() -> None:
    with FirstSeen(limit=3) as seen:
        assert seen.add("a", (0, 10, "s.yaml", None)) is None
        assert seen.add("a", (5, 99, "x", "y")) == (0, 10, "s.yaml", None)
        for i in range(1, 6):  # past the limit: the rest goes to disk
            assert seen.add(f"k{i}", (i, i * 2, "t|a\\b", f"p/{i}")) is None
        path = seen._path
        assert path is not None
        assert os.path.exists(path)
        assert seen.add("a", (9, 9)) == (0, 10, "s.yaml", None)
        assert seen.add("k4", (0, 0)) == (4, 8, "t|a\\b", "p/4")
        assert seen.add("new", (7, 7)) is None
    assert not os.path.exists(path)  # the scratch file is gone


def test_a_duplicate_far_apart_in_a_big_spec_is_found(
    cli: Callable[..., Result], write: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the memory limit at 5 ids, the 40th job repeats the 2nd's id: the problem names
    the first one's position and line, as it does for a small spec."""
    monkeypatch.setattr("rhbatch.store.seen.LIMIT", 5)
    monkeypatch.setattr(FirstSeen.__init__, "__defaults__", (5,))
    takes = ", ".join(str(i) for i in range(40))
    write(
        "s.yaml",
        "version: 1\nendpoint: seedance-2.0/multimodal-video\n"
        "defaults: {resolution: 480p, duration: '4'}\n"
        "jobs:\n  - id: 'shot-{take}'\n    prompt: 'boat {take}'\n"
        f"    matrix: {{take: [{takes}]}}\n"
        "  - id: shot-1\n    prompt: again\n",
    )
    result = cli("validate", "s.yaml")
    assert result.code == 2
    assert (
        "s.yaml:8: job 41 (id shot-1): id: duplicate id 'shot-1', also job 2 (id shot-1) (line 5)"
        in (result.err)
    )
