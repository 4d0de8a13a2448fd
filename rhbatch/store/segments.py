"""A segment of a bucket's ledger: its format, written and read back whole or refused.

Each segment (``ledger.py`` ships them under ``.rhbatch/ledger/``, one object per
number) is JSON Lines: a head line (format, number, kind ``changes`` or
``snapshot``, writer, spec, the last journal entry it holds, the time), one line
per entry ``[table, key, row]``, and an end line with the number of entries and
the SHA-256 of all that precedes it. A segment edited or cut short by hand is
refused, never applied in part.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

from rhbatch.errors import StateError
from rhbatch.store.journal import Entry

FORMAT = "rhbatch-ledger/1"


@dataclass
class Segment:
    """One segment: its number, kind, writer, spec, the last journal entry it holds (in
    its writer's store), and its entries."""

    n: int
    kind: str
    writer: str
    spec: str
    upto: int
    entries: list[Entry] = field(default_factory=list)


def segment_name(n: int) -> str:
    """The segment's object name under the ledger's prefix."""
    return f"{n:012d}.jsonl"


def encode(segment: Segment) -> bytes:
    """The segment as it is put in the bucket."""
    head = {
        "format": FORMAT,
        "n": segment.n,
        "kind": segment.kind,
        "writer": segment.writer,
        "spec": segment.spec,
        "upto": segment.upto,
        "at": time.time(),
    }
    lines = [json.dumps(head, ensure_ascii=False)]
    lines += [json.dumps(list(e), ensure_ascii=False, allow_nan=False) for e in segment.entries]
    body = ("\n".join(lines) + "\n").encode()
    end = {"end": segment.n, "entries": len(segment.entries)}
    end["sha256"] = hashlib.sha256(body).hexdigest()  # type: ignore[assignment]
    return body + (json.dumps(end) + "\n").encode()


def decode(where: str, data: bytes) -> Segment:
    """A segment read back; ``StateError`` naming ``where`` if it is not whole or not one."""
    body, _, tail = data.rstrip(b"\n").rpartition(b"\n")
    try:
        end = json.loads(tail)
        ok = isinstance(end, dict) and "sha256" in end
    except ValueError:
        ok = False
    if not ok:
        raise StateError(f"{where} is cut short (no end line): the ledger was damaged; {HELP}")
    body += b"\n"
    if hashlib.sha256(body).hexdigest() != end["sha256"]:
        raise StateError(
            f"{where} does not match its checksum: it was edited after rhbatch wrote it; {HELP}"
        )
    try:
        lines = body.decode().splitlines()
        head = json.loads(lines[0])
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise StateError(f"{where} is not an rhbatch ledger segment ({FORMAT})")
        entries: list[Entry] = []
        for line in lines[1:]:
            table, key, row = json.loads(line)
            entries.append((str(table), list(key), row))
        segment = Segment(
            int(head["n"]),
            str(head["kind"]),
            str(head["writer"]),
            str(head["spec"]),
            int(head["upto"]),
            entries,
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise StateError(f"{where} is not a readable ledger segment; {HELP}") from None
    if len(entries) != end.get("entries") or end.get("end") != segment.n:
        raise StateError(f"{where} does not hold what its end line says; {HELP}")
    return segment


HELP = (
    "nothing was sent. Restore the object from the bucket's versions or backups, or start "
    "the batch in a new --out location"
)
