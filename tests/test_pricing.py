"""Estimated prices from the public price list shipped in rhbatch/endpoints/data."""

from __future__ import annotations

import json
from typing import Any

from rhbatch.endpoints.pricing import PriceBook, defaults_of
from rhbatch.endpoints.registry import registry
from tests.helpers import DOC_BODIES

SEEDANCE = "rhart-video/sparkvideo-2.0/multimodal-video"


def seedance_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (DOC_BODIES / "seedance-2.0-multimodal-video.json").read_text(encoding="utf-8")
    )
    return body


def test_seedance_doc_body_is_priced_per_second() -> None:
    """The seedance 2.0 doc body (720p, "5") costs 1.20 per second x 5 s."""
    price = PriceBook.load().price(SEEDANCE, seedance_body())
    assert price.known
    assert (price.amount, price.currency, price.unit) == (6.0, "CNY", "/秒起")
    assert price.basis == "1.20 per second (from) x 5 s for resolution=720p"


def test_rule_follows_the_parameter() -> None:
    """480p picks the 480p rule: 0.60 per second x 5 s."""
    price = PriceBook.load().price(SEEDANCE, {**seedance_body(), "resolution": "480p"})
    assert price.amount == 3.0


def test_no_matching_rule_names_the_values() -> None:
    """A resolution no rule covers has no price, and the basis says which value."""
    price = PriceBook.load().price(SEEDANCE, {**seedance_body(), "resolution": "8k"})
    assert not price.known
    assert price.amount is None
    assert price.basis == "no rule matches resolution=8k"


def test_unknown_duration_has_no_price() -> None:
    """A per-second price with duration "auto" cannot be priced."""
    price = PriceBook.load().price(SEEDANCE, {**seedance_body(), "duration": "auto"})
    assert price.amount is None
    assert price.basis == "1.20 per second (from), but the length is unknown (duration=auto)"


def test_fixed_price_per_call() -> None:
    """A fixed per-call price is the price, whatever the body."""
    price = PriceBook.load().price("rhart-image-v1/text-to-image", {"prompt": "a monkey"})
    assert (price.amount, price.unit, price.basis) == (0.05, "/次", "0.05 per call")


def test_price_per_image_counts_n() -> None:
    """A per-image price is multiplied by `n`."""
    price = PriceBook.load().price("alibaba/qwen-image-2.0/text-to-image", {"prompt": "x", "n": 3})
    assert (price.amount, price.unit) == (0.39, "/张")
    assert price.basis == "0.13 per image x 3 (n=3)"


def test_price_per_image_counts_image_num() -> None:
    """`imageNum`, the count the per-image endpoints of the registry take, counts too."""
    body = {"prompt": "x", "imageNum": "4"}
    price = PriceBook.load().price("alibaba/qwen-image-2.0-pro/text-to-image", body)
    assert price.amount == 1.32


def test_unreadable_image_count_has_no_price() -> None:
    """An image count that is not a whole number leaves a per-image price unknown."""
    price = PriceBook.load().price("alibaba/qwen-image-2.0/text-to-image", {"n": "many"})
    assert price.amount is None
    assert price.basis == "0.13 per image, but the number of images is unknown (n=many)"


def test_price_per_thousand_characters_rounds_up() -> None:
    """2,500 characters of text are three blocks of 1000 characters."""
    price = PriceBook.load().price("rhart-audio/text-to-audio/speech-02-hd", {"text": "a" * 2500})
    assert price.amount == 0.93
    assert price.basis == "0.31 per 1000 characters x 3 (2,500 characters)"


def test_price_per_five_seconds_rounds_up() -> None:
    """8 s at a "/5秒" price are two blocks of five seconds."""
    price = PriceBook.load().price("kling-lip-sync/lip-sync-video", {"duration": 8})
    assert (price.amount, price.unit) == (0.7, "/5秒")
    assert price.basis == "0.35 per 5 s x 2 (8 s)"


def test_unparsed_entry_has_no_price() -> None:
    """The one entry the list could not structure gives its note as the basis."""
    price = PriceBook.load().price("alibaba/wan-2.7/reference-to-video", {"prompt": "x"})
    assert price.amount is None
    assert price.unit == "/参考视频秒+0.001/次起"
    assert price.basis.startswith("Pricing exists but could not be converted")


def test_endpoint_without_public_price() -> None:
    """An endpoint absent from the list has no price, and says so."""
    book = PriceBook.load()
    assert "meshy6/text-to-3d" not in book
    price = book.price("meshy6/text-to-3d", {"prompt": "a chair"})
    assert price.amount is None
    assert price.basis == "no public price for meshy6/text-to-3d"


def test_defaults_stand_in_for_absent_parameters() -> None:
    """Without resolution and duration, the endpoint's defaults (720p, "5") are priced."""
    body = {"prompt": "hot pot"}
    defaults = defaults_of(registry().schema(SEEDANCE))
    book = PriceBook.load()
    assert book.price(SEEDANCE, body).basis == "no rule matches resolution not set"
    assert book.price(SEEDANCE, body, defaults).amount == 6.0


def test_booleans_match_as_true_and_false() -> None:
    """A boolean parameter matches a rule written "true"."""
    book = PriceBook.load()
    body = {"prompt": "x", "resolution": "720p", "duration": 5}
    by_bool = book.price("pixverse-v6/text-to-video", {**body, "generateAudioSwitch": True})
    by_text = book.price("pixverse-v6/text-to-video", {**body, "generateAudioSwitch": "true"})
    assert by_bool == by_text
    assert by_bool.known


def test_empty_rule_value_matches_any_value() -> None:
    """A rule whose value the public list left empty ({"n": ""}) holds for any n."""
    book = PriceBook.load()
    endpoint = "alibaba/wan-2.5-preview/text-to-image"
    assert book.price(endpoint, {"prompt": "x", "n": 4}).amount == 0.13
    assert book.price(endpoint, {"prompt": "x"}).amount == 0.13


def test_load_is_cached() -> None:
    """The shipped list is read once per process."""
    assert PriceBook.load() is PriceBook.load()


def test_every_registry_endpoint_can_be_priced() -> None:
    """A body of each endpoint's defaults prices without error; most come out known."""
    reg = registry()
    book = PriceBook.load()
    known = 0
    for endpoint in reg.endpoints:
        defaults = defaults_of(reg.schema(endpoint))
        price = book.price(endpoint, defaults, defaults)
        assert price.currency == "CNY"
        assert price.basis
        known += price.known
    assert len(reg.endpoints) == 299
    assert known >= 272
