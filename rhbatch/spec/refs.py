"""Reference media in a spec: URLs, or local files checked before anything is sent.

A media parameter value is a URL (``http(s)://``), a ``data:`` URI, an
``asset://`` reference, or else a path to a local file, relative to the spec
file. URLs are checked for their form (a host, a valid port, no spaces), not
fetched; a ``data:`` URI for its kind and size. Local files are looked at with
``os.stat`` before they are opened (a FIFO must not hang validation): they must
be regular, readable files, within the endpoint's ``maxSize``, of a format in
its ``accept`` list (judged by the file's first bytes; by its extension only when
the content is not recognised and the parameter accepts a format rhbatch cannot tell
by content, so that a text file named ``.png`` is refused). The runner uploads them
later. Each file is examined once, however many jobs name it. A missing file named
``TODO-...`` is a TODO that `rhbatch new` wrote, and is told as one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rhbatch.api.credentials import url_problem
from rhbatch.endpoints.registry import MB, MediaRule
from rhbatch.readers import FileProblem, stat_regular

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
TODO_FILE = "TODO-"  # how a reference file `rhbatch new` leaves to the user is named
# Names that mean the same format.
_SAME = {"jpeg": "jpg", "tif": "tiff", "m4v": "mp4", "oga": "ogg", "mpeg": "mp3", "qt": "mov"}
_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]*")
# Formats ``sniff`` knows by their first bytes: a file that claims one of them by its
# extension but does not start like it is not that format.
_KNOWN_BY_CONTENT = frozenset(
    [
        "jpg",
        "png",
        "webp",
        "gif",
        "bmp",
        "heic",
        "mp4",
        "mov",
        "m4a",
        "webm",
        "mkv",
        "avi",
        "wav",
        "flac",
        "ogg",
        "mp3",
    ]
)


# A file RunningHub's legacy upload named (a workflow's or app's input takes it as is).
_UPLOADED = re.compile(r"^(api/)?[0-9a-f]{64}(\.[A-Za-z0-9]{1,8})?$")


def uploaded_name(value: str) -> bool:
    """``api/<sha256>.<ext>``: a file already uploaded for a workflow or app input."""
    return bool(_UPLOADED.match(value))


def canonical(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    return _SAME.get(fmt, fmt)


def kind_of(value: str) -> str:
    """'url', 'data', 'asset', 'local', or 'scheme' for an unsupported URL scheme."""
    m = _SCHEME.match(value)
    if m is None or len(m.group(1)) == 1:  # "C:\\..." is a Windows path, not a scheme
        return "local"
    scheme = m.group(1).lower()
    if scheme in ("http", "https"):
        return "url"
    if scheme == "data":
        return "data"
    if scheme == "asset":
        return "asset"
    return "scheme"


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes, as a canonical extension."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand in (b"M4A ", b"M4B "):
            return "m4a"
        if brand in (b"heic", b"heix", b"mif1"):
            return "heic"
        return "mp4"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "webm" if b"webm" in head[:64] else "mkv"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


@dataclass(frozen=True, slots=True)
class LocalFile:
    path: Path
    size: int
    format: str | None  # from the content; None when not recognised


class LocalFiles:
    """Checks local media files, once per resolved path."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._seen: dict[str, LocalFile | str] = {}

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def examine(self, value: str) -> LocalFile | str:
        """The file's facts, or a sentence saying why it cannot be used."""
        found = self._seen.get(value)
        if found is None:
            found = self._seen[value] = self._examine(value, self.resolve(value))
        return found

    def _examine(self, value: str, path: Path) -> LocalFile | str:
        try:
            size = stat_regular(path).st_size  # before opening: a FIFO would block
        except FileProblem as exc:
            if exc.missing and Path(value).name.startswith(TODO_FILE):
                return (
                    f"fill in this TODO ({value}): a file (its path relative to the spec) or a URL"
                )
            return f"no such file (looked at {path})" if exc.missing else f"{value!r} {exc.reason}"
        try:
            with path.open("rb") as fh:
                head = fh.read(64)
        except OSError as exc:
            return f"{value!r} cannot be read: {(exc.strerror or str(exc)).lower()}"
        return LocalFile(path, size, sniff(head))

    def check(self, value: str, rule: MediaRule) -> str | None:
        """Why a media value cannot be sent for this parameter, or None if it can."""
        kind = kind_of(value)
        if kind == "url":
            problem = url_problem(value)
            return None if problem is None else f"{_short(value)!r} {problem}"
        if kind == "data":
            return _data_problem(value, rule)
        if kind == "asset":
            if not value.partition("://")[2].strip("/") or "://" not in value:
                return f"{_short(value)!r} is not a complete asset:// reference"
            return None
        if kind == "scheme":
            return (
                f"{value!r}: only http(s) URLs, data: URIs, asset:// references "
                "or local file paths are accepted"
            )
        found = self.examine(value)
        if isinstance(found, str):
            return found
        if found.size == 0:
            return f"{value!r} is an empty file"
        if rule.max_bytes is not None and found.size > rule.max_bytes:
            return (
                f"{value!r} is {found.size / MB:.1f} MB; at most {rule.max_bytes / MB:g} MB allowed"
            )
        if rule.accept:
            accepted = {canonical(a) for a in rule.accept}
            shown = ", ".join(a.upper() for a in rule.accept)
            claimed = canonical(found.path.suffix)
            if found.format is None and claimed in accepted and accepted <= _KNOWN_BY_CONTENT:
                return (
                    f"{value!r} does not start as a {shown} file does (its content is not "
                    "one of the accepted formats, whatever its extension)"
                )
            fmt = found.format or canonical(found.path.suffix)
            if fmt not in accepted:
                if not fmt:
                    return (
                        f"{value!r}: its format is not recognised, by content or by "
                        f"extension; accepted: {shown}"
                    )
                how = "content" if found.format else "extension"
                return f"{value!r} is {fmt.upper()} (by its {how}); accepted: {shown}"
        return None


def _data_problem(value: str, rule: MediaRule) -> str | None:
    """Why a data: URI cannot be sent for this parameter: its kind, form, or size."""
    if not value.lower().startswith(f"data:{rule.kind}/"):
        return f"a data: URI here must hold {rule.kind} (data:{rule.kind}/...)"
    head, comma, payload = value.partition(",")
    if not comma:
        return f"{_short(value)!r} is not a complete data: URI (data:{rule.kind}/...;base64,...)"
    encoded = head.lower().endswith(";base64")
    if encoded and not _BASE64.fullmatch(payload):
        return "the data: URI is marked base64 but its data is not base64"
    size = len(payload) * 3 // 4 if encoded else len(payload)
    if rule.max_bytes is not None and size > rule.max_bytes:
        return f"the data: URI holds {size / MB:.1f} MB; at most {rule.max_bytes / MB:g} MB allowed"
    return None


def _short(text: str, most: int = 120) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."
