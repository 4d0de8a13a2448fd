"""Spec files: from YAML to a checked ``Spec`` of job entries, before expansion.

``load_spec`` reads a spec file, checks its structure against
``schemas/spec.schema.json`` (unknown keys, wrong types, bad matrix shapes),
resolves every endpoint name, and reads ``jobs_from`` row files. It collects
every problem and raises one ``InvalidInput`` listing them all, each with its
file and line. Expanding entries into jobs is ``expand.py``'s work.

An unknown endpoint leaves nothing to check a job's parameters against, but its
placeholders and ids can still be checked: ``check_spec`` loads with
``unknown_endpoints=True``, which keeps such entries (named in ``Spec.unresolved``)
for the expander to check what does not depend on the endpoint, so that every
problem is still reported in one go.

Before anything is expanded, the jobs a spec will make are counted (matrix
sizes times rows times repeat) and a spec over the cap (``run.max_jobs``, or
``--max-jobs``) is refused, naming the matrix, job list or row file that
explodes; a row file's rows are counted before they are parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rhbatch import readers
from rhbatch.endpoints.describe import describe, field_path, not_finite, structure_errors
from rhbatch.endpoints.pins import PinProblem, pin_path, read_pin, register
from rhbatch.endpoints.registry import Registry
from rhbatch.errors import InvalidInput, Problem, UsageError, unknown_endpoint_message
from rhbatch.models import PINNED_KINDS, Entry, Matrix, RunSettings, pinned_kind
from rhbatch.spec import rows, yaml_source
from rhbatch.spec.cap import Cap, count
from rhbatch.spec.matrix import RESERVED, is_note, read_matrix
from rhbatch.spec.naming import DEFAULT_NAMING
from rhbatch.spec.suggest import close, did_you_mean

SPEC_ENTRY = "the spec"  # the entry of a spec without jobs, and its endpoint in Spec.unresolved


@dataclass(slots=True)
class Spec:
    path: Path
    file: str
    name: str
    base_dir: Path
    endpoint: str | None
    defaults: Mapping[str, Any]
    defaults_lines: Mapping[str, int]
    vars: Mapping[str, Any]
    matrix: Matrix | None
    entries: list[Entry]
    repeat: int
    output_dir: str | None
    naming: str
    prompt_field: str | None  # output.prompt: the parameter that is each job's prompt
    run: Mapping[str, Any]
    data: Mapping[str, Any]
    problems: list[Problem]  # found while loading; the jobs they spare are still expanded
    max_jobs: int = RunSettings().max_jobs  # the cap in force
    planned: int = 0  # the jobs the entries will expand to (matrix x repeat, summed)
    # Entries (by ``Entry.where``) whose endpoint is unknown (reported): only what does not
    # depend on it is checked. "the spec" stands for the spec's own endpoint, which every
    # entry that names none of its own takes.
    unresolved: frozenset[str] = frozenset()


def load_spec(
    path: str | Path,
    registry: Registry,
    *,
    max_jobs: int | None = None,
    unknown_endpoints: bool = False,
) -> Spec:
    """Read and check one spec file.

    Problems that leave the jobs readable (an unknown top-level key, one bad job
    entry, a bad ``run`` setting) are kept in ``Spec.problems`` and the rest of
    the spec is still expanded, so that every problem is reported at once.
    Problems that make expansion meaningless (bad defaults, matrix or endpoint,
    more jobs than ``max_jobs`` or else ``run.max_jobs``) raise InvalidInput.
    With ``unknown_endpoints``, an endpoint that is unknown (or a pin that cannot be
    read) does not: it is kept in ``Spec.problems`` and the entries that would run it
    are named in ``Spec.unresolved``, for a check of what does not depend on it.
    """
    if max_jobs is not None and max_jobs < 1:
        raise UsageError(f"--max-jobs must be at least 1, not {max_jobs}")
    path = Path(path)
    file = str(path)
    try:
        text = readers.read_text(path)
    except readers.FileProblem as exc:
        message = "no such spec file" if exc.missing else exc.reason
        raise InvalidInput([Problem(file, exc.line, message)]) from None
    data = yaml_source.load(text, file)
    if data is None:
        raise InvalidInput([Problem(file, 1, "the spec is empty; start with `version: 1`")])
    if not isinstance(data, yaml_source.Located):
        raise InvalidInput([Problem(file, 1, "a spec must be a mapping (version, endpoint, ...)")])
    problems, broken = _structure(data, file, registry)
    if broken & _GLOBAL or "" in broken:
        raise InvalidInput(problems)
    return _build(path, file, data, registry, problems, broken, max_jobs, unknown_endpoints)


# Parts of a spec without which no job can be expanded correctly.
_GLOBAL = {"version", "endpoint", "defaults", "vars", "matrix", "jobs_from", "repeat", "jobs"}


def _structure(
    data: yaml_source.Located, file: str, registry: Registry
) -> tuple[list[Problem], set[str]]:
    """Structural problems, and the parts they break ("jobs[3]", "run", "" for the root)."""
    schema = registry.spec_schema()
    problems: list[Problem] = []
    broken: set[str] = set()
    seen: set[tuple[int | None, str]] = set()
    for path, error in structure_errors(schema, data):
        if error.validator != "additionalProperties":  # unknown keys are reported, then ignored
            if path[:1] == ["jobs"] and len(path) >= 2:
                broken.add(f"jobs[{path[1]}]")
            else:
                broken.add(str(path[0]) if path else "")
        for where, line, message in _translate(data, path, error):
            if (line, message) in seen:
                continue
            seen.add((line, message))
            problems.append(Problem(file, line, message, field=where or None))
    run = data.get("run") if isinstance(data, Mapping) else None
    for path, message in not_finite(run, ("run",)) if isinstance(run, Mapping) else ():
        broken.add("run")
        problems.append(Problem(file, line_at(data, path), message, field=field_path(path)))
    problems.sort(key=lambda p: p.line or 0)
    return problems, broken


def _translate(data: Any, path: list[str | int], error: Any) -> list[tuple[str, int | None, str]]:
    where = field_path(path)
    line = line_at(data, path)
    kw = error.validator
    if kw == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        out = []
        for key in _walk(data, path):
            if key in allowed or is_note(key):
                continue
            msg = f"unknown key {key!r}" + did_you_mean(close(key, allowed))
            if allowed:
                msg += " Allowed here: " + ", ".join(allowed)
            out.append((field_path([*path, key]), line_at(data, [*path, key]), msg))
        return out
    if kw == "not" and path and path[-1] in RESERVED:
        message = f"{path[-1]!r} is a job key, not a parameter; set it on a job"
    elif kw == "pattern" and path == ["name"]:
        message = (
            f"{error.instance!r}: use letters, digits, '.', '_' and '-' "
            "(it names the output directory)"
        )
    elif kw == "pattern":
        message = f"{error.instance!r} is not a valid name (letters, digits and _)"
    elif kw == "const" and path == ["version"]:
        message = f"unsupported version {error.instance!r}; this rhbatch reads version 1"
    elif kw == "required" and not path:
        return [(where, 1, "missing `version: 1` at the top of the spec")]
    elif kw == "minProperties" and not error.instance:
        message = "must not be empty"
    else:
        message = describe(error)
    return [(where, line, message)]


def _walk(data: Any, path: list[str | int]) -> Any:
    node = data
    for part in path:
        node = node[part]
    return node


def line_at(data: Any, path: list[str | int]) -> int | None:
    """The line of the value at ``path`` in located YAML data."""
    node, line = data, getattr(data, "line", None)
    for part in path:
        found = _line_in(node, part)
        line = found if found is not None else line
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _line_in(node: Any, part: str | int) -> int | None:
    if isinstance(node, yaml_source.Located) and isinstance(part, str):
        return node.line_of(part)
    if isinstance(node, yaml_source.LocatedList) and isinstance(part, int):
        return node.line_of(part)
    return None


def _build(
    path: Path,
    file: str,
    data: yaml_source.Located,
    registry: Registry,
    problems: list[Problem],
    broken: set[str],
    max_jobs: int | None,
    unknown_endpoints: bool = False,
) -> Spec:
    base_dir = path.resolve().parent
    unresolved: set[str] = set()  # entries whose endpoint is unknown (kept on demand)
    fatal: list[Problem] = []  # problems that leave nothing sensible to expand
    cap = Cap(data, max_jobs)

    pinned: dict[str, str | Problem] = {}  # "workflow:<id>" -> its endpoint, or why not

    def endpoint_of(raw: Any, where_file: str, line: int, key: str = "endpoint") -> str | None:
        text = str(raw).strip()
        if key in PINNED_KINDS:
            text = f"{key}:{text}"
        kind = pinned_kind(text)
        if kind is not None:
            found_pin = pinned.get(text)
            if found_pin is None:
                found_pin = pinned[text] = _pin(base_dir, *kind, where_file, line, registry)
            if isinstance(found_pin, Problem):
                problems.append(replace(found_pin, file=where_file, line=line, field=key))
                return None
            return found_pin
        found = registry.lookup(text)
        if found is None:
            reason = registry.unlisted_reason(text)  # a documented title the registry lacks
            message = unknown_endpoint_message(
                text, [] if reason else registry.suggest(text), reason
            )
            problems.append(Problem(where_file, line, message, field="endpoint"))
        return found

    def target_of(item: yaml_source.Located, where_file: str) -> str | bool | None:
        """The endpoint an item names by `endpoint`, `workflow` or `app`: None when it
        names none, False when what it names is wrong (reported)."""
        named = [k for k in ("endpoint", *PINNED_KINDS) if item.get(k) is not None]
        if not named:
            return None
        if len(named) > 1:
            message = (
                f"{' and '.join(repr(k) for k in named)} are both set: a job runs one "
                "endpoint, workflow or app"
            )
            problems.append(Problem(where_file, item.line_of(named[1]), message, field=named[1]))
            return False
        key = named[0]
        return endpoint_of(item[key], where_file, item.line_of(key), key) or False

    endpoint = None
    top = target_of(data, file)
    if top is False and unknown_endpoints:
        unresolved.add(SPEC_ENTRY)
    elif top is False:
        fatal.append(problems.pop())
    elif isinstance(top, str):
        endpoint = top
    defaults = _plain_keys(data.get("defaults") or {})
    matrix = read_matrix(data.get("matrix"), file, ["matrix"], fatal)
    across = matrix.size if matrix else 1  # jobs per entry from the spec's matrix
    if across > cap.most:
        problem = Problem(file, data.line_of("matrix"), cap.message(across))
        raise InvalidInput(_sorted([*problems, *fatal, problem], file))

    entries: list[Entry] = []
    for i, item in enumerate(data.get("jobs") or []):
        if f"jobs[{i}]" in broken:
            continue
        job_target = target_of(item, file)
        if job_target is False and unknown_endpoints:
            unresolved.add(f"jobs[{i}]")
        elif job_target is False:
            continue
        job_endpoint = job_target if isinstance(job_target, str) else None
        before = len(problems)
        job_matrix = read_matrix(item.get("matrix"), file, ["jobs", i, "matrix"], problems)
        if len(problems) > before:
            continue
        entries.append(
            Entry(
                file=file,
                line=data["jobs"].line_of(i),
                where=f"jobs[{i}]",
                params={k: v for k, v in item.items() if k not in RESERVED and not is_note(k)},
                key_lines=item.key_lines,
                endpoint=job_endpoint,
                id=item.get("id"),
                vars=dict(item.get("vars") or {}),
                repeat=item.get("repeat"),
                matrix=job_matrix,
                uses=dict(item.get("uses") or {}),
            )
        )
    sources = data.get("jobs_from")
    if sources is not None:
        listed = isinstance(sources, list)
        for k, source in enumerate(sources if listed else [sources]):
            line = line_at(data, ["jobs_from", k] if listed else ["jobs_from"]) or 1
            try:
                found = rows.read_rows(
                    source, base_dir, file, line, problems, endpoint_of, cap.most // across
                )
            except rows.TooManyRows as exc:
                problem = Problem(file, line, cap.message(exc.rows * across, at_least=True))
                raise InvalidInput(_sorted([*problems, *fatal, problem], file)) from None
            entries.extend(found)
    if not data.get("jobs") and sources is None:
        # No job list: the spec is one job made of its defaults (times matrix and repeat).
        entries.append(Entry(file=file, line=data.line, where=SPEC_ENTRY, params={}, key_lines={}))

    if fatal:
        raise InvalidInput(_sorted(problems + fatal, file))
    repeat = data.get("repeat") or 1
    planned, culprit = count(entries, data, file, across, repeat, cap.most)
    if planned > cap.most:
        where_file, line = culprit
        problem = Problem(where_file, line, cap.message(planned))
        raise InvalidInput(_sorted([*problems, problem], file))
    out = _mapping(data.get("output"))  # a bad value is reported; the defaults stand in
    return Spec(
        path=path,
        file=file,
        name=_text(data.get("name")) or _name_from(path),
        base_dir=base_dir,
        endpoint=endpoint,
        defaults=defaults,
        defaults_lines=getattr(data.get("defaults"), "key_lines", {}),
        vars=dict(data.get("vars") or {}),
        matrix=matrix,
        entries=entries,
        repeat=repeat,
        output_dir=_text(out.get("dir")),
        naming=_text(out.get("naming")) or DEFAULT_NAMING,
        prompt_field=_text(out.get("prompt")) or None,
        run=_mapping(data.get("run")),
        data=data,
        problems=_sorted(problems, file),
        max_jobs=cap.most,
        planned=planned,
        unresolved=frozenset(unresolved),
    )


def _pin(
    base_dir: Path, kind: str, ident: str, file: str, line: int, registry: Registry
) -> str | Problem:
    """A pinned workflow or app made an endpoint of the registry, or the problem."""
    try:
        return register(registry, read_pin(pin_path(base_dir, kind, ident), kind, ident))
    except PinProblem as exc:
        return Problem(file, line, str(exc), field=kind)


def _mapping(value: Any) -> dict[str, Any]:
    """A spec section as a dict; {} when it is not a mapping (that is reported already)."""
    return dict(value) if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    """A setting's text; None when it is not text or empty (that is reported already)."""
    return value if isinstance(value, str) and value else None


def _sorted(problems: list[Problem], file: str) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file != file, p.file, p.line or 0))


def _plain_keys(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if not is_note(k)}


def _name_from(path: Path) -> str:
    stem = path.name.split(".")[0] or "batch"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in stem)
