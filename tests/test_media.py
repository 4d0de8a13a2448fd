"""Local reference files: kinds of values, format sniffing, size and format checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhbatch.media import LocalFiles, kind_of, sniff
from rhbatch.schemas import MB, MediaRule
from tests.conftest import ROOT

IMAGES = MediaRule(kind="image", multiple=True, max_bytes=1 * MB, accept=("jpg", "jpeg", "png"))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("https://example.com/a.jpg", "url"),
        ("http://127.0.0.1:8080/x", "url"),
        ("data:image/png;base64,AAAA", "data"),
        ("asset://12345", "asset"),
        ("refs/a.jpg", "local"),
        ("C:\\refs\\a.jpg", "local"),
        ("/abs/a.jpg", "local"),
        ("ftp://example.com/a.jpg", "scheme"),
        ("file:///tmp/a.jpg", "scheme"),
    ],
)
def test_kind_of(value: str, kind: str) -> None:
    """How a media value is read."""
    assert kind_of(value) == kind


def test_sniff_shipped_example_media() -> None:
    """The example media are what their names say."""
    media = ROOT / "examples" / "media"
    found = {p.name: sniff(p.read_bytes()[:64]) for p in media.iterdir()}
    assert found == {
        "hotpot.jpg": "jpg",
        "friends.png": "png",
        "steam.mp4": "mp4",
        "bell.mp3": "mp3",
    }


def test_check_missing_and_empty(tmp_path: Path) -> None:
    """A missing file and an empty file are both refused, with reasons."""
    (tmp_path / "empty.png").write_bytes(b"")
    files = LocalFiles(tmp_path)
    assert files.check("nope.png", IMAGES) == f"no such file (looked at {tmp_path / 'nope.png'})"
    assert files.check("empty.png", IMAGES) == "'empty.png' is an empty file"


def test_check_extension_when_content_unknown(tmp_path: Path) -> None:
    """Unrecognised content falls back to the extension."""
    (tmp_path / "a.tga").write_bytes(b"\0\0\2\0" * 10)
    (tmp_path / "b.png").write_bytes(b"\0\0\2\0" * 10)
    files = LocalFiles(tmp_path)
    assert (
        files.check("a.tga", IMAGES)
        == "'a.tga' is TGA (by its extension); accepted: JPG, JPEG, PNG"
    )
    assert files.check("b.png", IMAGES) is None


def test_each_file_is_examined_once(tmp_path: Path) -> None:
    """A file named by many jobs is read once."""
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    files = LocalFiles(tmp_path)
    assert files.check("a.png", IMAGES) is None
    path.unlink()
    assert files.check("a.png", IMAGES) is None  # cached: not looked at again


def test_urls_are_not_fetched() -> None:
    """URLs pass without network; an incomplete one does not."""
    files = LocalFiles(Path("/nonexistent"))
    assert files.check("https://example.com/a.jpg", IMAGES) is None
    assert files.check("https://", IMAGES) == "'https://' is not a complete URL"
    assert files.check("data:video/mp4;base64,AA", IMAGES) == (
        "a data: URI here must hold image (data:image/...)"
    )
