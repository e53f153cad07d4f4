"""DSRL's nine MetaDrive tasks: the task table against DSRL's values, the evaluator in
.venv-metadrive (Python 3.9, MetaDrive 0.2.6.0 with dsrl 0.1.0's task definitions), the dataset
generator's MetaDrive behaviours, and `trac-sweep train --evaluate` on a generated dataset.

Run with: .venv/bin/python -m pytest scripts/tests/test_metadrive.py
(scripts/setup.sh --simulators or --for-tests builds .venv-metadrive; TRAC_METADRIVE_PYTHON names
another one). The end-to-end test uses the release binary ($TRAC_SWEEP_BIN or
.build/release/trac-sweep) and is skipped when it is not built.

The policies here have random weights: they leave the road or crash within about 200 steps, so
an episode costs a second or two of CPU plus about 0.4 s to build its simulator.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))

from test_evaluator import write_policy  # noqa: E402
from test_run_schema import SCHEMA_PATH, validate  # noqa: E402
from test_safety_gymnasium import serve  # noqa: E402  (the evaluator's serve loop, one process)
from trac_tasks import METADRIVE, TASKS, resolve_task  # noqa: E402

EVALUATOR = str(SCRIPTS / "evaluator.py")
MAKE = str(SCRIPTS / "make_dataset.py")
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "dsrl_tasks.json"
MD_PYTHON = os.environ.get("TRAC_METADRIVE_PYTHON", str(ROOT / ".venv-metadrive" / "bin" / "python"))
MD_TASKS = [t for t in TASKS if t.family == METADRIVE]
TASK = "OfflineMetadrive-mediummean-v0"
KEYS = ("observations", "next_observations", "actions", "rewards", "costs", "terminals", "timeouts")

needs_md = pytest.mark.skipif(
    not os.access(MD_PYTHON, os.X_OK),
    reason=f"{MD_PYTHON} is missing: scripts/setup.sh --simulators builds it when a Python 3.9 interpreter exists")


def binary() -> Path:
    return Path(os.environ.get("TRAC_SWEEP_BIN") or ROOT / ".build/release/trac-sweep")


# ----------------------------------------------------------------------------
# The table against DSRL's source
# ----------------------------------------------------------------------------


def test_the_nine_metadrive_tasks_have_dsrls_constants():
    fixture = {t["dsrl_id"]: t for t in json.loads(FIXTURE.read_text())["tasks"]}
    names = [f"{road}{traffic}" for road in ("easy", "medium", "hard") for traffic in ("sparse", "mean", "dense")]
    assert [t.name for t in MD_TASKS] == names
    for task in MD_TASKS:
        want = fixture[task.dsrl_id]
        assert task.dsrl_id == f"OfflineMetadrive-{task.name}-v0" and task.simulator_id == want["simulator_id"]
        assert (task.obs_dim, task.act_dim, task.max_episode_steps) == (259, 2, 1000)
        assert (task.r_max, task.r_min) == (float(want["max_episode_reward"]), float(want["min_episode_reward"]))
    # Two of dsrl/infos.py's literals, typed here from the source, so the fixture is checked too.
    medium = resolve_task(TASK)
    assert (medium.r_max, medium.r_min) == (269.8221435546875, 17.032529830932617)
    assert resolve_task("SafeMetaDrive-harddense-v0").r_max == 486.63616943359375


def test_run_schema_accepts_every_tasks_ids():
    import re

    properties = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]["evaluation"]["properties"]
    for task in TASKS:
        assert re.search(properties["task"]["pattern"], task.simulator_id), task.simulator_id
        assert re.search(properties["dsrl_task"]["pattern"], task.dsrl_id), task.dsrl_id


# ----------------------------------------------------------------------------
# The evaluator
# ----------------------------------------------------------------------------


def evaluate_request(task: str, policy: Path, seed: int, episodes: int, request_id: str) -> dict:
    return {"id": request_id, "op": "evaluate", "policy": str(policy), "task": task,
            "cost_thresholds": [10, 0], "episodes": episodes, "seed": seed}


@pytest.fixture(scope="module")
def policies(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("md-policies")
    # Seed 7's random policy sees the traffic in its lidar and reacts: its episodes differ by seed.
    return {name: write_policy(directory / f"{name}.safetensors", 259, 2, seed=7, task=name)
            for name in (TASK, "OfflineMetadrive-hardsparse-v0")}


@pytest.fixture(scope="module")
def first(policies) -> list[dict]:
    """Episodes 0 and 1 from seed 0, another task, then episode 1 alone (from seed 1)."""
    return serve(MD_PYTHON, [
        evaluate_request(TASK, policies[TASK], 0, 2, "two"),
        evaluate_request("OfflineMetadrive-hardsparse-v0", policies["OfflineMetadrive-hardsparse-v0"], 0, 1,
                         "hard"),
        evaluate_request("SafeMetaDrive-mediummean-v0", policies[TASK], 1, 1, "second"),
    ])


@needs_md
def test_evaluation_is_normalized_with_dsrls_constants_and_dsrls_cost(first):
    two = first[0]
    assert two["ok"], two.get("error")
    assert two["task"] == "SafeMetaDrive-mediummean-v0" and two["dsrl_task"] == TASK
    r_max, r_min = 269.8221435546875, 17.032529830932617  # dsrl/infos.py, mediummean
    at10, at0 = two["by_threshold"]
    for i, (reward, cost, length) in enumerate(zip(two["reward_returns"], two["cost_returns"],
                                                   two["episode_lengths"])):
        assert 1 <= length <= 1000 and math.isfinite(reward) and math.isfinite(cost) and cost >= 0
        assert at10["normalized_reward"]["per_episode"][i] == pytest.approx((reward - r_min) / (r_max - r_min),
                                                                           abs=1e-12)
        assert at10["normalized_cost"]["per_episode"][i] == pytest.approx(cost / 10, abs=1e-12)
        assert at0["normalized_cost"]["per_episode"][i] == pytest.approx(cost + 1, abs=1e-12)
    # A random policy leaves the road or crashes: DSRL's cost of 1 for it, plus the speed and
    # lidar-proximity costs of the steps before.
    assert all(c >= 1.0 for c in two["cost_returns"])


@needs_md
def test_same_policy_episodes_and_seed_give_the_same_numbers_whatever_ran_before(first, policies):
    """Episode i is a function of seed + i alone: episode 1 of a request from seed 0 is the episode
    of a request from seed 1, after another MetaDrive task ran in between (one simulator per process),
    and a second process gives the first one's numbers."""
    two, hard, second = first
    assert hard["ok"] and second["ok"], (hard.get("error"), second.get("error"))
    keys = ("reward_returns", "cost_returns", "episode_lengths")
    for key in keys:
        assert second[key] == two[key][1:], key
    # The traffic differs with the seed, and the policy reacts to it.
    assert two["reward_returns"][0] != two["reward_returns"][1]
    again = serve(MD_PYTHON, [evaluate_request(TASK, policies[TASK], 0, 2, "again")])[0]
    assert again["ok"], again.get("error")
    for key in keys + ("by_threshold",):
        assert again[key] == two[key], key


@needs_md
def test_a_metadrive_policy_for_another_size_is_refused(tmp_path):
    policy = write_policy(tmp_path / "small.safetensors", 8, 2)
    answer = serve(MD_PYTHON, [evaluate_request(TASK, policy, 0, 1, "small")])[0]
    assert not answer["ok"] and "obs_dim 259" in answer["error"]


def test_metadrive_task_in_the_bullet_python_is_refused_clearly(tmp_path):
    policy = write_policy(tmp_path / "md.safetensors", 259, 2)
    proc = subprocess.run([sys.executable, EVALUATOR, "evaluate", str(policy), "--task", TASK,
                           "--cost-threshold", "10", "--episodes", "1"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "MetaDrive task" in proc.stderr and ".venv-metadrive/bin/python" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------
# The dataset generator
# ----------------------------------------------------------------------------


def make(out: Path, episodes: int = 3, max_steps: int = 60, seed: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run([MD_PYTHON, MAKE, TASK, "--episodes", str(episodes), "--seed", str(seed),
                           "--max-steps", str(max_steps), "--out", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("md-data") / "SafeMetaDrive-mediummean-v0-test.hdf5"
    res = make(out)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res


def read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in KEYS}


@needs_md
def test_make_dataset_writes_dsrls_layout_for_metadrive(dataset):
    out, res = dataset
    d = read(out)
    n = len(d["rewards"])
    assert d["observations"].shape == (n, 259) and d["next_observations"].shape == (n, 259)
    assert d["actions"].shape == (n, 2) and d["costs"].shape == (n,)
    for key in ("observations", "next_observations", "actions", "rewards", "costs"):
        assert d[key].dtype == np.float32 and np.all(np.isfinite(d[key])), key
    assert d["terminals"].dtype == bool and d["timeouts"].dtype == bool
    ends = np.flatnonzero(d["terminals"] | d["timeouts"])
    assert len(ends) == 3 and ends[-1] == n - 1  # every episode ends with one flag
    assert not np.any(d["terminals"] & d["timeouts"])
    lengths = np.diff(np.concatenate([[-1], ends]))
    assert np.all(lengths <= 60) and np.all(lengths[d["timeouts"][ends]] == 60)
    assert np.all(np.abs(d["actions"]) <= 1.0) and np.all(d["costs"] >= 0)
    assert np.all((d["observations"] >= 0) & (d["observations"] <= 1))  # MetaDrive's Box(0, 1)
    # Within an episode, the next observation is the following step's observation.
    inside = np.setdiff1d(np.arange(n - 1), ends)
    assert np.array_equal(d["next_observations"][inside], d["observations"][inside + 1])
    for line in ("task            SafeMetaDrive-mediummean-v0 (OfflineMetadrive-mediummean-v0)", "C=10",
                 "C=40", "x = 0.25", "behaviour families"):
        assert line in res.stdout, line


@needs_md
def test_make_dataset_is_deterministic_for_metadrive(dataset, tmp_path):
    out, _ = dataset
    again = tmp_path / "again.hdf5"
    res = make(again)
    assert res.returncode == 0, res.stderr[-3000:]
    first, second = read(out), read(again)
    for key in KEYS:
        assert first[key].tobytes() == second[key].tobytes(), key


# ----------------------------------------------------------------------------
# trac-sweep train --evaluate on a generated dataset
# ----------------------------------------------------------------------------


def train(out: Path, dataset_path: Path) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TRAC_METADRIVE_PYTHON=MD_PYTHON,
               TRAC_EVALUATOR=EVALUATOR)
    result = subprocess.run(
        [str(binary()), "train", "--dataset", str(dataset_path), "--task", TASK, "--cost-threshold", "10",
         "--seed", "0", "--bc-steps", "10", "--steps", "20", "--batch-size", "4", "--log-every", "5",
         "--evaluate", "--eval-episodes", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


@needs_md
def test_train_evaluate_on_a_generated_metadrive_dataset_is_finite_and_repeats(dataset, tmp_path):
    if not binary().is_file():
        pytest.skip(f"{binary()} is not built (swift build -c release)")
    out, _ = dataset
    first, second = train(tmp_path / "a", out), train(tmp_path / "b", out)
    assert validate(first, json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))) == []
    spec = first["spec"]
    assert spec["task"] == TASK
    hyper = spec["hyperparameters"]
    # The family's defaults where the command line did not override them.
    assert (hyper["x"], hyper["gamma"], hyper["seg_ratio"]) == (0.25, 1.0, 0.25)
    evaluation = first["evaluation"]
    (row,) = evaluation["by_threshold"]
    assert row["cost_threshold"] == 10
    for stat in (row["normalized_reward"], row["normalized_cost"]):
        assert math.isfinite(stat["mean"]) and math.isfinite(stat["std"])
    for key in ("reward_returns", "cost_returns", "episode_lengths", "by_threshold"):
        assert evaluation[key] == second["evaluation"][key], key
    assert (tmp_path / "a" / "policy.safetensors").read_bytes() == (tmp_path / "b" / "policy.safetensors").read_bytes()
