"""The shapes of RunningHub's answers, read into rhbatch's records (no networking here).

A v2 task object (submit, query, a webhook's eventData) becomes a ``TaskState``;
``{code, msg|message, data}`` envelopes give their ``data`` or raise ``Rejected``.
Everything a server wrote that rhbatch keeps (error messages, failure reasons,
result URLs and texts, usage) is cleaned on the way in (``redact.clean``): the
API key blanked out, long texts cut. Task ids are kept as text, every digit
(they exceed 2^53), and must look like ids: a server cannot smuggle a path or a
page of text in through one.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from rhbatch.errors import OutcomeUnknown, ProtocolError, Rejected
from rhbatch.models import RemoteStatus, Result, TaskState
from rhbatch.redact import clean, scrub, scrub_value

TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a negative number is no id
REASON_LIMIT = 4000  # characters of a failedReason kept (as JSON)
NOT_FOUND_CODES = frozenset({"1004", "807", "423"})  # no such task


def error_of(data: Any) -> tuple[str, str]:
    """(code, message) of a v2 ``errorCode`` or an envelope's non-zero ``code``; ("", "")."""
    if not isinstance(data, dict):
        return "", ""
    code = _text(data.get("errorCode"))
    if code:
        message = data.get("errorMessage") or data.get("message") or data.get("msg")
        return clean(code, 40), clean(_text(message))
    envelope = data.get("code")
    if envelope is not None and _text(envelope) not in ("", "0"):
        return clean(_text(envelope), 40), clean(_text(data.get("msg") or data.get("message")))
    return "", ""


def envelope_data(data: Any, what: str, snippet: str, status: int) -> Any:
    """The ``data`` of a ``{code, msg|message, data}`` envelope; a non-zero code is Rejected."""
    if not isinstance(data, dict) or "code" not in data:
        raise ProtocolError(f"{what}: not a {{code, data}} envelope ({snippet})")
    code, message = error_of(data)
    if code:
        raise Rejected(code, message, http_status=status)
    return data.get("data")


def task_id_of(data: Mapping[str, Any]) -> str | None:
    """The task id as text, every digit kept; None when absent; ProtocolError when it
    is not an id."""
    value = data.get("taskId", data.get("task_id"))
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and TASK_ID.match(value.strip()):
        return value.strip()
    raise ProtocolError(f"taskId {clean(repr(value), 80)} is not an id")


@contextlib.contextmanager
def reading(what: str, *, submit: bool = False) -> Iterator[None]:
    """Name the call in a shape error. A submit reply we cannot read may hide a task."""
    try:
        yield
    except ProtocolError as exc:
        if submit:
            raise OutcomeUnknown(f"{what}: {exc}; a task may exist", settled=True) from exc
        raise ProtocolError(f"{what}: {exc}") from exc


def parse_task(data: Mapping[str, Any], *, lenient: bool = False) -> TaskState:
    """A v2 task object. ``lenient`` (submits): when the id is readable but the status or
    results are not, the task reads as CREATE without results, so that the id of a task
    that exists is never lost; the next query judges it."""
    task_id = task_id_of(data)
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
    return TaskState(
        task_id=task_id,
        status=status,
        error_code=clean(_text(data.get("errorCode")), 40),
        error_message=clean(_text(data.get("errorMessage"))),
        results=results,
        usage={clean(str(k), 60): clean(_text(v), 60) for k, v in list(usage.items())[:20]},
        cost=_money(usage.get("consumeMoney")) + _money(usage.get("thirdPartyConsumeMoney")),
        failed_reason=_reason(data.get("failedReason")),
    )


def price_of(data: Any, what: str) -> tuple[float, str]:
    """(amount, currency) of a price preview's answer."""
    amount = data.get("estimatedPrice") if isinstance(data, dict) else None
    try:
        value = float(amount)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ProtocolError(f"{what}: no estimatedPrice in the answer ({clean(repr(amount), 60)})")
    currency = clean(_text(data.get("currency")) or "CNY", 10)
    return value, currency


def _reason(raw: Any) -> dict[str, Any]:
    """A failedReason, scrubbed; a long one is kept as the start of its JSON text."""
    if not isinstance(raw, dict) or not raw:
        return {}
    text = json.dumps(raw, ensure_ascii=False, default=str)
    if len(text) > REASON_LIMIT:
        return {"truncated": clean(text, REASON_LIMIT)}
    value: dict[str, Any] = scrub_value(raw)
    return value


def _results(raw: Any) -> tuple[Result, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ProtocolError(f"results is not a list of objects: {clean(str(raw), 120)}")
    out = []
    for item in raw:
        url = item.get("url") or item.get("outputUrl")
        text = next(
            (item[k] for k in ("text", "content", "output") if item.get(k) is not None), None
        )
        out.append(
            Result(
                url=scrub(str(url)) if url else None,
                output_type=clean(_text(item.get("outputType")), 40),
                text=None if text is None else scrub(str(text)),
            )
        )
    return tuple(out)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _money(value: Any) -> float:
    """An amount of money as sent (a string, a number, null or ""); 0.0 when unreadable."""
    try:
        amount = float(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return amount if math.isfinite(amount) else 0.0


def count_of(value: Any, what: str) -> int:
    """A count sent as a number or a string; a missing one is 0."""
    if value is None or value == "":
        return 0
    try:
        return int(str(value).strip()[:20])
    except ValueError:
        raise ProtocolError(f"{what}: {clean(repr(value), 40)} is not a count") from None
