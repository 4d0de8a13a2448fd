"""Every title of the documentation's navigation tree names an endpoint, or rhbatch says why not."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rhbatch.endpoints.registry import registry
from rhbatch.errors import UnknownEndpoint
from tests.helpers import ROOT, Result

Cli = Callable[..., Result]

NAV = json.loads((ROOT / "tools/data/doc-nav.json").read_text(encoding="utf-8"))
DECIDED: dict[str, Any] = json.loads((ROOT / "tools/data/doc-titles.json").read_text("utf-8"))
LTX = (
    "unknown endpoint 'ltx-2.3/image-to-video': RunningHub's documentation lists it under "
    "image-to-video, but its public model registry (public-2026-04-29) does not, so rhbatch "
    "has no schema for it"
)


def test_every_title_resolves_or_is_explained() -> None:
    """Each of the tree's 221 titles either resolves to an endpoint or is explained, never
    both: 189 resolve, 32 are titles the registry lacks."""
    reg = registry()
    resolved = [n["title"] for n in NAV if reg.lookup(n["title"]) is not None]
    explained = [n["title"] for n in NAV if reg.unlisted_reason(n["title"]) is not None]
    assert sorted(resolved + explained) == sorted(n["title"] for n in NAV)
    assert (len(NAV), len(resolved), len(explained)) == (221, 189, 32)


def test_the_explained_titles_are_the_committed_list() -> None:
    """The index's unlisted titles are exactly those of tools/data/doc-titles.json, each
    with its section of the tree."""
    reg = registry()
    assert sorted(t.title for t in reg.unlisted.values()) == sorted(DECIDED["unlisted"])
    sections = {n["title"]: n["section"] for n in NAV}
    assert {t.title: t.section for t in reg.unlisted.values()} == {
        title: sections[title] for title in DECIDED["unlisted"]
    }


@pytest.mark.parametrize(
    ("title", "endpoint"),
    [
        ("gpt-image-1.5/edit-channel-low-price", "rhart-image-g-1.5/edit-[Deprecated]"),
        (
            "gpt-image-1.5/text-to-image-channel-low-price",
            "rhart-image-g-1.5/text-to-image-[Deprecated]",
        ),
    ],
)
def test_an_aliased_title_names_its_endpoint_and_becomes_its_title(
    title: str, endpoint: str
) -> None:
    """A title the registry names with a suffix resolves, in any case, and is shown as the
    endpoint's title: the documentation wins."""
    reg = registry()
    assert reg.lookup(title.upper()) == endpoint
    info = reg.endpoints[endpoint]
    assert (info.title, info.doc_title) == (title, title)
    assert DECIDED["aliases"][title]["endpoint"] == endpoint


def test_resolving_an_unlisted_title_says_the_registry_lacks_it() -> None:
    """resolve() of an unlisted title raises UnknownEndpoint with the reason, no guesses."""
    with pytest.raises(UnknownEndpoint) as info:
        registry().resolve(" LTX-2.3/Image-to-Video ")
    assert info.value.suggestions == []
    assert info.value.problems[0].message == LTX.replace(
        "'ltx-2.3/image-to-video'", "' LTX-2.3/Image-to-Video '"
    )


def test_schema_of_an_unlisted_title(cli: Cli) -> None:
    """`rhbatch schema TITLE` for a title the registry lacks exits 2 with the reason."""
    result = cli("schema", "ltx-2.3/image-to-video")
    assert (result.code, result.out) == (2, "")
    assert result.err == f"rhbatch: {LTX}\n"


def test_schema_of_an_unlisted_title_with_a_note(cli: Cli) -> None:
    """The note of the committed list follows the reason: what the registry has instead."""
    result = cli("schema", "skyreels-v4/text-to-video")
    assert result.code == 2
    assert result.err.endswith(
        "does not, so rhbatch has no schema for it; the registry has "
        "skyreels-v4/text-to-video-fast and skyreels-v4/text-to-video-std; which of them "
        "this page documents is not known\n"
    )


def test_endpoints_search_for_an_unlisted_title(cli: Cli) -> None:
    """`rhbatch endpoints TITLE` says the registry lacks the title, and lists nothing."""
    result = cli("endpoints", "ltx-2.3/image-to-video")
    assert (result.code, result.out) == (0, "")
    assert result.err == (
        "ltx-2.3/image-to-video: RunningHub's documentation lists it under image-to-video, "
        "but its public model registry (public-2026-04-29) does not, so rhbatch has no "
        "schema for it\n"
    )


def test_endpoints_search_for_an_unlisted_title_lists_what_matches(cli: Cli) -> None:
    """The reason goes to stderr; the endpoints whose names contain the title still list."""
    result = cli("endpoints", "--json", "skyreels-v4/image-to-video")
    assert result.code == 0
    assert [e["endpoint"] for e in json.loads(result.out)] == [
        "skyreels-v4/image-to-video-fast",
        "skyreels-v4/image-to-video-std",
    ]
    assert result.err.startswith("skyreels-v4/image-to-video: RunningHub's documentation ")


def test_other_unknown_names_keep_their_suggestions(cli: Cli) -> None:
    """A name that is no documented title gets "did you mean" as before."""
    result = cli("schema", "skyreels-v4/image-to-vid")
    assert result.code == 2
    assert result.err == (
        "rhbatch: unknown endpoint 'skyreels-v4/image-to-vid'; did you mean "
        "'skyreels-v4/image-to-video-fast', 'skyreels-v4/image-to-video-std'?\n"
    )


def test_a_spec_naming_an_unlisted_title_is_told_why(
    cli: Callable[..., Result], write: Callable[[str, str], Path]
) -> None:
    """A documented title the public registry lacks, in a spec: the reason, not guesses."""
    write("u.yaml", "version: 1\nendpoint: ltx-2.3/image-to-video\n")
    result = cli("validate", "u.yaml")
    assert result.code == 2
    assert "u.yaml:2: endpoint: unknown endpoint 'ltx-2.3/image-to-video': " in result.err
    assert "did you mean" not in result.err
