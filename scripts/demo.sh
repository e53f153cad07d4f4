#!/usr/bin/env bash
# The main job: a demo sweep on this one machine, on embedded defaults. Installs what is missing,
# builds, makes the demo BallCircle dataset from real Bullet-Safety-Gym rollouts, starts a
# coordinator and two workers (one slot each, one BLAS thread per run), submits sweeps/demo.json
# (TraC at three shares x of desirable segments plus BC-All and BC-Safe, two seeds, shortened
# training: 1,500 steps with a 100-step TraC warm-up), shows progress, writes the sensitivity
# report (runs/demo/report), prints its tables and a verdict per seed (scripts/demo_verdict.py),
# and stops what it started. Running it again reuses the dataset and every finished run (the
# coordinator's state is kept in runs/demo/state).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
echo "demo: building (release)"
swift build -c release --product trac-sweep 2>&1 | grep -E "error|warning: |Build complete" || true
binary="$root/.build/release/trac-sweep"
[ -x "$binary" ] || { echo "demo: the build failed"; exit 1; }

dataset=datasets/SafetyBallCircle-v0-demo.hdf5
if [ ! -f "$dataset" ]; then
  mkdir -p datasets
  .venv/bin/python scripts/make_dataset.py OfflineBallCircle-v0 --episodes 300 --seed 0 --workers 2 --out "$dataset"
fi

out=runs/demo
mkdir -p "$out"
port="${DEMO_PORT:-5555}"
endpoint="tcp://127.0.0.1:$port"
export TRAC_SWEEP_COORDINATOR="$endpoint" OPENBLAS_NUM_THREADS=1
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$binary" coordinator --bind "$endpoint" --state "$out/state" > "$out/coordinator.log" 2>&1 &
pids+=($!)
for worker in 1 2; do
  "$binary" worker --connect "$endpoint" --slots 1 --work-dir "$out/worker-$worker" > "$out/worker-$worker.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 50); do "$binary" status > /dev/null 2>&1 && break; sleep 0.2; done

echo "demo: submitting sweeps/demo.json (coordinator $endpoint, 2 workers; logs in $out/)"
sweep=$("$binary" submit sweeps/demo.json --wait) || echo "demo: some runs failed; see trac-sweep status"
"$binary" status "$sweep" | head -8
"$binary" report "$sweep" --out "$out/report" > /dev/null
# The settings table of the report, in the terminal (safe results in bold in report.md).
sed -n '/^| setting | runs/,/^$/p' "$out/report/report.md" | sed 's/\*\*//g'
sed -n '/^| hyperparameter | values/,/^$/p' "$out/report/report.md"
# What the sweep shows, seed by seed, computed from the report's summary.json.
.venv/bin/python scripts/demo_verdict.py "$out/report/summary.json" || true
echo "report: $root/$out/report/index.html (also report.md, results.csv, summary.json, figures/)"
echo "artifacts (policies, run.json, train.jsonl by run id): $out/state/artifacts/runs/"
echo "to type trac-sweep in any folder: export PATH=\"$root/.build/release:\$PATH\" (README: trac-sweep on your PATH)"
