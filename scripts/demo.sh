#!/usr/bin/env bash
# The main job (until the coordinator lands): on this one machine, make the demo BallCircle dataset
# from real Bullet-Safety-Gym rollouts, train TraC, BC-All and BC-Safe at cost threshold 20 with
# shortened training (two at a time, one BLAS thread each), evaluate each policy in the simulator,
# and print the comparison. Running it again reuses the dataset and the finished runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
swift build -c release --product trac-sweep 2>&1 | grep -E "error|warning: |Compiling|Build complete" | grep -v Compiling || true
binary="$root/.build/release/trac-sweep"
[ -x "$binary" ] || { echo "demo: the build failed"; exit 1; }

dataset=datasets/SafetyBallCircle-v0-demo.hdf5
if [ ! -f "$dataset" ]; then
  mkdir -p datasets
  .venv/bin/python scripts/make_dataset.py OfflineBallCircle-v0 --episodes 300 --seed 0 --workers 2 --out "$dataset"
fi

export OPENBLAS_NUM_THREADS=1
steps="${DEMO_STEPS:-3000}"
bc_steps=$((steps / 3))
out=runs/demo
mkdir -p "$out"
train() {
  local algorithm=$1 seed=$2 dir="$out/$1-20-$2"
  if [ -f "$dir/run.json" ] && grep -q '"evaluation"' "$dir/run.json"; then return; fi
  "$binary" train --dataset "$dataset" --task OfflineBallCircle-v0 --cost-threshold 20 --seed "$seed" \
    --algorithm "$algorithm" --batch-size 32 --bc-steps "$bc_steps" --steps "$steps" --evaluate \
    --out "$dir" > "$dir.log" 2>&1 || { echo "demo: $algorithm seed $seed failed; see $dir.log"; tail -5 "$dir.log"; return 1; }
}
echo "demo: training TraC, BC-All and BC-Safe ($steps steps each, batch 32) and evaluating 20 episodes each"
pids=()
for algorithm in trac bc_all bc_safe; do
  train "$algorithm" 0 &
  pids+=($!)
  # Two at a time on two cores.
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

.venv/bin/python - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
print(f"{'algorithm':10} {'norm. reward':>14} {'norm. cost':>14}  safe  steps/s")
for algorithm in ["trac", "bc_all", "bc_safe"]:
    run = json.loads((out / f"{algorithm}-20-0" / "run.json").read_text())
    result = run["evaluation"]["by_threshold"][0]
    reward, cost = result["normalized_reward"], result["normalized_cost"]
    speed = run["timing"].get("trac_steps_per_second") or run["timing"].get("bc_steps_per_second")
    print(f"{algorithm:10} {reward['mean']:7.3f} ± {reward['std']:.3f} {cost['mean']:7.3f} ± {cost['std']:.3f}"
          f"  {'yes' if result['safe'] else 'no ':4} {speed:7.1f}")
print(f"\nruns, policies and logs: {out}/")
PY
