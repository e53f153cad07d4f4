"""The Safety-Gymnasium tasks: the task table against DSRL's values, and the evaluator
in .venv-safety-gymnasium (Python 3.10, MuJoCo) on every task.

Run with: .venv/bin/python -m pytest scripts/tests/test_safety_gymnasium.py
(scripts/setup.sh builds .venv-safety-gymnasium; TRAC_SAFETY_GYMNASIUM_PYTHON names another one).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1]
ROOT = SCRIPTS.parent
sys.path.insert(0, str(SCRIPTS))

from test_evaluator import write_policy  # noqa: E402
from trac_tasks import BULLET_GYM, SAFETY_GYMNASIUM, TASKS, UnknownTaskError, resolve_task  # noqa: E402

EVALUATOR = str(SCRIPTS / "evaluator.py")
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "dsrl_tasks.json"
SG_PYTHON = os.environ.get("TRAC_SAFETY_GYMNASIUM_PYTHON", str(ROOT / ".venv-safety-gymnasium" / "bin" / "python"))
SG_TASKS = [t for t in TASKS if t.family == SAFETY_GYMNASIUM]
# One episode of every task costs about 2 minutes of CPU here (a navigation episode is 1,000 MuJoCo
# steps with the lidar computed in Python, and every reset rebuilds the world), so by default the
# level-2 navigation tasks, which differ from level 1 only in their layout, are made (shapes
# checked against the table) but not rolled out; TRAC_TEST_EVERY_SAFETY_GYMNASIUM_TASK=1 rolls
# out all 21.
EVERY_TASK = os.environ.get("TRAC_TEST_EVERY_SAFETY_GYMNASIUM_TASK") == "1"
ROLLED_OUT = [t for t in SG_TASKS if EVERY_TASK or not t.name.endswith("2")]
MADE_ONLY = [t for t in SG_TASKS if t not in ROLLED_OUT]

needs_sg = pytest.mark.skipif(
    not os.access(SG_PYTHON, os.X_OK),
    reason=f"{SG_PYTHON} is missing: scripts/setup.sh builds it when a Python 3.10 interpreter exists")


# ----------------------------------------------------------------------------
# The table against DSRL's source
# ----------------------------------------------------------------------------


def test_task_table_equals_dsrl_values():
    fixture = json.loads(FIXTURE.read_text())
    assert "dsrl/infos.py" in fixture["source"]
    expected = {t["dsrl_id"]: t for t in fixture["tasks"]}
    assert sorted(expected) == sorted(t.dsrl_id for t in TASKS)
    for task in TASKS:
        want = expected[task.dsrl_id]
        got = (task.simulator_id, task.family, task.obs_dim, task.act_dim, task.max_episode_steps,
               task.r_max, task.r_min)
        assert got == (want["simulator_id"], want["family"], want["obs_dim"], want["act_dim"],
                       want["max_episode_steps"], float(want["max_episode_reward"]),
                       float(want["min_episode_reward"])), task.dsrl_id
    assert len(SG_TASKS) == 21 and len([t for t in TASKS if t.family == BULLET_GYM]) == 8
    assert len(TASKS) == 38  # all of DSRL's tasks (the nine MetaDrive ones: scripts/tests/test_metadrive.py)


def test_safety_gymnasium_ids_resolve():
    task = resolve_task("OfflineCarButton1Gymnasium-v0")
    assert task is resolve_task("SafetyCarButton1Gymnasium-v0")
    assert (task.obs_dim, task.act_dim, task.max_episode_steps) == (88, 2, 1000)
    velocity = resolve_task("OfflineAntVelocityGymnasium-v1")
    assert (velocity.simulator_id, velocity.obs_dim, velocity.act_dim) == ("SafetyAntVelocityGymnasium-v1", 27, 8)
    with pytest.raises(UnknownTaskError, match="case-sensitive"):
        resolve_task("offlinecarbutton1gymnasium-v0")


# ----------------------------------------------------------------------------
# The evaluator on every task
# ----------------------------------------------------------------------------


def serve(python: str, requests: list[dict], timeout: float = 1800) -> list[dict]:
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([python, EVALUATOR, "serve"], input=lines, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(requests), proc.stderr[-3000:]
    return answers


def evaluate_request(task, policy: Path, seed: int = 0, request_id=None, episodes: int = 1) -> dict:
    return {"id": request_id or task.dsrl_id, "op": "evaluate", "policy": str(policy), "task": task.dsrl_id,
            "cost_thresholds": [20, 0], "episodes": episodes, "seed": seed}


# PointCircle1 is evaluated from seed 1 in the first process, so that the second can check seed + i.
FIRST_SEED = {"OfflinePointCircle1Gymnasium-v0": 1}


@pytest.fixture(scope="module")
def policies(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("sg-policies")
    return {t.dsrl_id: write_policy(directory / f"{t.name}.safetensors", t.obs_dim, t.act_dim, seed=7,
                                    task=t.dsrl_id) for t in SG_TASKS}


@pytest.fixture(scope="module")
def every_task(policies) -> dict[str, dict]:
    """One episode of a random-weights policy on every rolled-out task, in one long-lived evaluator."""
    requests = [evaluate_request(t, policies[t.dsrl_id], seed=FIRST_SEED.get(t.dsrl_id, 0)) for t in ROLLED_OUT]
    return {a["id"]: a for a in serve(SG_PYTHON, requests)}


@needs_sg
@pytest.mark.parametrize("task", ROLLED_OUT, ids=[t.name for t in ROLLED_OUT])
def test_every_task_evaluates_one_episode_with_finite_normalized_numbers(task, every_task):
    answer = every_task[task.dsrl_id]
    assert answer["ok"], answer.get("error")
    assert answer["task"] == task.simulator_id and answer["dsrl_task"] == task.dsrl_id
    (reward,), (cost,), (length,) = answer["reward_returns"], answer["cost_returns"], answer["episode_lengths"]
    assert 1 <= length <= task.max_episode_steps
    if task.agent not in ("Hopper", "Walker2d", "Ant"):  # only those can fall and end early
        assert length == task.max_episode_steps
    at20, at0 = answer["by_threshold"]
    assert at20["cost_threshold"] == 20 and at0["cost_threshold"] == 0
    nr = at20["normalized_reward"]["per_episode"][0]
    assert math.isfinite(nr) and nr == pytest.approx((reward - task.r_min) / (task.r_max - task.r_min), abs=1e-12)
    assert at20["normalized_cost"]["per_episode"][0] == pytest.approx(cost / 20, abs=1e-12)
    assert at0["normalized_cost"]["per_episode"][0] == pytest.approx(cost + 1, abs=1e-12)
    assert at20["safe"] == (cost <= 20)


@needs_sg
def test_numbers_repeat_in_another_process_with_seed_plus_index_whatever_ran_before(every_task, policies):
    """A second process with another history gives the first one's numbers: episode 1 of a request
    from seed 0 is the first process's episode from seed 1; and a task evaluated again after others
    (its environment cached, and then other tasks in between) gives the same numbers again."""
    by_id = {t.dsrl_id: t for t in SG_TASKS}
    circle, hopper = "OfflinePointCircle1Gymnasium-v0", "OfflineHopperVelocityGymnasium-v1"
    requests = [
        evaluate_request(by_id[circle], policies[circle], seed=0, episodes=2, request_id="two"),
        evaluate_request(by_id[hopper], policies[hopper], request_id="hopper"),
        evaluate_request(by_id[circle], policies[circle], seed=1, request_id="again"),
    ]
    two, hop, again = serve(SG_PYTHON, requests)
    for answer in (two, hop, again):
        assert answer["ok"], answer.get("error")
    first = every_task[circle]
    assert two["reward_returns"][1] == first["reward_returns"][0]
    assert two["cost_returns"][1] == first["cost_returns"][0]
    for name, answer in ((hopper, hop), (circle, again)):
        for key in ("reward_returns", "cost_returns", "episode_lengths", "by_threshold"):
            assert answer[key] == every_task[name][key], (name, key)


@needs_sg
def test_the_tasks_not_rolled_out_are_made_with_the_tables_shapes():
    if not MADE_ONLY:
        pytest.skip("every task is rolled out")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import evaluator, trac_tasks\n"
            "for name in sys.argv[2:]:\n"
            "    evaluator.make_env(trac_tasks.resolve_task(name))  # raises unless the shapes are the table's\n"
            "    print(name)\n")
    proc = subprocess.run([SG_PYTHON, "-c", code, str(SCRIPTS)] + [t.dsrl_id for t in MADE_ONLY],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [t.dsrl_id for t in MADE_ONLY]


@needs_sg
def test_bullet_task_in_the_safety_gymnasium_python_is_refused_clearly(tmp_path):
    policy = write_policy(tmp_path / "ball.safetensors", 8, 2)
    answer = serve(SG_PYTHON, [evaluate_request(resolve_task("OfflineBallCircle-v0"), policy)])[0]
    assert not answer["ok"]
    assert "Bullet-Safety-Gym task" in answer["error"] and ".venv/bin/python" in answer["error"]


def test_safety_gymnasium_task_in_the_bullet_python_is_refused_clearly(tmp_path):
    task = resolve_task("OfflinePointGoal1Gymnasium-v0")
    policy = write_policy(tmp_path / "point.safetensors", task.obs_dim, task.act_dim)
    proc = subprocess.run([sys.executable, EVALUATOR, "evaluate", str(policy), "--task", task.dsrl_id,
                           "--cost-threshold", "20", "--episodes", "1"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Safety-Gymnasium task" in proc.stderr and ".venv-safety-gymnasium/bin/python" in proc.stderr
    assert "Traceback" not in proc.stderr
