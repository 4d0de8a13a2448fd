"""Where the API key and the base URL come from: flags and the environment, never files.

The key is read from ``RUNNINGHUB_API_KEY`` (or ``RH_API_KEY``), or from the
variable named by ``--api-key-env``; it is never written anywhere and never
printed. The base URL is ``--base-url``, else ``RUNNINGHUB_BASE_URL``, else
RunningHub's international site. A base URL is checked like any other input:
http or https, a host, a valid port, no user name or password (refused, and
never echoed), no query or fragment, no spaces or control characters.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from rhbatch.errors import MissingKey, UsageError
from rhbatch.redact import masked_url

DEFAULT_BASE_URL = "https://www.runninghub.ai"
# rhbatch.run(api_key=...): the key given in Python, for the run in this context only.
GIVEN_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("GIVEN_KEY", default=None)
KEY_VARIABLES = ("RUNNINGHUB_API_KEY", "RH_API_KEY")
_UNSAFE_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")


def api_key(
    env_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    emulator: bool = True,
) -> str:
    """The key from the environment; MissingKey (a usage error, exit 2) without one.
    ``emulator``: the command has --emulator, which the message then offers."""
    given = GIVEN_KEY.get()
    if given:
        return given
    environ = os.environ if environ is None else environ
    names = (env_name,) if env_name else KEY_VARIABLES
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    where = f"${env_name}" if env_name else "$RUNNINGHUB_API_KEY (or $RH_API_KEY)"
    offer = "; --emulator runs against the built-in emulator without one" if emulator else ""
    raise MissingKey(f"no API key: set {where}, or name another variable with --api-key-env{offer}")


def base_url(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The API base URL without a trailing slash; raises UsageError (exit 2) for a bad one."""
    environ = os.environ if environ is None else environ
    if flag:
        raw, source = flag, "--base-url"
    elif environ.get("RUNNINGHUB_BASE_URL"):
        raw, source = environ["RUNNINGHUB_BASE_URL"], "$RUNNINGHUB_BASE_URL"
    else:
        return DEFAULT_BASE_URL
    url = raw.strip()
    problem = url_problem(url)
    if problem is None:
        parts = urlsplit(url)
        if "@" in parts.netloc:
            problem = (
                "must not hold a user name or password; the API key goes in "
                "$RUNNINGHUB_API_KEY (or the variable named by --api-key-env)"
            )
        elif "?" in url or "#" in url:
            problem = "must not have a query (?...) or a fragment (#...)"
    if problem is not None:
        raise UsageError(f"{source} {masked_url(url)!r} {problem}")
    return url.rstrip("/")


def url_problem(url: str) -> str | None:
    """What keeps ``url`` from being an http(s) URL a server can reach (a sentence that
    follows the URL), or None: the scheme, a host, the port, spaces and control
    characters."""
    if _UNSAFE_CHARS.search(url):
        return "contains spaces or control characters (write a space as %20)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "port" in str(exc).lower():
            return "has an invalid port; ports are 1 to 65535"
        return f"is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https") or not url[len(parts.scheme) :].startswith(
        "://"
    ):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "is not a complete URL (it has no host)"
    if port == 0:
        return "has an invalid port; ports are 1 to 65535"
    return None
