"""rhbatch from a Python script: a batch run against the built-in emulator, read back.

    python examples/library.py

CI type-checks this file with mypy --strict, as a user's code would be: the public API
is typed (rhbatch ships py.typed).
"""

from __future__ import annotations

import collections

import rhbatch


def main() -> int:
    spec = {
        "version": 1,
        "name": "library-example",
        "endpoint": "alibaba/qwen-image-2.0/text-to-image",
        "matrix": {"animal": ["fox", "owl"]},
        "jobs": [{"id": "{animal}", "prompt": "a paper {animal}, studio light"}],
    }
    checked: rhbatch.Validation = rhbatch.validate(spec)
    print(f"{checked.jobs} jobs, about {checked.estimated_cost} CNY")
    seen: collections.Counter[str] = collections.Counter()

    def count(event: rhbatch.Event) -> None:
        seen[event.name] += 1

    run: rhbatch.Run = rhbatch.run(spec, emulator=True, progress=False, on_event=count)
    for job in run.jobs:
        print(job.id, job.status, job.cost, [str(f) for f in job.files])
    print(dict(seen))
    again = rhbatch.open(run.dir)
    return 0 if again.counts == {"succeeded": 2} else 1


if __name__ == "__main__":
    raise SystemExit(main())
