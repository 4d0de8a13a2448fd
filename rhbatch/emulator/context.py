"""What the emulator's handlers share with its server: the app key, the emulator as they
see it, and the records they keep.

Handlers reach the running emulator through ``request.app[STATE]``, typed as
``Context``: the part of ``server.Emulator`` that handlers and helpers use (its
config, board, fault dice, catalog, records and clock). Typing against it, not
against ``Emulator``, keeps the imports one way even for the type checker: the
server imports the handler modules to build its routes, and none of them imports
the server. The records are written by one handler and read by others:
``Uploaded`` (what a key uploaded), ``Upload`` (an uploaded file as it is
served), ``Resource`` (an entry of the key's resource list), ``Asset`` (a
Seedance 2.0 asset), ``Hook`` (one task's webhook).
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from collections import Counter

    import aiohttp

    from rhbatch.emulator.catalog import Catalog
    from rhbatch.emulator.config import EmulatorConfig
    from rhbatch.emulator.faults import Faults
    from rhbatch.emulator.tasks import Board, Task
    from rhbatch.endpoints.pricing import PriceBook
    from rhbatch.endpoints.registry import Registry


class Context(Protocol):
    """The running emulator, as its handlers use it (``server.Emulator`` is the one)."""

    config: EmulatorConfig
    board: Board
    faults: Faults
    catalog: Catalog
    registry: Registry
    prices: PriceBook
    base_url: str
    started_at: str  # as a reply stamps it (hooks.stamp)
    requests: Counter[str]  # per route
    attempts: Counter[str]  # per request key, for fault keys
    transfer: Counter[str]  # uploads, upload_bytes, downloads, download_bytes
    webhooks: Counter[str]
    app_runs: Counter[str]
    uploads: dict[str, Upload]  # served input files, by stored name
    issued: set[str]  # fileNames an upload answered
    resources: dict[str, list[Resource]]  # per key, oldest first
    assets: dict[str, Asset]
    lora_tickets: dict[str, tuple[str, str, str, float]]  # (key, md5, name, expiry)
    hooks: dict[str, Hook]  # by task id
    hooks_by_id: dict[str, Hook]
    hook_ids: Iterator[int]

    @property
    def session(self) -> aiohttp.ClientSession: ...

    @property
    def upload_dir(self) -> Path: ...

    def now(self) -> float: ...

    def wall(self, at: float) -> int: ...

    def next_attempt(self, key: str) -> int: ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> None: ...

    def duration_for(self, endpoint: str, output_type: str, key: str) -> float: ...

    def accept(self, task: Task) -> None: ...

    def record_failed(self, task: Task) -> None: ...

    def cancel(self, task: Task) -> None: ...

    def add_resource(self, item: Uploaded, created: float | None = None) -> None: ...

    def note_upload(self, item: Uploaded, served: Upload | None) -> None: ...

    def take_upload(self, item: Uploaded, served: Upload | None, *, created: float) -> None: ...

    def stats(self, tasks: bool = False) -> dict[str, Any]: ...


STATE: web.AppKey[Context] = web.AppKey("emulator")


@dataclass
class Upload:
    """One uploaded file: where it is kept, its size and type, and when its URL dies."""

    path: Path
    size: int
    content_type: str
    expires: float


@dataclass(frozen=True)
class Uploaded:
    """Something a key uploaded, as the upload answered it: an input file (either upload
    call) or a LoRA."""

    api_key: str
    file_name: str  # what the upload answered: api/<sha256>.<ext>, api-lora-cn/<md5>...
    size: int
    resource_type: str  # IMAGE, VIDEO, AUDIO, FILE, ZIP or LORA
    name: str  # the uploaded file's own name, or the LoRA's name


@dataclass
class Resource:
    """One thing a key uploaded: an input file (either upload call) or a LoRA."""

    id: str
    resource_type: str  # IMAGE, VIDEO, AUDIO, FILE, ZIP or LORA
    name: str  # the uploaded file's own name, or the LoRA's name
    file_name: str  # what the upload answered: api/<sha256>.<ext>, api-lora-cn/<md5>...
    size: int
    created: float  # Unix time


@dataclass
class Asset:
    """A Seedance 2.0 asset: made from a URL, PROCESSING a while, then ACTIVE (or FAILED)."""

    id: str
    api_key: str
    name: str
    group_id: str
    asset_type: str  # Image, Video or Audio
    url: str
    created: float  # emulator clock
    ready_at: float  # emulator clock
    broken: bool  # its URL was one of ours and not live: it ends FAILED
    created_wall: float
    updated_wall: float

    def status(self, now: float) -> str:
        if now < self.ready_at:
            return "PROCESSING"
        return "FAILED" if self.broken else "ACTIVE"


@dataclass
class Hook:
    """One task's webhook: what is sent, where, and how it went (``hooks.py`` sends it)."""

    id: str
    api_key: str
    task_id: str
    url: str
    event_data: str  # JSON text, as the detail shows it
    payload: dict[str, Any]  # what is POSTed
    created: float  # Unix time
    updated: float
    status: str = "PENDING"  # PENDING, RETRYING, SUCCESS, FAILED
    response: str = ""
    attempts: int = 0
    sent_to: list[str] = field(default_factory=list)  # every attempt's URL, in order
