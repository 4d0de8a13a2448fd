"""Generate rhbatch's endpoint schemas from RunningHub's public model registry.

This script owns, and is the only writer of:

- ``schemas/endpoints/<endpoint path>.json``: one JSON Schema (draft 2020-12) per registry
  endpoint, describing the flat request body of ``POST /openapi/v2/<endpoint>``;
- ``schemas/index.json``: names, aliases, task and output type of every endpoint, and the doc
  titles the registry does not list (``unlisted``);
- ``tools/data/doc-nav.json``, through ``--extract-nav``: the Standard Model API titles of the
  documentation's navigation tree, each with its task section.

Everything else in ``schemas/`` (such as the hand-written ``spec.schema.json``) is left alone.
The registry is mapped mechanically; the documentation pages win where they disagree with it
(``DOC_CORRECTIONS``). Registry data that cannot be mapped stops the run with exit status 1.

Every title of the navigation tree ends up somewhere: it matches a registry model by name, or
``tools/data/doc-titles.json`` (hand-kept) names its endpoint (``aliases``) or says the registry
does not list it (``unlisted``). A title that is none of these, or an entry of that file the
data has made stale, stops the run too.

Usage::

    python tools/gen_schemas.py tools/data/runninghub-model-registry.json [--check]
    python -m tools.gen_schemas [--check]     # the committed registry, tools/data/
    python tools/gen_schemas.py --extract-nav PAGE.txt > tools/data/doc-nav.json

Standard library only, so it runs before the project is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "schemas"
DEFAULT_REGISTRY = ROOT / "tools" / "data" / "runninghub-model-registry.json"
DEFAULT_NAV = ROOT / "tools" / "data" / "doc-nav.json"
DEFAULT_TITLES = ROOT / "tools" / "data" / "doc-titles.json"
ENDPOINTS_DIR = "endpoints"
INDEX_FILE = "index.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:rhbatch:endpoint:"

# Keys a job in a spec file uses for itself; a parameter of the same name could not be set.
RESERVED_KEYS = frozenset({"id", "endpoint", "vars", "repeat", "matrix"})
OUTPUT_TYPES = frozenset({"video", "image", "audio", "3d", "string"})
MEDIA_TYPES = {"IMAGE": "image", "VIDEO": "video", "AUDIO": "audio"}
SCALAR_TYPES = {"STRING": "string", "BOOLEAN": "boolean", "INT": "integer", "FLOAT": "number"}

# x-rhbatch.task values. The first group are the section headings of the documentation's
# navigation tree (lower-cased); the second covers registry models the tree does not list.
TASKS = frozenset(
    {
        "reference-to-video",
        "image-to-video",
        "text-to-video",
        "video-edit",
        "motion-control",
        "video-tools",
        "video-effects",
        "video-extend",
        "audio-to-video",
        "text-to-3d",
        "image-to-3d",
        "text-to-audio",
        "reference-to-image",
        "image-to-image",
        "text-to-image",
        "image-tools",
        # not in the navigation tree
        "video-to-video",
        "image-upscale",
        "video-upscale",
        "image-to-text",
        "text-to-text",
        "video-to-text",
        "text-to-world",
        "image-to-world",
        "video-to-world",
        "asset-upload",
    }
)
# Rule 1 of task derivation: these words in the path or name mean reference-to-video, whatever
# the navigation tree says (it files kling-video-o3-pro/reference-to-video under image-to-video
# and Vidu-reference-to-video-q2-pro under reference-to-image). "refrence" is the registry's own
# spelling in kling-video-o1-std/refrence-to-video.
REFERENCE_TO_VIDEO_MARKERS = (
    "reference-to-video",
    "refrence-to-video",
    "multimodal-video",
    "omni-reference",
)
# Rule 2: spellings of a task, rewritten before looking for "<x>-to-<y>" or another task name
# (the tree files google/veo3.1-*/video-extend-official-stable under text-to-video).
TASK_SPELLINGS = (
    (re.compile(r"start-end-to-video|start-to-end"), "image-to-video"),
    (re.compile(r"(?<![a-z0-9])i2v(?![a-z0-9])"), "image-to-video"),
    (re.compile(r"(?<![a-z0-9])t2v(?![a-z0-9])"), "text-to-video"),
    (re.compile(r"(?<![a-z0-9])edit-video(?![a-z0-9])"), "video-edit"),
)
X_TO_Y = re.compile(r"(?<![a-z0-9])([a-z0-9]+)-to-([a-z0-9]+)(?![a-z0-9])")
NAMED_TASKS = tuple(
    (task, re.compile(rf"(?<![a-z0-9]){re.escape(task)}(?![a-z0-9])"))
    for task in sorted(TASKS)
    if "-to-" not in task
)
# Rule 4, first half: words in the path or name that name what a model does, for models the
# navigation tree does not list: (word, output type or None for any, task).
TASK_KEYWORDS: tuple[tuple[str, str | None, str], ...] = (
    ("upload", None, "asset-upload"),
    ("effects", "video", "video-effects"),
    ("extend", "video", "video-extend"),
    ("upscale", "image", "image-upscale"),
    ("image-enhance", "image", "image-upscale"),
    ("upscale", "video", "video-upscale"),
)

# ---------------------------------------------------------------------------------------------
# Corrections from RunningHub's documentation pages. The pages are newer than the registry
# (public-2026-04-29 copies older page data) and win where they disagree.
#
# What was compared, example request body against registry entry, field by field:
#
# seedance-2.0/multimodal-video (modified 2026-04-08) vs rhart-video/sparkvideo-2.0/multimodal-video
#   prompt          string                  STRING (maxLength 20480)                  agrees
#   resolution      "720p"                  LIST 480p/720p/native1080p/1080p/2k/4k     agrees
#   duration        "5" (a string)          LIST of strings "4".."15"; page: 4-15 s    agrees
#   imageUrls       array of 1 URL (.jpg)   IMAGE, multiple, max 9; page: up to 9      agrees
#   videoUrls       array of 1 URL (.mp4)   VIDEO, multiple, max 3; page: up to 3      agrees
#   audioUrls       (not sent)              AUDIO, multiple, max 3; page: up to 3      agrees
#   generateAudio   true                    BOOLEAN                                    agrees
#   ratio           "adaptive"              LIST adaptive/16:9/4:3/1:1/3:4/9:16/21:9   agrees
#   realPersonMode  true                    missing                                    ADDED
#   (returnLastFrame is in the registry, not in the example: kept.)
#
# seedance-v1-lite-reference-to-video (modified 2026-03-10) vs seedance-v1-lite/reference-to-video
#   prompt          string                  STRING (maxLength 5000)                    agrees
#   imageUrls       array of 1 URL (.jpg)   IMAGE, multiple, max 4; page: up to 4      agrees
#   duration        "5" (a string)          LIST of strings "2".."12"                  agrees
#   cameraFixed     "false" (a string)      LIST "false"/"true" (strings)              agrees
#   resolution      "720p"                  LIST 720p/480p                             agrees
#   aspectRatio     "16:9"                  LIST 16:9/9:16/4:3/3:4/21:9/1:1            agrees
#   Nothing to correct.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocCorrection:
    """A property the documentation page shows and the registry gets wrong or lacks."""

    endpoint: str
    field: str
    schema: dict[str, Any]
    page: str
    modified: str
    default_from: str | None = None  # registry model key holding the default, if any


DOC_CORRECTIONS: tuple[DocCorrection, ...] = (
    DocCorrection(
        endpoint="rhart-video/sparkvideo-2.0/multimodal-video",
        field="realPersonMode",
        schema={"type": "boolean"},
        page="seedance-2.0/multimodal-video",
        modified="2026-04-08",
        default_from="real_person_mode_default",
    ),
)
# The titles of the two documentation pages we hold, pinned: the navigation match must agree.
DOC_PAGE_TITLES = {
    "rhart-video/sparkvideo-2.0/multimodal-video": "seedance-2.0/multimodal-video",
    "seedance-v1-lite/reference-to-video": "seedance-v1-lite-reference-to-video",
}
# Every registry model carrying this key exposes a realPersonMode switch in RunningHub's
# official client (ComfyUI_RH_OpenAPI); the key is its default.
REAL_PERSON_KEY = "real_person_mode_default"
REAL_PERSON_FIELD = "realPersonMode"


class GenerationError(Exception):
    """Registry or navigation data the generator cannot map."""


@dataclass
class Context:
    """What a run prints besides its files: warnings at once, the summary at the end."""

    info: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)


# --- the navigation tree -----------------------------------------------------------------------

_BULLET = "• "
_METHOD_LINE = re.compile(r"^\s+(GET|POST|PUT|PATCH|DELETE)\s*$")


def extract_nav(page_text: str) -> list[dict[str, str]]:
    """The Standard Model API leaves of a doc page's navigation tree, with their sections.

    The tree is an indented bullet list (two spaces a level). Under "Standard Model API" come
    media groups ("Video Generation & Processing", ...), then task sections ("image-to-video",
    ...), then sometimes vendor groups, then the page titles. A leaf's section is the task
    section above it, or the media group for leaves filed directly under one ("Other").
    """
    nodes: list[tuple[int, str]] = []
    started = False
    for line in page_text.splitlines():
        stripped = line.lstrip(" ")
        if stripped.startswith(_BULLET):
            started = True
            nodes.append((len(line) - len(stripped), stripped[len(_BULLET) :].strip()))
        elif started and stripped and not _METHOD_LINE.match(line):
            break
    root = next((i for i, (_, title) in enumerate(nodes) if title == "Standard Model API"), None)
    if root is None:
        raise GenerationError("no 'Standard Model API' entry in the navigation tree")
    base = nodes[root][0]
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, str]] = []
    stack: list[tuple[int, str]] = []
    subtree = []
    for indent, title in nodes[root + 1 :]:
        if indent <= base:
            break
        subtree.append((indent, title))
    for i, (indent, title) in enumerate(subtree):
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, title))
        is_leaf = i + 1 == len(subtree) or subtree[i + 1][0] <= indent
        if not is_leaf or len(stack) < 2:
            continue
        section = (stack[1][1] if len(stack) > 2 else stack[0][1]).lower()
        if (title, section) not in seen:
            seen.add((title, section))
            out.append({"title": title, "section": section})
    if not out:
        raise GenerationError("the 'Standard Model API' entry of the navigation tree is empty")
    return out


def load_nav(path: Path) -> list[dict[str, str]]:
    data = read_json(path)
    if not isinstance(data, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("title"), str)
        and isinstance(item.get("section"), str)
        for item in data
    ):
        raise GenerationError(f"{path}: expected a list of {{'title', 'section'}} objects")
    return data


@dataclass(frozen=True)
class DocTitles:
    """The decisions kept in doc-titles.json about titles that match no model by name."""

    source: str  # the file, for messages
    aliases: dict[str, str]  # title -> the registry endpoint it certainly names
    unlisted: dict[str, str]  # title -> a note ("" for none): the registry lacks its model


def load_titles(path: Path) -> DocTitles:
    data = read_json(path)
    aliases = data.get("aliases") if isinstance(data, dict) else None
    unlisted = data.get("unlisted") if isinstance(data, dict) else None
    if not (
        isinstance(aliases, dict)
        and all(
            isinstance(entry, dict) and isinstance(entry.get("endpoint"), str)
            for entry in aliases.values()
        )
        and isinstance(unlisted, dict)
        and all(isinstance(note, str) for note in unlisted.values())
    ):
        raise GenerationError(
            f"{path}: expected 'aliases' ({{title: {{'endpoint': ...}}}}) and "
            "'unlisted' ({title: note})"
        )
    both = sorted(aliases.keys() & unlisted.keys())
    if both:
        raise GenerationError(f"{path.name}: both an alias and unlisted: {', '.join(both)}")
    return DocTitles(
        source=path.name,
        aliases={title: entry["endpoint"] for title, entry in aliases.items()},
        unlisted=dict(unlisted),
    )


def normalize(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match_doc_titles(
    models: Sequence[dict[str, Any]],
    nav: Sequence[dict[str, str]],
    titles: DocTitles,
    ctx: Context,
) -> tuple[dict[str, tuple[str, str]], list[dict[str, str]]]:
    """endpoint -> (doc title, nav section), by exact name_en, else by normalized name/path,
    else by the aliases of doc-titles.json; and the unlisted titles with their sections."""
    by_name = {m["name_en"].strip(): m["endpoint"] for m in models}
    by_norm: dict[str, set[str]] = defaultdict(set)
    for m in models:
        by_norm[normalize(m["name_en"])].add(m["endpoint"])
        by_norm[normalize(m["endpoint"])].add(m["endpoint"])
    sections: dict[str, str] = {}
    for item in nav:
        sections.setdefault(item["title"], item["section"])
    result: dict[str, tuple[str, str]] = {}
    exact: set[str] = set()
    unmatched: list[str] = []
    # Exact matches first, so a normalized match never takes a model an exact one names.
    order = sorted(sections, key=lambda t: t not in by_name)
    for title in order:
        if title in by_name:
            endpoint, how = by_name[title], "exact"
        else:
            candidates = by_norm.get(normalize(title), set())
            if len(candidates) > 1:
                ctx.warn(f"doc title {title!r} matches several models {sorted(candidates)}: unused")
                continue
            if not candidates:
                unmatched.append(title)
                continue
            endpoint, how = next(iter(candidates)), "normalized"
        if endpoint in result:
            ctx.warn(
                f"doc title {title!r} ({how}) also matches {endpoint}, "
                f"already titled {result[endpoint][0]!r}: unused"
            )
            continue
        result[endpoint] = (title, sections[title])
        if how == "exact":
            exact.add(endpoint)
    aliased = add_title_aliases(result, models, sections, titles)
    for endpoint, title in DOC_PAGE_TITLES.items():
        if result.get(endpoint, ("", ""))[0] != title:
            raise GenerationError(
                f"the navigation tree does not give {endpoint} its page title {title!r}"
            )
    unlisted = unlisted_titles(result, sections, titles)
    ctx.info.append(
        f"doc titles: {len(sections)} in the navigation tree, {len(result)} matched "
        f"({len(exact)} exact, {aliased} by alias), {len(unlisted)} unlisted in the registry"
    )
    return result, unlisted


def add_title_aliases(
    result: dict[str, tuple[str, str]],
    models: Sequence[dict[str, Any]],
    sections: dict[str, str],
    titles: DocTitles,
) -> int:
    """Give each aliased title its endpoint; refuse an alias the data has made stale."""
    known = {m["endpoint"] for m in models}
    for title, endpoint in titles.aliases.items():
        where = f"{titles.source}: alias {title!r}"
        if title not in sections:
            raise GenerationError(f"{where} is not a title of the navigation tree")
        if endpoint not in known:
            raise GenerationError(f"{where} names {endpoint}, which the registry lacks")
        named = [e for e, (t, _) in result.items() if t == title]
        if named:
            raise GenerationError(f"{where} matches {named[0]} by name now: remove the alias")
        if endpoint in result:
            raise GenerationError(
                f"{where}: {endpoint} already has the doc title {result[endpoint][0]!r}"
            )
        result[endpoint] = (title, sections[title])
    return len(titles.aliases)


def unlisted_titles(
    result: dict[str, tuple[str, str]], sections: dict[str, str], titles: DocTitles
) -> list[dict[str, str]]:
    """The titles whose model the registry lacks, in tree order; every title of the tree
    must be matched or listed, and every listed title must still be unmatched."""
    titled = {title: endpoint for endpoint, (title, _) in result.items()}
    for title in titles.unlisted:
        where = f"{titles.source}: unlisted {title!r}"
        if title not in sections:
            raise GenerationError(f"{where} is not a title of the navigation tree")
        if title in titled:
            raise GenerationError(f"{where} names {titled[title]} now: remove it from unlisted")
    missing = [t for t in sections if t not in titled and t not in titles.unlisted]
    if missing:
        raise GenerationError(
            f"doc titles that match no registry model: {', '.join(missing)}; add each to "
            f"{titles.source}, under 'aliases' when its endpoint is certain, else 'unlisted'"
        )
    return [
        {"title": t, "section": sections[t], "note": titles.unlisted[t]}
        for t in sections
        if t in titles.unlisted
    ]


# --- tasks ---------------------------------------------------------------------------------------


def explicit_task(text: str) -> str | None:
    text = text.lower()
    for pattern, replacement in TASK_SPELLINGS:
        text = pattern.sub(replacement, text)
    for match in X_TO_Y.finditer(text):
        task = f"{match.group(1)}-to-{match.group(2)}"
        if task in TASKS:
            return task
    for task, pattern in NAMED_TASKS:
        if pattern.search(text):
            return task
    return None


def derive_task(model: dict[str, Any], nav_section: str | None) -> str:
    """The task of a model, by the first rule that decides.

    1. reference-to-video markers in the path or name;
    2. an explicit task in the last path segment or the name ("image-to-video", "i2v",
       "start-end-to-video", "video-extend", ...);
    3. the navigation section of the model's doc title;
    4. words in the path or name (TASK_KEYWORDS), then the output type and the kinds of
       *required* media inputs (optional ones do not say what a model does: a chat model may
       take an image).
    """
    endpoint: str = model["endpoint"]
    name = model["name_en"].strip().lower()
    path = endpoint.lower()
    if any(marker in path or marker in name for marker in REFERENCE_TO_VIDEO_MARKERS):
        return "reference-to-video"
    for text in (path.rsplit("/", 1)[-1], name):
        task = explicit_task(text)
        if task:
            return task
    if nav_section in TASKS:
        return nav_section
    output = model["output_type"]
    for word, wanted_output, task in TASK_KEYWORDS:
        if (wanted_output is None or output == wanted_output) and (word in path or word in name):
            return task
    media = {
        MEDIA_TYPES[p["type"]]
        for p in model["params"]
        if p["type"] in MEDIA_TYPES and p.get("required")
    }
    if output == "video":
        for kind, task in (("video", "video-to-video"), ("image", "image-to-video")):
            if kind in media:
                return task
        return "audio-to-video" if "audio" in media else "text-to-video"
    if output == "image":
        return "image-to-image" if "image" in media else "text-to-image"
    if output == "3d":
        return "image-to-3d" if "image" in media else "text-to-3d"
    if output == "audio":
        return "text-to-audio"
    for kind, task in (("video", "video-to-text"), ("image", "image-to-text")):
        if kind in media:
            return task
    return "text-to-text"


# --- properties ---------------------------------------------------------------------------------


def parse_accept(raw: Any, where: str) -> list[str]:
    try:
        formats = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise GenerationError(f"{where}: accept {raw!r} is not a JSON list") from exc
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise GenerationError(f"{where}: accept {raw!r} is not a list of format names")
    return [f.lower() for f in formats]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def map_param(param: dict[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    """The JSON Schema of one registry parameter (see the module's schema format)."""
    kind = param.get("type")
    key = param["fieldKey"]
    prop: dict[str, Any] = {}
    ext: dict[str, Any] = {}
    multiple = bool(param.get("multipleInputs"))
    if kind in MEDIA_TYPES:
        item: dict[str, Any] = {"type": "string", "minLength": 1}
        ext["media"] = MEDIA_TYPES[kind]
        if param.get("maxSize") is not None:
            ext["maxSizeMB"] = param["maxSize"]
        if param.get("accept") is not None:
            ext["accept"] = parse_accept(param["accept"], where)
    elif kind == "LIST":
        options = param.get("options") or []
        values = [o.get("value") for o in options]
        if not values or not all(isinstance(v, str) for v in values):
            raise GenerationError(f"{where}: LIST options must be a non-empty list of strings")
        if len(set(values)) != len(values):
            raise GenerationError(f"{where}: LIST options repeat a value: {values}")
        item = {"type": "string", "enum": values}
        labels = {
            o["value"]: o["descriptionEn"]
            for o in options
            if isinstance(o.get("descriptionEn"), str) and o["descriptionEn"] != o["value"]
        }
        if labels:
            ext["optionLabels"] = labels
    elif kind in SCALAR_TYPES:
        item = {"type": SCALAR_TYPES[kind]}
        if kind == "STRING" and param.get("maxLength") is not None:
            item["maxLength"] = param["maxLength"]
        if kind in ("INT", "FLOAT"):
            for src, dst in (("min", "minimum"), ("max", "maximum")):
                if param.get(src) is not None:
                    item[dst] = param[src]
            if param.get("step") is not None:
                ext["step"] = param["step"]
    else:
        raise GenerationError(f"{where}: unknown parameter type {kind!r}")

    if multiple and kind in ("BOOLEAN", "INT", "FLOAT", "LIST"):
        raise GenerationError(f"{where}: multipleInputs on a {kind} parameter")
    if multiple:
        prop = {"type": "array", "items": item}
        if param.get("required"):
            prop["minItems"] = 1
        if param.get("maxInputNum") is not None:
            prop["maxItems"] = param["maxInputNum"]
        ext["multiple"] = True
    else:
        prop = dict(item)

    default = param.get("defaultValue")
    if default is not None:
        default = check_default(param, key, default, multiple, notes)
    if default is not None:
        prop["default"] = default
    if param.get("description"):
        prop["description"] = param["description"]
    if ext:
        prop["x-rhbatch"] = ext
    return prop


def check_default(
    param: dict[str, Any], key: str, default: Any, multiple: bool, notes: list[str]
) -> Any:
    """The default to publish; registry inconsistencies are kept (or fixed) with a note."""
    kind = param["type"]
    if kind in MEDIA_TYPES:
        notes.append(
            f"{key}: registry default omitted (a sample upload URL with an expiring signature)"
        )
        return None
    if multiple and not isinstance(default, list):
        notes.append(f"{key}: registry default {default!r} is a single value; published as a list")
        return [default]
    if kind == "LIST" and default not in [o["value"] for o in param["options"]]:
        notes.append(f"{key}: registry default {default!r} is not one of its options")
    elif kind in ("INT", "FLOAT"):
        wrong_type = not is_number(default) or (kind == "INT" and not isinstance(default, int))
        low, high = param.get("min"), param.get("max")
        if wrong_type:
            notes.append(f"{key}: registry default {default!r} is not a {kind} value")
        elif (low is not None and default < low) or (high is not None and default > high):
            notes.append(f"{key}: registry default {default!r} is outside {low}..{high}")
    elif kind == "BOOLEAN" and not isinstance(default, bool):
        notes.append(f"{key}: registry default {default!r} is not a boolean")
    elif kind == "STRING" and not isinstance(default, str):
        notes.append(f"{key}: registry default {default!r} is not a string")
    return default


# --- one endpoint --------------------------------------------------------------------------------


@dataclass
class Endpoint:
    endpoint: str
    model: dict[str, Any]
    doc_title: str | None
    task: str
    schema: dict[str, Any]
    aliases: list[str]


def check_path(endpoint: Any) -> str:
    if not isinstance(endpoint, str) or not endpoint:
        raise GenerationError(f"endpoint {endpoint!r} is not a non-empty string")
    parts = endpoint.split("/")
    if any(p in ("", ".", "..") or "\\" in p or p != p.strip() for p in parts):
        raise GenerationError(f"endpoint {endpoint!r} is not a clean relative path")
    return endpoint


def build_properties(
    model: dict[str, Any], notes: list[str], corrections: list[str]
) -> tuple[dict[str, Any], list[str]]:
    endpoint = model["endpoint"]
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in model["params"]:
        key = param.get("fieldKey")
        where = f"{endpoint}: parameter {key!r}"
        if not isinstance(key, str) or not key:
            raise GenerationError(f"{where}: fieldKey is not a non-empty string")
        if key in RESERVED_KEYS:
            raise GenerationError(
                f"{where}: the name is reserved for job keys ({', '.join(sorted(RESERVED_KEYS))})"
            )
        if key in properties:
            raise GenerationError(f"{where}: listed twice")
        properties[key] = map_param(param, where, notes)
        if param.get("required"):
            required.append(key)

    for fix in DOC_CORRECTIONS:
        if fix.endpoint != endpoint:
            continue
        prop = dict(fix.schema)
        if fix.default_from and model.get(fix.default_from) is not None:
            prop["default"] = model[fix.default_from]
        verb = "replaced" if fix.field in properties else "added"
        properties[fix.field] = prop
        corrections.append(
            f"{fix.field}: {verb} as {describe_prop(prop)} per the documentation page "
            f"{fix.page} ({fix.modified})"
        )
    if REAL_PERSON_KEY in model and REAL_PERSON_FIELD not in properties:
        default = model[REAL_PERSON_KEY]
        if not isinstance(default, bool):
            raise GenerationError(f"{endpoint}: {REAL_PERSON_KEY} {default!r} is not a boolean")
        prop = {"type": "boolean", "default": default}
        properties[REAL_PERSON_FIELD] = prop
        corrections.append(
            f"{REAL_PERSON_FIELD}: added as {describe_prop(prop)} per the registry's "
            f"{REAL_PERSON_KEY} key (RunningHub's official client exposes this switch)"
        )
    return properties, required


def describe_prop(prop: dict[str, Any]) -> str:
    text = str(prop["type"])
    if "default" in prop:
        text += f" (default {json.dumps(prop['default'])})"
    return text


def build_endpoint(
    model: dict[str, Any], doc: tuple[str, str] | None, version: str
) -> tuple[Endpoint, list[str]]:
    endpoint = model["endpoint"]
    for key in ("name_en", "name_cn", "display_name", "category"):
        if not isinstance(model.get(key), str):
            raise GenerationError(f"{endpoint}: {key} is missing or not a string")
    if model.get("output_type") not in OUTPUT_TYPES:
        raise GenerationError(
            f"{endpoint}: output_type {model.get('output_type')!r} is not one of "
            f"{', '.join(sorted(OUTPUT_TYPES))}"
        )
    if not isinstance(model.get("params"), list):
        raise GenerationError(f"{endpoint}: params is not a list")
    notes: list[str] = []
    corrections: list[str] = []
    properties, required = build_properties(model, notes, corrections)
    name_en = model["name_en"].strip()
    if name_en != model["name_en"]:
        notes.append(f"name_en {model['name_en']!r} has surrounding spaces; used stripped")
    if not model["params"]:
        notes.append("the registry lists no parameters: only an empty body is valid")
    doc_title, section = doc if doc else (None, None)
    task = derive_task(model, section)
    if task not in TASKS:
        raise GenerationError(f"{endpoint}: derived task {task!r} is not in the vocabulary")
    media = [p for p in model["params"] if p["type"] in MEDIA_TYPES]
    needs_media = task.split("-to-")[0] in ("image", "video", "audio", "reference")
    if model["params"] and needs_media and not media:
        notes.append(f"task {task}, but the registry lists no IMAGE/VIDEO/AUDIO parameter")

    display = model["display_name"].strip().removeprefix("RH ").strip()
    aliases = dedupe([endpoint, name_en, doc_title or "", display])
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": ID_PREFIX + quote(endpoint, safe="/:@!$&'()*+,;=-._~"),
        "title": doc_title or name_en,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        "x-rhbatch": {
            "endpoint": endpoint,
            "nameEn": name_en,
            "nameCn": model["name_cn"],
            "docTitle": doc_title,
            "aliases": aliases,
            "outputType": model["output_type"],
            "task": task,
            "category": model["category"],
            "registryVersion": version,
            "corrections": corrections,
            "registryNotes": notes,
        },
    }
    return Endpoint(endpoint, model, doc_title, task, schema, aliases), notes


def dedupe(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out


def resolve_aliases(endpoints: list[Endpoint], ctx: Context) -> None:
    """Drop aliases two endpoints share; an endpoint's own path always stays with it."""
    owners: dict[str, set[str]] = defaultdict(set)
    paths = {e.endpoint.casefold(): e.endpoint for e in endpoints}
    for e in endpoints:
        for alias in e.aliases:
            owners[alias.casefold()].add(e.endpoint)
    for e in endpoints:
        kept = []
        for alias in e.aliases:
            key = alias.casefold()
            path_owner = paths.get(key)
            if len(owners[key]) == 1 or path_owner == e.endpoint:
                kept.append(alias)
                continue
            ctx.warn(f"alias {alias!r} dropped from {e.endpoint} (shared with other endpoints)")
        e.aliases[:] = kept
        e.schema["x-rhbatch"]["aliases"] = kept


# --- the whole run -------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenerationError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise GenerationError(f"{path}: not JSON: {exc}") from exc


def dump(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def generate(
    registry: dict[str, Any], nav: Sequence[dict[str, str]], titles: DocTitles, ctx: Context
) -> dict[str, bytes]:
    """Every output file, keyed by its path relative to --out."""
    version = registry.get("version")
    models = registry.get("models")
    if not isinstance(version, str) or not isinstance(models, list) or not models:
        raise GenerationError("the registry needs a 'version' string and a 'models' list")
    seen: dict[str, str] = {}
    for model in models:
        if not isinstance(model, dict):
            raise GenerationError(f"registry model {model!r} is not an object")
        endpoint = check_path(model.get("endpoint"))
        if endpoint.casefold() in seen:
            raise GenerationError(f"endpoint {endpoint!r} is listed twice")
        seen[endpoint.casefold()] = endpoint
    for fix in DOC_CORRECTIONS:
        if fix.endpoint.casefold() not in seen:
            raise GenerationError(f"correction for {fix.endpoint}, which the registry lacks")

    docs, unlisted = match_doc_titles(models, nav, titles, ctx)
    endpoints: list[Endpoint] = []
    for model in sorted(models, key=lambda m: m["endpoint"]):
        entry, notes = build_endpoint(model, docs.get(model["endpoint"]), version)
        for note in notes:
            ctx.warn(f"{entry.endpoint}: {note}")
        endpoints.append(entry)
    resolve_aliases(endpoints, ctx)

    files: dict[str, bytes] = {}
    index = []
    for e in endpoints:
        rel = f"{ENDPOINTS_DIR}/{e.endpoint}.json"
        files[rel] = dump(e.schema)
        index.append(
            {
                "endpoint": e.endpoint,
                "file": rel,
                "title": e.schema["title"],
                "nameEn": e.schema["x-rhbatch"]["nameEn"],
                "nameCn": e.model["name_cn"],
                "docTitle": e.doc_title,
                "aliases": e.aliases,
                "task": e.task,
                "outputType": e.model["output_type"],
                "category": e.model["category"],
                "params": len(e.schema["properties"]),
            }
        )
    files[INDEX_FILE] = dump(
        {
            "registryVersion": version,
            "count": len(index),
            "endpoints": index,
            "unlisted": unlisted,
        }
    )

    tasks = Counter(e.task for e in endpoints)
    ctx.info.append(
        "tasks: " + ", ".join(f"{task} {n}" for task, n in sorted(tasks.items(), key=task_order))
    )
    fixed = sum(1 for e in endpoints if e.schema["x-rhbatch"]["corrections"])
    ctx.info.append(f"endpoints: {len(endpoints)}, {fixed} with corrections")
    return files


def task_order(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def existing_files(out: Path) -> set[str]:
    found = {INDEX_FILE} if (out / INDEX_FILE).is_file() else set()
    base = out / ENDPOINTS_DIR
    if base.is_dir():
        found |= {p.relative_to(out).as_posix() for p in base.rglob("*") if p.is_file()}
    return found


def check(out: Path, files: dict[str, bytes]) -> list[str]:
    """How the files under --out differ from what the generator would write."""
    problems = []
    present = existing_files(out)
    for rel in sorted(files):
        if rel not in present:
            problems.append(f"missing: {rel}")
        elif (out / rel).read_bytes() != files[rel]:
            problems.append(f"differs: {rel}")
    problems += [f"extra: {rel}" for rel in sorted(present - files.keys())]
    return problems


def write(out: Path, files: dict[str, bytes]) -> tuple[int, int]:
    """Write changed files, delete stale ones under endpoints/; (written, deleted)."""
    written = 0
    for rel, data in files.items():
        target = out / rel
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
        written += 1
    stale = sorted(existing_files(out) - files.keys())
    for rel in stale:
        (out / rel).unlink()
    base = out / ENDPOINTS_DIR
    if base.is_dir():
        for folder in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
    return written, len(stale)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="gen_schemas.py",
        description="Generate schemas/endpoints/** and schemas/index.json from the registry.",
    )
    parser.add_argument(
        "registry",
        nargs="?",
        type=Path,
        default=DEFAULT_REGISTRY,
        help="the model registry JSON file (default: the committed tools/data/ copy)",
    )
    parser.add_argument("--nav", type=Path, default=DEFAULT_NAV, help="doc-nav.json to use")
    parser.add_argument(
        "--titles", type=Path, default=DEFAULT_TITLES, help="doc-titles.json to use"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the schemas directory")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if --out is out of date"
    )
    parser.add_argument(
        "--extract-nav",
        type=Path,
        metavar="PAGE",
        help="print the navigation tree of a saved doc page as doc-nav.json and exit",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ctx = Context()
    try:
        if args.extract_nav is not None:
            try:
                text = args.extract_nav.read_text(encoding="utf-8")
            except OSError as exc:
                raise GenerationError(f"cannot read {args.extract_nav}: {exc.strerror}") from exc
            sys.stdout.write(dump(extract_nav(text)).decode("utf-8"))
            return 0
        registry = read_json(args.registry)
        if not isinstance(registry, dict):
            raise GenerationError(f"{args.registry}: expected a JSON object")
        files = generate(registry, load_nav(args.nav), load_titles(args.titles), ctx)
    except GenerationError as exc:
        print(f"gen_schemas: error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        problems = check(args.out, files)
        for line in problems:
            print(line)
        if problems:
            print(f"{args.out} is out of date: run tools/gen_schemas.py", file=sys.stderr)
            return 1
        return 0
    written, deleted = write(args.out, files)
    for line in ctx.info:
        print(line)
    print(f"{args.out}: {len(files)} files, {written} written, {deleted} stale deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
