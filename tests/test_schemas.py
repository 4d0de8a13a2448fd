"""The endpoint registry at run time: names, suggestions, and the cached per-field check."""

from __future__ import annotations

from typing import Any

import pytest

from rhbatch.endpoints.registry import registry
from rhbatch.endpoints.schema import EndpointSchema
from rhbatch.errors import UnknownEndpoint


def sample(sub: dict[str, Any]) -> Any:
    """A value valid for a property schema."""
    if "enum" in sub:
        return sub["enum"][0]
    kind = sub.get("type")
    if kind == "array":
        return ["https://example.com/x.png"] * max(1, sub.get("minItems", 1))
    if kind == "boolean":
        return True
    if kind in ("integer", "number"):
        return sub.get("minimum", 1)
    return "https://example.com/x.png" if "media" in sub.get("x-rhbatch", {}) else "text"


def bodies(schema: EndpointSchema) -> list[dict[str, Any]]:
    """A valid body, then one broken in each way the schema can see."""
    valid = {name: sample(sub) for name, sub in schema.properties.items()}
    out = [valid, valid | {"notAParameter": 1}]
    for name in schema.properties:
        out.append(valid | {name: {"a": "mapping"}})
        out.append(valid | {name: None})
    for name in schema.required:
        out.append({k: v for k, v in valid.items() if k != name})
    return out


def test_fast_check_agrees_with_full_validation() -> None:
    """For every endpoint, the cached per-field check finds a problem exactly when
    plain jsonschema validation of the whole body does."""
    reg = registry()
    for endpoint in reg.endpoints:
        schema = reg.schema(endpoint)
        for body in bodies(schema):
            fast, full = schema.check(body), schema.check_full(body)
            assert bool(fast) == bool(full), (endpoint, body, fast, full)


def test_cached_results_are_per_type() -> None:
    """The cache keeps True, 1 and "1" apart."""
    schema = registry().schema("rhart-video/sparkvideo-2.0/multimodal-video")
    assert schema.check({"prompt": "x", "resolution": "720p", "duration": "5"}) == []
    assert schema.check({"prompt": "x", "resolution": "720p", "duration": 5})
    assert schema.check({"prompt": "x", "resolution": "720p", "duration": "5", "generateAudio": 1})
    assert (
        schema.check({"prompt": "x", "resolution": "720p", "duration": "5", "generateAudio": True})
        == []
    )


@pytest.mark.parametrize(
    "name",
    [
        "rhart-video/sparkvideo-2.0/multimodal-video",
        "seedance-2.0/multimodal-video",
        "SEEDANCE-2.0/MULTIMODAL-VIDEO",
        "Seedance2.0 Multimodal Video",
        "/openapi/v2/rhart-video/sparkvideo-2.0/multimodal-video",
    ],
)
def test_names_resolve_to_the_path(name: str) -> None:
    """Path, doc title, English name, any case, with or without /openapi/v2/."""
    assert registry().resolve(name) == "rhart-video/sparkvideo-2.0/multimodal-video"


def test_unknown_name_has_suggestions() -> None:
    """An unknown name raises with the closest names."""
    with pytest.raises(UnknownEndpoint) as info:
        registry().resolve("vidu/reference-to-video-q4")
    assert info.value.suggestions[:2] == [
        "Vidu-reference-to-video-q3",
        "Vidu-reference-to-video-q2",
    ]


def test_every_endpoint_has_a_schema_and_output_type() -> None:
    """All 299 endpoints load, with a known output type."""
    reg = registry()
    assert len(reg) == 299
    for endpoint, info in reg.endpoints.items():
        assert info.output_type in {"video", "image", "audio", "3d", "string"}
        assert reg.schema(endpoint).schema["additionalProperties"] is False
