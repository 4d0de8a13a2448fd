"""What the emulator's handlers share with its server: the app key and the upload record.

Handlers reach the running ``Emulator`` through ``request.app[STATE]``. The key
lives here, typed against ``Emulator`` for the type checker only, so that the
handler modules never import ``server.py``: the server imports them to build
its routes, and the imports stay one way. ``Upload`` is the record of one
uploaded file, written by the upload handler and read by the server's
bookkeeping and the submit check.
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
