"""Estimated prices from RunningHub's public price list.

This module owns ``data/runninghub-pricing.json`` (RunningHub's public pricing
summary, Apache-2.0) and what a request costs by it. ``PriceBook.price`` takes
an endpoint path and a request body and returns a ``Price``: an amount in CNY,
or ``None`` with the reason when the list cannot price the request. Entries are
``fixed`` (one price) or ``parameter_based`` (the first rule whose ``when``
values equal the body's, compared as text); the ``unit`` says what the price is
multiplied by: a call, a second of ``duration``, five seconds, an image, or a
thousand characters of text.

An empty ``when`` value matches any value: the public summary lost those values
(e.g. ``{"n": ""}``, the only rule of its entry), and the price still holds.

The list is guidance, not billing truth: the emulator bills with it, ``plan``
and ``run`` quote with it (``Quoter``: a job's price; ``key``: what its price
depends on, so that one price preview can stand for many jobs). Standard
library only, so all of them can use it cheaply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rhbatch.endpoints.registry import Registry
    from rhbatch.endpoints.schema import EndpointSchema

CURRENCY = "CNY"
# Where the number of images comes from, first present wins ("imageNum" is what the
# per-image endpoints of the registry call it).
IMAGE_COUNT = ("n", "numImages", "num_images", "maxImages", "imageCount", "imageNum")
TEXT = ("text", "prompt")
# unit -> (what is counted, words for the basis)
_UNITS = {
    "/次": ("call", "per call"),
    "/秒": ("second", "per second"),
    "/second": ("second", "per second"),
    "/秒起": ("second", "per second (from)"),
    "/5秒": ("5 seconds", "per 5 s"),
    "/张": ("image", "per image"),
    "/1000字符": ("1000 characters", "per 1000 characters"),
}
_MISSING = {
    "second": "the length is unknown",
    "5 seconds": "the length is unknown",
    "image": "the number of images is unknown",
    "1000 characters": "there is no text to count",
}
_CACHE_LIMIT = 100_000
VARIES = "varies"  # a price that depends on the request's parameters


@dataclass(frozen=True, slots=True)
class Price:
    """What one request costs by the public list, and how that was worked out."""

    amount: float | None  # CNY; None when the rules cannot price this request
    currency: str
    unit: str  # the rule's unit as in the file, e.g. "/秒"
    basis: str  # e.g. "1.20 per second x 5 s for resolution=720p"

    @property
    def known(self) -> bool:
        return self.amount is not None


@dataclass(frozen=True, slots=True)
class _Entry:
    """One endpoint's pricing, with its rules aligned to the parameters they read."""

    endpoint: str
    unit: str
    currency: str
    names: tuple[str, ...]  # parameters the rules compare
    rules: tuple[tuple[tuple[str | None, ...], float], ...]  # None or "": any value
    note: str | None  # for entries that cannot be priced
    counted: str  # what the unit counts ("call", "second", ...); "" if not understood

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> _Entry:
        kind = item.get("pricing_type")
        unit = str(item.get("unit", ""))
        currency = str(item.get("currency", CURRENCY))
        counted = _UNITS.get(unit, ("", ""))[0]
        if kind == "fixed":
            fixed = (((), float(item["price"])),)
            return cls(item["endpoint"], unit, currency, (), fixed, None, counted)
        if kind == "parameter_based":
            names = list(item.get("depends_on", ()))
            for rule in item["rules"]:
                names += [k for k in rule["when"] if k not in names]
            rules = tuple(
                (tuple(_text(rule["when"].get(n)) for n in names), float(rule["price"]))
                for rule in item["rules"]
            )
            return cls(item["endpoint"], unit, currency, tuple(names), rules, None, counted)
        note = item.get("note") or f"pricing of type {kind!r} is not understood"
        return cls(item["endpoint"], unit, currency, (), (), str(note), counted)


class PriceBook:
    """The public price list, by endpoint path."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = str(data.get("version", ""))
        self._entries = {e.endpoint: e for e in map(_Entry.parse, data["pricing"])}
        self._cache: dict[tuple[str, tuple[str | None, ...], _Measure], Price] = {}

    @classmethod
    def load(cls) -> PriceBook:
        """The price list shipped with rhbatch, read once per process."""
        global _BOOK
        if _BOOK is None:
            path = resources.files("rhbatch.endpoints") / "data" / "runninghub-pricing.json"
            _BOOK = cls(json.loads(path.read_text(encoding="utf-8")))
        return _BOOK

    def __contains__(self, endpoint: str) -> bool:
        return endpoint in self._entries

    def price(
        self,
        endpoint: str,
        params: Mapping[str, Any],
        defaults: Mapping[str, Any] | None = None,
    ) -> Price:
        """The price of one request; ``defaults`` stand in for absent parameters."""
        entry = self._entries.get(endpoint)
        if entry is None:
            return Price(None, CURRENCY, "", f"no public price for {endpoint}")
        given = defaults if defaults is not None else {}
        values = tuple([_text(_pick(name, params, given)) for name in entry.names])
        key = (endpoint, values, _measure(entry.counted, params, given))
        found = self._cache.get(key)
        if found is None:
            found = _compute(entry, values, _quantity(entry.counted, key[2]))
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[key] = found
        return found

    def rates(self, endpoint: str) -> set[float]:
        """The rates the list has for ``endpoint`` (several: the rate depends on parameter
        values, e.g. the resolution); none where it cannot price it at all."""
        entry = self._entries.get(endpoint)
        if entry is None or entry.note is not None or entry.unit not in _UNITS:
            return set()
        return {rate for _, rate in entry.rules}

    def key(
        self, endpoint: str, params: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
    ) -> tuple[Any, ...]:
        """What the price of a request depends on: requests with equal keys cost the same
        (the parameters the endpoint's rules name, and what its unit counts)."""
        entry = self._entries.get(endpoint)
        if entry is None:
            return (endpoint,)
        given = defaults if defaults is not None else {}
        values = tuple([_text(_pick(name, params, given)) for name in entry.names])
        return (endpoint, values, _measure(entry.counted, params, given))


_BOOK: PriceBook | None = None


class Quoter:
    """Prices of jobs by the public list, each endpoint's defaults looked up once."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.book = PriceBook.load()
        self._defaults: dict[str, dict[str, Any]] = {}

    def price(self, endpoint: str, params: Mapping[str, Any]) -> Price:
        return self.book.price(endpoint, params, self._defaults_of(endpoint))

    def amount(self, endpoint: str, params: Mapping[str, Any]) -> float | None:
        """The price in CNY, or None when the list cannot price the job."""
        return self.price(endpoint, params).amount

    def key(self, endpoint: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return self.book.key(endpoint, params, self._defaults_of(endpoint))

    def listed(self, endpoint: str) -> float | str | None:
        """What a catalogue shows as the endpoint's price: the CNY of one job with every
        parameter at its default; "varies" where the list's rate depends on parameters,
        or what it counts (seconds, images) has no default; None where the list has no
        price for it."""
        rates = self.book.rates(endpoint)
        if not rates:
            return None
        amount = self.price(endpoint, {}).amount
        return VARIES if len(rates) > 1 or amount is None else amount

    def _defaults_of(self, endpoint: str) -> dict[str, Any]:
        found = self._defaults.get(endpoint)
        if found is None:
            found = self._defaults[endpoint] = defaults_of(self.registry.schema(endpoint))
        return found


def defaults_of(schema: EndpointSchema) -> dict[str, Any]:
    """An endpoint's parameter defaults, name -> value."""
    return {name: sub["default"] for name, sub in schema.properties.items() if "default" in sub}


# What a request gives to count its units by, as cheap to take as can be: the text of
# its duration, the name and text of its image count, the length of its text.
_Measure = str | tuple[str, str | None] | int | None
# How many units a request uses, and words for it: (count, detail); count None if unknown.
_Quantity = tuple[float | None, str]


def _measure(counted: str, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> _Measure:
    if counted in ("second", "5 seconds"):
        return _text(_pick("duration", params, defaults))
    if counted == "image":
        for name in IMAGE_COUNT:
            value = _pick(name, params, defaults)
            if value is not None:
                return name, _text(value)
        return None
    if counted == "1000 characters":
        for name in TEXT:
            text = params.get(name)
            if isinstance(text, str):
                return len(text)
    return None


def _quantity(counted: str, measure: _Measure) -> _Quantity:
    if counted in ("second", "5 seconds"):
        try:
            seconds = float(str(measure))
        except ValueError:
            return None, "no duration" if measure is None else f"duration={measure}"
        if not math.isfinite(seconds) or seconds < 0:
            return None, f"duration={measure}"
        if counted == "second":
            return seconds, f"{seconds:g} s"
        return math.ceil(seconds / 5), f"{seconds:g} s"
    if counted == "image":
        if isinstance(measure, tuple):
            name, value = measure
            return _count(value), f"{name}={value}"
        return 1, ""
    if counted == "1000 characters":
        if isinstance(measure, int):
            return math.ceil(measure / 1000), f"{measure:,} characters"
        return None, "no text"
    return 1, ""


def _compute(entry: _Entry, values: tuple[str | None, ...], quantity: _Quantity) -> Price:
    def unknown(basis: str) -> Price:
        return Price(None, entry.currency, entry.unit, basis)

    if entry.note is not None:
        return unknown(entry.note)
    if entry.unit not in _UNITS:
        return unknown(f"the unit {entry.unit!r} is not understood")
    rule = next((r for r in entry.rules if _matches(r[0], values)), None)
    if rule is None:
        shown = ", ".join(
            f"{n}={v}" if v is not None else f"{n} not set"
            for n, v in zip(entry.names, values, strict=True)
        )
        return unknown(f"no rule matches {shown}")
    wants, rate = rule
    counted, per = _UNITS[entry.unit]
    count, detail = quantity
    basis = f"{money_text(rate)} {per}"
    if count is None:
        return unknown(f"{basis}, but {_MISSING[counted]} ({detail})")
    if counted in ("second", "image"):
        basis += f" x {count:g}" + (" s" if counted == "second" else "")
        if detail and counted == "image":
            basis += f" ({detail})"
    elif counted != "call":
        basis += f" x {count:g} ({detail})"
    matched = [f"{n}={v}" for n, w, v in zip(entry.names, wants, values, strict=True) if w]
    if matched:
        basis += " for " + ", ".join(matched)
    return Price(round(rate * count, 4), entry.currency, entry.unit, basis)


def _matches(wants: tuple[str | None, ...], values: tuple[str | None, ...]) -> bool:
    """Each wanted value equals the given one; None and "" want nothing in particular."""
    return all(w is None or w in ("", v) for w, v in zip(wants, values, strict=True))


def _count(value: str | None) -> int | None:
    """A whole, non-negative number of images from "4" or "4.0"; else None."""
    try:
        number = float(str(value))
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None


def _pick(name: str, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    value = params.get(name)
    return defaults.get(name) if value is None else value


def _text(value: Any) -> str | None:
    """A value as the rules write it: booleans as "true"/"false", numbers via str()."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def money_text(amount: float) -> str:
    """At least two decimals, up to four: 1.2 -> "1.20", 0.599 -> "0.599"."""
    text = f"{amount:.4f}".rstrip("0")
    return text + "0" * (2 - len(text.partition(".")[2]))
