"""Real `trac-sweep` processes on 127.0.0.1 for the client's tests: a coordinator, workers, key pairs.

The binary is `.build/release/trac-sweep` (or `$TRAC_SWEEP_BIN`); the tests are skipped, with the
reason, when it is not built. The client is imported from this checkout's `python/`, not from an
installed copy, so the tests always test the source next to them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

BINARY = Path(os.environ.get("TRAC_SWEEP_BIN", ROOT / ".build" / "release" / "trac-sweep"))

requires_binary = pytest.mark.skipif(not BINARY.is_file(), reason=f"{BINARY} is not built (swift build -c release)")


def make_dataset(path: Path, episodes: int = 24, length: int = 10, seed: int = 11) -> Path:
    """A small dataset in DSRL's HDF5 layout (docs/FORMATS.md) with BallCircle's widths (8 and 2):
    random observations and actions, every other episode costly. Enough to train on, nothing to learn."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    count = episodes * length
    done = (np.arange(count) + 1) % length == 0
    with h5py.File(path, "w") as file:
        observations = rng.normal(size=(count, 8)).astype(np.float32)
        file["observations"] = observations
        file["next_observations"] = observations
        file["actions"] = rng.uniform(-1, 1, size=(count, 2)).astype(np.float32)
        file["rewards"] = rng.uniform(0, 1, size=count).astype(np.float32)
        file["costs"] = np.where((np.arange(count) // length) % 2 == 0, 0.1, 1.0).astype(np.float32)
        file["terminals"] = np.zeros(count, dtype=bool)
        file["timeouts"] = done
    return path


def write_grid(directory: Path, name: str, dataset: str, *, alphas=(0.2,), seeds=(0,), steps=200,
               episodes: int = 0, algorithm="trac") -> Path:
    grid = {
        "name": name, "task": "OfflineBallCircle-v0", "dataset": dataset, "algorithm": algorithm,
        "base": {"bc_steps": steps // 4, "steps": steps, "batch_size": 8, "warmup_steps": 10},
        "vary": {"alpha": list(alphas)}, "design": "one_at_a_time", "cost_thresholds": [5],
        "seeds": list(seeds), "eval": {"episodes": episodes, "seed": 0},
    }
    path = directory / f"{name}.json"
    path.write_text(json.dumps(grid, indent=2))
    return path


class Cluster:
    """A coordinator and its workers, each a real process of the binary, logging into `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: Dict[str, subprocess.Popen] = {}
        self.endpoint = ""

    def _start(self, name: str, arguments: List[str], environment: Optional[dict] = None) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "ab")
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        for variable in ("TRAC_SWEEP_CURVE_SECRET", "TRAC_SWEEP_SERVER_KEY", "TRAC_SWEEP_COORDINATOR"):
            env.pop(variable, None)
        env.update(environment or {})
        process = subprocess.Popen([str(BINARY), *arguments], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
        log.close()
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log\n" + "\n".join(self.log(name).splitlines()[-25:])
                         for name in sorted(self.processes))

    def start_coordinator(self, *extra: str) -> str:
        self._start("coordinator", ["coordinator", "--bind", "tcp://127.0.0.1:*", "--state",
                                    str(self.directory / "state"), "--heartbeat-interval", "0.1",
                                    # No audits (they train runs again, which these tests do not count on).
                                    "--audit", "0", *extra])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            match = re.search(r"endpoint=(tcp://127\.0\.0\.1:\d+)", self.log("coordinator"))
            if match:
                self.endpoint = match.group(1)
                return self.endpoint
            if self.processes["coordinator"].poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"the coordinator did not start\n{self.logs()}")

    def start_worker(self, name: str, *extra: str, slots: int = 1, environment: Optional[dict] = None) -> str:
        """Starts a worker and returns its worker id (written to its work directory on start)."""
        work = self.directory / f"work-{name}"
        self._start(f"worker-{name}", ["worker", "--connect", self.endpoint, "--slots", str(slots),
                                       "--work-dir", str(work), "--grace", "1", *extra], environment)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            path = work / "worker-id"
            if path.exists() and path.read_text().strip():
                return path.read_text().strip()
            time.sleep(0.05)
        raise AssertionError(f"worker {name} wrote no worker id\n{self.logs()}")

    def cli(self, *arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if k not in ("TRAC_SWEEP_CURVE_SECRET", "TRAC_SWEEP_SERVER_KEY", "TRAC_SWEEP_COORDINATOR")}
        return subprocess.run([str(BINARY), *arguments, "--coordinator", self.endpoint], capture_output=True,
                              text=True, timeout=timeout, env=env)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def generate_keys(directory: Path, name: str) -> tuple:
    """`trac-sweep keys generate`: (NAME.key, NAME.pub)."""
    result = subprocess.run([str(BINARY), "keys", "generate", "--out", str(directory), "--name", name],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return directory / f"{name}.key", directory / f"{name}.pub"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_client_environment(monkeypatch, tmp_path_factory):
    """The tests never read the machine's own client settings (environment or ~/.config)."""
    for variable in ("TRAC_SWEEP_CURVE_SECRET", "TRAC_SWEEP_SERVER_KEY", "TRAC_SWEEP_COORDINATOR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
