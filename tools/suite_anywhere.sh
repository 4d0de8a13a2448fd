#!/usr/bin/env bash
# The test suite as a new, busy machine runs it: every Python process sees a monotonic
# clock that starts near zero (tools/fresh_boot), every core is kept busy by a CPU hog,
# and each run shuffles the tests (pytest-randomly) and prints its seed.
#
#   tools/suite_anywhere.sh [RUNS] [PYTEST ARGS...]     e.g. tools/suite_anywhere.sh 3 -x
#
# Run it from the repository root with the test extra installed. It prints one line per
# run (seed, outcome, wall time) and exits 1 if any run failed; each run's output is kept
# in ${TMPDIR:-/tmp}/suite_anywhere.N.log.
set -uo pipefail

runs=${1:-3}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
hogs=()
for _ in $(seq "$(nproc)"); do
  python3 -c 'while True: pass' &
  hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null' EXIT

failed=0
for n in $(seq "$runs"); do
  log="${TMPDIR:-/tmp}/suite_anywhere.$n.log"
  began=$(date +%s)
  PYTHONPATH="$root/tools/fresh_boot${PYTHONPATH:+:$PYTHONPATH}" \
    python -m pytest -p no:cacheprovider "$@" >"$log" 2>&1
  rc=$?
  seed=$(grep -o 'randomly-seed=[0-9]*' "$log" | head -1 | cut -d= -f2)
  summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$log" | tail -1 | tr -d '=')
  echo "run $n: seed ${seed:-?}, exit $rc,${summary} (wall $(( $(date +%s) - began )) s)"
  [ "$rc" -eq 0 ] || { failed=1; grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/    /'; }
done
exit "$failed"
