"""The emulator's result files: deterministic, exactly sized, streamed, and read by real decoders."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tracemalloc
import wave
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from rhbatch.emulator.outputs import (
    CONTENT_TYPES,
    OUTPUT_EXTENSIONS,
    MediaFile,
    make_media,
    make_text,
)
from tests.helpers import ROOT, ffprobe

TYPES = list(OUTPUT_EXTENSIONS)
MB = 1_000_000
NATURAL = {"video": 4814, "image": 12472, "audio": 16092, "3d": 496, "string": 227}


def write(media: MediaFile, path: Path) -> Path:
    with path.open("wb") as out:
        for chunk in media.chunks():
            out.write(chunk)
    return path


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, data, stored CRC) of each chunk of a PNG file."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack_from(">I", data, at)
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack_from(">I", data, at + 8 + length)
        chunks.append((kind, body, crc))
        at += 12 + length
    assert at == len(data)
    return chunks


def glb_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a GLB file, after checking its header."""
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    chunks, at = [], 12
    while at < len(data):
        size, kind = struct.unpack_from("<I4s", data, at)
        assert size % 4 == 0
        chunks.append((kind, data[at + 8 : at + 8 + size]))
        at += 8 + size
    assert at == len(data)
    return chunks


@pytest.mark.parametrize("output_type", TYPES)
def test_same_key_same_bytes(output_type: str) -> None:
    """One type, key and size always give the same bytes and digest."""
    one, two = (
        make_media(output_type, "job-1/0", 50_000),
        make_media(output_type, "job-1/0", 50_000),
    )
    assert one.read() == two.read()
    assert one.sha256() == two.sha256()


@pytest.mark.parametrize("output_type", TYPES)
def test_other_key_other_bytes(output_type: str) -> None:
    """Two keys give two different files of the same size."""
    one, two = make_media(output_type, "job-1/0"), make_media(output_type, "job-1/1")
    assert one.size == two.size
    assert one.read() != two.read()


def test_same_bytes_in_another_process() -> None:
    """The bytes do not depend on the process (hash seeds, caches)."""
    code = (
        "from rhbatch.emulator.outputs import make_media, OUTPUT_EXTENSIONS as T; "
        "print(*(make_media(t, 'k', 30_000).sha256() for t in T))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.split() == [make_media(t, "k", 30_000).sha256() for t in TYPES]


@pytest.mark.parametrize("output_type", TYPES)
def test_natural_size(output_type: str) -> None:
    """Without a size, or with a smaller one, a file has its natural size, the same for every key."""
    for media in (make_media(output_type, "a"), make_media(output_type, "b", 10)):
        assert media.size == NATURAL[output_type]
        assert len(media.read()) == media.size


@pytest.mark.parametrize("output_type", TYPES)
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 100_001])
def test_padded_size_is_exact(output_type: str, offset: int) -> None:
    """A larger size is met exactly, but for a wav's whole samples and a glb's 4-byte alignment."""
    size = NATURAL[output_type] + offset
    media = make_media(output_type, "k", size)
    expected = {"audio": size + size % 2, "3d": size + -size % 4}.get(output_type, size)
    assert media.size == expected
    assert len(media.read()) == expected


@pytest.mark.parametrize("output_type", TYPES)
def test_types_and_extensions(output_type: str) -> None:
    """Each output type has its extension and MIME type."""
    media = make_media(output_type, "k")
    assert media.ext == OUTPUT_EXTENSIONS[output_type]
    assert media.content_type == CONTENT_TYPES[media.ext]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("video", "k", -1), "size must be between 0 and 2147483647, not -1"),
        (("video", "k", 1 << 32), "size must be between 0 and 2147483647, not 4294967296"),
        (
            ("pdf", "k"),
            "unknown output type 'pdf'; expected one of video, image, audio, 3d, string",
        ),
    ],
)
def test_bad_requests(args: tuple[Any, ...], message: str) -> None:
    """An unknown type or an impossible size is refused."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(") + "$"):
        make_media(*args)


def test_chunks_never_exceed_chunk_size() -> None:
    """Streaming in 1000-byte pieces gives full pieces, a shorter last one, and the same bytes."""
    media = make_media("audio", "k", 5 * MB)
    pieces = list(media.chunks(chunk_size=1000))
    assert {len(piece) for piece in pieces[:-1]} == {1000}
    assert 0 < len(pieces[-1]) <= 1000
    assert b"".join(pieces) == media.read()


def test_padded_video_streams_in_little_memory() -> None:
    """Hashing a 20 MB video never holds the file: traced memory stays under 2 MB."""
    media = make_media("video", "k", 20 * MB)
    tracemalloc.start()
    try:
        media.sha256()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MB


@pytest.mark.parametrize("size", [None, 20 * MB])
def test_ffprobe_reads_video(tmp_path: Path, size: int | None) -> None:
    """ffprobe reads the video, natural or padded to 20 MB, as an mp4 with an H.264 stream."""
    path = write(make_media("video", "k", size), tmp_path / "out.mp4")
    probed = ffprobe(path)
    assert "mp4" in probed["format"]["format_name"].split(",")
    assert float(probed["format"]["duration"]) > 0
    assert [s["codec_type"] for s in probed["streams"]] == ["video"]
    assert probed["streams"][0]["codec_name"] == "h264"


def test_video_padding_is_a_free_box() -> None:
    """The padded video ends in one top-level free box that carries the key's tag."""
    natural, padded = make_media("video", "k"), make_media("video", "k", 100_000)
    data = padded.read()
    boxes, at = [], 0
    while at < len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        boxes.append((kind, size))
        at += size
    assert at == len(data)
    assert boxes[-1] == (b"free", 100_000 - natural.size + 48)
    assert data[natural.size - 40 : natural.size].startswith(b"rhbatch:")


@pytest.mark.parametrize("size", [None, 3 * MB])
def test_ffprobe_reads_image(tmp_path: Path, size: int | None) -> None:
    """ffprobe reads the image as a 64x64 PNG."""
    probed = ffprobe(write(make_media("image", "k", size), tmp_path / "out.png"))
    stream = probed["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("png", 64, 64)


def test_png_chunks_and_pixels() -> None:
    """Every chunk's CRC is right, IDAT inflates to 64 rows of 64 RGB pixels, padding is rhPd."""
    chunks = png_chunks(make_media("image", "k", 200_000).read())
    assert [kind for kind, _, _ in chunks] == [b"IHDR", b"IDAT", b"rhPd", b"IEND"]
    for kind, body, crc in chunks:
        assert zlib.crc32(kind + body) == crc, kind
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (64, 64, 8, 2, 0, 0, 0)
    assert len(zlib.decompress(chunks[1][1])) == 64 * (1 + 64 * 3)
    assert chunks[2][1].startswith(b"rhbatch:")


def test_png_colours_come_from_the_key() -> None:
    """Two keys paint two different pictures."""
    pixels = [png_chunks(make_media("image", key).read())[1][1] for key in ("a", "b")]
    assert zlib.decompress(pixels[0]) != zlib.decompress(pixels[1])


@pytest.mark.parametrize(("size", "seconds"), [(None, 0.5), (320_092, 10.0)])
def test_ffprobe_reads_audio(tmp_path: Path, size: int | None, seconds: float) -> None:
    """ffprobe reads the audio as 16 kHz 16-bit PCM of the expected duration."""
    probed = ffprobe(write(make_media("audio", "k", size), tmp_path / "out.wav"))
    stream = probed["streams"][0]
    assert (stream["codec_name"], stream["sample_rate"], stream["channels"]) == (
        "pcm_s16le",
        "16000",
        1,
    )
    assert float(probed["format"]["duration"]) == pytest.approx(seconds, abs=0.001)


def test_wave_module_reads_audio(tmp_path: Path) -> None:
    """The standard library's wave reader finds mono 16-bit frames filling the data chunk."""
    media = make_media("audio", "k", 1 * MB)
    with wave.open(str(write(media, tmp_path / "out.wav"))) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 16000)
        assert audio.getnframes() == (media.size - 92) // 2
        assert audio.readframes(audio.getnframes()) == media.read()[92:]


def test_audio_tones_differ_by_key() -> None:
    """The tone's period comes from the key, so the samples themselves differ."""
    first = {make_media("audio", key).read()[92:400] for key in ("a", "b", "c", "d")}
    assert len(first) > 1


@pytest.mark.parametrize("size", [None, 500, 4096, 1 * MB + 1])
def test_glb_structure(size: int | None) -> None:
    """A glb's header, 4-byte chunks, JSON and BIN agree with each other and the glTF 2.0 spec."""
    chunks = glb_chunks(make_media("3d", "k", size).read())
    assert [kind for kind, _ in chunks[:2]] == [b"JSON", b"BIN\0"]
    assert all(kind == b"rhPd" for kind, _ in chunks[2:])
    gltf = json.loads(chunks[0][1])
    assert gltf["asset"]["version"] == "2.0"
    assert gltf["extras"]["rhbatch"].startswith("rhbatch:")
    buffer = gltf["buffers"][gltf["bufferViews"][0]["buffer"]]
    assert buffer["byteLength"] <= len(chunks[1][1]) < buffer["byteLength"] + 4
    assert gltf["meshes"][0]["primitives"][0]["attributes"] == {"POSITION": 0}
    assert struct.unpack("<9f", chunks[1][1][:36]) == (0, 0, 0, 1, 0, 0, 0, 1, 0)


def test_text_mentions_prompt() -> None:
    """A text result quotes the prompt's first eight words and is the same each time."""
    text = make_text("k", "a  red\nfox jumps over the lazy dog at dawn")
    assert 'prompt that begins "a red fox jumps over the lazy dog ..."' in text
    assert text == make_text("k", "a  red\nfox jumps over the lazy dog at dawn")
    assert text.endswith("\n")
    assert make_text("k") != make_text("j")


def test_padded_text_is_lines() -> None:
    """Padded text is UTF-8 in newline-terminated lines, starting with the text result."""
    data = make_media("string", "k", 10_007).read()
    assert data.decode().startswith(make_text("k"))
    assert data.endswith(b"\n")
    assert all(len(line) <= 64 for line in data.splitlines(keepends=True)[1:])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("rhbatch-*.whl"))


def test_wheel_carries_the_clip(wheel: Path) -> None:
    """The built wheel holds the clip the videos are made from."""
    assert "rhbatch/emulator/data/clip.mp4" in zipfile.ZipFile(wheel).namelist()


def test_video_from_zipped_wheel(wheel: Path) -> None:
    """Imported straight from the wheel file, make_media finds the clip inside the zip."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rhbatch.emulator.outputs as m; "
        "assert m.__file__.startswith(sys.argv[1]), m.__file__; "
        "print(m.make_media('video', 'k', 30_000).sha256())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(wheel)],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == make_media("video", "k", 30_000).sha256()
