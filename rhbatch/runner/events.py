"""The events of a run: what ``--log-json`` writes and what ``on_event`` receives.

One list, ``EVENTS``, says every event and its fields; docs/events.md is made
from it (``python -m rhbatch.runner.events`` prints the page, and a test checks the
page and every event a run emits against it). An event is a JSON object per
line on stderr with ``--log-json`` (``{"ts": ..., "event": NAME, ...fields}``),
or an ``Event`` passed to ``on_event`` in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Kind:
    """One kind of event: what it says, and its fields (name -> meaning)."""

    name: str
    doc: str
    fields: Mapping[str, str] = field(default_factory=dict)


# Every event: its name and what it says; below it, its fields, "name: meaning" each, or a
# name alone for a field of _SHARED, which means the same in every event that has it.
_SHARED = {
    "job": "the job's id",
    "task": "RunningHub's task id",
    "cost": "what it was billed (CNY)",
    "bytes": "its size",
}
_TABLE = """
message: a line a person reads: the quote, a warning, a stop
    text: it
uploaded: a local file was uploaded for the jobs that use it
    path: the file, as the spec names it; bytes
submitted: a job's task was made
    job; task
followed: a task of an earlier run is followed again
    job; task; attempt: the job's attempt (1-based)
adopted: a job whose submit lost its reply found its task
    job; task
backpressure: RunningHub said its queue is full; the submit waits
    job; code: its code (421, 1011, HTTP429); wait: seconds
lost_reply: a submit's answer was lost: a task may exist
    job; reason: what happened
resend: a lost submit is proven to have made no task: sent again
    job; reason: the proof
retry: a task failed with a retryable code: the job is sent again
    job; code: the failure's code; attempt: the failed attempt
task_succeeded: a task succeeded (paid); its files are fetched next
    job; task; cost
task_failed: a task failed for good
    job; task; code: the failure's code
downloaded: a result file is saved and checksummed
    job; path: its path in the output; bytes
succeeded: a job ended with every file in
    job; cost
failed: a job ended failed (nothing sent, or its task failed)
    job; code: why, as a code; message: why, in words
unknown: a job ended unknown: a task may exist (see rhbatch attach)
    job; reason: why
unfetched: a job's task succeeded (paid) but its files could not be had
    job; message: why
blocked: a pipeline job waits on a job that did not succeed
    job; message: which, and why
watched: the run's last event: how it watched its tasks
    samples: account-count samples read; unhealthy: checks that found the API unwell;
    probes: health probes; webhooks: task ends learned by webhook;
    ...: more counters of the watcher and of lost replies
"""


def _kinds(table: str) -> dict[str, Kind]:
    """The kinds of event a table like ``_TABLE`` says, by name."""
    kinds: dict[str, Kind] = {}
    name = ""
    for line in table.strip().splitlines():
        if not line.startswith(" "):
            name, doc = line.split(": ", 1)
            kinds[name] = Kind(name, doc, {})
            continue
        fields = dict(kinds[name].fields)
        for item in filter(None, (part.strip() for part in line.split(";"))):
            key, _, meaning = item.partition(": ")
            fields[key] = meaning or _SHARED[key]
        kinds[name] = Kind(name, kinds[name].doc, fields)
    return kinds


EVENTS: dict[str, Kind] = _kinds(_TABLE)


@dataclass(frozen=True)
class Event:
    """One event of a run, as ``on_event`` receives it: ``name`` (a key of ``EVENTS``),
    ``ts`` (seconds since the epoch), ``job`` (the job's id, for events about a job)
    and every field (``event["task"]``, ``event.get("cost")``)."""

    name: str
    ts: float
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def job(self) -> str | None:
        value = self.fields.get("job")
        return None if value is None else str(value)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


def page() -> str:
    """docs/events.md: every event and its fields."""
    lines = [
        "# Events",
        "",
        "`rhbatch run --log-json` writes one JSON object per line on stderr:",
        '`{"ts": 1796605200.123, "event": "submitted", "job": "fox-1", "task": "20135..."}`.',
        "In Python, `rhbatch.run(spec, on_event=f)` calls `f` with each as an",
        '`rhbatch.Event` (`event.name`, `event.ts`, `event.job`, `event["task"]`).',
        "This page is made from `rhbatch/runner/events.py`; a test checks that every",
        "event a run emits is here.",
        "",
        "| event | when | fields |",
        "|---|---|---|",
    ]
    for kind in EVENTS.values():
        fields = "; ".join(f"`{k}`: {v}" for k, v in kind.fields.items())
        lines.append(f"| `{kind.name}` | {kind.doc} | {fields} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(page(), end="")
