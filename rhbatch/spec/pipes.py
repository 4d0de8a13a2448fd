"""Pipelines: jobs that take other jobs' results, checked as a graph before anything is sent.

A job's ``uses`` names other jobs (``frame: "frame-{subject}"``); its parameters
then hold ``{frame.url}``, ``{frame.urls}`` or ``{frame.text}``. While a spec is
checked, each such value is given a stand-in of the right shape (a URL, a list
of them, a text) so that the endpoint's schema judges the rest of the job as it
will be sent; the graph is judged when every job is known: each named job
exists, no job depends on itself, an image slot is fed by a job that makes
images, a list parameter is not fed more files than it takes. The depth of each
job in the graph is its stage (``rhbatch plan`` shows them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from rhbatch.endpoints.registry import EndpointSchema
from rhbatch.models import OUTPUT_EXTENSIONS, Job
from rhbatch.spec import templates
from rhbatch.spec.problems import Findings

STAND_IN = "https://results.rhbatch.example/"  # no request ever goes there
IMAGE_COUNT_PARAMS = ("n", "numImages", "num_images", "maxImages", "imageCount")


@dataclass(frozen=True, slots=True)
class Ref:
    """One placeholder naming another job's results, and where it sits."""

    path: str  # the parameter, "imageUrls[1]" for a list item
    name: str  # the key of the job's `uses`
    what: str  # url | urls | text
    whole: bool  # the whole value (its type is the result's: a list for urls)


def refs_in(params: dict[str, Any], uses: dict[str, str]) -> list[Ref]:
    """Every placeholder of ``params`` that names a result of a job of ``uses``."""
    out = []
    for key, value in params.items():
        for path, text in _strings(key, value):
            if "{" not in text:
                continue
            try:
                parts = templates.parse(text)
            except templates.TemplateError:
                continue
            whole = len(parts) == 1 and parts[0][0] == ""
            for _, name in parts:
                head, dot, what = (name or "").partition(".")
                if dot and head in uses:
                    out.append(Ref(path, head, what, whole))
    return out


def stand_in(params: dict[str, Any], uses: dict[str, str], ext: dict[str, str]) -> dict[str, Any]:
    """``params`` with each result placeholder given a value of its shape, for the schema's
    check: a URL (``ext``: the extension of each used job's files), a list of one, a text."""
    variables: dict[str, Any] = {}
    for name in uses:
        url = f"{STAND_IN}{name}/1.{ext.get(name, 'bin')}"
        variables.update({f"{name}.url": url, f"{name}.urls": [url], f"{name}.text": "text"})
    out = {}
    for key, value in params.items():
        try:
            out[key] = _fill_refs(value, variables)
        except templates.TemplateError:
            out[key] = value
    return out


def expected_outputs(schema: EndpointSchema, params: dict[str, Any]) -> int | None:
    """How many files a job makes, as far as its endpoint says (None: not told)."""
    kind = schema.info.output_type
    if kind == "image":
        for name in IMAGE_COUNT_PARAMS:
            value: Any = params.get(name, schema.properties.get(name, {}).get("default"))
            try:
                return max(1, int(value))
            except (TypeError, ValueError):
                continue
        return 1
    if kind == "video":
        return 2 if params.get("returnLastFrame") is True else 1
    if kind in ("audio", "3d", "string"):
        return 1
    return None


@dataclass(slots=True)
class _Made:
    """What a job with an id makes, for the jobs that use it."""

    output_type: str
    count: int | None
    label: str


@dataclass(slots=True)
class _Taker:
    """A job that uses others: where it is written, and what it takes into which slot."""

    job_id: str
    label: str
    file: str
    line: int
    uses: dict[str, str]
    slots: list[
        tuple[Ref, str | None, int | None, str, int]
    ]  # ref, media kind, maxItems, file, line


@dataclass(slots=True)
class Graph:
    """The jobs of a spec as producers and takers of results."""

    made: dict[str, _Made] = field(default_factory=dict)
    takers: list[_Taker] = field(default_factory=list)
    stages: Counter[int] = field(default_factory=Counter)

    def add(
        self,
        job: Job,
        schema: EndpointSchema,
        refs: list[Ref],
        locate: Any,
    ) -> None:
        """Record a job: what it makes (if others can name it) and what it takes."""
        if job.entry.id is not None:
            count = expected_outputs(schema, job.params)
            self.made[job.id] = _Made(schema.info.output_type, count, job.label)
        if not job.uses:
            return
        slots = []
        for ref in refs:
            name = ref.path.split("[")[0]
            rule = schema.media.get(name)
            most = schema.properties.get(name, {}).get("maxItems")
            file, line = locate(job, ref.path)
            slots.append((ref, rule.kind if rule else None, most, file, line))
        line = job.entry.line_of("uses")
        self.takers.append(_Taker(job.id, job.label, job.entry.file, line, job.uses, slots))

    def check(
        self, findings: Findings, jobs: int, unresolved: Collection[str] = frozenset()
    ) -> None:
        """Report every problem of the graph; count the jobs of each stage. ``unresolved``:
        the ids of jobs whose endpoint is unknown (reported): they are there, unchecked."""
        edges: dict[str, list[str]] = {}
        for taker in self.takers:
            known = True
            for name, target in taker.uses.items():
                if target not in self.made and target in unresolved:
                    known = False
                elif target not in self.made:
                    known = False
                    findings.add(
                        taker.file,
                        taker.line,
                        f"uses.{name} names job {target!r}, which this spec does not have "
                        "(a job another uses needs an `id:`)",
                        where=taker.label,
                        field=f"uses.{name}",
                    )
                elif target == taker.job_id:
                    known = False
                    findings.add(
                        taker.file, taker.line, f"uses.{name} names the job itself",
                        where=taker.label, field=f"uses.{name}",
                    )  # fmt: skip
            for ref, kind, most, file, line in taker.slots:
                made = self.made.get(taker.uses[ref.name])
                if made is not None:
                    problem = _mismatch(ref, made, kind, most)
                    if problem is not None:
                        findings.add(file, line, problem, where=taker.label, field=ref.path)
            if known:
                edges[taker.job_id] = list(taker.uses.values())
        for cycle in _cycles(edges):
            first = next(t for t in self.takers if t.job_id == cycle[0])
            findings.add(
                first.file,
                first.line,
                "these jobs wait for each other's results: " + " -> ".join(cycle),
                where=first.label,
                field="uses",
            )
        depth = _depths(edges)
        deeper = Counter(d for d in depth.values() if d > 1)
        self.stages = Counter({1: jobs - sum(deeper.values()), **deeper})


def _mismatch(ref: Ref, made: _Made, kind: str | None, most: int | None) -> str | None:
    """Why a job's results cannot fill a slot, or None."""
    what, makes = ref.what, made.output_type
    if what not in templates.RESULTS:
        return f"{{{ref.name}.{what}}}: a job's results are {', '.join(templates.RESULTS)}"
    if what == "text":
        if makes and makes != "string":
            return f"{{{ref.name}.text}}: {made.label} makes {makes} files, no text"
        return None
    if makes == "string":
        return f"{{{ref.name}.{what}}}: {made.label} makes text; use {{{ref.name}.text}}"
    if kind is not None and makes and makes != kind:
        return f"takes {kind}, but {made.label} makes {makes}"
    if what == "urls" and most is not None and made.count is not None and made.count > most:
        return f"takes at most {most} files, but {made.label} makes {made.count}"
    return None


def _cycles(edges: dict[str, list[str]]) -> Iterator[list[str]]:
    """One cycle through each group of jobs that wait for each other (iterative DFS)."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in edges:
        if start in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(edges.get(start, [])))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                yield [*path[path.index(child) :], child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(edges.get(child, []))))


def _depths(edges: dict[str, list[str]]) -> dict[str, int]:
    """Each taker's stage: one more than the deepest job it uses (a job that uses none is
    stage 1; a cycle, reported elsewhere, is cut where it closes)."""
    depth: dict[str, int] = {}
    for start in edges:
        stack, visiting = [(start, False)], set()
        while stack:
            node, ready = stack.pop()
            if node in depth:
                continue
            parents = edges.get(node, [])
            if ready:
                depth[node] = 1 + max((depth.get(p, 1) for p in parents), default=0)
                visiting.discard(node)
                continue
            if node in visiting:
                depth[node] = 1
                continue
            visiting.add(node)
            stack.append((node, True))
            stack.extend((p, False) for p in parents if p not in depth and p not in visiting)
    return {n: d for n, d in depth.items() if n in edges}


def _strings(key: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield f"{key}[{i}]", item


def _fill_refs(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str) and ("{" in value or "}" in value):
        if templates.names(value) <= set(variables):  # as the runner will fill it
            return templates.fill(value, variables)
        return value
    if isinstance(value, list):
        return [_fill_refs(item, variables) for item in value]
    return value


def output_ext(output_type: str) -> str:
    return OUTPUT_EXTENSIONS.get(output_type, "bin")
