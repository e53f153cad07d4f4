#!/usr/bin/env bash
# Runs a study of several grid files on a running coordinator, end to end (sweeps/README.md):
#   1. submits every file first, in the order given, so the cluster works on all of them at once and a
#      run or BC stage that two files share is trained once (run ids are content hashes);
#   2. waits for each sweep to finish (submitting a file again is a no-op: `submit --wait` just waits);
#   3. writes one report per file into REPORTS/<sweep name>/ (index.html, report.md, figures).
# Safe to run again: submitted sweeps are not submitted twice, and a finished one is not waited for.
# Exits non-zero when a run failed (its report is still written, listing what is missing).
#
# usage: sweeps/run-study.sh [--reports DIR] [--no-figures] GRID.json...
# The coordinator is $TRAC_SWEEP_COORDINATOR (or ~/.config/trac-sweep/config.json), as for any client;
# `trac-sweep` is taken from PATH, else from this checkout's .build/release/.
set -uo pipefail
reports=reports
report_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --reports) reports="${2:?--reports needs a directory}"; shift 2 ;;
    --no-figures) report_flags+=(--no-figures); shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) echo "run-study.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "run-study.sh: give at least one grid file (see --help)" >&2; exit 64; }
trac=$(command -v trac-sweep || true)
[ -n "$trac" ] || trac="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.build/release/trac-sweep"
[ -x "$trac" ] || { echo "run-study.sh: trac-sweep is not on PATH and not built (swift build -c release)" >&2; exit 69; }
for grid in "$@"; do
  [ -r "$grid" ] || { echo "run-study.sh: $grid: no such file" >&2; exit 66; }
done

"$trac" plan "$@" || exit 1
grids=("$@")
ids=()
for grid in "${grids[@]}"; do
  id=$("$trac" submit "$grid") || { echo "run-study.sh: $grid was not submitted (above); nothing else was" >&2; exit 1; }
  ids+=("$id")
done
failed=0
for i in "${!ids[@]}"; do
  grid="${grids[$i]}"
  echo "== waiting for ${ids[$i]} ($grid)" >&2
  "$trac" submit "$grid" --wait > /dev/null || failed=1
done
mkdir -p "$reports"
for i in "${!ids[@]}"; do
  grid="${grids[$i]}"
  name=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["name"])' "$grid")
  "$trac" report "${ids[$i]}" --out "$reports/$name" "${report_flags[@]}" || failed=1
done
[ "$failed" -eq 0 ] || echo "run-study.sh: some runs failed: trac-sweep status shows them; trac-sweep retry SWEEP --failed runs them again" >&2
exit "$failed"
