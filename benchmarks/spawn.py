"""``python -m benchmarks.spawn RESULT CMD...``: run CMD and write its own resource usage.

Linux charges a child with the peak memory of the process it was forked from
(the memory copied at fork counts until exec). The harness grows as it reads
the emulator's ledgers, so measuring its children directly would report the
harness's size. This small process is started fresh, forks CMD, and writes
CMD's exit code, wall time, CPU times and peak RSS to RESULT as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> int:
    result, argv = sys.argv[1], sys.argv[2:]
    began = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    with open(result, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "code": code,
                "wall": wall,
                "user": usage.ru_utime,
                "system": usage.ru_stime,
                "max_rss_kb": usage.ru_maxrss,
            },
            fh,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
