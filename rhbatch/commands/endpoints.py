"""``rhbatch endpoints [--task T] [--output-type O] [SEARCH...]``: what can be called.

A search for a title of RunningHub's documentation that its public registry does not
list says so (on stderr), besides listing what matches.
"""

from __future__ import annotations

import argparse
import json
import sys

from rhbatch.commands.common import plural
from rhbatch.commands.table import render
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
        (i.endpoint, i.title if i.title != i.endpoint else "", i.task, i.output_type) for i in found
    ]
    print(render(("ENDPOINT", "TITLE", "TASK", "OUTPUT"), rows, wrap=(1,)))
    print(f"\n{plural(len(found), 'endpoint')} (registry {reg.version})")
    return EXIT_OK
