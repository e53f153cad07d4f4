#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for trac-sweep: the C libraries (OpenBLAS, HDF5,
# ZeroMQ), the Python venv (.venv: Bullet-Safety-Gym, matplotlib, and the Python client of python/
# with pyzmq, pandas and tqdm) and, when a Python 3.10 interpreter exists, the Safety-Gymnasium
# evaluator's venv (.venv-safety-gymnasium); with --for-tests also what
# only the tests use: chromium (the report's headless-browser test), iproute2 and iptables (the
# multi-host test makes hosts of network namespaces), slurm-wlm, munge and openssh-server (the launch
# self-tests), and then a missing Python 3.10 is an error.
# Idempotent; quiet when there is nothing to do.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

apt_packages=(libopenblas-dev libhdf5-dev libzmq3-dev pkg-config)
[ "${1:-}" = "--for-tests" ] && apt_packages+=(chromium iproute2 iptables)
# The launch self-tests (cluster/slurm/selftest.sh, cluster/ssh/selftest.sh) start their own munged,
# slurmctld, slurmd and sshd on 127.0.0.1; the packages' own services are not used.
[ "${1:-}" = "--for-tests" ] && apt_packages+=(slurm-wlm munge openssh-server)
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

# The Python client (python/, package trac_sweep) in .venv: reinstalled when its files change. Built
# with the setuptools of scripts/requirements.txt (no build isolation), so a reinstall needs no network.
client_stamp=".venv/.trac-sweep-client.sha256"
client_wanted="$(find python -path python/tests -prune -o -type f \( -name '*.py' -o -name '*.toml' -o -name '*.md' \) -print \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$client_stamp" 2>/dev/null)" != "$client_wanted" ]; then
  echo "setup: installing the Python client (python/, trac_sweep) into .venv"
  rm -rf python/build python/*.egg-info
  .venv/bin/pip install -q --disable-pip-version-check --no-build-isolation --no-deps ./python
  rm -rf python/build python/*.egg-info
  echo "$client_wanted" > "$client_stamp"
fi

# The Safety-Gymnasium evaluator's venv: safety-gymnasium 0.4.0 and its MuJoCo need Python 3.10.
# The interpreter: $TRAC_SETUP_PYTHON310 when set, else pyenv's newest 3.10.x, else python3.10 on PATH.
# Rebuilt when scripts/requirements-safety-gymnasium.txt changes.
for_tests=false
[ "${1:-}" = "--for-tests" ] && for_tests=true
is_python310() { [ -x "$1" ] && "$1" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }
python310=""
if [ -n "${TRAC_SETUP_PYTHON310:-}" ]; then
  if ! is_python310 "$TRAC_SETUP_PYTHON310"; then
    echo "setup: TRAC_SETUP_PYTHON310=$TRAC_SETUP_PYTHON310 is not a Python 3.10 interpreter" >&2
    exit 1
  fi
  python310="$TRAC_SETUP_PYTHON310"
else
  candidates=()
  for pyenv_root in "${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv /usr/local/pyenv /opt/pyenv; do
    [ -n "$pyenv_root" ] || continue
    while IFS= read -r found; do candidates+=("$found"); done < <(
      ls -d "$pyenv_root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V -r)
  done
  while IFS= read -r found; do candidates+=("$found"); done < <(which -a python3.10 2>/dev/null || true)
  for candidate in "${candidates[@]}"; do
    if is_python310 "$candidate"; then python310="$candidate"; break; fi
  done
fi
sg_venv=".venv-safety-gymnasium"
sg_requirements="scripts/requirements-safety-gymnasium.txt"
if [ -z "$python310" ]; then
  message="setup: no Python 3.10 interpreter found (looked for \$TRAC_SETUP_PYTHON310, pyenv's versions/3.10.*, python3.10 on PATH), so $sg_venv is not built and the Safety-Gymnasium tasks (Offline*Gymnasium-v0/v1) cannot be evaluated on this machine; install Python 3.10 (e.g. pyenv install 3.10) or set TRAC_SETUP_PYTHON310 to one, then run scripts/setup.sh again"
  if $for_tests; then
    echo "$message" >&2
    exit 1
  fi
  [ -x "$sg_venv/bin/python" ] || echo "$message"
else
  sg_stamp="$sg_venv/.requirements.sha256"
  sg_wanted="$(sha256sum "$sg_requirements" | cut -d' ' -f1)"
  if [ ! -x "$sg_venv/bin/python" ] || [ "$(cat "$sg_stamp" 2>/dev/null)" != "$sg_wanted" ]; then
    echo "setup: creating the Safety-Gymnasium evaluator's environment in $sg_venv with $python310 (about 100 MB of wheels, a few minutes)"
    rm -f "$sg_stamp"
    [ -x "$sg_venv/bin/python" ] || "$python310" -m venv "$sg_venv"
    "$sg_venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: -r "$sg_requirements"
    echo "$sg_wanted" > "$sg_stamp"
  fi
fi
