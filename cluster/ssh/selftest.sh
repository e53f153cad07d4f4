#!/usr/bin/env bash
# Self-test of cluster/ssh/trac-sweep-nodes against this machine: a private sshd on 127.0.0.1 (its
# own host key, config and authorized key, all in a temporary directory; key-based login for root
# only), a coordinator on 127.0.0.1, and a worker started on "root@127.0.0.1" through ssh with the
# no-op trainer (the sweep's BC stage units are trained for real by the worker's trac-sweep: see
# cluster/noop-trainer). Needs root and openssh-server (installed with apt if missing); takes about
# a minute. Part of the test command (scripts/test.sh).
#
# It checks: start starts the worker and a second start leaves it alone; list shows it; runs are
# recorded; stop (SIGTERM, then waiting) makes it hand its leases back (no attempt lost, worker
# "left"); start again finishes the sweep; every run recorded exactly once; list says not running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
say() { echo "ssh-selftest: $*"; }
fail() { echo "ssh-selftest: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (it starts sshd and logs in as root)"
if [ ! -x /usr/sbin/sshd ]; then
  say "installing openssh-server (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
fi
binary="${TRAC_SWEEP_BIN:-$root/.build/release/trac-sweep}"
[ -x "$binary" ] || fail "no $binary: run scripts/setup.sh && swift build -c release first"
[ -x .venv/bin/python ] || fail "no .venv: run scripts/setup.sh first"

dir="$(mktemp -d /tmp/trac-ssh-selftest.XXXXXX)"
pids=()
nodes() { "$root/cluster/ssh/trac-sweep-nodes" "$@"; }
cleanup() {
  status=$?
  nodes stop "$dir/hosts" --timeout 10 --force >/dev/null 2>&1 || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    say "files kept in $dir"
    for log in "$dir"/sshd.log "$dir"/coordinator.log "$dir"/node/worker.log; do
      [ -f "$log" ] && { echo "--- $log"; tail -20 "$log"; }
    done
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

# A private sshd on 127.0.0.1 that accepts only our key, for root.
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"
ssh_port="$(free_port)"
cat > "$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers root
PidFile $dir/sshd.pid
CONF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$dir/sshd_config" 2> "$dir/sshd.log" &
pids+=($!)
export TRAC_SWEEP_SSH="ssh -i $dir/client_key -p $ssh_port -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=no -o UserKnownHostsFile=$dir/known_hosts -o LogLevel=ERROR"
for _ in $(seq 50); do $TRAC_SWEEP_SSH root@127.0.0.1 true 2>/dev/null && break; sleep 0.2; done
$TRAC_SWEEP_SSH root@127.0.0.1 true || fail "cannot log in to root@127.0.0.1:$ssh_port with the key"
say "sshd on 127.0.0.1:$ssh_port, key login for root works"

# A coordinator whose leases would take 30 s to lapse, and a sweep of 12 runs of 2 s each.
endpoint="tcp://127.0.0.1:$(free_port)"
export TRAC_SWEEP_COORDINATOR="$endpoint"
"$binary" coordinator --bind "$endpoint" --state "$dir/state" --heartbeat-interval 1 --liveness 30 \
  > "$dir/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$binary" status >/dev/null 2>&1 && break; sleep 0.2; done
# 12 episodes at threshold 40: every seed finds desirable segments (with fewer, a seed's BC stage
# unit can fail for good, and its runs with it). No evaluation: the no-op trainer evaluates nothing.
.venv/bin/python scripts/make_dataset.py OfflineBallCircle-v0 --episodes 12 --seed 0 --out "$dir/data.hdf5" >/dev/null
cat > "$dir/grid.json" <<GRID
{"name": "ssh-selftest", "task": "OfflineBallCircle-v0", "dataset": "data.hdf5",
 "algorithm": "trac", "base": {"bc_steps": 2, "steps": 4, "batch_size": 4},
 "vary": {"alpha": [0.1, 0.2, 0.5]}, "design": "one_at_a_time",
 "cost_thresholds": [40], "seeds": [0, 1, 2, 3], "eval": {"episodes": 0}}
GRID
sweep="$("$binary" submit "$dir/grid.json")"
total=12
field() { "$binary" status --json | .venv/bin/python -c "import json,sys; print(json.load(sys.stdin)['sweeps'][0]['$1'])"; }
workers() { "$binary" status --json | .venv/bin/python -c "import json,sys; print(' '.join(w['state'] for w in json.load(sys.stdin)['workers']))"; }

# The trainer the remote worker runs: the no-op trainer, 2 s a run (ssh passes no environment).
cat > "$dir/trainer" <<TRAINER
#!/bin/sh
TRAC_NOOP_DELAY=2 exec "$root/cluster/noop-trainer" "\$@"
TRAINER
chmod +x "$dir/trainer"
echo "root@127.0.0.1 2   # two slots" > "$dir/hosts"
export TRAC_SWEEP_REMOTE_BIN="$binary" TRAC_SWEEP_NODE_DIR="$dir/node"

say "start:"
nodes start "$dir/hosts" "$endpoint" --trainer "$dir/trainer" --grace 0
say "start again (idempotent):"
again="$(nodes start "$dir/hosts" "$endpoint" --trainer "$dir/trainer" --grace 0)"
echo "$again"
grep -q "already running" <<< "$again" || fail "a second start did not find the running worker"
say "list:"
listed="$(nodes list "$dir/hosts")"
echo "$listed"
grep -q "running (pid" <<< "$listed" || fail "list does not show the worker"

deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do [ "$(field done)" -ge 2 ] && [ "$(field running)" -ge 1 ] && break; sleep 0.2; done
[ "$(field done)" -ge 2 ] || fail "no run recorded in 60 s"
say "recorded $(field done), running $(field running); stop:"
nodes stop "$dir/hosts" --timeout 30
[ "$(field running)" -eq 0 ] || fail "runs still running after stop: leases not handed back"
# An assignment sent while the worker's goodbye was on its way crosses it (the worker releases it after
# its goodbye; the coordinator counts it handed back, since the worker never named it): none is lost.
crossed="$(awk '/goodbye sent/ { sent = 1 } sent && /released: the worker is stopping/ { n++ } END { print n + 0 }' \
  "$dir"/node/worker.log 2>/dev/null || echo 0)"
[ "$(field lost_attempts)" -eq 0 ] ||
  fail "$(field lost_attempts) attempts were lost ($crossed assignments crossed the goodbye): the leases lapsed instead of being handed back"
[ "$(workers)" = "left" ] || fail "the worker is '$(workers)', expected 'left'"
say "after stop: running 0, pending $(field pending), lost attempts $(field lost_attempts) ($crossed crossed the goodbye), worker left"
listed="$(nodes list "$dir/hosts")"
echo "$listed"
grep -q "not running" <<< "$listed" || fail "list still shows a worker after stop"

say "start again to finish the sweep:"
nodes start "$dir/hosts" "$endpoint" --trainer "$dir/trainer" --grace 0
deadline=$((SECONDS + 120))
while [ "$SECONDS" -lt "$deadline" ]; do [ "$(field done)" -eq "$total" ] && break; sleep 0.2; done
[ "$(field done)" -eq "$total" ] || fail "the sweep did not finish: $("$binary" status)"
stages="$("$binary" status --json | .venv/bin/python -c "import json,sys; s=json.load(sys.stdin)['stages']; print(s['done'], s['failed'], s['units'])")"
read -r stages_done stages_failed stages_units <<< "$stages"
[ "$stages_failed" -eq 0 ] && [ "$stages_done" -eq "$stages_units" ] && [ "$stages_done" -ge 1 ] \
  || fail "BC stage units: $stages_done of $stages_units done, $stages_failed failed (the no-op trainer hands them to trac-sweep)"
say "$stages_done BC stage units trained for real (by the worker's trac-sweep), the runs started from them"
"$binary" results "$sweep" --format json | .venv/bin/python -c "
import json, sys
ids = [row['run_id'] for row in json.load(sys.stdin)]
assert len(ids) == $total and len(set(ids)) == $total, (len(ids), len(set(ids)))
print(f'ssh-selftest: {len(ids)} runs recorded, each once')"
nodes stop "$dir/hosts"

# Bad input: clear errors, nothing started.
printf 'host-a two\n' > "$dir/bad-hosts"
if out="$(nodes start "$dir/bad-hosts" "$endpoint" 2>&1)"; then fail "a bad hosts file was accepted"; fi
echo "bad hosts file: $out"
if out="$(nodes start "$dir/hosts" "head:5555" 2>&1)"; then fail "a bad address was accepted"; fi
echo "bad address: $out"
say "OK"
