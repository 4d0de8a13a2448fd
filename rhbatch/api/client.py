"""The RunningHub API over aiohttp: submit, query, upload, cancel, queue, account, download.

This is the only runner module that imports aiohttp, and the one place where
aiohttp's exceptions become rhbatch's (``errors.py``). What a failed call raises
depends on what it means for a batch:

    NoConnection    no connection could be made (refused, DNS, TLS, connect timeout):
                    nothing was sent, for any call
    Transient       nothing happened, repeat it: for submits a 429 or 503 without an
                    error code; for the other calls any network trouble, timeout, 429,
                    5xx or reply cut short
    OutcomeUnknown  (submits only) a task may exist: a 5xx other than 503, a timeout,
                    reset or disconnect after sending, an HTTP 200 we cannot read
    Rejected        the server refused: a 4xx, an error code in the body (and no taskId)
    ProtocolError   (not submits) an HTTP 200 of the wrong shape, an unknown status

Every read is bounded: an API reply may not exceed ``max_reply_bytes`` nor take
longer than ``timeout``; a download may not exceed its ``DownloadLimits`` (size,
overall deadline, lowest rate) nor follow more than ``MAX_REDIRECTS`` redirects.

Submits have their own pool whose idle connections are dropped after
``SUBMIT_KEEPALIVE`` seconds, well before any server closes them (60-75 s is
usual): a pooled connection closed by the server while idle would fail exactly
like a reply lost after the task was made. Under load the pool is reused, so a
batch does not pay a new connection (and TLS handshake) per submit.
The API key travels in the Authorization header (and in the body of the two
legacy calls that need it), never to download hosts, and never into an error:
messages are built here, and any text that came from the server is scrubbed of it.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import mimetypes
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rhbatch import __version__
from rhbatch.api.wire import (
    NOT_FOUND_CODES,
    count_of,
    envelope_data,
    error_of,
    parse_task,
    reading,
    task_id_of,
)
from rhbatch.errors import (
    ApiError,
    NoConnection,
    OutcomeUnknown,
    ProtocolError,
    Rejected,
    TooSlow,
    Transient,
)
from rhbatch.models import QueueStatus, TaskState
from rhbatch.redact import clean, keep_secret, scrub

SUBMIT_KEEPALIVE = 4.0  # seconds an idle submit connection may be reused
UPLOAD_MIN_RATE = 256 * 1024  # bytes/s an upload may not fall below (it widens the timeout)
MAX_REPLY = 8 << 20  # bytes of an API reply read at most
MAX_REDIRECTS = 5  # for result downloads; API calls follow none


@dataclass(frozen=True)
class DownloadLimits:
    """How much a result download may take: bytes, seconds in all, and the lowest average
    rate (bytes/s, judged after ``grace`` seconds; 0: no floor)."""

    max_bytes: int = 4 << 30
    deadline: float = 3600.0
    min_rate: float = 8 * 1024
    grace: float = 30.0


class Download:
    """A result file being received: status, length and type, and the body in chunks."""

    def __init__(self, response: aiohttp.ClientResponse, what: str, limits: DownloadLimits) -> None:
        self._response, self._what, self._limits = response, what, limits
        self.status = response.status
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        # A Content-Length of an encoded body counts encoded bytes, not the ones we get.
        plain = encoding in ("", "identity")
        self.content_length: int | None = response.content_length if plain else None
        self.content_type = response.content_type

    async def chunks(self, size: int = 1 << 16) -> AsyncGenerator[bytes, None]:
        """The body. Larger than the limit: Rejected (TOOBIG). Slower than the limits, a
        connection lost, cut short or silent too long: Transient."""
        limits, what = self._limits, self._what
        if self.content_length is not None and self.content_length > limits.max_bytes:
            raise Rejected("TOOBIG", f"{what}: {_too_big(self.content_length, limits)}")
        began, count = time.monotonic(), 0
        try:
            async for chunk in self._response.content.iter_chunked(size):
                count += len(chunk)
                if count > limits.max_bytes:
                    raise Rejected("TOOBIG", f"{what}: {_too_big(count, limits)}")
                elapsed = time.monotonic() - began
                if elapsed > limits.deadline:
                    raise TooSlow(
                        f"{what}: too slow: not done within {limits.deadline:g} s "
                        f"({count:,} bytes so far)"
                    )
                if limits.min_rate and elapsed > limits.grace and count < limits.min_rate * elapsed:
                    raise TooSlow(
                        f"{what}: too slow: {count / elapsed / 1024:,.1f} KiB/s, below "
                        f"{limits.min_rate / 1024:g} KiB/s"
                    )
                yield chunk
        except TimeoutError:
            raise TooSlow(
                f"{what}: too slow: nothing arrived for a while, or not done within "
                f"{limits.deadline:g} s ({count:,} bytes so far)"
            ) from None
        except aiohttp.ClientError as exc:
            raise scrub_error(_lost(exc, what, submit=False)) from _cause(exc)


class Client:
    """The RunningHub API for one key, over one pooled session (and fresh connections
    for submits). Use as ``async with Client(base, key) as client``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 15.0,
        max_reply_bytes: int = MAX_REPLY,
        user_agent: str = f"rhbatch/{__version__}",
    ) -> None:
        base = base_url.strip().rstrip("/")
        base = base.removesuffix("/openapi/v2")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise ValueError("the base URL must be http:// or https:// with a host and no user")
        self.base_url = base
        self._key = api_key
        keep_secret(api_key)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_reply = max_reply_bytes
        self._user_agent = user_agent
        self._pool: aiohttp.ClientSession | None = None
        self._submits: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    async def __aenter__(self) -> Client:
        self._sessions()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for session in (self._pool, self._submits):
            if session is not None:
                await session.close()
        self._pool = self._submits = None

    # --- the calls ----------------------------------------------------------------------

    async def submit(self, endpoint: str, body: Mapping[str, Any]) -> TaskState:
        """Start a task. Raises OutcomeUnknown whenever a task may exist without our knowing."""
        endpoint = endpoint.strip("/")
        what = f"submit {endpoint}"
        with _secret_kept():
            reply = await self._call(
                "POST", f"/openapi/v2/{endpoint}", what, dict(body), fresh=True
            )
            data = reply.json()
            if 200 <= reply.status < 300:
                if not isinstance(data, dict):
                    raise OutcomeUnknown(
                        f"{what}: HTTP {reply.status} with a body that is not a JSON object "
                        f"({reply.snippet()}); a task may exist",
                        settled=True,
                    )
                with reading(what, submit=True):
                    if task_id_of(data) is not None:
                        return parse_task(data, lenient=True)
                code, message = error_of(data)
                if code:
                    raise Rejected(code, message, http_status=reply.status)
                raise OutcomeUnknown(
                    f"{what}: HTTP {reply.status} without a taskId or an errorCode; "
                    "a task may exist",
                    settled=True,
                )
            code, message = error_of(data)
            if reply.status in (429, 503) and not code:
                raise Transient(f"{what}: {reply.line()}", retry_after=reply.retry_after)
            if reply.status in (429, 503) or 400 <= reply.status < 500:
                raise Rejected(
                    code or f"HTTP{reply.status}",
                    message or f"{what}: {reply.line()}",
                    http_status=reply.status,
                    retry_after=reply.retry_after,
                )
            if reply.status >= 500:
                # A gateway that timed out (504) may leave the request still being served.
                raise OutcomeUnknown(
                    f"{what}: {reply.line()}; a task may exist",
                    settled=reply.status != 504,
                    retry_after=reply.retry_after,
                )
            raise reply.unexpected(what)

    async def query(self, task_id: str) -> TaskState:
        """The task's state; a FAILED task is returned, not raised. Unknown task: Rejected."""
        what = f"query {task_id}"
        with _secret_kept():
            reply = await self._call("POST", "/openapi/v2/query", what, {"taskId": task_id})
            data = reply.expect_json(what)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: the reply is not a JSON object ({reply.snippet()})")
            code, message = error_of(data)
            with reading(what):
                if code and (code in NOT_FOUND_CODES or task_id_of(data) is None):
                    raise Rejected(code, message, http_status=reply.status)
                state = parse_task(data)
            if state.task_id != task_id:
                raise ProtocolError(f"{what}: the reply is about task {state.task_id}")
            return state

    async def upload(self, path: Path) -> str:
        """Upload a local file; returns its ``download_url``. OSError from the file propagates."""
        what = f"upload {path.name}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with _secret_kept(), path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            timeouts = aiohttp.ClientTimeout(
                total=self._timeout + size / UPLOAD_MIN_RATE, connect=self._connect_timeout
            )
            form = aiohttp.FormData()
            form.add_field("file", fh, filename=path.name, content_type=content_type)
            reply = await self._call(
                "POST", "/openapi/v2/media/upload/binary", what, form=form, timeouts=timeouts
            )
            data = reply.envelope(what)
            url = data.get("download_url") if isinstance(data, dict) else None
            if not isinstance(url, str) or not url:
                raise ProtocolError(f"{what}: no data.download_url in {reply.snippet()}")
            return url

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task: True if the server took the request, False if it knows no such
        task. Whether the task did stop, only a query tells."""
        what = f"cancel {task_id}"
        body = {"apiKey": self._key, "taskId": task_id}
        with _secret_kept():
            reply = await self._call("POST", "/task/openapi/cancel", what, body)
            try:
                reply.envelope(what)
            except Rejected as exc:
                if exc.code in NOT_FOUND_CODES:
                    return False
                raise
            return True

    async def queue_status(self) -> QueueStatus:
        """The account's concurrency limit and its running and queued tasks."""
        what = "queue status"
        with _secret_kept():
            reply = await self._call("GET", "/openapi/v2/queue/status", what)
            data = reply.envelope(what)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: no data object in {reply.snippet()}")
            limit = data.get("concurrentLimit")
            return QueueStatus(
                limit=None if limit in (None, "") else count_of(limit, what),
                running=count_of(data.get("runningCount"), what),
                queued=count_of(data.get("queuedCount"), what),
                key_type=clean(str(data.get("apiKeyType") or ""), 40),
            )

    async def account_status(self) -> dict[str, Any]:
        """The account's ``data``: remainMoney, remainCoins, currentTaskCounts, ... (strings)."""
        what = "account status"
        with _secret_kept():
            reply = await self._call(
                "POST", "/uc/openapi/accountStatus", what, {"apikey": self._key}
            )
            data = reply.envelope(what)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: no data object in {reply.snippet()}")
            return {clean(str(k), 60): clean(str(v), 200) for k, v in data.items()}

    def download(
        self, url: str, limits: DownloadLimits | None = None
    ) -> AbstractAsyncContextManager[Download]:
        """``async with client.download(url) as dl``: a result file, without the API key."""
        return self._download(url, limits or DownloadLimits())

    # --- the boundary -------------------------------------------------------------------

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

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        body: dict[str, Any] | None = None,
        *,
        form: aiohttp.FormData | None = None,
        fresh: bool = False,
        timeouts: aiohttp.ClientTimeout | None = None,
    ) -> _Reply:
        pool, fresh_session = self._sessions()
        session = fresh_session if fresh else pool
        headers = {"Authorization": f"Bearer {self._key}"}
        data: Any = form
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        timeouts = timeouts or aiohttp.ClientTimeout(
            total=self._timeout, connect=self._connect_timeout
        )
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=data,
                headers=headers,
                timeout=timeouts,
                allow_redirects=False,
            ) as response:
                raw = await _read_capped(response, self._max_reply)
                return _Reply(
                    response.status,
                    clean(response.reason or "", 100),
                    _retry_after(response.headers.get("Retry-After")),
                    clean(response.headers.get("Location", ""), 200),
                    raw,
                )
        except _TooLarge as exc:
            message = f"{what}: the reply is larger than {self._max_reply:,} bytes ({exc})"
            if fresh:
                raise OutcomeUnknown(f"{message}; a task may exist", settled=True) from None
            raise ProtocolError(message) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _lost(exc, what, submit=fresh) from _cause(exc)

    @contextlib.asynccontextmanager
    async def _download(self, url: str, limits: DownloadLimits) -> AsyncIterator[Download]:
        parts = urlsplit(url)
        what = f"download {clean(f'{parts.scheme}://{parts.netloc}{parts.path}', 300)}"
        with _secret_kept():
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
                raise _lost(exc, what, submit=False) from _cause(exc)
        try:
            if response.status != 200:
                raise scrub_error(_refused(response, what))
            yield Download(response, what, limits)
        finally:
            response.release()


class _TooLarge(Exception):
    pass


async def _read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body, or _TooLarge as soon as it is known to exceed ``cap`` bytes."""
    declared = response.content_length
    if declared is not None and declared > cap:
        raise _TooLarge(f"{declared:,} announced")
    parts, total = [], 0
    async for chunk in response.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > cap:
            raise _TooLarge("and more")
        parts.append(chunk)
    return b"".join(parts)


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer, read to the end (and no further than the cap)."""

    status: int
    reason: str
    retry_after: float | None
    location: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None

    def line(self) -> str:
        return f"HTTP {self.status} {self.reason}".rstrip()

    def snippet(self) -> str:
        text = self.body[:120].decode("utf-8", "replace")
        return repr(clean(text + ("..." if len(self.body) > 120 else ""), 200))

    def unexpected(self, what: str) -> ApiError:
        if 300 <= self.status < 400:
            where = f" to {self.location}" if self.location else ""
            return Rejected(
                f"HTTP{self.status}",
                f"{what}: redirected{where}; check the base URL",
                http_status=self.status,
            )
        return ProtocolError(f"{what}: unexpected {self.line()}")

    def expect_json(self, what: str) -> Any:
        """The JSON of a 2xx reply to a call that is safe to repeat."""
        if self.status == 429 or self.status >= 500:
            raise Transient(f"{what}: {self.line()}", retry_after=self.retry_after)
        if 400 <= self.status < 500:
            code, message = error_of(self.json())
            raise Rejected(
                code or f"HTTP{self.status}",
                message or f"{what}: {self.line()}",
                http_status=self.status,
                retry_after=self.retry_after,
            )
        if not 200 <= self.status < 300:
            raise self.unexpected(what)
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ProtocolError(f"{what}: the reply is nested too deeply") from None
        except ValueError as exc:
            start = self.body.lstrip()[:1]
            if start in (b"", b"{", b"["):  # JSON cut short: the connection dropped
                raise Transient(f"{what}: the reply was cut short ({self.snippet()})") from exc
            raise ProtocolError(f"{what}: the reply is not JSON ({self.snippet()})") from exc

    def envelope(self, what: str) -> Any:
        """The ``data`` of a ``{code, msg|message, data}`` reply."""
        return envelope_data(self.expect_json(what), what, self.snippet(), self.status)


# --- translating failures -------------------------------------------------------------------


def _lost(exc: BaseException, what: str, *, submit: bool) -> ApiError:
    """The rhbatch error for a network failure, a timeout, or a request aiohttp refused."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        reason = _unconnected(exc)
        message = f"{what}: could not connect ({reason}); nothing was sent"
        return NoConnection(message, reason=reason)
    if isinstance(
        exc, aiohttp.NonHttpUrlRedirectClientError | aiohttp.InvalidUrlRedirectClientError
    ):
        return Rejected("BADURL", f"{what}: redirected to a URL that is not http(s)")
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return Rejected("BADURL", f"{what}: not a usable URL")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return Rejected("REDIRECTS", f"{what}: more than {MAX_REDIRECTS} redirects (a loop?)")
    timed_out = isinstance(exc, TimeoutError)
    how = "timed out" if timed_out else f"lost ({_describe(exc)})"
    if submit:
        # A reply lost while it came back: the server was done. A timeout: it may not be.
        return OutcomeUnknown(
            f"{what}: {how} after the request was sent; a task may exist", settled=not timed_out
        )
    return Transient(f"{what}: {how}")


def _unconnected(exc: BaseException) -> str:
    """Why no connection could be made, in a few words."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name does not resolve"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "its TLS certificate is not valid"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    if isinstance(exc, TimeoutError):
        return "connecting timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return clean(exc.os_error.strerror or str(exc.os_error), 200)
    return _describe(exc)


def _refused(response: aiohttp.ClientResponse, what: str) -> ApiError:
    """The error for a download answered with something other than 200."""
    status = response.status
    line = f"HTTP {status} {clean(response.reason or '', 100)}".rstrip()
    if status == 429 or status >= 500:
        after = _retry_after(response.headers.get("Retry-After"))
        return Transient(f"{what}: {line}", retry_after=after)
    if 400 <= status < 500:
        return Rejected(f"HTTP{status}", f"{what}: {line}", http_status=status)
    return ProtocolError(f"{what}: unexpected {line}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):  # carries the request headers: no str()
        return f"{type(exc).__name__}, HTTP {exc.status}"
    text = str(exc)
    return f"{type(exc).__name__}: {clean(text, 200)}" if text else type(exc).__name__


def scrub_error(exc: ApiError) -> ApiError:
    """Blank every secret out of an error's text and of the ApiErrors it was raised from."""
    link: BaseException | None = exc
    while isinstance(link, ApiError):
        link.args = tuple(scrub(a) if isinstance(a, str) else a for a in link.args)
        if isinstance(link, Rejected):
            link.code, link.text = scrub(link.code), scrub(link.text)
        link = link.__cause__
    return exc


@contextlib.contextmanager
def _secret_kept() -> Iterator[None]:
    """Scrub the API key from any error raised inside (a server may echo it back)."""
    try:
        yield
    except ApiError as exc:
        scrub_error(exc)
        raise


def _cause(exc: BaseException) -> BaseException | None:
    """What an aiohttp error may be chained to: not a ClientResponseError, whose repr
    carries the request headers (and with them the key)."""
    return None if isinstance(exc, aiohttp.ClientResponseError) else exc


def _too_big(size: int, limits: DownloadLimits) -> str:
    return f"larger than the limit of {limits.max_bytes:,} bytes ({size:,} bytes or more)"


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: a number, or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - time.time())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
