"""Tests of scripts/demo_verdict.py: the demo's verdict says, seed by seed, what a report shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]
VERDICT = str(SCRIPTS / "demo_verdict.py")
TASK = "OfflineBallCircle-v0"


def run(label, algorithm, seed, reward, cost):
    return {"run_id": f"{label}-{seed}", "task": TASK, "algorithm": algorithm, "label": label,
            "varied": {}, "cost_threshold": 20, "seed": seed, "normalized_reward": reward,
            "normalized_cost": cost, "safe": cost <= 1}


def summary(trac_rewards, trac_costs, bc_safe_rewards, reward_range=0.1, reward_seed_std=0.02):
    labels = ["trac x=0.25", "trac x=0.5"]
    runs = []
    for index, label in enumerate(labels):
        for seed_index, seed in enumerate([0, 10]):
            runs.append(run(label, "trac", seed, trac_rewards[index][seed_index], trac_costs[index][seed_index]))
    for seed_index, seed in enumerate([0, 10]):
        runs.append(run("bc_all", "bc_all", seed, 0.6, 1.5))
        runs.append(run("bc_safe", "bc_safe", seed, bc_safe_rewards[seed_index], 0.2))
    settings = [{"task": TASK, "algorithm": algorithm, "label": label}
                for label, algorithm in [(labels[0], "trac"), (labels[1], "trac"), ("bc_all", "bc_all"),
                                         ("bc_safe", "bc_safe")]]
    curve = {"hyperparameter": "x", "values": [0.25, 0.5], "labels": labels,
             "reward": {"means": [0.3, 0.4], "stds": [0.02, 0.02], "range": reward_range,
                        "seed_std": reward_seed_std},
             "cost": {"means": [0.0, 0.0], "stds": [0.0, 0.0], "range": 0.0, "seed_std": 0.0}}
    return {"format": "trac-sweep-report/1", "sweep": {"tasks": [TASK]}, "settings": settings,
            "sensitivity": [{"task": TASK, "design": "one_at_a_time", "curves": [curve]}], "runs": runs}


def verdict(tmp_path, data):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(data))
    result = subprocess.run([sys.executable, VERDICT, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_seed_shown(tmp_path):
    out = verdict(tmp_path, summary([[0.3, 0.32], [0.4, 0.42]], [[0.0, 0.1], [0.2, 0.0]], [0.1, 0.15]))
    assert "trac x=0.25: safe in 2/2 seeds (cost 0.05), reward 0.31 vs BC-Safe 0.12, above it in 2/2 seeds" in out
    assert "BC-All: reward 0.60, cost 1.50, unsafe in 2/2 seeds" in out
    assert "x [0.25, 0.5]: reward effect 5.0x the seed std" in out
    assert "cost range 0.00, no seed noise measured" in out
    assert "shown in every one of the 2 seeds: each TraC setting is safe with a reward above BC-Safe's, and the effect of x (on reward) stands above the seed noise." in out
    assert "not shown" not in out
    # The per-seed table marks unsafe runs.
    assert "1.50 !" in out


def test_an_unsafe_seed_or_a_weak_effect_is_not_hidden(tmp_path):
    unsafe = verdict(tmp_path, summary([[0.3, 0.32], [0.4, 0.42]], [[0.0, 1.3], [0.2, 0.0]], [0.1, 0.15]))
    assert "trac x=0.25: safe in 1/2 seeds" in unsafe
    assert "not shown in every seed: trac x=0.25 is not safe in every one of the seeds" in unsafe
    below = verdict(tmp_path, summary([[0.3, 0.12], [0.4, 0.42]], [[0.0, 0.0], [0.0, 0.0]], [0.1, 0.15]))
    assert "above it in 1/2 seeds" in below
    assert "trac x=0.25 does not beat BC-Safe" in below
    noise = verdict(tmp_path, summary([[0.3, 0.32], [0.4, 0.42]], [[0.0, 0.0], [0.0, 0.0]], [0.1, 0.15],
                                      reward_range=0.03, reward_seed_std=0.02))
    assert "reward within noise 1.5x the seed std" in noise
    assert "no varied hyperparameter has an effect above the seed noise" in noise


def test_not_a_summary_is_refused(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"format": "other"}))
    result = subprocess.run([sys.executable, VERDICT, str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "not a report summary" in result.stderr
