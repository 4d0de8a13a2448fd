"""Spend control against the emulator: the quote, the cap, the balance, billed against quoted.

Every figure about money is asserted from the emulator's ledger (what it charged), not
from what rhbatch says it spent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.config import DEFAULT_KEY
from tests.helpers import Result
from tests.run_helpers import emulator, manifest, verify_files

pytestmark = pytest.mark.usefixtures("virtual_clock")

Cli = Callable[..., Result]
Write = Callable[[str, str], Path]
MULTIMODAL = "seedance-2.0/multimodal-video"
LITE = "seedance-v1-lite/reference-to-video"
IMAGE = "https://example.com/a.png"


def mixed_spec(jobs: int = 12, run: str = "") -> str:
    """Jobs of three prices: seedance 2.0 at 480p x 4 s (2.40 CNY) and 720p x 5 s (6.00),
    and seedance v1 lite (0.75)."""
    takes = ", ".join(str(i) for i in range(1, jobs // 3 + 1))
    return (
        "version: 1\nname: money\n"
        f"matrix:\n  take: [{takes}]\n"
        "jobs:\n"
        f"  - {{id: 'cheap-{{take}}', endpoint: {MULTIMODAL}, prompt: 'a boat {{take}}', "
        "resolution: 480p, duration: '4'}\n"
        f"  - {{id: 'dear-{{take}}', endpoint: {MULTIMODAL}, prompt: 'a ship {{take}}', "
        "resolution: 720p, duration: '5'}\n"
        f"  - {{id: 'lite-{{take}}', endpoint: {LITE}, prompt: 'a raft {{take}}', "
        f"imageUrls: ['{IMAGE}']}}\n"
        f"run:\n  poll_interval: 2\n  timeout: 600\n  retries: 3\n{run}"
    )


def charged(stats: dict[str, Any]) -> float:
    total: float = stats["charged"]
    return total


def test_the_cap_is_never_crossed_and_a_higher_cap_finishes_the_rest(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs of three prices, a third of their tasks failing and retried: the account is
    never charged past --max-spend; the run exits 4 saying what it spent, what is left and
    how to go on; a rerun with a higher cap runs only the rest, paying nothing twice."""
    write("s.yaml", mixed_spec(12, run="  concurrency: 4\n"))  # quoted 36.60 CNY in all
    faults = {"task_failed": {"rate": 0.3, "codes": ["1015"]}}
    with emulator(monkeypatch, faults=faults, seed=9) as emu:
        capped = cli("run", "s.yaml", "--out", "out", "--max-spend", "15")
        at_cap = emu.stats()
        rest = cli("run", "s.yaml", "--out", "out", "--max-spend", "100", "-q")
        stats = emu.stats()
    assert capped.code == 4, capped.err
    assert charged(at_cap) <= 15.0
    assert at_cap["byStatus"].get("FAILED", 0) >= 1  # retries were among them
    assert "would take the batch past its spending cap of 15.00 CNY" in capped.err
    assert "A rerun with a higher cap submits only the rest: rhbatch run s.yaml --out out" in (
        capped.err
    )
    assert "--max-spend 36.60" in capped.err  # what the rest is quoted, with what is billed
    assert rest.code == 0, rest.err
    records = manifest(Path("out"))
    assert {r["status"] for r in records} == {"succeeded"}
    assert verify_files(Path("out"), records) == 12
    assert stats["paidTwice"] == {}
    assert charged(stats) == pytest.approx(sum(r["billed"] for r in records))
    assert charged(stats) == pytest.approx(36.6)


def test_the_cap_holds_against_a_server_that_bills_more_than_quoted(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator bills seedance 2.0 at 1.5 times the list: rhbatch learns it from the
    first bill (one task of the endpoint in flight until then) and never crosses the cap."""
    write("s.yaml", mixed_spec(12, run="  concurrency: 6\n"))
    billing = {"rhart-video/*": 1.5}
    with emulator(monkeypatch, billing_factor=billing) as emu:
        result = cli("run", "s.yaml", "--out", "out", "--max-spend", "20", "-q")
        stats = emu.stats()
    assert result.code == 4, result.err
    assert 10.0 < charged(stats) <= 20.0
    over = [r for r in manifest(Path("out")) if r["billed"] and r["billed"] > r["quoted"]]
    assert over
    assert all(r["endpoint"].startswith("rhart-video/") for r in over)


def test_a_job_without_a_price_is_refused_under_a_cap(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a cap, a job no price is known for is refused before anything is sent (exit
    2); --allow-unpriced runs it."""
    write(
        "s.yaml",
        "version: 1\njobs:\n  - {id: mesh, endpoint: meshy6/text-to-3d, prompt: a teapot}\n",
    )
    with emulator(monkeypatch) as emu:
        refused = cli("run", "s.yaml", "--out", "out", "--max-spend", "10")
        before = sum(emu.stats()["requests"].values())
        allowed = cli("run", "s.yaml", "--out", "out", "--max-spend", "10", "--allow-unpriced")
    assert refused.code == 2
    assert before == 0
    assert (
        "no price is known for 1 job to run (mesh), so the spending cap cannot hold them; "
        "--allow-unpriced (or run.allow_unpriced: true) runs them anyway" in refused.err
    )
    assert allowed.code == 0, allowed.err


def test_the_quote_comes_first_and_the_preview_is_asked_once_per_price(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's first line is its quote; --quote online asks the price preview once per
    distinct price-relevant parameter set (3 for 12 jobs here), shows where it differs
    from the list, and the jobs are quoted by it."""
    write("s.yaml", mixed_spec(12))
    with emulator(monkeypatch, preview_factor={"seedance-v1-lite/*": 0.8}) as emu:
        result = cli("run", "s.yaml", "--out", "out", "--quote", "online")
        stats = emu.stats()
    lines = result.err.splitlines()
    assert lines[0] == "rhbatch: quote: 36.60 CNY for 12 jobs to run (public price list)"
    assert stats["requests"]["other"] >= 3
    assert "rhbatch: price preview: asked 3 times for 12 jobs" in result.err
    assert (
        "  seedance-v1-lite-reference-to-video: RunningHub quotes 2.40 CNY, the public price "
        "list 3.00 CNY (-0.60)" in lines
    )
    assert "rhbatch: quote: 36.00 CNY for 12 jobs to run (with the price preview)" in lines
    lite = [r for r in manifest(Path("out")) if r["id"].startswith("lite-")]
    assert {(r["quoted"], r["quoteSource"]) for r in lite} == {(0.6, "preview")}


def test_dry_run_gives_the_quote(cli: Cli, write: Write) -> None:
    """run --dry-run says what the jobs it would submit cost, per endpoint, offline."""
    write("s.yaml", mixed_spec(6))
    result = cli("run", "s.yaml", "--out", "out", "--dry-run")
    assert result.code == 0
    assert "this run: 6 jobs to submit, 18.30 CNY (public price list)" in result.out
    assert "  seedance-2.0/multimodal-video: 16.80 CNY for 4 jobs" in result.out


def test_a_balance_below_the_quote_is_said_before_the_start(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account's balance is read before the first submit; a batch quoted above it
    is told so."""
    write("s.yaml", mixed_spec(6))
    accounts = {DEFAULT_KEY: {"balance": 10.0}}
    with emulator(monkeypatch, accounts=accounts):
        result = cli("run", "s.yaml", "--out", "out")
    assert (
        "rhbatch: the account holds 10.00 CNY, less than the 18.30 CNY quoted for the jobs "
        "to run: the run stops submitting when the balance runs out" in result.err
    )
    assert result.code == 3  # the balance ran out: the run stopped submitting


def test_status_and_run_json_reconcile_billed_against_quoted(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server billing 1.2 times the list: status shows billed against quoted per
    endpoint and lists the jobs billed more than quoted; run.json has the totals."""
    write("s.yaml", mixed_spec(6))
    with emulator(monkeypatch, billing_factor={"seedance-v1-lite/*": 1.2}):
        assert cli("run", "s.yaml", "--out", "out", "-q").code == 0
        status = cli("status", "out")
    money = json.loads(Path("out/run.json").read_text())["money"]
    assert money["quoted"] == pytest.approx(18.3)
    assert money["billed"] == pytest.approx(18.6)
    assert money["perEndpoint"]["seedance-v1-lite/reference-to-video"] == {
        "jobs": 2,
        "quoted": 1.5,
        "billed": 1.8,
    }
    assert sorted(money["billedOverQuoted"]) == ["lite-1", "lite-2"]
    assert "seedance-v1-lite/reference-to-video                    2    1.50    1.80  +0.30" in (
        status.out.splitlines()
    )
    assert "billed more than quoted: 2 jobs" in status.out
    assert "  lite-1 (seedance-v1-lite/reference-to-video): quoted 0.75, billed 0.90 CNY" in (
        status.out
    )
