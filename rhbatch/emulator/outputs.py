"""The emulator's result files: real, deterministic files of each output type, of any size.

``make_media(output_type, key, size)`` describes a file (``MediaFile``) whose bytes are made
on demand by ``chunks()``: a short natural file of the endpoint's output type, tagged with a
digest of ``key``, padded so the whole file is ``size`` bytes, in a way its decoders accept.
Nothing holds a padded file in memory, so a 20 MB download costs a few kilobytes to serve.

- video (mp4): the shipped clip (``data/clip.mp4``, made by ``tools/make_clip.sh``) then a
  top-level ``free`` box holding the tag and zero padding.
- image (png): a 64x64 RGB checkerboard in the key's colours, stored deflate blocks (so the
  bytes do not depend on the zlib build), and a private ``rhPd`` chunk with the tag and zero
  padding before ``IEND``.
- audio (wav): 16-bit mono PCM at 16 kHz (0.5 s at the natural size), a sine tone whose period
  (20 to 80 samples) comes from the key; the tag in a ``rhbt`` chunk before ``data``, and
  ``data`` longer (more of the tone) to fill ``size``.
- 3d (glb): glTF 2.0 binary with one triangle, the tag in ``extras``; padding is a chunk of
  an unknown type (loaders must skip it), or four spaces in the JSON chunk.
- string (txt): ``make_text`` then newline-terminated filler lines.

Sizes are exact, except that a wav is a whole number of 16-bit samples (an odd size is
rounded up by one) and a glb is 4-byte aligned (a size is rounded up to a multiple of 4).
A ``size`` below the natural size gives the natural file; ``MediaFile.size`` is the truth.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Protocol

from rhbatch.models import OUTPUT_EXTENSIONS

CONTENT_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "png": "image/png",
    "wav": "audio/wav",
    "glb": "model/gltf-binary",
    "txt": "text/plain; charset=utf-8",
}
# PNG chunk lengths are 31-bit; one limit for every type keeps the rule simple.
MAX_SIZE = (1 << 31) - 1
SAMPLE_RATE = 16_000
_NATURAL_SAMPLES = SAMPLE_RATE // 2
_BLOCK = 1 << 16
_FILLER_LINE = b"rhbatch emulator filler " + b"." * 39 + b"\n"


class _Part(Protocol):
    """A run of bytes in a file, produced in pieces of at most about 64 KiB."""

    @property
    def length(self) -> int: ...

    def pieces(self) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class _Bytes:
    data: bytes

    @property
    def length(self) -> int:
        return len(self.data)

    def pieces(self) -> Iterator[bytes]:
        yield self.data


@dataclass(frozen=True)
class _Repeat:
    """``unit`` repeated, cut to ``length`` bytes."""

    unit: bytes
    length: int

    def pieces(self) -> Iterator[bytes]:
        block = self.unit * max(1, _BLOCK // len(self.unit))
        left = self.length
        while left >= len(block):
            yield block
            left -= len(block)
        if left:
            yield block[:left]


@dataclass(frozen=True)
class _Crc:
    """``parts`` followed by their CRC-32, big-endian (the tail of a PNG chunk)."""

    parts: tuple[_Part, ...]

    @property
    def length(self) -> int:
        return sum(part.length for part in self.parts) + 4

    def pieces(self) -> Iterator[bytes]:
        crc = 0
        for part in self.parts:
            for piece in part.pieces():
                crc = zlib.crc32(piece, crc)
                yield piece
        yield struct.pack(">I", crc)


@dataclass(frozen=True)
class MediaFile:
    """A result file: its type, its exact size, and the recipe for its bytes."""

    ext: str
    content_type: str
    size: int
    parts: tuple[_Part, ...] = field(repr=False)

    def __post_init__(self) -> None:
        made = sum(part.length for part in self.parts)
        if made != self.size:
            raise ValueError(f"parts make {made} bytes, not {self.size}")

    def chunks(self, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """The bytes, in pieces of exactly ``chunk_size`` (the last may be shorter)."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        held = bytearray()
        for part in self.parts:
            for piece in part.pieces():
                view = memoryview(piece)
                if held:
                    taken = view[: chunk_size - len(held)]
                    held += taken
                    view = view[len(taken) :]
                    if len(held) < chunk_size:
                        continue
                    yield bytes(held)
                    held.clear()
                while len(view) >= chunk_size:
                    yield bytes(view[:chunk_size])
                    view = view[chunk_size:]
                held += view
        if held:
            yield bytes(held)

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def make_media(output_type: str, key: str, size: int | None = None) -> MediaFile:
    """The result file for ``output_type`` and ``key``, padded to ``size`` bytes if larger."""
    if output_type not in OUTPUT_EXTENSIONS:
        allowed = ", ".join(OUTPUT_EXTENSIONS)
        raise ValueError(f"unknown output type {output_type!r}; expected one of {allowed}")
    if size is not None and not 0 <= size <= MAX_SIZE:
        raise ValueError(f"size must be between 0 and {MAX_SIZE}, not {size}")
    ext = OUTPUT_EXTENSIONS[output_type]
    digest = _digest(output_type, key)
    parts = _MAKERS[ext](digest, _tag(digest), size or 0)
    return MediaFile(ext, CONTENT_TYPES[ext], sum(part.length for part in parts), parts)


def make_text(key: str, prompt: str | None = None) -> str:
    """The deterministic text result of a "string" endpoint, a few sentences long."""
    return _text(_tag(_digest("string", key)), prompt)


def _digest(output_type: str, key: str) -> bytes:
    return hashlib.sha256(f"{output_type}\n{key}".encode()).digest()


def _tag(digest: bytes) -> bytes:
    """What tells two keys' files apart wherever else they agree; 40 bytes for every key."""
    return b"rhbatch:" + digest[:16].hex().encode()


def _text(tag: bytes, prompt: str | None) -> str:
    lines = [f"This is an emulated RunningHub text result ({tag.decode()})."]
    if prompt and prompt.split():
        words = prompt.split()
        quoted = " ".join(words[:8]) + (" ..." if len(words) > 8 else "")
        lines.append(f'It answers the prompt that begins "{quoted}".')
    lines.append(
        "A real endpoint would return generated text here; the rhbatch emulator returns "
        "this fixed paragraph so that runs can be checked end to end."
    )
    return " ".join(lines) + "\n"


def _mp4(digest: bytes, tag: bytes, size: int) -> tuple[_Part, ...]:
    clip = _clip()
    pad = max(0, size - len(clip) - 8 - len(tag))
    free = struct.pack(">I4s", 8 + len(tag) + pad, b"free") + tag
    return _Bytes(clip), _Bytes(free), _Repeat(b"\0", pad)


@functools.cache
def _clip() -> bytes:
    return (resources.files("rhbatch.emulator") / "data" / "clip.mp4").read_bytes()


def _png(digest: bytes, tag: bytes, size: int) -> tuple[_Part, ...]:
    side = 64
    light, dark = digest[16:19], bytes(b // 3 for b in digest[19:22])
    rows = [
        b"\0" + b"".join(light if (x // 8 + y // 8) % 2 else dark for x in range(side))
        for y in range(side)
    ]
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    idat = _png_chunk(b"IDAT", _stored_zlib(b"".join(rows)))
    head = b"\x89PNG\r\n\x1a\n" + ihdr + idat
    end = _png_chunk(b"IEND", b"")
    pad = max(0, size - len(head) - 12 - len(tag) - len(end))
    private = _Crc((_Bytes(b"rhPd" + tag), _Repeat(b"\0", pad)))
    return _Bytes(head + struct.pack(">I", len(tag) + pad)), private, _Bytes(end)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _stored_zlib(raw: bytes) -> bytes:
    """A zlib stream of uncompressed deflate blocks: the same bytes whatever zlib is linked."""
    out = bytearray(b"\x78\x01")
    for start in range(0, len(raw), 0xFFFF):
        block = raw[start : start + 0xFFFF]
        final = start + 0xFFFF >= len(raw)
        out += struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block
    return bytes(out + struct.pack(">I", zlib.adler32(raw)))


def _wav(digest: bytes, tag: bytes, size: int) -> tuple[_Part, ...]:
    period = 20 + digest[16] % 61
    amplitude = 0.3 * 32767
    cycle = struct.pack(
        f"<{period}h",
        *(round(amplitude * math.sin(2 * math.pi * i / period)) for i in range(period)),
    )
    head_length = 12 + 8 + 16 + 8 + len(tag) + 8
    data = max(2 * _NATURAL_SAMPLES, size - head_length)
    data += data % 2
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, 2 * SAMPLE_RATE, 2, 16)
    head = (
        struct.pack("<4sI4s", b"RIFF", head_length - 8 + data, b"WAVE")
        + struct.pack("<4sI", b"fmt ", len(fmt))
        + fmt
        + struct.pack("<4sI", b"rhbt", len(tag))
        + tag
        + struct.pack("<4sI", b"data", data)
    )
    return _Bytes(head), _Repeat(cycle, data)


def _glb(digest: bytes, tag: bytes, size: int) -> tuple[_Part, ...]:
    positions = struct.pack("<9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
    gltf = {
        "asset": {"version": "2.0", "generator": "rhbatch emulator"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": 3,
                "type": "VEC3",
                "min": [0, 0, 0],
                "max": [1, 1, 0],
            }
        ],
        "bufferViews": [{"buffer": 0, "byteLength": len(positions), "target": 34962}],
        "buffers": [{"byteLength": len(positions)}],
        "extras": {"rhbatch": tag.decode()},
    }
    text = json.dumps(gltf, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 4)
    natural = 12 + 8 + len(text) + 8 + len(positions)
    pad = max(0, size + -size % 4 - natural)
    if pad == 4:  # too short for a chunk: four more spaces in the JSON chunk instead
        text, pad = text + b" " * 4, 0
    total = 12 + 8 + len(text) + 8 + len(positions) + pad
    head = (
        struct.pack("<4sII", b"glTF", 2, total)
        + struct.pack("<I4s", len(text), b"JSON")
        + text
        + struct.pack("<I4s", len(positions), b"BIN\0")
        + positions
    )
    if not pad:
        return (_Bytes(head),)
    return _Bytes(head + struct.pack("<I4s", pad - 8, b"rhPd")), _Repeat(b"\0", pad - 8)


def _txt(digest: bytes, tag: bytes, size: int) -> tuple[_Part, ...]:
    text = _text(tag, None).encode()
    pad = max(0, size - len(text))
    short = pad % len(_FILLER_LINE)
    first = _FILLER_LINE[len(_FILLER_LINE) - short :] if short else b""
    return _Bytes(text + first), _Repeat(_FILLER_LINE, pad - short)


_MAKERS = {"mp4": _mp4, "png": _png, "wav": _wav, "glb": _glb, "txt": _txt}
