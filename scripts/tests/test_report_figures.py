"""Tests of scripts/report_figures.py: the figures a report lists, valid files, determinism, bad input."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
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
    # the values are the tick labels, the baselines are labelled, the noise is compared
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


# ---------------------------------------------------------------------------------------------
# What the figures show: numeric value axes, whole error bars, labels that never overprint


def wide_curve_summary() -> dict:
    """alpha over 0.01 .. 2 (a log axis), big error bars, six close settings for the parallel labels."""
    doc = one_at_a_time()
    alphas = [0.01, 0.02, 0.05, 0.2, 1.0, 2.0]
    settings = [setting(f"trac alpha={a}", "trac", {"alpha": a}, ms(0.3 + 0.01 * i, 0.05),
                        ms(0.95 + 0.005 * i, 0.4), best=(i == 1)) for i, a in enumerate(alphas)]
    doc["settings"] = settings + [s for s in doc["settings"] if s["algorithm"] != "trac"]
    c = doc["sensitivity"][0]["curves"][0]
    c.update(values=alphas, labels=[f"trac alpha={a}" for a in alphas])
    c["reward"].update(means=[0.3, 0.31, 0.29, 0.5, 0.32, 0.33], stds=[0.05, 0.3, 0.02, 0.2, 0.02, 0.02])
    c["cost"].update(means=[0.95, 0.96, 0.97, 0.98, 2.5, 0.9], stds=[0.4] * 6)
    return doc


def learning(doc: dict, labels: list[str]) -> dict:
    steps = list(range(600, 1501, 100))
    doc["learning_curves"] = [{"task": TASK, "runs": 3 * len(labels), "runs_read": 3 * len(labels), "problem": None,
                               "settings": [{"label": label, "runs": 3, "steps": steps,
                                             "loss": {"means": [1.0 / (1 + s / 500) + k for s in steps],
                                                      "stds": [0.05] * len(steps)},
                                             "accuracy": {"means": [0.5 + s / 4000 for s in steps],
                                                          "stds": [0.02] * len(steps)}}
                                            for k, label in enumerate(labels)]}]
    return doc


def test_value_axes_are_numeric_and_log_when_the_values_span_more_than_4x():
    x, is_numeric, log = report_figures.value_axis([0.01, 0.2, 1.0])
    assert is_numeric and log and list(x) == [0.01, 0.2, 1.0]
    assert report_figures.value_axis([0.1, 0.2, 0.4])[1:] == (True, False)
    assert report_figures.value_axis(["bc", "uniform"])[1:] == (False, False)
    task = report_figures.parse(wide_curve_summary()).tasks[0]
    fig, _, _ = report_figures.sensitivity_figure(task, task.curves[0])
    fig.canvas.draw()
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == ["0.01", "0.02", "0.05", "0.2", "1", "2"], ticks
        # positions are the values: 0.2 sits 3/4 of the way from 0.01 to 2 on the log axis, not at 3/5
        assert math.isclose(ax.get_xticks()[3], 0.2)
    report_figures.plt.close(fig)


def test_error_bars_are_whole_and_no_label_lies_on_the_data():
    task = report_figures.parse(wide_curve_summary()).tasks[0]
    fig, _, _ = report_figures.sensitivity_figure(task, task.curves[0])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax, metric in zip(fig.axes, (task.curves[0].reward, task.curves[0].cost)):
        lo, hi = ax.get_ylim()
        for mean, std in zip(metric.means, metric.stds):
            assert lo < mean - std and mean + std < hi, (ax.get_title(), mean, std, lo, hi)
        # the legend and the noise verdict are outside the plotting area
        area = ax.get_window_extent(renderer)
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.y1 <= area.y0, "the legend overlaps the plot"
        assert "seed std" in ax.get_title()
        assert not [t for t in ax.texts if "seed std" in t.get_text()]
    report_figures.plt.close(fig)


def _overlaps(boxes) -> list:
    return [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a[1].x0 < b[1].x1 and b[1].x0 < a[1].x1 and a[1].y0 < b[1].y1 and b[1].y0 < a[1].y1]


def test_parallel_coordinates_labels_never_overprint(tmp_path):
    doc = wide_curve_summary()
    # twelve settings whose costs all but coincide
    doc["settings"] = [setting(f"trac alpha=0.{k:02d}", "trac", {"alpha": 0.01 * (k + 1)}, ms(0.3, 0.01),
                               ms(0.95 + 0.001 * k, 0.1)) for k in range(12)]
    task = report_figures.parse(doc).tasks[0]
    fig, _, _ = report_figures.parallel_figure(task, ["alpha"])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_text()]
    assert len([b for b in boxes if b[0].startswith("trac alpha=")]) == 12
    assert not _overlaps(boxes), _overlaps(boxes)
    report_figures.plt.close(fig)
    assert report_figures.spread([0.5, 0.5, 0.5], 0.1, 0, 1) == pytest.approx([0.5, 0.6, 0.7])
    assert report_figures.spread([1.0, 1.0], 0.1, 0, 1) == pytest.approx([0.9, 1.0])


def test_learning_curves_figure_only_when_the_summary_has_them(tmp_path):
    labels = ["trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5"]
    res, out = draw(learning(one_at_a_time(), labels), tmp_path, "with")
    assert res.returncode == 0, res.stderr
    figures = check_files(out)
    t = "OfflineBallCircle-v0"
    assert figures[-1]["name"] == f"learning_{t}" and figures[-1]["kind"] == "learning"
    svg = (out / f"learning_{t}.svg").read_text()
    for needle in ("TraC loss", "TraC accuracy", "step", *(f"{label} (3 runs)" for label in labels)):
        assert needle in svg, needle
    res, out = draw(one_at_a_time(), tmp_path, "without")
    assert "learning" not in {f["kind"] for f in check_files(out)}
    bad = learning(one_at_a_time(), labels)
    bad["learning_curves"][0]["settings"][1]["loss"]["means"] = [0.1]
    res, out = draw(bad, tmp_path, "bad")
    assert res.returncode == 2 and "summary.learning_curves[0].settings[1].loss.means" in res.stderr


def test_two_logged_steps_are_points_and_a_note_never_a_line():
    labels = ["trac x=0.25", "trac x=0.5"]
    doc = learning(one_at_a_time(), labels)
    for setting in doc["learning_curves"][0]["settings"]:
        setting["steps"] = [800, 1500]
        for key in ("loss", "accuracy"):
            setting[key]["means"] = setting[key]["means"][:2]
            setting[key]["stds"] = setting[key]["stds"][:2]
    task = report_figures.parse(doc).tasks[0]
    fig, _, _ = report_figures.learning_figure(task)
    for ax in fig.axes:
        notes = [" ".join(t.get_text().split()) for t in ax.texts]  # wrapped to the axes
        assert any("too few for a curve" in n for n in notes), notes
        joined = [line for line in ax.get_lines() if len(line.get_xdata()) > 1 and line.get_linestyle() != "None"]
        assert not joined, "no line joins two logged steps"
    report_figures.plt.close(fig)


def test_cost_error_bars_stop_at_zero_and_the_manifest_reads_like_the_figures(tmp_path):
    doc = wide_curve_summary()
    doc["sensitivity"][0]["curves"][0]["cost"].update(means=[0.05] * 6, stds=[0.3] * 6)
    task = report_figures.parse(doc).tasks[0]
    fig, _, _ = report_figures.sensitivity_figure(task, task.curves[0])
    cost = fig.axes[1]
    bars = [c for c in cost.collections if hasattr(c, "get_segments")]
    lowest = min(min(p[1] for p in segment) for bar in bars for segment in bar.get_segments())
    assert lowest >= 0.0, f"a cost bar goes below 0: {lowest}"
    report_figures.plt.close(fig)
    res, out = draw(one_at_a_time(), tmp_path, "modes")
    assert res.returncode == 0, res.stderr
    assert (out / "manifest.json").stat().st_mode & 0o777 == 0o644
