"""The RunningHub API over aiohttp: submit, query, upload, cancel, queue, account, download.

This is the only runner module that imports aiohttp, and the one place where
aiohttp's exceptions become rhbatch's (``errors.py``). What a failed call raises
depends on what it means for a batch:

    Transient       nothing happened, repeat it: no connection at all; for submits a 429
                    or 503 without an error code; for the other calls any network
                    trouble, timeout, 429, 5xx or reply cut short
    OutcomeUnknown  (submits only) a task may exist: a 5xx other than 503, a timeout,
                    reset or disconnect after sending, an HTTP 200 we cannot read
    Rejected        the server refused: a 4xx, an error code in the body (and no taskId)
    ProtocolError   (not submits) an HTTP 200 of the wrong shape, an unknown status

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
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rhbatch import __version__
from rhbatch.errors import ApiError, OutcomeUnknown, ProtocolError, Rejected, Transient

SUBMIT_KEEPALIVE = 4.0  # seconds an idle submit connection may be reused
UPLOAD_MIN_RATE = 256 * 1024  # bytes/s an upload may not fall below (it widens the timeout)
NOT_FOUND_CODES = frozenset({"807", "423"})  # cancel: no such task


class RemoteStatus(StrEnum):
    """A task's status on RunningHub; an unknown value is a ProtocolError."""

    CREATE = "CREATE"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCEL = "CANCEL"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @classmethod
    def parse(cls, value: object) -> RemoteStatus:
        text = value.strip().upper() if isinstance(value, str) else ""
        text = {"CANCELLED": "CANCEL", "CANCELED": "CANCEL"}.get(text, text)
        try:
            return cls(text)
        except ValueError:
            raise ProtocolError(f"unknown task status {value!r}") from None


TERMINAL = frozenset({RemoteStatus.SUCCESS, RemoteStatus.FAILED, RemoteStatus.CANCEL})


@dataclass(frozen=True)
class Result:
    """One item of a task's ``results``: a file URL or a text, and the file's extension."""

    url: str | None
    output_type: str
    text: str | None


@dataclass(frozen=True)
class TaskState:
    """A task as a submit or a query reported it."""

    task_id: str
    status: RemoteStatus
    error_code: str
    error_message: str
    results: tuple[Result, ...]
    usage: dict[str, str]
    cost: float
    failed_reason: dict[str, Any]


@dataclass(frozen=True)
class QueueStatus:
    """The account's slots: its limit (if reported), tasks running and queued, its key tier."""

    limit: int | None
    running: int
    queued: int
    key_type: str


class Download:
    """A result file being received: status, length and type, and the body in chunks."""

    def __init__(self, response: aiohttp.ClientResponse, what: str, key: str) -> None:
        self._response, self._what, self._key = response, what, key
        self.status = response.status
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        # A Content-Length of an encoded body counts encoded bytes, not the ones we get.
        plain = encoding in ("", "identity")
        self.content_length: int | None = response.content_length if plain else None
        self.content_type = response.content_type

    async def chunks(self, size: int = 1 << 16) -> AsyncGenerator[bytes, None]:
        """The body; a connection lost, cut short or silent too long raises Transient."""
        try:
            async for chunk in self._response.content.iter_chunked(size):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _scrub(_lost(exc, self._what, submit=False), self._key) from _cause(exc)


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
        user_agent: str = f"rhbatch/{__version__}",
    ) -> None:
        base = base_url.strip().rstrip("/")
        base = base.removesuffix("/openapi/v2")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the base URL must be http:// or https://, not {base_url!r}")
        self.base_url = base
        self._key = api_key
        self._timeout = timeout
        self._connect_timeout = connect_timeout
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
        with self._secret_kept():
            reply = await self._call(
                "POST", f"/openapi/v2/{endpoint}", what, dict(body), fresh=True
            )
            data = reply.json()
            if 200 <= reply.status < 300:
                if not isinstance(data, dict):
                    raise OutcomeUnknown(
                        f"{what}: HTTP {reply.status} with a body that is not a JSON object "
                        f"({reply.snippet()}); a task may exist"
                    )
                with _reading(what, submit=True):
                    if _task_id(data) is not None:
                        return _task_state(data, lenient=True)
                code, message = _error(data)
                if code:
                    raise Rejected(code, message, http_status=reply.status)
                raise OutcomeUnknown(
                    f"{what}: HTTP {reply.status} without a taskId or an errorCode; "
                    "a task may exist"
                )
            code, message = _error(data)
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
                raise OutcomeUnknown(
                    f"{what}: {reply.line()}; a task may exist", retry_after=reply.retry_after
                )
            raise reply.unexpected(what)

    async def query(self, task_id: str) -> TaskState:
        """The task's state; a FAILED task is returned, not raised. Unknown task: Rejected."""
        what = f"query {task_id}"
        with self._secret_kept():
            reply = await self._call("POST", "/openapi/v2/query", what, {"taskId": task_id})
            data = reply.expect_json(what)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: the reply is not a JSON object ({reply.snippet()})")
            code, message = _error(data)
            with _reading(what):
                if code and (_task_id(data) is None or code == "1004"):
                    raise Rejected(code, message, http_status=reply.status)
                if _task_id(data) is None:
                    raise ProtocolError(f"the reply has no taskId ({reply.snippet()})")
                return _task_state(data)

    async def upload(self, path: Path) -> str:
        """Upload a local file; returns its ``download_url``. OSError from the file propagates."""
        what = f"upload {path.name}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with self._secret_kept(), path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            timeouts = aiohttp.ClientTimeout(
                total=self._timeout + size / UPLOAD_MIN_RATE, connect=self._connect_timeout
            )
            form = aiohttp.FormData()
            form.add_field("file", fh, filename=path.name, content_type=content_type)
            reply = await self._call(
                "POST", "/openapi/v2/media/upload/binary", what, form=form, timeouts=timeouts
            )
            data = _envelope(reply.expect_json(what), what, reply)
            url = data.get("download_url") if isinstance(data, dict) else None
            if not isinstance(url, str) or not url:
                raise ProtocolError(f"{what}: no data.download_url in {reply.snippet()}")
            return url

    async def cancel(self, task_id: str) -> bool:
        """Cancel a task: True if done, False if the server knows no such task."""
        what = f"cancel {task_id}"
        body = {"apiKey": self._key, "taskId": task_id}
        with self._secret_kept():
            reply = await self._call("POST", "/task/openapi/cancel", what, body)
            try:
                _envelope(reply.expect_json(what), what, reply)
            except Rejected as exc:
                if exc.code in NOT_FOUND_CODES:
                    return False
                raise
            return True

    async def queue_status(self) -> QueueStatus:
        """The account's concurrency limit and its running and queued tasks."""
        what = "queue status"
        with self._secret_kept():
            reply = await self._call("GET", "/openapi/v2/queue/status", what)
            data = _envelope(reply.expect_json(what), what, reply)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: no data object in {reply.snippet()}")
            limit = data.get("concurrentLimit")
            return QueueStatus(
                limit=None if limit in (None, "") else _count(limit, what),
                running=_count(data.get("runningCount"), what),
                queued=_count(data.get("queuedCount"), what),
                key_type=str(data.get("apiKeyType") or ""),
            )

    async def account_status(self) -> dict[str, Any]:
        """The account's ``data``: remainMoney, remainCoins, currentTaskCounts, ... (strings)."""
        what = "account status"
        with self._secret_kept():
            reply = await self._call(
                "POST", "/uc/openapi/accountStatus", what, {"apikey": self._key}
            )
            data = _envelope(reply.expect_json(what), what, reply)
            if not isinstance(data, dict):
                raise ProtocolError(f"{what}: no data object in {reply.snippet()}")
            return data

    def download(self, url: str) -> AbstractAsyncContextManager[Download]:
        """``async with client.download(url) as dl``: a result file, without the API key."""
        return self._download(url)

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
                raw = await response.read()
                return _Reply(
                    response.status,
                    response.reason or "",
                    _retry_after(response.headers.get("Retry-After")),
                    response.headers.get("Location", ""),
                    raw,
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _lost(exc, what, submit=fresh) from _cause(exc)

    @contextlib.asynccontextmanager
    async def _download(self, url: str) -> AsyncIterator[Download]:
        parts = urlsplit(url)
        what = f"download {parts.scheme}://{parts.netloc}{parts.path}"
        with self._secret_kept():
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                raise Rejected("BADURL", f"not an http(s) URL: {url[:200]!r}")
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self._connect_timeout, sock_read=self._timeout
            )
            try:
                response = await self._sessions()[0].get(
                    url, headers={"Accept-Encoding": "identity"}, timeout=timeout
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _lost(exc, what, submit=False) from _cause(exc)
        try:
            if response.status != 200:
                raise _scrub(_refused(response, what), self._key)
            yield Download(response, what, self._key)
        finally:
            response.release()

    @contextlib.contextmanager
    def _secret_kept(self) -> Iterator[None]:
        """Scrub the API key from any error raised inside (a server may echo it back)."""
        try:
            yield
        except ApiError as exc:
            _scrub(exc, self._key)
            raise


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer, read to the end."""

    status: int
    reason: str
    retry_after: float | None
    location: str
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def line(self) -> str:
        return f"HTTP {self.status} {self.reason}".rstrip()

    def snippet(self) -> str:
        text = self.body[:120].decode("utf-8", "replace")
        return repr(text + ("..." if len(self.body) > 120 else ""))

    def unexpected(self, what: str) -> ApiError:
        if 300 <= self.status < 400:
            where = f" to {self.location[:200]}" if self.location else ""
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
            code, message = _error(self.json())
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
        except ValueError as exc:
            start = self.body.lstrip()[:1]
            if start in (b"", b"{", b"["):  # JSON cut short: the connection dropped
                raise Transient(f"{what}: the reply was cut short ({self.snippet()})") from exc
            raise ProtocolError(f"{what}: the reply is not JSON ({self.snippet()})") from exc


# --- translating failures -------------------------------------------------------------------


def _lost(exc: BaseException, what: str, *, submit: bool) -> ApiError:
    """The rhbatch error for a network failure, a timeout, or a request aiohttp refused."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return Transient(f"{what}: could not connect ({_describe(exc)}); nothing was sent")
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return Rejected("BADURL", f"{what}: not a usable URL")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ProtocolError(f"{what}: too many redirects")
    how = "timed out" if isinstance(exc, TimeoutError) else f"lost ({_describe(exc)})"
    if submit:
        return OutcomeUnknown(f"{what}: {how} after the request was sent; a task may exist")
    return Transient(f"{what}: {how}")


def _refused(response: aiohttp.ClientResponse, what: str) -> ApiError:
    """The error for a download answered with something other than 200."""
    status, line = response.status, f"HTTP {response.status} {response.reason or ''}".rstrip()
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
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _scrub(exc: ApiError, key: str) -> ApiError:
    """Blank the API key out of an error's text and of the ApiErrors it was raised from."""
    link: BaseException | None = exc
    while key and isinstance(link, ApiError):
        link.args = tuple(a.replace(key, "***") if isinstance(a, str) else a for a in link.args)
        if isinstance(link, Rejected):
            link.code, link.text = link.code.replace(key, "***"), link.text.replace(key, "***")
        link = link.__cause__
    return exc


def _cause(exc: BaseException) -> BaseException | None:
    """What an aiohttp error may be chained to: not a ClientResponseError, whose repr
    carries the request headers (and with them the key)."""
    return None if isinstance(exc, aiohttp.ClientResponseError) else exc


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


# --- reading the shapes ---------------------------------------------------------------------


def _error(data: Any) -> tuple[str, str]:
    """(code, message) of a v2 ``errorCode`` or an envelope's non-zero ``code``; ("", "")."""
    if not isinstance(data, dict):
        return "", ""
    code = _text(data.get("errorCode"))
    if code:
        return code, _text(data.get("errorMessage") or data.get("message") or data.get("msg"))
    envelope = data.get("code")
    if envelope is not None and _text(envelope) not in ("", "0"):
        return _text(envelope), _text(data.get("msg") or data.get("message"))
    return "", ""


def _envelope(data: Any, what: str, reply: _Reply) -> Any:
    """The ``data`` of a ``{code, msg|message, data}`` envelope; a non-zero code is Rejected."""
    if not isinstance(data, dict) or "code" not in data:
        raise ProtocolError(f"{what}: not a {{code, data}} envelope ({reply.snippet()})")
    code, message = _error(data)
    if code:
        raise Rejected(code, message, http_status=reply.status)
    return data.get("data")


def _task_id(data: Mapping[str, Any]) -> str | None:
    """The task id as text, every digit kept; None when absent."""
    value = data.get("taskId", data.get("task_id"))
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise ProtocolError(f"taskId {value!r} is not an id")


@contextlib.contextmanager
def _reading(what: str, *, submit: bool = False) -> Iterator[None]:
    """Name the call in a shape error. A submit reply we cannot read may hide a task."""
    try:
        yield
    except ProtocolError as exc:
        if submit:
            raise OutcomeUnknown(f"{what}: {exc}; a task may exist") from exc
        raise ProtocolError(f"{what}: {exc}") from exc


def parse_task(data: Mapping[str, Any]) -> TaskState:
    """A v2 task object from elsewhere (a webhook's eventData): ProtocolError if it is not one."""
    return _task_state(data)


def _task_state(data: Mapping[str, Any], *, lenient: bool = False) -> TaskState:
    """A v2 task object. ``lenient`` (submits): when the id is readable but the status or
    results are not, the task reads as CREATE without results, so that the id of a task
    that exists is never lost; the next query judges it."""
    task_id = _task_id(data)
    if task_id is None:
        raise ProtocolError("a task object without a taskId")
    try:
        status = RemoteStatus.parse(data.get("status"))
        results = _results(data.get("results"))
    except ProtocolError:
        if not lenient:
            raise
        status, results = RemoteStatus.CREATE, ()
    raw_usage = data.get("usage")
    usage = raw_usage if isinstance(raw_usage, dict) else {}
    reason = data.get("failedReason")
    return TaskState(
        task_id=task_id,
        status=status,
        error_code=_text(data.get("errorCode")),
        error_message=_text(data.get("errorMessage")),
        results=results,
        usage={str(k): _text(v) for k, v in usage.items()},
        cost=_money(usage.get("consumeMoney")) + _money(usage.get("thirdPartyConsumeMoney")),
        failed_reason=reason if isinstance(reason, dict) else {},
    )


def _results(raw: Any) -> tuple[Result, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ProtocolError(f"results is not a list of objects: {str(raw)[:120]!r}")
    out = []
    for item in raw:
        url = item.get("url") or item.get("outputUrl")
        text = next(
            (item[k] for k in ("text", "content", "output") if item.get(k) is not None), None
        )
        out.append(
            Result(
                url=str(url) if url else None,
                output_type=_text(item.get("outputType")),
                text=None if text is None else str(text),
            )
        )
    return tuple(out)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _money(value: Any) -> float:
    """An amount of money as sent (a string, a number, null or ""); 0.0 when unreadable."""
    try:
        amount = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return amount if math.isfinite(amount) else 0.0


def _count(value: Any, what: str) -> int:
    """A count sent as a number or a string; a missing one is 0."""
    if value is None or value == "":
        return 0
    try:
        return int(str(value).strip())
    except ValueError:
        raise ProtocolError(f"{what}: {value!r} is not a count") from None
