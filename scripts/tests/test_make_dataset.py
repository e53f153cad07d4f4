"""Tests of scripts/make_dataset.py: the DSRL layout and determinism."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[1]
MAKE = str(SCRIPTS / "make_dataset.py")

KEYS = ("observations", "next_observations", "actions", "rewards", "costs", "terminals", "timeouts")


def make(task: str, episodes: int, seed: int, out: Path, workers: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, MAKE, task, "--episodes", str(episodes), "--seed", str(seed),
                           "--out", str(out), "--workers", str(workers)],
                          capture_output=True, text=True, timeout=300)


def read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in KEYS}


@pytest.fixture(scope="module")
def ballrun(tmp_path_factory):
    d = tmp_path_factory.mktemp("ballrun")
    out = d / "a.hdf5"
    res = make("OfflineBallRun-v0", 12, 7, out)
    assert res.returncode == 0, res.stderr
    return out, res


def test_layout(ballrun):
    path, res = ballrun
    with h5py.File(path, "r") as f:
        assert set(KEYS) <= set(f.keys())
        n = f["rewards"].shape[0]
        assert n == 12 * 100
        for key, width in (("observations", 7), ("next_observations", 7), ("actions", 2)):
            assert f[key].shape == (n, width) and f[key].dtype == np.float32
        for key in ("rewards", "costs"):
            assert f[key].shape == (n,) and f[key].dtype == np.float32
        for key in ("terminals", "timeouts"):
            assert f[key].shape == (n,) and f[key].dtype == np.bool_
            # h5py stores numpy bools as an HDF5 enum (FALSE/TRUE), as DSRL's files do
            assert isinstance(f[key].id.get_type(), h5py.h5t.TypeEnumID)
        for key in KEYS:
            assert f[key].compression == "gzip"
    d = read(path)
    ends = np.flatnonzero(d["terminals"] | d["timeouts"])
    assert ends.tolist() == [100 * i + 99 for i in range(12)]  # one end flag per episode, at its last row
    assert d["timeouts"][ends].all() and not d["terminals"].any()  # the Ball never dies: time limit
    # next_observations is observations shifted by one inside an episode
    inner = np.setdiff1d(np.arange(len(d["rewards"]) - 1), ends)
    np.testing.assert_array_equal(d["next_observations"][inner], d["observations"][inner + 1])
    assert np.all(np.abs(d["actions"]) <= 1.0)
    assert set(np.unique(d["costs"]).tolist()) <= {0.0, 1.0}
    for key in KEYS:
        assert np.all(np.isfinite(d[key].astype(np.float64)))
    # the summary on stdout
    assert "episodes        12" in res.stdout and "transitions     1200" in res.stdout
    assert "C=20" in res.stdout and "desirable" in res.stdout


def test_deterministic_whatever_the_workers(ballrun, tmp_path):
    path, _ = ballrun
    again = tmp_path / "b.hdf5"
    res = make("SafetyBallRun-v0", 12, 7, again, workers=2)
    assert res.returncode == 0, res.stderr
    a, b = read(path), read(again)
    for key in KEYS:
        assert a[key].dtype == b[key].dtype
        assert a[key].tobytes() == b[key].tobytes(), key
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(again.read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["b.hdf5"]  # no temporary file left behind


def test_other_seed_differs(ballrun, tmp_path):
    path, _ = ballrun
    other = tmp_path / "c.hdf5"
    assert make("OfflineBallRun-v0", 12, 8, other).returncode == 0
    assert read(path)["actions"].tobytes() != read(other)["actions"].tobytes()


def test_ballcircle_small(tmp_path):
    out = tmp_path / "circle.hdf5"
    res = make("OfflineBallCircle-v0", 3, 0, out)
    assert res.returncode == 0, res.stderr
    d = read(out)
    assert d["observations"].shape == (600, 8) and d["actions"].shape == (600, 2)
    assert np.flatnonzero(d["timeouts"]).tolist() == [199, 399, 599]


def test_unsupported_task_is_refused(tmp_path):
    res = make("OfflineAntRun-v0", 2, 0, tmp_path / "x.hdf5")
    assert res.returncode == 2 and "no scripted behaviour" in res.stderr
    res = make("OfflineNope-v0", 2, 0, tmp_path / "x.hdf5")
    assert res.returncode == 2 and "Supported tasks" in res.stderr
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------
# Safety-Gymnasium (Goal and Circle), in .venv-safety-gymnasium
# ----------------------------------------------------------------------------

ROOT = SCRIPTS.parent
SG_PYTHON = os.environ.get("TRAC_SAFETY_GYMNASIUM_PYTHON", str(ROOT / ".venv-safety-gymnasium" / "bin" / "python"))
needs_sg = pytest.mark.skipif(
    not os.access(SG_PYTHON, os.X_OK),
    reason=f"{SG_PYTHON} is missing: scripts/setup.sh builds it when a Python 3.10 interpreter exists")


def make_sg(task: str, episodes: int, seed: int, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([SG_PYTHON, MAKE, task, "--episodes", str(episodes), "--seed", str(seed),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)


@needs_sg
def test_safety_gymnasium_circle_layout(tmp_path):
    out = tmp_path / "SafetyPointCircle1Gymnasium-v0-test.hdf5"
    res = make_sg("OfflinePointCircle1Gymnasium-v0", 2, 0, out)
    assert res.returncode == 0, res.stderr
    d = read(out)
    assert d["observations"].shape == (1000, 28) and d["actions"].shape == (1000, 2)
    assert np.flatnonzero(d["timeouts"]).tolist() == [499, 999] and not d["terminals"].any()
    assert np.all(np.abs(d["actions"]) <= 1.0)
    for key in KEYS:
        assert np.all(np.isfinite(d[key].astype(np.float64)))
    assert "C=20" in res.stdout and "C=80" in res.stdout  # the paper's Safety-Gymnasium thresholds


@needs_sg
def test_safety_gymnasium_goal_is_deterministic(tmp_path):
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    for out in (a, b):
        res = make_sg("OfflineCarGoal1Gymnasium-v0", 1, 3, out)
        assert res.returncode == 0, res.stderr
    da, db = read(a), read(b)
    assert da["observations"].shape == (1000, 72)
    for key in KEYS:
        assert da[key].tobytes() == db[key].tobytes(), key


def test_other_safety_gymnasium_tasks_are_refused(tmp_path):
    res = make("OfflinePointButton1Gymnasium-v0", 2, 0, tmp_path / "x.hdf5")
    assert res.returncode == 2 and "no scripted behaviour for OfflinePointButton1Gymnasium-v0" in res.stderr
    assert "OfflinePointGoal1Gymnasium-v0" in res.stderr
    assert not list(tmp_path.iterdir())
