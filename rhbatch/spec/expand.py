"""Entries to jobs: defaults, matrix, templates, repeat, seeds and stable ids.

For each entry (in spec order) and each combination of its matrix axes, the
job's parameters are ``defaults`` (those its endpoint has) under the entry's
own values under the matrix values; then every ``{placeholder}`` is filled;
``repeat`` makes copies (with distinct seeds where the endpoint has a
``seed``); required choices left out get the endpoint's default.

A job's id is the entry's ``id`` (a template), else the first 12 hex digits of
the sha256 of its endpoint, its parameters as the spec resolves them (before
endpoint defaults are added) and its copy number: reordering a spec, or a newer
registry changing a default, does not change the ids. Making ids and seeds is
``ids.py``'s; reading a CSV cell as its parameter's type, ``rows.py``'s.

Jobs are produced lazily, one at a time; problems go to a ``Findings``. An entry
whose endpoint is unknown (``Spec.unresolved``) makes no job, but its would-be jobs
are still numbered and their placeholders, ids and ``uses`` filled, so that those
problems are reported with the unknown endpoint rather than after it is fixed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from rhbatch.endpoints.describe import show
from rhbatch.endpoints.registry import EndpointSchema, Registry
from rhbatch.models import Entry, Job, Point
from rhbatch.spec import templates
from rhbatch.spec.ids import ID_PATTERN, content_id, fill_id, seed
from rhbatch.spec.load import SPEC_ENTRY, Spec
from rhbatch.spec.problems import Findings
from rhbatch.spec.rows import ROW_KEYS, cell_value
from rhbatch.spec.suggest import close, did_you_mean
from rhbatch.spec.templates import TemplateError
from rhbatch.spec.yaml_source import LocatedList


class Expander:
    """Expands a loaded spec into jobs, reporting problems into ``findings``."""

    def __init__(self, spec: Spec, registry: Registry, findings: Findings) -> None:
        self.spec = spec
        self.registry = registry
        self.findings = findings
        self.count = 0
        # The ids of jobs whose endpoint is unknown, which others' `uses` may name (kept
        # only when some entry has `uses`).
        self.unresolved_ids: set[str] = set()
        self._piped = any(entry.uses for entry in spec.entries)

    def jobs(self) -> Iterator[Job]:
        for entry in self.spec.entries:
            yield from self._entry(entry)

    def locate(self, job: Job, path: str) -> tuple[str, int]:
        """File and line where the value of a job's field was written."""
        aliases = self.registry.schema(job.endpoint).aliases
        if aliases:  # a workflow input may have been written by its node's title
            name = path.partition("[")[0]
            for alias, target in aliases.items():
                if target == name and self._written(job.entry, job.combo, alias):
                    return self._locate(job.entry, job.combo, alias + path[len(name) :])
        return self._locate(job.entry, job.combo, path)

    def _written(self, entry: Entry, combo: tuple[Point, ...], name: str) -> bool:
        return (
            any(name in point.values for point in combo)
            or name in entry.params
            or name in self.spec.defaults
        )

    def _locate(self, entry: Entry, combo: tuple[Point, ...], path: str) -> tuple[str, int]:
        name, _, rest = path.partition("[")
        if not self._written(entry, combo, name):  # "a.b": field b of parameter a
            name = name.split(".")[0]
        index = int(rest.split("]")[0]) if rest[:1].isdigit() else None
        for point in reversed(combo):
            if name in point.values:
                return self.spec.file, _item_line(point.values[name], index, point.lines[name])
        if name in entry.params:
            return entry.file, _item_line(entry.params[name], index, entry.line_of(name))
        if name in self.spec.defaults:
            line = self.spec.defaults_lines.get(name, entry.line)
            return self.spec.file, _item_line(self.spec.defaults[name], index, line)
        return entry.file, entry.line

    def _entry(self, entry: Entry) -> Iterator[Job]:
        spec, add = self.spec, self.findings.add
        endpoint = entry.endpoint or spec.endpoint
        unknown = entry.where in spec.unresolved or (
            entry.endpoint is None and SPEC_ENTRY in spec.unresolved
        )
        if unknown:  # reported: only what does not depend on the endpoint is checked
            endpoint = None
        elif endpoint is None:
            add(
                entry.file,
                entry.line,
                "no endpoint: set `endpoint:` at the top of the spec or on this job",
                where=entry.where,
            )
            return
        schema = self.registry.schema(endpoint) if endpoint is not None else None

        def knows(key: str) -> bool:  # without an endpoint, any key may be a parameter
            return schema is None or schema.knows(key)

        defaults = {k: v for k, v in spec.defaults.items() if knows(k)}
        if entry.row:
            params = {k: v for k, v in entry.params.items() if knows(k)}
            row_vars = dict(entry.params)
        else:
            params, row_vars = dict(entry.params), {}
        if entry.text and schema is not None and not self._convert(entry, schema, params):
            return

        axes = list(spec.matrix.axes) if spec.matrix else []
        matrix_lines = dict(spec.matrix.key_lines) if spec.matrix else {}
        if entry.matrix:
            for key in entry.matrix.keys & set(matrix_lines):
                add(
                    spec.file,
                    entry.matrix.key_lines[key],
                    f"{key!r} is already a key of the spec's matrix",
                    where=entry.where,
                    field=f"matrix.{key}",
                )
                return
            axes += entry.matrix.axes
            matrix_lines.update(entry.matrix.key_lines)
        used = templates.names(defaults) | templates.names(params) | templates.names(entry.id or "")
        for axis in axes:
            for point in axis:
                used |= templates.names(dict(point.values))
        ignored: set[str] = set()  # matrix keys reported as problems; their axes are dropped
        for key, line in matrix_lines.items():
            if key in params and not entry.row:
                add(
                    entry.file,
                    entry.line_of(key),
                    f"{key!r} is set both here and by the matrix (line {line}); remove one",
                    where=entry.where,
                    field=key,
                )
                ignored.add(key)
            elif schema is not None and not schema.knows(key) and key not in used:
                add(
                    spec.file,
                    line,
                    f"matrix key {key!r} is not a parameter of {schema.label} "
                    f"and no {{{key}}} placeholder uses it" + did_you_mean(schema.close_names(key)),
                    field=f"matrix.{key}",
                )
                ignored.add(key)
        if ignored:
            axes = [a for a in axes if not all(k in ignored for k in a[0].values)]
        if entry.row and schema is not None:
            unused = [k for k in row_vars if not schema.knows(k) and k not in used]
            for key in unused:
                close_to = schema.close_names(key) or close(key, ROW_KEYS)
                add(
                    entry.file,
                    entry.line,
                    f"column {key!r} is not a parameter of {schema.label} "
                    f"and no {{{key}}} placeholder uses it" + did_you_mean(close_to),
                    where=entry.where,
                    field=key,
                )
            if unused:
                return

        base_vars = {**spec.vars, **entry.vars, **row_vars}
        for name in entry.uses:  # another job's results: kept as placeholders until it ran
            base_vars.update({f"{name}.{what}": templates.REF for what in templates.RESULTS})
        repeat = entry.repeat or spec.repeat
        for combo in itertools.product(*axes):
            values: dict[str, Any] = {}
            for point in combo:
                values.update(point.values)
            raw = {**defaults, **params}
            for key, value in values.items():
                if schema is not None and schema.knows(key):
                    raw[key] = value
            for copy in range(1, repeat + 1):
                variables = {**base_vars, **values, "copy": copy}
                job = self._job(entry, combo, schema, raw, variables, copy, repeat)
                if job is not None:
                    yield job

    def _fill(
        self,
        entry: Entry,
        combo: tuple[Point, ...],
        raw: dict[str, Any],
        variables: dict[str, Any],
        index: int,
    ) -> tuple[dict[str, Any], bool]:
        """The parameters with their placeholders filled, and whether one could not be
        (reported; such a value is kept as written, so that its other problems show too).
        A job that uses another's results is filled again by the runner, once they are
        known: it stays a template in which only those placeholders are live."""
        params: dict[str, Any] = {}
        broken = False
        template = bool(entry.uses)
        for key, value in raw.items():
            try:
                params[key] = templates.fill(value, variables, template=template)
            except TemplateError as exc:
                file, line = self._locate(entry, combo, key)
                self.findings.add(file, line, str(exc), where=f"job {index + 1}", field=key)
                params[key] = value
                broken = True
        return params, broken

    def _job(
        self,
        entry: Entry,
        combo: tuple[Point, ...],
        schema: EndpointSchema | None,
        raw: dict[str, Any],
        variables: dict[str, Any],
        copy: int,
        repeat: int,
    ) -> Job | None:
        """The next job; None when its endpoint is unknown (``schema``): it is numbered
        all the same, its placeholders, id and ``uses`` filled (their problems reported)."""
        index = self.count
        self.count += 1
        params, broken = self._fill(entry, combo, raw, variables, index)
        job_id = self._explicit_id(entry, index, variables, copy, repeat)
        if schema is None:
            if job_id is not None and self._piped:
                self.unresolved_ids.add(job_id)
            if entry.uses:
                self._uses(entry, index, variables)
            return None
        broken = broken or (entry.id is not None and job_id is None)
        if schema.aliases:
            where = f"job {index + 1}" + (f" (id {job_id})" if job_id is not None else "")
            broken = self._canonical(params, schema, entry, combo, where) or broken
        if schema.coercions:  # an app's "8" for an INT is 8: one job, one id, either way
            schema.coerce(params)
        if job_id is None:
            job_id = content_id(schema.endpoint, params, copy)
        uses = self._uses(entry, index, variables) if entry.uses else {}
        if uses is None:
            broken, uses = True, {}
        seeds = schema.seed_range
        if repeat > 1 and seeds is not None:
            params["seed"] = seed(schema.endpoint, params, copy, seeds)
        for key, value in schema.choice_defaults.items():
            params.setdefault(key, value)
        return Job(
            index, job_id, schema.endpoint, params, copy, entry, combo, variables, broken, uses
        )

    def _uses(self, entry: Entry, index: int, variables: dict[str, Any]) -> dict[str, str] | None:
        """The ids of the jobs whose results this one takes, their templates filled as ids
        are (values made file-name safe); None when one cannot be (reported)."""
        out = {}
        for name, template in entry.uses.items():
            try:
                job_id = fill_id(template, variables)
            except TemplateError as exc:
                line = entry.line_of("uses")
                self.findings.add(
                    entry.file, line, str(exc), where=f"job {index + 1}", field=f"uses.{name}"
                )
                return None
            out[name] = str(job_id)
        return out

    def _canonical(
        self,
        params: dict[str, Any],
        schema: EndpointSchema,
        entry: Entry,
        combo: tuple[Point, ...],
        where: str,
    ) -> bool:
        """Inputs written by their node's title renamed to ``<nodeId>.<field>``, in place;
        True when one is set under both names (reported for the job ``where`` names)."""
        broken = False
        for key in [k for k in params if k in schema.aliases]:
            target = schema.aliases[key]
            value = params.pop(key)
            if target in params:
                file, line = self._locate(entry, combo, key)
                message = f"{key!r} and {target!r} are the same input; set it once"
                self.findings.add(file, line, message, where=where, field=key)
                broken = True
                continue
            params[target] = value
        return broken

    def _explicit_id(
        self, entry: Entry, index: int, variables: dict[str, Any], copy: int, repeat: int
    ) -> str | None:
        """The entry's id template filled in, placeholders made file-name safe, and its copy
        number added when it is repeated and names none; None when it has no id, or its id
        is wrong (reported)."""
        if entry.id is None:
            return None
        job_id = self._id_template(entry, index, variables)
        if job_id is not None and repeat > 1 and "copy" not in templates.names(entry.id):
            job_id = f"{job_id}-{copy}"
        return job_id

    def _id_template(self, entry: Entry, index: int, variables: dict[str, Any]) -> str | None:
        """The entry's id template filled in, placeholders made file-name safe."""
        assert entry.id is not None
        line, where = entry.line_of("id"), f"job {index + 1}"
        try:
            job_id = fill_id(entry.id, variables)
        except TemplateError as exc:
            self.findings.add(entry.file, line, str(exc), where=where, field="id")
            return None
        if not isinstance(job_id, str) or not ID_PATTERN.match(job_id):
            message = (
                f"id {show(job_id)} must be 1-100 letters, digits, '.', '_' or '-' "
                "(it names a directory)"
            )
            self.findings.add(entry.file, line, message, where=where, field="id")
            return None
        return job_id

    def _convert(self, entry: Entry, schema: EndpointSchema, params: dict[str, Any]) -> bool:
        """CSV text to each parameter's type, in place; False if a cell cannot be read."""
        ok = True
        for key, text in list(params.items()):
            kind = schema.properties.get(schema.aliases.get(key, key), {}).get("type")
            try:
                params[key] = cell_value(text, kind)
            except ValueError as exc:
                self.findings.add(
                    entry.file, entry.line, f"{show(text)}: {exc}", where=entry.where, field=key
                )
                ok = False
        return ok


def _item_line(value: Any, index: int | None, line: int) -> int:
    if index is not None and isinstance(value, LocatedList):
        return value.line_of(index)
    return line
