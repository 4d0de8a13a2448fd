"""Where the API key and the base URL come from: flags and the environment, never files.

The key is read from ``RUNNINGHUB_API_KEY`` (or ``RH_API_KEY``), or from the
variable named by ``--api-key-env``; it is never written anywhere and never
printed. The base URL is ``--base-url``, else ``RUNNINGHUB_BASE_URL``, else
RunningHub's international site.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from rhbatch.errors import AuthError, UsageError

DEFAULT_BASE_URL = "https://www.runninghub.ai"
KEY_VARIABLES = ("RUNNINGHUB_API_KEY", "RH_API_KEY")


def api_key(env_name: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    names = (env_name,) if env_name else KEY_VARIABLES
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    where = f"${env_name}" if env_name else "$RUNNINGHUB_API_KEY (or $RH_API_KEY)"
    raise AuthError(
        f"no API key: set {where}, or name another variable with --api-key-env; "
        "--emulator runs against the built-in emulator without one"
    )


def base_url(flag: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    url = (flag or environ.get("RUNNINGHUB_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"base URL {url!r} must start with http:// or https://")
    return url
