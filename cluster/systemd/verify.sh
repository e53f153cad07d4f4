#!/usr/bin/env bash
# Checks the unit files with `systemd-analyze verify`, with /usr/local/bin/trac-sweep replaced by
# the binary built in this tree (or $TRAC_SWEEP_BIN), since verify also checks that ExecStart exists.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
binary="${TRAC_SWEEP_BIN:-$here/../../.build/release/trac-sweep}"
[ -x "$binary" ] || { echo "error: no $binary (build it, or set TRAC_SWEEP_BIN)" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "error: systemd-analyze not found (apt-get install systemd)" >&2; exit 1; }
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
sed "s|/usr/local/bin/trac-sweep|$binary|" "$here/trac-sweep-coordinator.service" > "$scratch/trac-sweep-coordinator.service"
sed "s|/usr/local/bin/trac-sweep|$binary|" "$here/trac-sweep-worker@.service" > "$scratch/trac-sweep-worker@.service"
cd "$scratch"
systemd-analyze verify ./trac-sweep-coordinator.service ./trac-sweep-worker@.service
ln -s trac-sweep-worker@.service trac-sweep-worker@main.service
systemd-analyze verify ./trac-sweep-worker@main.service
echo "systemd-analyze verify: both units OK"
