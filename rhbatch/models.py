"""The records rhbatch passes around, and every status with its terminal set.

- Spec side: an ``Entry`` is a job as written (a ``jobs`` item, a ``jobs_from``
  row, or the defaults alone); expansion turns each entry into ``Job`` records,
  one per matrix combination and copy. A job keeps references to the entry and
  matrix points it came from, so that a problem can be traced back to its line
  without storing a line table per job.
- Remote side: ``RemoteStatus`` (a task on RunningHub) and ``TaskState``, what a
  submit, a query or a webhook said of a task; ``QueueStatus``, the account's slots;
  ``Outcome``, what became of an attempt's task when no final status says it.
- Local side: ``JobStatus`` (a job in the state store) and ``JobRow``/``OutputRow``,
  the store's records.
- ``RunSettings``: the ``run:`` settings of a spec with their defaults, in one place.
- ``canonical_json``: the one way rhbatch writes a value to compare or hash it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from rhbatch.errors import ProtocolError
from rhbatch.redact import clean

# What an endpoint makes, and the extension its results carry (RunningHub's outputType).
OUTPUT_EXTENSIONS = {"video": "mp4", "image": "png", "audio": "wav", "3d": "glb", "string": "txt"}
OUTPUT_TYPES = tuple(OUTPUT_EXTENSIONS)


# Jobs that run a ComfyUI workflow or an AI app name them as "workflow:<id>" and
# "app:<id>" where a model job names its endpoint path (no endpoint path has a colon).
PINNED_KINDS = ("workflow", "app")


def pinned_kind(endpoint: str) -> tuple[str, str] | None:
    """("workflow"|"app", id) of a workflow or AI-app job's endpoint; None for a model."""
    kind, colon, ident = endpoint.partition(":")
    if colon and kind in PINNED_KINDS and ident:
        return kind, ident
    return None


def field_text(value: Any) -> Any:
    """A workflow's or AI app's input value in the form RunningHub's own clients send it
    as ``fieldValue``: text (numbers as their decimal text, booleans as ``"true"`` and
    ``"false"``); a list or mapping is left as it is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return value


# Compact JSON, sorted keys, text kept as text: equal values, equal strings (one encoder).
canonical_json = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


# Inputs that hold a job's prompt, by their name (after the node id of a workflow's
# ``NODE.FIELD``): ComfyUI's text encoders and the common custom prompt nodes.
PROMPT_FIELDS = (
    "prompt",
    "text",
    "positive_prompt",
    "positive",
    "text_positive",
    "t5xxl",
    "clip_l",
    "text_g",
    "clip_g",
    "text_l",
    "wildcard_text",
)


def prompt_of(params: object, field: str | None = None) -> str:
    """The one answer to "what is this job's prompt": the parameter ``field`` (a spec's
    ``output.prompt``) if given and set; else ``prompt``; else the first text of a known
    prompt input (``6.text``, ``12.positive_prompt``, ``t5xxl``; never a negative one),
    in the job's order; else the first text that reads like words; else ""."""
    if not isinstance(params, Mapping):
        return ""
    if field is not None:
        chosen = params.get(field)
        return chosen if isinstance(chosen, str) else ""
    texts = [(str(k), v) for k, v in params.items() if isinstance(v, str) and v.strip()]
    texts = [(k, v) for k, v in texts if "negative" not in k.lower()]
    for wanted in PROMPT_FIELDS:
        for key, value in texts:
            if key.rpartition(".")[2].lower() == wanted:
                return value
    for key, value in texts:  # named like one: positivePrompt, 2.user_text
        if key.lower().endswith(("prompt", "text")):
            return value
    for _, value in texts:
        if " " in value.strip() and "://" not in value:
            return value
    return ""


@dataclass(frozen=True, slots=True)
class Point:
    """One position on a matrix axis: the keys it sets, their values and lines."""

    values: Mapping[str, Any]
    lines: Mapping[str, int]


@dataclass(slots=True)
class Matrix:
    """Axes whose cartesian product makes the jobs; a zip is one axis of several keys."""

    axes: list[list[Point]]
    key_lines: dict[str, int]

    @property
    def keys(self) -> set[str]:
        return set(self.key_lines)

    @property
    def size(self) -> int:
        total = 1
        for axis in self.axes:
            total *= len(axis)
        return total


@dataclass(slots=True)
class Entry:
    """A job as written: one item of ``jobs``, one row of a ``jobs_from`` file, or the defaults."""

    file: str
    line: int
    where: str
    params: Mapping[str, Any]
    key_lines: Mapping[str, int]
    endpoint: str | None = None
    id: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    repeat: int | None = None
    matrix: Matrix | None = None
    uses: Mapping[str, str] = field(default_factory=dict)  # name -> id template of a job
    row: bool = False  # columns that are not parameters are variables
    text: bool = False  # values are CSV text, converted by the parameter's type

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


@dataclass(slots=True)
class Job:
    """One request to send: its stable id, endpoint path and body."""

    index: int  # 0-based position in the expanded spec
    id: str
    endpoint: str
    params: dict[str, Any]
    copy: int  # 1-based copy number (repeat)
    entry: Entry
    combo: tuple[Point, ...]
    variables: dict[str, Any]
    broken: bool = False  # a problem was found while expanding it (already reported)
    uses: dict[str, str] = field(default_factory=dict)  # name -> id of a job it takes results of

    @property
    def label(self) -> str:
        return f"job {self.index + 1} (id {self.id})"


# --- a task on RunningHub ----------------------------------------------------------------


_SPELLINGS = {"CANCELLED": "CANCEL", "CANCELED": "CANCEL"}  # of a status, as servers write it


class RemoteStatus(StrEnum):
    """A task's status on RunningHub; an unknown value is a ProtocolError."""

    CREATE = "CREATE"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCEL = "CANCEL"

    @property
    def terminal(self) -> bool:
        return self in REMOTE_TERMINAL

    @classmethod
    def parse(cls, value: object) -> RemoteStatus:
        text = value.strip().upper() if isinstance(value, str) else ""
        found = cls._value2member_map_.get(_SPELLINGS.get(text, text))  # (no Enum call)
        if found is None:
            raise ProtocolError(f"unknown task status {clean(repr(value), 80)}")
        return found  # type: ignore[return-value]

    @classmethod
    def stored(cls, text: str | None) -> RemoteStatus | None:
        """A status as the state store keeps it; None for none, and for a word of format 1
        that names no status (TIMEOUT, LOST, PROTOCOL: the job was made unknown)."""
        try:
            return cls(text) if text else None
        except ValueError:
            return None


REMOTE_TERMINAL = frozenset({RemoteStatus.SUCCESS, RemoteStatus.FAILED, RemoteStatus.CANCEL})


class Outcome(StrEnum):
    """An attempt's outcome (the attempts table) that is not its task's final status: what
    rhbatch learned of the task otherwise. The table holds these or a ``RemoteStatus``."""

    SUPERSEDED = "SUPERSEDED"  # the job's parameters changed while the task was in flight
    NOTFOUND = "NOTFOUND"  # RunningHub no longer knows the task
    LOST = "LOST"  # the submit's answer was lost: a task may exist


@dataclass(frozen=True)
class Result:
    """One item of a task's ``results``: a file URL or a text, the file's extension, and
    for a workflow or AI-app task the id of the node that made it."""

    url: str | None
    output_type: str
    text: str | None
    node_id: str | None = None

    def record(self) -> dict[str, Any]:
        """The result as the store and the manifest keep it."""
        out: dict[str, Any] = {"url": self.url, "outputType": self.output_type, "text": self.text}
        if self.node_id is not None:
            out["nodeId"] = self.node_id
        return out

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Result:
        node = item.get("nodeId")
        return cls(
            item.get("url"),
            item.get("outputType") or "",
            item.get("text"),
            None if node is None else str(node),
        )


@dataclass(frozen=True)
class TaskState:
    """A task as a submit, a query or a webhook reported it."""

    task_id: str
    status: RemoteStatus
    error_code: str
    error_message: str
    results: tuple[Result, ...]
    usage: dict[str, str]
    cost: float
    failed_reason: dict[str, Any]


def running_state(task_id: str) -> TaskState:
    """What is known of a task before it is queried again: that it has not ended."""
    return TaskState(task_id, RemoteStatus.RUNNING, "", "", (), {}, 0.0, {})


@dataclass(frozen=True)
class QueueStatus:
    """The account's slots: its limit (if reported), tasks running and queued, its key tier."""

    limit: int | None
    running: int
    queued: int
    key_type: str


# --- a job in the state store --------------------------------------------------------------


class JobStatus(StrEnum):
    """Where a job stands; see ``store/state.py`` for the transitions."""

    PENDING = "pending"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a task may exist (and be paid) but its outcome is not known
    UNFETCHED = "unfetched"  # the task succeeded (paid) but its files could not be fetched
    BLOCKED = "blocked"  # a job it uses did not succeed: not sent (a later run looks again)

    @property
    def terminal(self) -> bool:
        """True when a run has nothing more to do for the job (a later run may: it follows
        an unknown job's task again, and fetches an unfetched job's files again)."""
        return self in JOB_TERMINAL


JOB_TERMINAL = frozenset(
    {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.UNKNOWN,
        JobStatus.UNFETCHED,
        JobStatus.BLOCKED,
    }
)


@dataclass(frozen=True)
class JobRow:
    """A job as the store knows it."""

    id: str
    idx: int
    endpoint: str
    params: dict[str, Any]
    status: JobStatus
    attempts: int
    task_id: str | None
    remote_status: RemoteStatus | None  # as last seen (the store keeps its text)
    error_code: str | None
    error_message: str | None
    results: tuple[Result, ...]  # what its task made, as the store keeps it
    cost: float | None
    submitted_at: float | None = None  # Unix time of the current task's submit
    first_attempt: int = 1  # the attempt this round of tries began with (retries count from it)
    quoted: float | None = None  # what the job was quoted (CNY); None: no price known
    uses: dict[str, str] = field(default_factory=dict)  # name -> id of a job whose results it takes
    finished_at: float | None = None  # Unix time it ended (succeeded: its files were in)


@dataclass(frozen=True)
class OutputRow:
    """A result file as saved: its number, source URL, path in the output directory,
    size, sha256, type and modification time (to notice a changed file)."""

    n: int
    url: str | None
    path: str
    bytes: int
    sha256: str
    type: str
    mtime_ns: int


@dataclass(frozen=True)
class SyncReport:
    """What merging a spec's jobs into the store found."""

    new: int
    kept: int
    changed: int  # same id, different parameters: will run again
    archived: int = 0  # of the changed, those whose version that ran was kept as history
    gone: int = 0  # jobs in the directory that the spec does not name (kept, not run)


# --- the run: settings ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunSettings:
    """A spec's ``run:`` settings, with the defaults of every one not written. Times are
    RunningHub seconds (a run against the built-in emulator passes them faster), except
    the download limits, which are real seconds and bytes."""

    concurrency: int | None = None  # None: the account's limit (or 10 when it is not told)
    queue_ahead: int | None = None  # tasks queued on the server beyond the slots; None: auto
    poll_interval: float = 5.0
    timeout: float = 1800.0
    retries: int = 2
    signal_interval: float = 1.0
    download: bool = True
    download_concurrency: int = 8
    max_jobs: int = 1_000_000
    max_download_mb: float = 4096.0
    download_timeout: float = 3600.0
    download_min_rate: float = 8.0  # KiB/s; 0 turns the check off
    max_spend: float | None = None  # CNY the batch may be billed in all; None: no cap
    allow_unpriced: bool = False  # under a cap, run jobs no price is known for
    quote: str = "list"  # "list": the public price list; "online": also RunningHub's preview
    api: str = "v2"  # how workflow and app jobs start: "v2" (run/...) or "legacy" (task/openapi)
    url_max_age: float = 3600.0  # pipelines: an older result URL is replaced by a fresh upload

    @classmethod
    def of(cls, run: Mapping[str, Any]) -> RunSettings:
        """The settings a (validated) ``run:`` mapping writes, the defaults for the rest."""
        known = {f.name: f.type for f in fields(cls)}
        return cls(**{k: v for k, v in run.items() if k in known})
