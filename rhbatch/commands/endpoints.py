"""``rhbatch endpoints [--task T] [--output-type O] [SEARCH...]``: what can be called.

Each endpoint with its task, output, price and title. The price is what one job with
every parameter at its default costs by RunningHub's public price list, in CNY;
"varies" where the list's rate depends on the parameters (the resolution, the
duration: ``rhbatch plan`` prices a spec's jobs as they are); "-" where the list has
no price. The title is shown where it says more than the endpoint's path. A search
for a title of RunningHub's documentation that its public registry does not list
says so (on stderr), besides listing what matches.
"""

from __future__ import annotations

import argparse
import json
import sys

from rhbatch.commands.common import plural
from rhbatch.commands.table import render
from rhbatch.endpoints.pricing import CURRENCY, Quoter, money_text
from rhbatch.endpoints.registry import EndpointInfo, registry
from rhbatch.errors import EXIT_OK, UsageError


def matches(info: EndpointInfo, words: list[str]) -> bool:
    hay = " ".join((info.endpoint, info.title, info.name_en, *info.aliases, info.task)).lower()
    return all(word.lower() in hay for word in words)


def run(args: argparse.Namespace) -> int:
    reg = registry()
    tasks = sorted({info.task for info in reg.endpoints.values()})
    if args.task and args.task.lower() not in tasks:
        raise UsageError(f"unknown task {args.task!r}; tasks: {', '.join(tasks)}")
    found = [
        info
        for info in reg.endpoints.values()
        if (not args.task or info.task == args.task.lower())
        and (not args.output_type or info.output_type == args.output_type)
        and matches(info, args.search)
    ]
    phrase = " ".join(args.search)
    reason = reg.unlisted_reason(phrase) if phrase else None
    if reason:
        print(f"{phrase}: {reason}", file=sys.stderr)
    quoter = Quoter(reg)
    prices = {i.endpoint: quoter.listed(i.endpoint) for i in found}
    if args.json:
        json.dump(
            [
                {
                    "endpoint": i.endpoint,
                    "title": i.title,
                    "nameEn": i.name_en,
                    "docTitle": i.doc_title,
                    "aliases": list(i.aliases),
                    "task": i.task,
                    "outputType": i.output_type,
                    # One job at the defaults, CNY; None where it varies or is not listed.
                    "price": _amount(prices[i.endpoint]),
                    "priceVaries": isinstance(prices[i.endpoint], str),
                }
                for i in found
            ],
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        print()
        return EXIT_OK
    if not found:
        if reason:
            return EXIT_OK
        print(
            "no endpoint matches; try fewer words, or `rhbatch endpoints` for all", file=sys.stderr
        )
        return EXIT_OK
    rows = [
        (i.endpoint, i.task, i.output_type, _price(prices[i.endpoint]), _title(i)) for i in found
    ]
    headers = ("ENDPOINT", "TASK", "OUTPUT", f"PRICE {CURRENCY}", "TITLE")
    print(render(headers, rows, wrap=(4,), right=(3,)))
    print("\nPRICE: one job at the defaults, by the public list (`rhbatch plan SPEC` prices yours)")
    print(f"{plural(len(found), 'endpoint')} (registry {reg.version})")
    return EXIT_OK


def _title(info: EndpointInfo) -> str:
    """The title where it says more than the endpoint's path (not the path, nor its end)."""
    if info.title == info.endpoint or info.endpoint.endswith("/" + info.title):
        return ""
    return info.title


def _price(listed: float | str | None) -> str:
    if listed is None:
        return "-"
    return listed if isinstance(listed, str) else money_text(listed)


def _amount(listed: float | str | None) -> float | None:
    return listed if isinstance(listed, float) else None
