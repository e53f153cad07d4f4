"""Tests of scripts/evaluator.py and scripts/trac_tasks.py.

Run with: .venv/bin/python -m pytest scripts/tests
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

SCRIPTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SCRIPTS))

import evaluator  # noqa: E402
from trac_tasks import TASKS, UnknownTaskError, resolve_task, supported_ids  # noqa: E402

EVALUATOR = str(SCRIPTS / "evaluator.py")


def write_policy(path: Path, obs_dim: int, act_dim: int, seed: int = 0, task: str | None = None,
                 metadata: dict | None = None, drop: str | None = None, replace: dict | None = None) -> Path:
    """A randomly initialised policy file in the trac-policy/1 layout."""
    rng = np.random.default_rng(seed)
    tensors = {
        "layers.0.weight": rng.normal(0.0, 1.0 / math.sqrt(obs_dim), (256, obs_dim)),
        "layers.0.bias": rng.normal(0.0, 0.1, 256),
        "layers.1.weight": rng.normal(0.0, 1.0 / 16, (256, 256)),
        "layers.1.bias": rng.normal(0.0, 0.1, 256),
        "layers.2.weight": rng.normal(0.0, 1.0 / 16, (act_dim, 256)),
        "layers.2.bias": rng.normal(0.0, 0.1, act_dim),
    }
    tensors = {k: v.astype(np.float32) for k, v in tensors.items()}
    if drop:
        del tensors[drop]
    for k, v in (replace or {}).items():
        tensors[k] = v
    meta = {"format": "trac-policy/1", "hidden_activation": "relu", "output_activation": "tanh",
            "obs_dim": str(obs_dim), "act_dim": str(act_dim), "run_id": "test"}
    if task:
        meta["task"] = task
    meta.update(metadata or {})
    meta = {k: v for k, v in meta.items() if v is not None}
    save_file(tensors, str(path), metadata=meta)
    return path


# ----------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------


def test_task_table_matches_trac_md():
    t = resolve_task("OfflineBallCircle-v0")
    assert t is resolve_task("SafetyBallCircle-v0")
    assert (t.obs_dim, t.act_dim, t.max_episode_steps) == (8, 2, 200)
    assert t.r_max == 881.46337890625 and t.r_min == 0.38312244415283203
    run = resolve_task("SafetyBallRun-v0")
    assert (run.obs_dim, run.act_dim, run.max_episode_steps) == (7, 2, 100)
    assert run.r_max == 1327.445556640625 and run.r_min == 26.339754104614258
    assert resolve_task("OfflineCarRun-v0").r_min == 204.28726196289062
    assert len(TASKS) == 38 and len(supported_ids()) == 76


def test_unknown_task_lists_supported_ids():
    with pytest.raises(ValueError) as info:
        resolve_task("OfflineBallFly-v0")
    msg = str(info.value)
    assert "OfflineBallFly-v0" in msg
    for task_id in supported_ids():
        assert task_id in msg


def test_ids_are_case_sensitive_with_hint():
    with pytest.raises(UnknownTaskError, match="case-sensitive.*OfflineBallCircle-v0"):
        resolve_task("offlineballcircle-v0")


# ----------------------------------------------------------------------------
# normalization
# ----------------------------------------------------------------------------


def test_normalized_cost_formula():
    assert evaluator.normalized_cost(10.0, 20) == 0.5
    assert evaluator.normalized_cost(40.0, 20) == 2.0
    assert evaluator.normalized_cost(0.0, 10) == 0.0
    # threshold 0: eps = 1 on both sides (DSRL)
    assert evaluator.normalized_cost(0.0, 0) == 1.0
    assert evaluator.normalized_cost(3.0, 0) == 4.0
    assert evaluator.normalized_cost(3.0, 0.0) == 4.0


def test_normalized_reward_and_summary():
    task = resolve_task("OfflineBallCircle-v0")
    rewards = [task.r_min, task.r_max, 0.5 * (task.r_min + task.r_max)]
    costs = [0.0, 10.0, 30.0]
    [by20, by0] = evaluator.summarize(task, rewards, costs, [20, 0])
    nr = by20["normalized_reward"]["per_episode"]
    assert nr == pytest.approx([0.0, 1.0, 0.5])
    assert by20["normalized_reward"]["mean"] == pytest.approx(0.5)
    assert by20["normalized_reward"]["std"] == pytest.approx(np.std([0.0, 1.0, 0.5]))  # population std
    assert by20["normalized_cost"]["per_episode"] == [0.0, 0.5, 1.5]
    assert by20["normalized_cost"]["mean"] == pytest.approx(2.0 / 3.0)
    assert by20["safe"] is True
    assert by0["cost_threshold"] == 0
    assert by0["normalized_cost"]["per_episode"] == [1.0, 11.0, 31.0]
    assert by0["safe"] is False


def test_safe_is_inclusive_at_one():
    task = resolve_task("OfflineBallRun-v0")
    [res] = evaluator.summarize(task, [100.0, 100.0], [10.0, 30.0], [20])
    assert res["normalized_cost"]["mean"] == 1.0 and res["safe"] is True


def test_mean_std_is_population():
    s = evaluator.mean_std([1.0, 2.0, 3.0, 4.0])
    assert s["mean"] == 2.5 and s["std"] == pytest.approx(math.sqrt(1.25))


# ----------------------------------------------------------------------------
# policy files
# ----------------------------------------------------------------------------


def test_forward_pass_matches_float64_reference(tmp_path):
    path = write_policy(tmp_path / "p.safetensors", 7, 2, seed=3)
    pol = evaluator.load_policy(str(path), resolve_task("OfflineBallRun-v0"))
    obs = np.random.default_rng(1).normal(size=(5, 7)).astype(np.float32)
    w = [x.astype(np.float64) for x in pol.weights]
    h = np.maximum(obs.astype(np.float64) @ w[0].T + w[1], 0)
    h = np.maximum(h @ w[2].T + w[3], 0)
    ref = np.tanh(h @ w[4].T + w[5])
    out = pol.act(obs)
    assert out.dtype == np.float32 and out.shape == (5, 2)
    np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(drop="layers.1.bias"), "missing tensor layers.1.bias"),
    (dict(replace={"layers.1.weight": np.zeros((256, 128), np.float32)}), "layers.1.weight has shape [256, 128]"),
    (dict(replace={"layers.2.bias": np.full(2, np.nan, np.float32)}), "layers.2.bias has 2 non-finite"),
    (dict(replace={"layers.0.bias": np.zeros(256, np.float64)}), "layers.0.bias has dtype float64"),
    (dict(replace={"layers.3.weight": np.zeros((2, 2), np.float32)}), "unexpected tensor layers.3.weight"),
    (dict(metadata={"format": "other/2"}), "metadata format is 'other/2'"),
    (dict(metadata={"format": None}), "no 'format'"),
    (dict(metadata={"obs_dim": "9"}), "metadata obs_dim is 9"),
    (dict(task="OfflineBallCircle-v0"), "trained for task OfflineBallCircle-v0"),
])
def test_bad_policy_files_are_named(tmp_path, kwargs, expected):
    path = write_policy(tmp_path / "bad.safetensors", 7, 2, **kwargs)
    with pytest.raises(evaluator.PolicyError) as info:
        evaluator.load_policy(str(path), resolve_task("OfflineBallRun-v0"))
    msg = str(info.value)
    assert str(path) in msg and expected in msg


def test_policy_dims_must_match_task(tmp_path):
    path = write_policy(tmp_path / "p.safetensors", 8, 2)
    with pytest.raises(evaluator.PolicyError, match=r"layers\.0\.weight has shape \[256, 8\].*obs_dim 7"):
        evaluator.load_policy(str(path), resolve_task("SafetyBallRun-v0"))
    path = write_policy(tmp_path / "q.safetensors", 7, 3)
    with pytest.raises(evaluator.PolicyError, match=r"layers\.2\.weight .*act_dim 2"):
        evaluator.load_policy(str(path), resolve_task("SafetyBallRun-v0"))


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(evaluator.PolicyError, match="not a readable safetensors file"):
        evaluator.load_policy(str(path))
    with pytest.raises(evaluator.PolicyError, match="no such file"):
        evaluator.load_policy(str(tmp_path / "absent.safetensors"))


# ----------------------------------------------------------------------------
# processes
# ----------------------------------------------------------------------------


class Server:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, EVALUATOR, "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def send_raw(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        assert out, "evaluator closed stdout; stderr: " + self.proc.stderr.read()
        return json.loads(out)

    def send(self, req: dict) -> dict:
        return self.send_raw(json.dumps(req))

    def close(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    d = tmp_path_factory.mktemp("policies")
    return {
        "run": str(write_policy(d / "run.safetensors", 7, 2, seed=11, task="OfflineBallRun-v0")),
        "circle": str(write_policy(d / "circle.safetensors", 8, 2, seed=12)),
        "bad": str(write_policy(d / "bad.safetensors", 7, 2, metadata={"format": "nope"})),
    }


def test_serve_answers_and_keeps_serving(policies):
    s = Server()
    try:
        r = s.send({"id": 1, "op": "ping"})
        assert r["id"] == 1 and r["ok"] is True
        assert r["versions"]["bullet_safety_gym"] == "1.4.0" and r["versions"]["gymnasium"].startswith("0.28")

        r = s.send_raw("this is not json")
        assert r == {"id": None, "ok": False, "error": r["error"]} and "not valid JSON" in r["error"]
        r = s.send_raw('{"id": 8, "op": "ping", "x": NaN}')
        assert r["id"] is None and not r["ok"] and "NaN" in r["error"]
        r = s.send({"id": "u", "op": "fly"})
        assert r["id"] == "u" and not r["ok"] and "unknown op" in r["error"]
        r = s.send({"id": 2, "op": "evaluate", "task": "OfflineBallRun-v0", "cost_thresholds": [20]})
        assert not r["ok"] and "missing field 'policy'" in r["error"]
        r = s.send({"id": 3, "op": "evaluate", "policy": policies["bad"], "task": "OfflineBallRun-v0",
                    "cost_thresholds": [20]})
        assert not r["ok"] and policies["bad"] in r["error"] and "format" in r["error"]
        r = s.send({"id": 4, "op": "evaluate", "policy": policies["run"], "task": "OfflineBallFly-v0",
                    "cost_thresholds": [20]})
        assert not r["ok"] and "OfflineBallRun-v0" in r["error"] and "SafetyDroneRun-v0" in r["error"]
        r = s.send({"id": 5, "op": "evaluate", "policy": policies["run"], "task": "OfflineBallRun-v0",
                    "cost_thresholds": [-1]})
        assert not r["ok"] and "cost_thresholds[0]" in r["error"]
        r = s.send({"id": 6, "op": "evaluate", "policy": policies["run"], "task": "OfflineBallRun-v0",
                    "cost_thresholds": [20], "episodes": 0})
        assert not r["ok"] and "episodes" in r["error"]
        r = s.send({"id": 7, "op": "actions", "policy": policies["run"], "observations": [[0.0] * 8]})
        assert not r["ok"] and "observations[0]" in r["error"]

        # still serving: a real evaluation
        r = s.send({"id": {"run": "x"}, "op": "evaluate", "policy": policies["run"], "task": "SafetyBallRun-v0",
                    "cost_thresholds": [10, 0], "episodes": 2, "seed": 3})
        assert r["ok"] is True and r["id"] == {"run": "x"}
        assert r["task"] == "SafetyBallRun-v0" and r["dsrl_task"] == "OfflineBallRun-v0"
        assert r["episodes"] == 2 and r["seed"] == 3 and r["episode_lengths"] == [100, 100]
        assert [b["cost_threshold"] for b in r["by_threshold"]] == [10, 0]
        for b in r["by_threshold"]:
            want = [evaluator.normalized_cost(c, b["cost_threshold"]) for c in r["cost_returns"]]
            assert b["normalized_cost"]["per_episode"] == want
            assert b["safe"] == (np.mean(want) <= 1)
        assert r["reward_return"]["mean"] == pytest.approx(np.mean(r["reward_returns"]))
    finally:
        code, rest, err = s.close()
    assert code == 0 and rest == ""


def test_actions_op_is_the_numpy_forward_pass(policies):
    obs = np.random.default_rng(5).normal(size=(4, 7)).astype(np.float32)
    s = Server()
    try:
        r = s.send({"id": 9, "op": "actions", "policy": policies["run"], "observations": obs.tolist()})
    finally:
        s.close()
    assert r["ok"] is True
    pol = evaluator.load_policy(policies["run"])
    want = np.stack([pol.act_one(o) for o in obs])
    assert np.array(r["actions"], dtype=np.float32).tolist() == want.tolist()


def test_evaluation_is_repeatable(policies):
    req = {"op": "evaluate", "policy": policies["run"], "task": "OfflineBallRun-v0",
           "cost_thresholds": [20], "episodes": 3, "seed": 0}
    s = Server()
    try:
        first = s.send({"id": 1, **req})
        # something else on the same cached simulator in between
        other = s.send({"id": 2, **req, "policy": policies["circle"], "task": "OfflineBallCircle-v0", "episodes": 1})
        again = s.send({"id": 3, **req})
        tail = s.send({"id": 4, **req, "episodes": 2, "seed": 1})
    finally:
        s.close()
    assert first["ok"] and other["ok"] and again["ok"] and tail["ok"]
    keys = ("reward_returns", "cost_returns", "episode_lengths", "reward_return", "cost_return", "by_threshold")
    for k in keys:
        assert first[k] == again[k], k
    # episode i is seeded with seed + i
    assert tail["reward_returns"] == first["reward_returns"][1:]
    assert tail["cost_returns"] == first["cost_returns"][1:]
    # a fresh process (the CLI) gives the same numbers
    cli = subprocess.run([sys.executable, EVALUATOR, "evaluate", policies["run"], "--task", "SafetyBallRun-v0",
                          "--cost-threshold", "20", "--episodes", "3", "--seed", "0"],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    for k in keys:
        assert out[k] == first[k], k


def test_cli_bad_input_exits_2(policies):
    cli = subprocess.run([sys.executable, EVALUATOR, "evaluate", policies["bad"], "--task", "OfflineBallRun-v0",
                          "--cost-threshold", "20"], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and cli.stdout == ""
    assert policies["bad"] in cli.stderr and "format" in cli.stderr
    cli = subprocess.run([sys.executable, EVALUATOR, "evaluate", policies["run"], "--task",
                          "OfflineMetadrive-easysparse-v1", "--cost-threshold", "20"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and cli.stdout == "" and "unknown task 'OfflineMetadrive-easysparse-v1'" in cli.stderr
