#!/usr/bin/env bash
# Self-test of cluster/slurm/trac-sweep-workers.sbatch against a real one-node Slurm on this machine
# (Debian's slurmctld, slurmd and munge, started here with a throwaway config, every file in a
# temporary directory). Needs root; takes about a minute. Part of the test command (scripts/test.sh).
#
#   cluster/slurm/selftest.sh            # installs slurm-wlm and munge if missing (apt)
#
# It starts a coordinator on 127.0.0.1 (heartbeats 1 s x 30, so a lapsed lease would take 30 s),
# submits a sweep of 16 runs of 3 s each with the no-op trainer (its 4 BC stage units are trained for
# real, by the worker's trac-sweep: see cluster/noop-trainer), `sbatch`es the worker job, waits
# until runs are recorded, `scancel`s the job while runs are in flight, and checks that the worker's
# leases were handed back at once (the runs are pending again, no attempt lost, the worker "left")
# well before a lease could lapse. Then a second job finishes the sweep and every run is recorded
# exactly once. Everything it started is stopped on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

say() { echo "slurm-selftest: $*"; }
fail() { echo "slurm-selftest: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (it starts slurmctld, slurmd and munged)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  say "installing slurm-wlm and munge (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

binary="${TRAC_SWEEP_BIN:-$root/.build/release/trac-sweep}"
[ -x "$binary" ] || fail "no $binary: run scripts/setup.sh && swift build -c release first"
[ -x .venv/bin/python ] || fail "no .venv: run scripts/setup.sh first"

dir="$(mktemp -d /tmp/trac-slurm-selftest.XXXXXX)"
chmod 755 "$dir"
pids=()
cleanup() {
  status=$?
  [ -z "${job:-}" ] || scancel "$job" 2>/dev/null || true
  [ -z "${job2:-}" ] || scancel "$job2" 2>/dev/null || true
  # Slurm's daemons go last: wait (up to 15 s) until the jobs, their workers and trainers are gone.
  if [ -n "${job:-}" ]; then
    for _ in $(seq 75); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    say "logs kept in $dir"
    for log in slurmctld.log slurmd.log coordinator.log; do
      [ -f "$dir/$log" ] && { echo "--- $log"; tail -20 "$dir/$log"; }
    done
    for log in "$dir"/job/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -20 "$log"; }; done
  else
    rm -rf "$dir"
  fi
  exit "$status"
}
trap cleanup EXIT
# Stopped from outside (e.g. scripts/test.sh's time limit): fail, and the cleanup above stops all.
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. munge, with a fresh key, on a socket of its own.
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/job"
chmod 700 "$dir/munge"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --foreground --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
  --seed-file="$dir/munge/munged.seed" 2> "$dir/munge/munged.out" &
pids+=($!)
for _ in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$dir/munge/munge.socket" ] || fail "munged did not start: $(cat "$dir/munge/munged.log" 2>/dev/null)"
munge --socket="$dir/munge/munge.socket" -n | unmunge --socket="$dir/munge/munge.socket" >/dev/null \
  || fail "munge cannot encode and decode a credential"
say "munged up"

# 2. slurmctld and slurmd with a config of our own.
host="$(hostname -s)"
export SLURM_CONF="$dir/slurm.conf"
sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@CPUS@|$(nproc)|g" \
  -e "s|@CTLD_PORT@|$(free_port)|g" -e "s|@SLURMD_PORT@|$(free_port)|g" \
  cluster/slurm/selftest/slurm.conf.in > "$SLURM_CONF"
slurmctld -D -i -f "$SLURM_CONF" > "$dir/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" > "$dir/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  state="$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)"
  [ "$state" = "idle" ] && break
  sleep 0.3
done
[ "${state:-}" = "idle" ] || fail "the Slurm node is not idle (state '${state:-none}'): see $dir/slurmd.log"
say "slurmctld and slurmd up: $(sinfo -h -N -o '%N %T cpus=%c')"

# 3. A coordinator on 127.0.0.1 whose leases would take 30 s to lapse, and a sweep of 16 runs.
port="$(free_port)"
endpoint="tcp://127.0.0.1:$port"
export TRAC_SWEEP_COORDINATOR="$endpoint"
"$binary" coordinator --bind "$endpoint" --state "$dir/coordinator" --heartbeat-interval 1 --liveness 30 \
  > "$dir/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$binary" status >/dev/null 2>&1 && break; sleep 0.2; done
# 12 episodes at threshold 40: every seed finds desirable segments (with fewer, a seed's BC stage
# unit can fail for good, and its runs with it). No evaluation: the no-op trainer evaluates nothing.
.venv/bin/python scripts/make_dataset.py OfflineBallCircle-v0 --episodes 12 --seed 0 \
  --out "$dir/data.hdf5" >/dev/null
cat > "$dir/grid.json" <<GRID
{"name": "slurm-selftest", "task": "OfflineBallCircle-v0", "dataset": "data.hdf5",
 "algorithm": "trac", "base": {"bc_steps": 2, "steps": 4, "batch_size": 4},
 "vary": {"alpha": [0.1, 0.2, 0.5, 1.0]}, "design": "one_at_a_time",
 "cost_thresholds": [40], "seeds": [0, 1, 2, 3], "eval": {"episodes": 0}}
GRID
sweep="$("$binary" submit "$dir/grid.json")"
total=16
sweep_field() { "$binary" status --json | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['sweeps'][0]['$1'])"; }
say "sweep $sweep submitted ($total runs) to $endpoint"

# 4. The worker job, with the no-op trainer (3 s a run).
export TRAC_SWEEP_BIN="$binary" TRAC_SWEEP_TRAINER="$root/cluster/noop-trainer" TRAC_NOOP_DELAY=3
export TRAC_SWEEP_GRACE=0 TMPDIR="$dir/job"
job="$(sbatch --parsable --array=0-0 --output="$dir/job/worker-%A_%a.log" \
  cluster/slurm/trac-sweep-workers.sbatch "$endpoint")"
job="${job%%;*}"
say "sbatch: job $job"
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  done_count="$(sweep_field done)"
  running="$(sweep_field running)"
  [ "$done_count" -ge 2 ] && [ "$running" -ge 1 ] && break
  sleep 0.2
done
[ "$done_count" -ge 2 ] || fail "no run recorded by the Slurm job in 60 s; squeue: $(squeue -h)"
say "runs recorded: $done_count, running: $running (job state $(squeue -h -j "$job" -o %T | head -1))"

# 5. scancel while runs are in flight: the worker must hand its leases back, not let them lapse.
cancelled_at=$(date +%s.%N)
scancel "$job"
deadline=$((SECONDS + 10))
while [ "$SECONDS" -lt "$deadline" ]; do
  running="$(sweep_field running)"
  [ "$running" -eq 0 ] && break
  sleep 0.1
done
handed_back=$(.venv/bin/python -c "import time; print(f'{time.time() - $cancelled_at:.1f}')")
[ "$running" -eq 0 ] || fail "runs still running 10 s after scancel: leases were not handed back"
lost="$(sweep_field lost_attempts)"
pending="$(sweep_field pending)"
workers="$("$binary" status --json | .venv/bin/python -c "import json,sys; print(' '.join(w['state'] for w in json.load(sys.stdin)['workers']))")"
say "after scancel: running 0 after ${handed_back} s (a lapsed lease would take 30 s), pending $pending, lost attempts $lost, worker $workers"
# An assignment the coordinator sent while the worker's goodbye was on its way crosses it: the worker
# releases it after its goodbye ("released: the worker is stopping"), and the coordinator counts it
# handed back too (the worker never named it in a heartbeat). No attempt is lost.
crossed="$(awk '/goodbye sent/ { sent = 1 } sent && /released: the worker is stopping/ { n++ } END { print n + 0 }' \
  "$dir"/job/worker-*.log)"
[ "$lost" -eq 0 ] ||
  fail "$lost attempts were lost ($crossed assignments crossed the goodbye): the leases lapsed instead of being handed back"
[ "$workers" = "left" ] || fail "the worker is '$workers', expected 'left' (it said goodbye)"
grep -q "goodbye sent" "$dir"/job/worker-*.log || fail "the worker's log has no goodbye"
# scancel signals every process of the job, the trainers too: their runs must be handed back, not
# counted as trainer failures (which would retry them and could quarantine the worker).
failures="$("$binary" status --json | .venv/bin/python -c "import json,sys; print(len(json.load(sys.stdin)['recent_failures']))")"
[ "$failures" -eq 0 ] || fail "$failures attempts were counted as trainer failures after scancel: $("$binary" status)"
say "the worker's log on scancel:"
grep -E "stopping:|from outside the worker|released|goodbye" "$dir"/job/worker-*.log | sed 's/^.*\[SweepWorker\] /    /'

# 6. A second job finishes the sweep; every run recorded exactly once.
job2="$(sbatch --parsable --array=0-0 --output="$dir/job/worker2-%A_%a.log" \
  cluster/slurm/trac-sweep-workers.sbatch "$endpoint")"
job2="${job2%%;*}"
say "sbatch: job $job2 to finish the sweep"
deadline=$((SECONDS + 120))
while [ "$SECONDS" -lt "$deadline" ]; do [ "$(sweep_field done)" -eq "$total" ] && break; sleep 0.2; done
[ "$(sweep_field done)" -eq "$total" ] || fail "the sweep did not finish: $("$binary" status)"
stages="$("$binary" status --json | .venv/bin/python -c "import json,sys; s=json.load(sys.stdin)['stages']; print(s['done'], s['failed'], s['units'])")"
read -r stages_done stages_failed stages_units <<< "$stages"
[ "$stages_failed" -eq 0 ] && [ "$stages_done" -eq "$stages_units" ] && [ "$stages_done" -ge 1 ] \
  || fail "BC stage units: $stages_done of $stages_units done, $stages_failed failed (the no-op trainer hands them to trac-sweep)"
say "$stages_done BC stage units trained for real (by the worker's trac-sweep), the runs started from them"
"$binary" results "$sweep" --format json > "$dir/results.json"
.venv/bin/python - "$dir/results.json" "$total" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
rows = rows if isinstance(rows, list) else rows.get("results", rows.get("runs", []))
ids = [row["run_id"] for row in rows]
assert len(ids) == int(sys.argv[2]) and len(set(ids)) == len(ids), f"recorded {len(ids)}, distinct {len(set(ids))}"
print(f"slurm-selftest: {len(ids)} runs recorded, each once")
PY
scancel "$job2"
say "OK"
