"""What the emulator's handlers share with its server: the app key and the records they keep.

Handlers reach the running ``Emulator`` through ``request.app[STATE]``. The key
lives here, typed against ``Emulator`` for the type checker only, so that the
handler modules never import ``server.py``: the server imports them to build
its routes, and the imports stay one way. The records are written by one
handler and read by others: ``Upload`` (one uploaded file), ``Resource`` (what
a key uploaded, for the resource list), ``Asset`` (a Seedance 2.0 asset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from rhbatch.emulator.server import Emulator

STATE: web.AppKey[Emulator] = web.AppKey("emulator")


@dataclass
class Upload:
    """One uploaded file: where it is kept, its size and type, and when its URL dies."""

    path: Path
    size: int
    content_type: str
    expires: float


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
