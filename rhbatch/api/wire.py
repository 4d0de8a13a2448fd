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
from itertools import islice
from typing import Any

from rhbatch.errors import OutcomeUnknown, ProtocolError, Rejected
from rhbatch.models import RemoteStatus, Result, TaskState, field_text
from rhbatch.redact import clean, scrub, scrub_value

TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a negative number is no id
REASON_LIMIT = 4000  # characters of a failedReason kept (as JSON)
NOT_FOUND_CODES = frozenset({"1004", "807", "423"})  # no such task
_NO_NODE_ERRORS = re.compile(r'"node_errors"\s*:\s*\{\s*\}')
WAIT_CODES = frozenset({"804", "813"})  # legacy outputs: the task is running, or queued


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
    error_code = clean(_text(data.get("errorCode")), 40)
    error_message = clean(_text(data.get("errorMessage")))
    refused = node_errors(data)
    if refused is not None:  # the inputs did not fit the workflow: the task will not run
        status = RemoteStatus.FAILED
        error_code, error_message = error_code or "NODE_ERRORS", refused
    return TaskState(
        task_id=task_id,
        status=status,
        error_code=error_code,
        error_message=error_message,
        results=results,
        usage={clean(str(k), 60): clean(_text(v), 60) for k, v in islice(usage.items(), 20)},
        cost=_money(usage.get("consumeMoney")) + _money(usage.get("thirdPartyConsumeMoney")),
        failed_reason=_reason(data.get("failedReason")),
    )


def node_info_body(params: Mapping[str, Any]) -> dict[str, Any]:
    """A workflow or AI-app job's parameters as the start call's body: every
    ``<nodeId>.<fieldName>`` a ``nodeInfoList`` item whose ``fieldValue`` is text, as
    apiCallDemo gives it and RunningHub's own clients send it (``8`` as ``"8"``, ``true``
    as ``"true"``; docs/spec.md); the options as they are."""
    nodes, body = [], {}
    for key, value in params.items():
        node, dot, name = key.partition(".")
        if dot and node and name:
            nodes.append({"nodeId": node, "fieldName": name, "fieldValue": field_text(value)})
        else:
            body[key] = value
    return {"nodeInfoList": nodes, **body}


def node_errors(data: Mapping[str, Any]) -> str | None:
    """What a start reply's ``promptTips.node_errors`` says is wrong with the inputs
    (one line per node, at most 400 characters), or None when it says nothing."""
    tips: Any = data.get("promptTips")
    if not tips:
        return None
    if isinstance(tips, str):
        if _NO_NODE_ERRORS.search(tips) and tips.count('"node_errors"') == 1:
            return None  # the usual answer, '... "node_errors": {}}': nothing to parse
        try:
            tips = json.loads(tips) if tips.strip() else None
        except json.JSONDecodeError:
            return None
    errors = tips.get("node_errors") if isinstance(tips, dict) else None
    if not isinstance(errors, dict) or not errors:
        return None
    lines = []
    for node, detail in list(errors.items())[:10]:
        found = detail.get("errors") if isinstance(detail, dict) else None
        said = [
            ": ".join(str(e.get(k)) for k in ("message", "details") if e.get(k))
            for e in (found if isinstance(found, list) else [])
            if isinstance(e, dict)
        ]
        lines.append(f"node {node}: {'; '.join(said) or 'invalid'}")
    return clean("node errors: " + " | ".join(lines), 400)


def legacy_task(data: Any, what: str) -> TaskState:
    """The ``data`` of a legacy start (create, ai-app/run): a task id and its status."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{what}: no data object")
    task_id = task_id_of(data)
    if task_id is None:
        raise ProtocolError(f"{what}: no taskId in data")
    status = RemoteStatus.parse(data.get("taskStatus") or "QUEUED")
    return TaskState(task_id, status, "", "", (), {}, 0.0, {})


def legacy_outputs(task_id: str, data: Any) -> TaskState:
    """A succeeded task from the legacy ``/task/openapi/outputs`` list."""
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ProtocolError(f"outputs is not a list of objects: {clean(str(data), 120)}")
    results = tuple(
        Result(
            url=scrub(str(item["fileUrl"])) if item.get("fileUrl") else None,
            output_type=clean(_text(item.get("fileType")), 40),
            text=None,
            node_id=_node(item.get("nodeId")),
        )
        for item in data
    )
    first = data[0] if data else {}
    usage = {
        k: clean(_text(first.get(k)), 60)
        for k in ("consumeMoney", "thirdPartyConsumeMoney", "consumeCoins", "taskCostTime")
        if first.get(k) is not None
    }
    cost = _money(first.get("consumeMoney")) + _money(first.get("thirdPartyConsumeMoney"))
    return TaskState(task_id, RemoteStatus.SUCCESS, "", "", results, usage, cost, {})


def legacy_failure(task_id: str, data: Any, code: str, message: str) -> TaskState:
    """A failed task from the legacy outputs' 805 answer and its ``data.failedReason``."""
    inner = data.get("data") if isinstance(data, dict) else None
    reason = _reason(inner.get("failedReason") if isinstance(inner, dict) else None)
    said = reason.get("exception_message") or reason.get("exception_type") or message
    return TaskState(
        task_id, RemoteStatus.FAILED, code, clean(_text(said)) or "failed", (), {}, 0.0, reason
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
        text = None
        for key in ("text", "content", "output"):  # the first one given
            text = item.get(key)
            if text is not None:
                break
        out.append(
            Result(
                url=scrub(str(url)) if url else None,
                output_type=clean(_text(item.get("outputType")), 40),
                text=None if text is None else scrub(str(text)),
                node_id=_node(item.get("nodeId")),
            )
        )
    return tuple(out)


def _node(value: Any) -> str | None:
    """A result's node id, kept only when it looks like one."""
    text = _text(value)
    return text if text and TASK_ID.match(text) else None


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
