"""Texts from elsewhere made safe to keep and show: secrets blanked out, length capped.

A server may echo the API key back (in an error message, a failure reason, a
URL), and may send a text of any length. Every text that came from a server
goes through ``clean`` before it is stored, logged or printed: each secret
registered with ``keep_secret`` becomes ``***`` and the text is cut to
``LIMIT`` characters. The store and the progress output apply ``scrub`` once
more as a last net, so a secret that slipped past a parser still never lands
on disk or on a terminal.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

LIMIT = 2000  # characters of a server's text that are kept
MASK = "***"
_SECRETS: set[str] = set()
_shortest = 1 << 30  # the length of the shortest secret form: a shorter text holds none
# A URL's scheme and authority ("s3://" and "user:pass@bucket"), up to the path.
_AUTHORITY = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)([^/?#]*)")


def keep_secret(secret: str) -> None:
    """From now on, ``secret`` is blanked out of every text this module cleans, in the
    forms a server or a library may echo it in: as it is, upper or lower case, base64
    (standard or URL-safe, padded or not) and URL-encoded."""
    if len(secret) < 4:  # a shorter "secret" would blank out ordinary words
        return
    raw = secret.encode()
    forms = {secret, secret.upper(), secret.lower(), urllib.parse.quote(secret, safe="")}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode()
        forms |= {text, text.rstrip("=")}
    global _shortest
    kept = {f for f in forms if len(f) >= 4}
    _SECRETS.update(kept)
    _shortest = min(_shortest, *map(len, kept))


def masked_url(url: str) -> str:
    """The one way a URL or path is shown: anything that may be a user name or password
    (up to the last "@" of its authority) replaced by ``***``, and registered secrets
    blanked out."""
    found = _AUTHORITY.match(url)
    if found is not None and "@" in found.group(2):
        host = found.group(2).rsplit("@", 1)[1]
        url = f"{found.group(1)}{MASK}@{host}{url[found.end(2) :]}"
    return scrub(url)


def userinfo(url: str) -> list[str]:
    """The user name and password a URL holds (``s3://KEY:SECRET@bucket``), decoded."""
    found = _AUTHORITY.match(url)
    if found is None or "@" not in found.group(2):
        return []
    info = found.group(2).rsplit("@", 1)[0]
    return [urllib.parse.unquote(part) for part in info.split(":", 1) if part]


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if len(text) < _shortest:
        return text
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def clip(text: str, limit: int = LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def clean(text: str, limit: int = LIMIT) -> str:
    """A server's text, fit to keep: secrets blanked out, then cut to ``limit``."""
    return clip(scrub(text), limit)


def scrub_value(value: Any) -> Any:
    """A JSON value with every string in it scrubbed (keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_value(v) for v in value]
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_value(v) for k, v in value.items()}
    return value
