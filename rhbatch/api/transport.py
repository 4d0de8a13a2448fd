"""How a call travels: one key's HTTP sessions, a call sent and its reply read within caps.

``Transport`` owns the base URL, the two aiohttp sessions and the limits of a
read; ``client.py`` owns what is asked and what the answers mean. Every call
goes through ``call``: the key in the Authorization header, no redirects
followed, the reply read to at most ``max_reply_bytes`` within ``timeout``,
aiohttp's failures made rhbatch's (``http.py``). Result downloads go through
``download``, without the key, within their ``DownloadLimits``.

Submits have their own pool whose idle connections are dropped after
``SUBMIT_KEEPALIVE`` seconds, well before any server closes them (60-75 s is
usual): a pooled connection closed by the server while idle would fail exactly
like a reply lost after the task was made. Under load the pool is reused, so a
batch does not pay a new connection (and TLS handshake) per submit.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rhbatch.api.http import (
    MAX_REDIRECTS,
    Download,
    DownloadLimits,
    Reply,
    TooLarge,
    cause,
    head_of,
    lost,
    read_capped,
    scrubbed,
    status_error,
)
from rhbatch.errors import OutcomeUnknown, ProtocolError, Rejected
from rhbatch.redact import clean

_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(ensure_ascii=False), made once
SUBMIT_KEEPALIVE = 4.0  # seconds an idle submit connection may be reused
UPLOAD_MIN_RATE = 256 * 1024  # bytes/s an upload may not fall below (it widens the timeout)


class Transport:
    """RunningHub at ``base_url`` for one key: a pooled session for the calls and
    downloads, and one whose idle connections are dropped soon for submits."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        connect_timeout: float,
        max_reply_bytes: int,
        user_agent: str,
    ) -> None:
        base = base_url.strip().rstrip("/")
        base = base.removesuffix("/openapi/v2")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise ValueError("the base URL must be http:// or https:// with a host and no user")
        self.base_url = base
        # A call's headers, made once (aiohttp copies them into each request).
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._json = {**self._auth, "Content-Type": "application/json"}
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._timeouts = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._max_reply = max_reply_bytes
        self._user_agent = user_agent
        self._pool: aiohttp.ClientSession | None = None
        self._submits: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        for session in (self._pool, self._submits):
            if session is not None:
                await session.close()
        self._pool = self._submits = None

    def _sessions(self) -> tuple[aiohttp.ClientSession, aiohttp.ClientSession]:
        if self._pool is None or self._submits is None:
            headers = {"User-Agent": self._user_agent}
            # limit=0: the runner's limiter bounds the calls in flight, not the pool.
            self._pool = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), headers=headers
            )
            self._submits = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=SUBMIT_KEEPALIVE),
                headers=headers,
            )
        return self._pool, self._submits

    def upload_timeouts(self, size: int) -> aiohttp.ClientTimeout:
        """The timeouts of an upload of ``size`` bytes: the call's, widened by its size."""
        return aiohttp.ClientTimeout(
            total=self._timeout + size / UPLOAD_MIN_RATE, connect=self._connect_timeout
        )

    async def call(
        self,
        method: str,
        path: str,
        what: str,
        body: dict[str, Any] | None = None,
        *,
        form: aiohttp.FormData | None = None,
        fresh: bool = False,
        timeouts: aiohttp.ClientTimeout | None = None,
    ) -> Reply:
        """Send a call (``fresh``: a submit, on the submit pool) and read its reply. A
        submit's lost reply is OutcomeUnknown; any other call's is Transient."""
        pool, fresh_session = self._sessions()
        session = fresh_session if fresh else pool
        headers, data = self._auth, form  # type: dict[str, str], Any
        if body is not None:
            headers, data = self._json, _encode(body).encode()
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=data,
                headers=headers,
                timeout=timeouts or self._timeouts,
                allow_redirects=False,
            ) as response:
                raw = await read_capped(response, self._max_reply)
                return head_of(response, raw)
        except TooLarge as exc:
            message = f"{what}: the reply is larger than {self._max_reply:,} bytes ({exc})"
            if fresh:
                raise OutcomeUnknown(f"{message}; a task may exist", settled=True) from None
            raise ProtocolError(message) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise lost(exc, what, submit=fresh) from cause(exc)

    @contextlib.asynccontextmanager
    async def download(self, url: str, limits: DownloadLimits) -> AsyncIterator[Download]:
        """A result file, fetched without the API key (redirects followed, a few)."""
        parts = urlsplit(url)
        what = f"download {clean(f'{parts.scheme}://{parts.netloc}{parts.path}', 300)}"
        response = await self._open(url, what, limits)
        try:
            yield Download(response, what, limits)
        finally:
            response.release()

    @scrubbed
    async def _open(self, url: str, what: str, limits: DownloadLimits) -> aiohttp.ClientResponse:
        """The response of a download whose status is 200; else the error it means."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise Rejected("BADURL", f"not an http(s) URL: {clean(repr(url), 200)}")
        timeout = aiohttp.ClientTimeout(
            total=limits.deadline + self._connect_timeout,
            connect=self._connect_timeout,
            sock_read=min(self._timeout, limits.deadline),
        )
        try:
            response = await self._sessions()[0].get(
                url,
                headers={"Accept-Encoding": "identity"},
                timeout=timeout,
                max_redirects=MAX_REDIRECTS,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise lost(exc, what, submit=False) from cause(exc)
        if response.status != 200:
            failure = status_error(head_of(response), what)
            response.release()
            raise failure or ProtocolError(f"{what}: unexpected HTTP {response.status}")
        return response
