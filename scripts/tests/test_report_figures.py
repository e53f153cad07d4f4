"""Tests of scripts/report_figures.py: the figures a report lists, valid files, determinism, bad input."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1]
FIGURES = str(SCRIPTS / "report_figures.py")
sys.path.insert(0, str(SCRIPTS))
import report_figures  # noqa: E402
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASK = "OfflineBallCircle-v0"
BASE = {"x": 0.5, "y": 0.0, "alpha": 0.2, "eta": 0.25, "beta": 0.7, "gamma": 0.99, "seg_ratio": 1.0,
        "batch_size": 32, "lr": 1e-4, "bc_steps": 600, "steps": 1500}


def ms(mean, std):
    return {"mean": mean, "std": std}


def setting(label, algorithm, varied, reward, cost, runs=6, best=False, task=TASK):
    return {"task": task, "algorithm": algorithm, "point": "p", "label": label, "varied": varied,
            "hyperparameters": {**BASE, **varied}, "runs": runs, "expected": 6,
            "reward": reward, "cost": cost, "safe_share": None if cost.get("mean") is None else 0.5,
            "safe": None if cost.get("mean") is None else cost["mean"] <= 1, "best_safe": best,
            "by_threshold": []}


def run(label, varied, reward, cost, seed, algorithm="trac", task=TASK):
    return {"run_id": f"{seed:016x}", "task": task, "algorithm": algorithm, "label": label, "varied": varied,
            "cost_threshold": 20, "seed": seed, "normalized_reward": reward, "normalized_cost": cost,
            "safe": cost <= 1}


def sweep(design, vary, tasks=(TASK,)):
    return {"id": "1a2b3c4d", "name": "test", "design": design, "tasks": list(tasks),
            "algorithms": ["trac", "bc_all", "bc_safe"], "cost_thresholds": [10, 20], "seeds": [0, 1, 2],
            "base": BASE, "vary": [{"name": k, "values": v} for k, v in vary.items()]}


def one_at_a_time() -> dict:
    alphas, etas = [0.1, 0.2, 0.5], [0.1]  # eta: a single value, no run recorded yet
    settings, runs = [], []
    for i, a in enumerate(alphas):
        settings.append(setting(f"trac alpha={a}", "trac", {"alpha": a}, ms(0.3 + 0.02 * i, 0.02),
                                ms(0.8 + 0.15 * i, 0.1), best=(i == 1)))
        runs += [run(f"trac alpha={a}", {"alpha": a}, 0.3 + 0.02 * i + 0.01 * s, 0.8 + 0.15 * i + 0.05 * s, s)
                 for s in range(3)]
    settings.append(setting("trac eta=0.1", "trac", {"eta": 0.1}, ms(None, None), {}, runs=0))
    settings.append(setting("bc_all", "bc_all", {}, ms(0.4, 0.05), ms(1.6, 0.3)))
    settings.append(setting("bc_safe", "bc_safe", {}, ms(0.2, 0.05), ms(0.5, 0.2)))
    runs += [run("bc_all", {}, 0.4, 1.6, 7, "bc_all"), run("bc_safe", {}, 0.2, 0.5, 8, "bc_safe")]

    def curve(hp, values, rmeans, cmeans):
        return {"hyperparameter": hp, "values": values, "labels": [f"trac {hp}={v}" for v in values],
                "reward": {"means": rmeans, "stds": [0.02] * len(values), "range": 0.04, "seed_std": 0.018},
                "cost": {"means": cmeans, "stds": [0.1] * len(values), "range": 0.3, "seed_std": 0.05}}

    sensitivity = [{"task": TASK, "design": "one_at_a_time",
                    "curves": [curve("alpha", alphas, [0.3, 0.32, 0.34], [0.8, 0.95, 1.1]),
                               curve("eta", etas, [None], [None])],
                    "anova": None,
                    "baselines": [{"label": "bc_all", "reward": ms(0.4, 0.05), "cost": ms(1.6, 0.3)},
                                  {"label": "bc_safe", "reward": ms(0.2, 0.05), "cost": ms(0.5, 0.2)}]}]
    return {"format": "trac-sweep-report/1", "generated_at": "2026-11-26T02:00:00Z",
            "sweep": sweep("one_at_a_time", {"alpha": alphas, "eta": etas}),
            "completeness": {"expected": 36, "recorded": 36, "complete": True, "missing": []},
            "settings": settings, "sensitivity": sensitivity, "runs": runs}


def product() -> dict:
    alphas, etas = [0.1, 0.5], [0.1, 0.25, 1.0]
    settings, runs = [], []
    reward = [[0.30, 0.31, 0.35], [0.29, 0.33, 0.40]]
    cost = [[0.90, 1.10, 0.70], [0.80, 1.20, 1.50]]
    for i, a in enumerate(alphas):
        for j, e in enumerate(etas):
            label = f"trac alpha={a} eta={e}"
            varied = {"alpha": a, "eta": e}
            settings.append(setting(label, "trac", varied, ms(reward[i][j], 0.02), ms(cost[i][j], 0.1),
                                    best=(i, j) == (0, 2)))
            runs += [run(label, varied, reward[i][j] + 0.01 * s, cost[i][j] - 0.02 * s, s) for s in range(3)]
    anova = {"complete": True, "missing_cells": [],
             "reward": {"variance": 0.0012, "main": {"eta": 0.30, "alpha": 0.61},
                        "pairs": [{"hyperparameters": ["alpha", "eta"], "share": 0.09}]},
             "cost": {"variance": 0.05, "main": {"alpha": 0.1, "eta": 0.8},
                      "pairs": [{"hyperparameters": ["alpha", "eta"], "share": 0.1}]},
             "heatmaps": [{"hyperparameters": ["alpha", "eta"], "values": [alphas, etas],
                           "reward": reward, "cost": cost}]}
    return {"format": "trac-sweep-report/1", "generated_at": "2026-11-26T02:00:00Z",
            "sweep": sweep("product", {"alpha": alphas, "eta": etas}),
            "completeness": {"expected": 18, "recorded": 18, "complete": True, "missing": []},
            "settings": settings,
            "sensitivity": [{"task": TASK, "design": "product", "curves": [], "anova": anova, "baselines": []}],
            "runs": runs}


def partial() -> dict:
    """A product sweep with a missing cell, null means, absent fields, and a second task with BC only."""
    doc = product()
    other = "Car/Run v0"  # BC settings only, and a name that is no file name
    doc["sweep"]["tasks"].append(other)
    doc["completeness"]["complete"] = False
    doc["settings"][5]["reward"] = {"mean": None, "std": None}
    doc["settings"][5]["cost"] = {}
    doc["settings"][5]["runs"] = 0
    del doc["settings"][4]["safe_share"]
    doc["runs"] = [r for r in doc["runs"] if r["label"] != doc["settings"][5]["label"]]
    anova = doc["sensitivity"][0]["anova"]
    anova["complete"] = False
    anova["missing_cells"] = ["alpha=0.5 eta=1"]
    anova["reward"] = {"variance": None, "main": {}, "pairs": []}
    del anova["cost"]
    anova["heatmaps"][0]["reward"][1][2] = None
    anova["heatmaps"][0]["cost"][1][2] = None
    doc["settings"].append(setting("bc_all", "bc_all", {}, ms(0.4, 0.0), ms(1.3, 0.0), runs=1, task=other))
    doc["settings"].append(setting("bc_safe", "bc_safe", {}, ms(None, None), ms(None, None), runs=0, task=other))
    doc["runs"].append(run("bc_all", {}, 0.4, 1.3, 3, "bc_all", task=other))
    doc["sensitivity"].append({"task": other, "design": "product", "curves": [], "anova": None,
                               "baselines": [{"label": "bc_all", "reward": ms(0.4, 0.0), "cost": ms(1.3, 0.0)}]})
    return doc


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def draw(doc: dict, tmp: Path, name: str = "a", subprocess_run: bool = False) -> tuple[Result, Path]:
    """Runs report_figures.py on `doc`: in this process (matplotlib imported once, fast), or as the command."""
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(doc))
    out = tmp / f"{name}-figures"
    args = [str(path), "--out", str(out)]
    if subprocess_run:
        res = subprocess.run([sys.executable, FIGURES, *args], capture_output=True, text=True, timeout=300)
        return Result(res.returncode, res.stdout, res.stderr), out
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = report_figures.main(args)
    return Result(code, stdout.getvalue(), stderr.getvalue()), out


def check_files(out: Path) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    figures = manifest["figures"]
    for fig in figures:
        assert set(fig) == {"name", "task", "kind", "title", "caption", "png", "svg"}
        assert fig["png"] == fig["name"] + ".png" and fig["svg"] == fig["name"] + ".svg"
        assert fig["title"] and fig["caption"].endswith(".")
        png = (out / fig["png"]).read_bytes()
        assert png.startswith(PNG_SIGNATURE), fig["png"]
        root = ET.parse(out / fig["svg"]).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg", fig["svg"]
    return figures


def test_one_at_a_time(tmp_path):
    res, out = draw(one_at_a_time(), tmp_path)
    assert res.returncode == 0, res.stderr
    figures = check_files(out)
    t = "OfflineBallCircle-v0"
    assert [f["name"] for f in figures] == [f"sensitivity_{t}_alpha", f"sensitivity_{t}_eta", f"variance_{t}",
                                            f"scatter_{t}", f"parallel_{t}"]
    assert [f["kind"] for f in figures] == ["sensitivity", "sensitivity", "variance", "scatter", "parallel"]
    assert res.stdout.startswith("5 figures")
    svg = (out / f"sensitivity_{t}_alpha.svg").read_text()
    # the values are the categorical tick labels, the baselines are labelled, the noise is compared
    for needle in ("0.1", "0.5", "bc_all (0.400)", "bc_safe (0.200)", "cost = 1", "seed std 0.018",
                   "effect 2.2x the seed std", "effect 6.0x the seed std"):
        assert needle in svg, needle
    assert "<dc:date>" not in svg  # no timestamp
    assert "best safe: trac alpha=0.2" in (out / f"scatter_{t}.svg").read_text()
    assert "no runs" in (out / f"sensitivity_{t}_eta.svg").read_text()  # one value, nothing recorded


def test_product_with_heatmap_and_identical_reruns(tmp_path):
    res, out = draw(product(), tmp_path, "a", subprocess_run=True)
    assert res.returncode == 0, res.stderr
    figures = check_files(out)
    t = "OfflineBallCircle-v0"
    assert [f["name"] for f in figures] == [f"variance_{t}", f"heatmap_{t}_alpha_eta", f"scatter_{t}",
                                            f"parallel_{t}"]
    heat = (out / f"heatmap_{t}_alpha_eta.svg").read_text()
    for value in ("0.310", "1.500", "0.400"):  # every cell annotated
        assert value in heat
    variance = (out / f"variance_{t}.svg").read_text()
    assert "0.61" in variance and "alpha × eta" in variance and "not computed" not in variance
    again, out2 = draw(product(), tmp_path, "b")
    assert again.returncode == 0, again.stderr
    for f in figures:
        assert (out / f["svg"]).read_bytes() == (out2 / f["svg"]).read_bytes(), f["svg"]
        assert (out / f["png"]).read_bytes() == (out2 / f["png"]).read_bytes(), f["png"]
    assert (out / "manifest.json").read_bytes() == (out2 / "manifest.json").read_bytes()


def test_partial_summary(tmp_path):
    res, out = draw(partial(), tmp_path)
    assert res.returncode == 0, res.stderr
    figures = check_files(out)
    t, o = "OfflineBallCircle-v0", "Car-Run-v0"
    assert [f["name"] for f in figures] == [f"variance_{t}", f"heatmap_{t}_alpha_eta", f"scatter_{t}",
                                            f"parallel_{t}", f"scatter_{o}", f"parallel_{o}"]
    variance = next(f for f in figures if f["kind"] == "variance")
    assert "incomplete" in variance["title"] and "1 cell missing" in variance["title"]
    assert "no runs" in (out / f"heatmap_{t}_alpha_eta.svg").read_text()  # the null cell
    assert [f["task"] for f in figures[-2:]] == ["Car/Run v0"] * 2
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".svg") == sorted(f["svg"] for f in figures)


def test_slug():
    assert report_figures.slug("Car/Run v0") == "Car-Run-v0"
    assert report_figures.slug("../..") == "x"
    assert report_figures.slug("seg_ratio") == "seg_ratio"


@pytest.mark.parametrize("mutate, named", [
    (lambda d: d.update(format="trac-sweep-report/2"), "summary.format"),
    (lambda d: d.pop("runs"), "summary.runs"),
    (lambda d: d["sweep"].pop("tasks"), "summary.sweep.tasks"),
    (lambda d: d["settings"][2].pop("label"), "summary.settings[2].label"),
    (lambda d: d["sensitivity"][0]["curves"][1]["reward"].update(means=[0.1, 0.2]),
     "summary.sensitivity[0].curves[1].reward.means"),
    (lambda d: d["runs"][0].update(normalized_cost="high"), "summary.runs[0].normalized_cost"),
])
def test_malformed_summary_exits_2_naming_the_key(tmp_path, mutate, named):
    doc = copy.deepcopy(one_at_a_time())
    mutate(doc)
    res, out = draw(doc, tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert named in res.stderr
    assert not out.exists()  # nothing written


def test_not_json_exits_2(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text("{not json")
    res = subprocess.run([sys.executable, FIGURES, str(bad), "--out", str(tmp_path / "f")], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 2 and "not JSON" in res.stderr
    assert not (tmp_path / "f").exists()
