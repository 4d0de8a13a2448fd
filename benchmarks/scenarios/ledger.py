"""Scenario 9: what the bucket's ledger costs: requests per job and time, side by side."""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.harness import KEY, Outcome, emulator, measure, rhbatch, write_spec

TITLE = "ledger: a batch into S3 (moto) beside the same batch into a local directory"
SETTINGS = {
    "durations": {"video": {"kind": "uniform", "low": 20, "high": 60}},
    "speed": 100.0,
    "accounts": {KEY: {"concurrency": 50, "balance": 1e12}},
}


class Requests(logging.Handler):
    """Counts the S3 server's requests from its access log, by kind: the ledger's
    (segments and lease), result files, and the rest (listings, metadata)."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "HTTP/1.1" not in text:
            return
        line = text.split('"')[1] if '"' in text else text
        if "/.rhbatch/" in line:
            self.kinds["ledger"] += 1
        elif ".mp4" in line:
            self.kinds["files"] += 1
        else:
            self.kinds["other"] += 1


def run(quick: bool, work: Path) -> Outcome:
    import s3fs
    from moto.server import ThreadedMotoServer

    jobs = 100 if quick else 1_000
    spec = write_spec(work / "ledger.yaml", jobs, run={"concurrency": 50, "poll_interval": 0.1})
    outcome = Outcome("ledger", TITLE, "python -m benchmarks ledger", settings=SETTINGS)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=True)
    counter = Requests()
    log = logging.getLogger("werkzeug")
    log.addHandler(counter)
    log.setLevel(logging.INFO)
    log.propagate = False
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3fs.S3FileSystem(endpoint_url=endpoint, key="bench", secret="bench").mkdir("bench")
        s3env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "FSSPEC_S3_ENDPOINT_URL": endpoint,
        }
        with emulator(SETTINGS) as emu:  # each run its own emulator: the same bodies
            local = measure(
                rhbatch("run", str(spec), "--out", str(work / "local"), "-q", "--log-json"),
                env=emu.env(),
            )
            assert local.code == 0, local.stderr[-2000:]
        counter.kinds.clear()
        with emulator(SETTINGS) as emu:
            bucket = measure(
                rhbatch(
                    "run",
                    str(spec),
                    "--out",
                    "s3://bench/batch",
                    "--state",
                    str(work / "state"),
                    "-q",
                    "--log-json",
                ),
                env={**emu.env(), **s3env},
            )
            assert bucket.code == 0, bucket.stderr[-2000:]
            stats = emu.stats()
    finally:
        server.stop()
        log.removeHandler(counter)
    kinds = dict(counter.kinds)
    ledger = kinds.get("ledger", 0)
    outcome.add("jobs (each with one 4.8 KB result file)", jobs, "jobs")
    outcome.add("wall time, --out DIR", round(local.wall, 2), "s")
    outcome.add("wall time, --out s3://", round(bucket.wall, 2), "s")
    outcome.add("wall time, s3:// over local", round(bucket.wall / local.wall, 2), "x")
    spans = [_submits(m.events()) for m in (local, bucket)]
    outcome.add("first to last submit, --out DIR", spans[0], "s")
    outcome.add(
        "first to last submit, --out s3:// (each waits for its intent's segment)", spans[1], "s"
    )
    outcome.add(
        "added wait per submit (the difference over the jobs)",
        round(1000 * (spans[1] - spans[0]) / jobs, 1),
        "ms",
    )
    outcome.add("S3 requests of the ledger (segments, lease, listing)", ledger, "requests")
    outcome.add(
        "ledger requests per job", round(ledger / jobs, 2), "requests", "≤ 1", ledger <= jobs
    )
    outcome.add(
        "ledger requests per second of the run",
        round(ledger / bucket.wall, 1),
        "requests/s",
    )
    files = kinds.get("files", 0)
    outcome.add("S3 requests for result files (put, size read back)", files, "requests")
    outcome.add("other S3 requests (manifest, metadata, probes)", kinds.get("other", 0), "requests")
    outcome.add("bodies paid twice", len(stats["paidTwice"]), "bodies", "0", not stats["paidTwice"])
    outcome.details["notes"] = [
        "Each submit waits until its intent is in the bucket: the ledger ships the store's "
        "changes as one segment per group (every submit waiting at that moment, and every "
        "task id and end of the last quarter second), so its requests grow with the run's "
        "time, not with its jobs.",
        f"S3 is moto's server on loopback (a put takes about a millisecond there; on AWS "
        f"tens of milliseconds, which a submit then waits for). CPU count: {os.cpu_count()}.",
    ]
    return outcome


def _submits(events: list[dict[str, Any]]) -> float:
    """Seconds from the first submit to the last."""
    times = [e["ts"] for e in events if e.get("event") == "submitted"]
    return round(max(times) - min(times), 2) if times else 0.0
