#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for trac-sweep: the C libraries (OpenBLAS, HDF5,
# ZeroMQ) and the Python venv (.venv: Bullet-Safety-Gym, matplotlib); with --for-tests also what
# only the tests use: chromium (the report's headless-browser test), iproute2 and iptables (the
# multi-host test makes hosts of network namespaces). Idempotent; quiet when there is nothing to do.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

apt_packages=(libopenblas-dev libhdf5-dev libzmq3-dev pkg-config)
[ "${1:-}" = "--for-tests" ] && apt_packages+=(chromium iproute2 iptables)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The evaluator's venv: rebuilt when scripts/requirements.txt changes.
python="${TRAC_SETUP_PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
stamp=".venv/.requirements.sha256"
wanted="$(sha256sum scripts/requirements.txt | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: creating the evaluator's Python environment in .venv (Bullet-Safety-Gym, about a minute)"
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  echo "$wanted" > "$stamp"
fi
