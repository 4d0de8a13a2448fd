"""Local reference files: kinds of values, format sniffing, size and format checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rhbatch.endpoints.registry import MB, MediaRule
from rhbatch.spec.refs import LocalFiles, kind_of, sniff
from tests.helpers import ROOT

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
    """Unrecognised content falls back to the extension only where a format the parameter
    accepts cannot be told by content; a file that claims one that can is refused."""
    (tmp_path / "a.tga").write_bytes(b"\0\0\2\0" * 10)
    (tmp_path / "b.png").write_bytes(b"\0\0\2\0" * 10)
    files = LocalFiles(tmp_path)
    tga = MediaRule("image", False, None, ("png", "tga"))
    assert files.check("a.tga", tga) is None
    assert files.check("b.png", IMAGES) == (
        "'b.png' does not start as a JPG, JPEG, PNG file does (its content is not one of "
        "the accepted formats, whatever its extension)"
    )


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
    assert files.check("https://", IMAGES) == "'https://' is not a complete URL (it has no host)"
    assert files.check("data:video/mp4;base64,AA", IMAGES) == (
        "a data: URI here must hold image (data:image/...)"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "https://exa mple.com/a.jpg",
            "contains spaces or control characters (write a space as %20)",
        ),
        (
            "https://example.com/a\n.jpg",
            "contains spaces or control characters (write a space as %20)",
        ),
        ("https://example.com:99999/a.jpg", "has an invalid port; ports are 1 to 65535"),
        ("https://example.com:0/a.jpg", "has an invalid port; ports are 1 to 65535"),
        ("https://example.com:http/a.jpg", "has an invalid port; ports are 1 to 65535"),
        ("http:///a.jpg", "is not a complete URL (it has no host)"),
        ("https://[::1/a.jpg", "is not a valid URL (Invalid IPv6 URL)"),
    ],
)
def test_urls_that_no_server_can_fetch(value: str, reason: str) -> None:
    """A URL with a space, a bad port or no host is refused before it is sent."""
    assert LocalFiles(Path("/nonexistent")).check(value, IMAGES) == f"{value!r} {reason}"


def test_data_uris_are_checked_for_form_and_size() -> None:
    """A data: URI must have its comma, base64 that is base64, and fit the size limit."""
    files = LocalFiles(Path("/nonexistent"))
    assert files.check("data:image/png;base64,iVBORw0KGgo=", IMAGES) is None
    assert files.check("data:image/png;base64", IMAGES) == (
        "'data:image/png;base64' is not a complete data: URI (data:image/...;base64,...)"
    )
    assert files.check("data:image/png;base64,%%%", IMAGES) == (
        "the data: URI is marked base64 but its data is not base64"
    )
    big = "data:image/png;base64," + "A" * (2 * MB)
    assert files.check(big, IMAGES) == "the data: URI holds 1.5 MB; at most 1 MB allowed"


def test_asset_reference_needs_an_id() -> None:
    """asset:// alone names nothing."""
    files = LocalFiles(Path("/nonexistent"))
    assert files.check("asset://", IMAGES) == "'asset://' is not a complete asset:// reference"
    assert files.check("asset://abc123", IMAGES) is None


@pytest.mark.parametrize(
    "value",
    ["file:///etc/passwd", "ftp://example.com/a.jpg", "javascript:alert(1)", "s3://bucket/a.jpg"],
)
def test_other_url_schemes_are_refused(value: str) -> None:
    """Only http(s), data: and asset:// are URLs RunningHub takes; the rest are refused."""
    assert LocalFiles(Path("/nonexistent")).check(value, IMAGES) == (
        f"{value!r}: only http(s) URLs, data: URIs, asset:// references or local file paths "
        "are accepted"
    )


def test_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    """A named pipe is refused from its stat; opening it would block until a writer came."""
    os.mkfifo(tmp_path / "pipe.png")
    assert LocalFiles(tmp_path).check("pipe.png", IMAGES) == (
        "'pipe.png' is a named pipe (FIFO), not a regular file"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("/dev/zero", "'/dev/zero' is a character device, not a regular file"),
        ("refs", "'refs' is a directory, not a regular file"),
        ("a\0.png", "'a\\x00.png' is not a usable path: it contains a NUL character"),
        ("a.png/b.png", "no such file (looked at {tmp}/a.png/b.png)"),
    ],
)
def test_special_paths_are_refused(tmp_path: Path, value: str, reason: str) -> None:
    """Devices, directories, NUL bytes and paths through a file are refused with a reason."""
    (tmp_path / "refs").mkdir()
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    assert LocalFiles(tmp_path).check(value, IMAGES) == reason.format(tmp=tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    """A file without read permission is refused at validation, not at upload."""
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 10)
    path.chmod(0)
    assert (
        LocalFiles(tmp_path).check("a.png", IMAGES) == "'a.png' cannot be read: permission denied"
    )


def test_unrecognised_file_without_extension(tmp_path: Path) -> None:
    """Neither content nor extension tells the format: said so, with what is accepted."""
    (tmp_path / "notes").write_bytes(b"plain text")
    assert LocalFiles(tmp_path).check("notes", IMAGES) == (
        "'notes': its format is not recognised, by content or by extension; "
        "accepted: JPG, JPEG, PNG"
    )
