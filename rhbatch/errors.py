"""The exception tree of rhbatch, and the problems that invalid input produces.

::

    RhbatchError                 base of everything rhbatch raises on purpose
    ├── UsageError               bad command line (exit 2)
    │   ├── MissingKey           no API key is set (also an AuthError)
    │   └── NotARun              a directory that holds no run's state (also a StateError)
    ├── InvalidInput             bad spec or data; carries every Problem found (exit 2)
    │   └── UnknownEndpoint      an endpoint name that is not in schemas/ (with suggestions)
    ├── FatalError               the run cannot go on (exit 3)
    │   ├── AuthError            the API key is rejected (a missing one: MissingKey, exit 2)
    │   ├── FundsError           the account cannot pay for more tasks
    │   ├── SpendCapReached      the next task would cross --max-spend (exit 4)
    │   ├── Unreachable          the API cannot be reached at all (refused, DNS, TLS): stop,
    │   │                        nothing lost; a plain rerun continues
    │   └── StateError           the state store is locked, unreadable or unwritable
    └── ApiError                 one API call went wrong; the runner decides per job
        ├── Rejected             the server answered with an error code: nothing was created
        ├── Transient            network trouble or a refusal with no effect: safe to repeat
        │   ├── NoConnection     no connection could be made (refused, DNS, TLS): nothing sent
        │   └── TooSlow          a download slower than its limits (deadline, lowest rate)
        ├── OutcomeUnknown       a submit that may or may not have created a (paid) task
        └── ProtocolError        an answer rhbatch cannot understand

Only ``cli.py`` turns these into messages and exit codes. Library exceptions
(yaml, jsonschema, sqlite3, aiohttp) are translated into this tree by the one
module that uses that library.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_JOB_FAILURES = 1
EXIT_INVALID = 2
EXIT_FATAL = 3
EXIT_SPEND_CAP = 4
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can.

    ``where`` is the job label ("job 3 (id hotpot)") when the problem belongs to
    expanded jobs; ``field`` is the parameter path ("imageUrls[2]").
    """

    file: str
    line: int | None
    message: str
    column: int | None = None
    where: str | None = None
    field: str | None = None

    def location(self) -> str:
        loc = self.file
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return loc

    def render(self) -> str:
        parts = [self.location() if self.file else "rhbatch"]
        if self.where:
            parts.append(self.where)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class RhbatchError(Exception):
    """Base class of the errors rhbatch raises on purpose."""

    exit_code = EXIT_FATAL


class UsageError(RhbatchError):
    """The command line asks for something that cannot be done."""

    exit_code = EXIT_INVALID


class InvalidInput(RhbatchError):
    """The spec (or a file it names) is invalid; ``problems`` lists every finding."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem], summary: str | None = None) -> None:
        self.problems = problems
        self.summary = summary
        first = problems[0].render() if problems else "invalid input"
        super().__init__(summary or first)


class UnknownEndpoint(InvalidInput):
    """An endpoint name that matches nothing in the registry."""

    def __init__(
        self,
        name: str,
        suggestions: list[str],
        problem: Problem | None = None,
        reason: str | None = None,
    ) -> None:
        self.name = name
        self.suggestions = suggestions
        message = unknown_endpoint_message(name, suggestions, reason)
        super().__init__([problem or Problem(file="", line=None, message=message)])


def unknown_endpoint_message(name: str, suggestions: list[str], reason: str | None = None) -> str:
    """Why a name is not an endpoint: the ``reason`` when one is known (a documented title
    the registry lacks), else the names it may have meant."""
    msg = f"unknown endpoint {name!r}"
    if reason:
        return f"{msg}: {reason}"
    if suggestions:
        msg += "; did you mean " + ", ".join(repr(s) for s in suggestions) + "?"
    else:
        msg += "; run `rhbatch endpoints` to list them"
    return msg


class FatalError(RhbatchError):
    """The run cannot go on (rejected key, no balance, unusable state store)."""

    exit_code = EXIT_FATAL


class AuthError(FatalError):
    """The server rejected the API key (``MissingKey``: none was given)."""

    @classmethod
    def refused(cls, reason: object) -> AuthError:
        """The server refused the key; ``reason`` is its answer (a code and a message)."""
        return cls(f"the API key was refused ({reason})")


class MissingKey(UsageError, AuthError):
    """No API key is set: the command line or the environment must give one (exit 2,
    nothing was sent). An ``AuthError`` too, for code that catches every key problem."""


class FundsError(FatalError):
    """The account's balance cannot pay for another task."""


class SpendCapReached(FatalError):
    """The next task would take the batch's spending past its cap: nothing more is
    submitted; tasks in flight finish."""

    exit_code = EXIT_SPEND_CAP


class Unreachable(FatalError):
    """The API could not be reached for a while (connection refused, DNS, TLS): the run
    stops with every job as it was; a plain rerun continues."""


class StateError(FatalError):
    """The state store cannot be used: locked by another run, unreadable, disk full."""


class NotARun(UsageError, StateError):
    """A directory given as a run's that holds no run's state (``.rhbatch/state.db``): the
    wrong directory, a usage error (exit 2). A ``StateError`` too, for code that catches
    every problem of a state store."""


class ApiError(RhbatchError):
    """One API call went wrong. ``retry_after`` is the server's Retry-After, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(ApiError):
    """The server answered with an error code; the call had no effect.

    ``code`` is the RunningHub code as text ("1505", "421"), or "HTTP<status>"
    when an HTTP error came without one.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code, retry_after=retry_after)
        self.code = code
        self.text = message
        self.http_status = http_status


class Transient(ApiError):
    """Network trouble, a timeout or a refusal (429, 503) that left nothing behind:
    the same call can be made again."""


class NoConnection(Transient):
    """No connection could be made (refused, DNS, TLS, connect timeout): nothing was sent.
    ``reason`` says why in a few words ("connection refused")."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class TooSlow(Transient):
    """A download that did not finish within its deadline, or fell below its lowest rate."""


class OutcomeUnknown(ApiError):
    """A submit whose answer was lost after the request went out: a task may exist.

    ``settled``: the server was done with the request when its answer was lost (it
    answered, or closed the connection), so any task it made exists by now; False when
    rhbatch gave up waiting (a timeout), and a task may still be made later.
    """

    def __init__(
        self, message: str, *, settled: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.settled = settled


class ProtocolError(ApiError):
    """An answer that does not fit the API: not JSON, a missing field, an unknown status."""
