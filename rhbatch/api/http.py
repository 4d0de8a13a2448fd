"""The HTTP boundary: replies read within a cap, statuses and aiohttp's errors made rhbatch's.

What a failed call raises depends on what it means for a batch (``errors.py``):

    NoConnection    no connection could be made (refused, DNS, TLS, connect timeout):
                    nothing was sent, for any call
    Transient       nothing happened, repeat it: for submits a 429 or 503 without an
                    error code; for the other calls any network trouble, timeout, 429,
                    5xx or reply cut short
    OutcomeUnknown  (submits only) a task may exist: a 5xx other than 503, a timeout,
                    reset or disconnect after sending, an HTTP 200 we cannot read
    Rejected        the server refused: a 4xx, an error code in the body (and no taskId),
                    a download that is not http(s), loops in redirects or is too big
    ProtocolError   (not submits) an HTTP 200 of the wrong shape, an unknown status

``status_error`` is the one table from an HTTP status to these. Every read is
bounded: a reply may not exceed its cap (``read_capped``), a download its
``DownloadLimits``. Every error raised here is scrubbed of secrets: the key
never reaches a message, whatever a server echoes back; ``scrubbed`` does the same
for every call of the client, whatever it raises.
"""

from __future__ import annotations

import email.utils
import functools
import json
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC
from typing import Any, ParamSpec, TypeVar

import aiohttp

from rhbatch.api.wire import envelope_data, error_of
from rhbatch.errors import (
    ApiError,
    NoConnection,
    OutcomeUnknown,
    ProtocolError,
    Rejected,
    TooSlow,
    Transient,
)
from rhbatch.redact import clean, scrub

MAX_REPLY = 8 << 20  # bytes of an API reply read at most
MAX_REDIRECTS = 5  # for result downloads; API calls follow none

P = ParamSpec("P")
T = TypeVar("T")


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
            raise scrub_error(lost(exc, what, submit=False)) from cause(exc)


class TooLarge(Exception):
    """A reply larger than the cap."""


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body, or TooLarge as soon as it is known to exceed ``cap`` bytes."""
    declared = response.content_length
    if declared is not None:
        if declared > cap:
            raise TooLarge(f"{declared:,} announced")
        return await response.read()  # the parser stops at the announced length
    parts, total = [], 0
    async for chunk in response.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > cap:
            raise TooLarge("and more")
        parts.append(chunk)
    return b"".join(parts)


@dataclass(frozen=True)
class Reply:
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

    def expect_json(self, what: str) -> Any:
        """The JSON of a 2xx reply to a call that is safe to repeat."""
        if not 200 <= self.status < 300:
            code, message = error_of(self.json()) if 400 <= self.status < 500 else ("", "")
            failure = status_error(self, what, code=code, message=message)
            if failure is not None:
                raise failure
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


def lost(exc: BaseException, what: str, *, submit: bool) -> ApiError:
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


def status_error(
    reply: Reply, what: str, *, submit: bool = False, code: str = "", message: str = ""
) -> ApiError | None:
    """What an HTTP status means for a call (None for a 2xx); ``code`` and ``message``: an
    error the body carried. A submit's 5xx may have made a task; any other call's 5xx or
    429 is worth repeating; a 4xx (and a submit's 429 or 503 with an error code) refuses."""
    status, line = reply.status, f"{what}: {reply.line()}"
    if 200 <= status < 300:
        return None
    if submit and status in (429, 503) and not code:
        return Transient(line, retry_after=reply.retry_after)
    if not submit and (status == 429 or status >= 500):
        return Transient(line, retry_after=reply.retry_after)
    if 400 <= status < 600 and (not submit or status < 500 or status == 503):
        return Rejected(
            code or f"HTTP{status}",
            message or line,
            http_status=status,
            retry_after=reply.retry_after,
        )
    if status >= 500:  # a gateway that timed out (504) may still be serving the request
        return OutcomeUnknown(
            f"{line}; a task may exist", settled=status != 504, retry_after=reply.retry_after
        )
    if 300 <= status < 400:
        where = f" to {reply.location}" if reply.location else ""
        return Rejected(
            f"HTTP{status}", f"{what}: redirected{where}; check the base URL", http_status=status
        )
    return ProtocolError(f"{what}: unexpected {reply.line()}")


def head_of(response: aiohttp.ClientResponse, body: bytes = b"") -> Reply:
    """A reply's status and headers, with ``body`` (a download's is left unread)."""
    headers = response.headers
    retry_after = headers.get("Retry-After")
    location = headers.get("Location")
    return Reply(
        response.status,
        clean(response.reason, 100) if response.reason else "",
        None if retry_after is None else parse_retry_after(retry_after),
        clean(location, 200) if location else "",
        body,
    )


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


def scrubbed(call: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """A call whose errors are scrubbed of the API key (a server may echo it back): the
    one way every call of the client keeps the key out of what it raises."""

    @functools.wraps(call)
    async def scrubbing(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except ApiError as exc:
            scrub_error(exc)
            raise

    return scrubbing


def cause(exc: BaseException) -> BaseException | None:
    """What an aiohttp error may be chained to: not a ClientResponseError, whose repr
    carries the request headers (and with them the key)."""
    return None if isinstance(exc, aiohttp.ClientResponseError) else exc


def _too_big(size: int, limits: DownloadLimits) -> str:
    return f"larger than the limit of {limits.max_bytes:,} bytes ({size:,} bytes or more)"


def parse_retry_after(value: str | None) -> float | None:
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
