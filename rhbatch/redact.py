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

from typing import Any

LIMIT = 2000  # characters of a server's text that are kept
MASK = "***"
_SECRETS: set[str] = set()


def keep_secret(secret: str) -> None:
    """From now on, ``secret`` is blanked out of every text this module cleans."""
    if len(secret) >= 4:  # a shorter "secret" would blank out ordinary words
        _SECRETS.add(secret)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
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
