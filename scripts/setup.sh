#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for trac-sweep: the C libraries (OpenBLAS, HDF5,
# ZeroMQ) and the Python venv (.venv: Bullet-Safety-Gym, matplotlib, and the Python client of python/
# with pyzmq, pandas and tqdm): all the main job (scripts/demo.sh) needs.
#   scripts/setup.sh --simulators  also builds the other simulators' evaluator venvs, each when its
#       Python exists: .venv-safety-gymnasium (Safety-Gymnasium, Python 3.10) and .venv-metadrive
#       (MetaDrive, Python 3.9); a missing interpreter is a message, and the rest goes on.
#   scripts/setup.sh --for-tests   all of that, where a missing Python 3.10 or 3.9 is an error, and
#       what only the tests use: chromium (the report's headless-browser test), iproute2 and
#       iptables (the multi-host test makes hosts of network namespaces), slurm-wlm, munge and
#       openssh-server (the launch self-tests).
# Without a flag, a simulator venv that is missing or out of date is left alone and one line says
# how to build it. Idempotent; quiet when there is nothing to do.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

apt_packages=(libopenblas-dev libhdf5-dev libzmq3-dev libssl-dev pkg-config)
mode="${1:-}"
case "$mode" in
  "" | --simulators | --for-tests) ;;
  *) echo "usage: scripts/setup.sh [--simulators | --for-tests]" >&2; exit 2 ;;
esac
[ "$mode" = "--for-tests" ] && apt_packages+=(chromium iproute2 iptables)
# The launch self-tests (cluster/slurm/selftest.sh, cluster/ssh/selftest.sh) start their own munged,
# slurmctld, slurmd and sshd on 127.0.0.1; the packages' own services are not used.
[ "$mode" = "--for-tests" ] && apt_packages+=(slurm-wlm munge openssh-server)
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

# The other simulators' evaluator venvs, each on the Python version its simulator needs:
# safety-gymnasium 0.4.0 and its MuJoCo need Python 3.10; MetaDrive 0.2.6.0's panda3d 1.10.8 has
# wheels up to Python 3.9. The interpreter: $TRAC_SETUP_PYTHON310 / $TRAC_SETUP_PYTHON39 when set,
# else pyenv's newest 3.10.x / 3.9.x, else python3.10 / python3.9 on PATH. Each venv is rebuilt when
# its requirements file changes.
find_python() {  # find_python 3.10 TRAC_SETUP_PYTHON310: prints the interpreter, or nothing
  local version="$1" variable="$2" minor="${1#3.}" candidate pyenv_root found
  local is_version="import sys, venv; sys.exit(sys.version_info[:2] != (3, $minor))"
  if [ -n "${!variable:-}" ]; then
    if [ -x "${!variable}" ] && "${!variable}" -c "$is_version" 2>/dev/null; then
      echo "${!variable}"
      return 0
    fi
    echo "setup: $variable=${!variable} is not a Python $version interpreter" >&2
    exit 1
  fi
  local candidates=()
  for pyenv_root in "${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv /usr/local/pyenv /opt/pyenv; do
    [ -n "$pyenv_root" ] || continue
    while IFS= read -r found; do candidates+=("$found"); done < <(
      ls -d "$pyenv_root"/versions/"$version".*/bin/python"$version" 2>/dev/null | sort -V -r)
  done
  while IFS= read -r found; do candidates+=("$found"); done < <(which -a "python$version" 2>/dev/null || true)
  for candidate in "${candidates[@]}"; do
    if [ -x "$candidate" ] && "$candidate" -c "$is_version" 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
}

venv_current() {  # venv_current VENV REQUIREMENTS: whether VENV finished installing REQUIREMENTS
  [ -x "$1/bin/python" ] && [ "$(cat "$1/.requirements.sha256" 2>/dev/null)" = "$(sha256sum "$2" | cut -d' ' -f1)" ]
}

# build_simulator_venv VENV REQUIREMENTS VERSION VARIABLE WHAT TASKS SIZE [PIP OPTIONS...]
build_simulator_venv() {
  local venv="$1" requirements="$2" version="$3" variable="$4" what="$5" tasks="$6" size="$7"
  shift 7
  venv_current "$venv" "$requirements" && return 0
  local python
  python="$(find_python "$version" "$variable")"
  if [ -z "$python" ]; then
    local message="setup: no Python $version interpreter found (looked for \$$variable, pyenv's versions/$version.*, python$version on PATH), so $venv is not built and the $what tasks ($tasks) cannot be evaluated on this machine; install Python $version (e.g. pyenv install $version) or set $variable to one, then run scripts/setup.sh --simulators"
    if [ "$mode" = "--for-tests" ]; then
      echo "$message" >&2
      exit 1
    fi
    echo "$message"
    return 0
  fi
  echo "setup: creating the $what evaluator's environment in $venv with $python ($size)"
  rm -f "$venv/.requirements.sha256"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@" -r "$requirements"
  sha256sum "$requirements" | cut -d' ' -f1 > "$venv/.requirements.sha256"
}

sg_venv=".venv-safety-gymnasium" sg_requirements="scripts/requirements-safety-gymnasium.txt"
md_venv=".venv-metadrive" md_requirements="scripts/requirements-metadrive.txt"
if [ -z "$mode" ]; then
  # The main job evaluates BulletGym only: it does not wait for the other simulators' venvs.
  stale=()
  venv_current "$sg_venv" "$sg_requirements" || stale+=("$sg_venv (Safety-Gymnasium)")
  venv_current "$md_venv" "$md_requirements" || stale+=("$md_venv (MetaDrive)")
  if ((${#stale[@]})); then
    echo "setup: not built or out of date: $(printf '%s, ' "${stale[@]}" | sed 's/, $//'); scripts/setup.sh --simulators builds them (a few minutes; only those tasks need them)"
  fi
  exit 0
fi
build_simulator_venv "$sg_venv" "$sg_requirements" 3.10 TRAC_SETUP_PYTHON310 Safety-Gymnasium \
  "Offline*Gymnasium-v0/v1" "about 100 MB of wheels, a few minutes" --only-binary=:all:
# --no-deps: the list pins every package (metadrive-simulator and dsrl declare requirements it replaces).
build_simulator_venv "$md_venv" "$md_requirements" 3.9 TRAC_SETUP_PYTHON39 MetaDrive \
  "OfflineMetadrive-*-v0" "about 200 MB of wheels, a minute or two" --no-deps
