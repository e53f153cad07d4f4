#!/usr/bin/env python3
"""The figures of a sensitivity report, drawn with matplotlib from its summary.json.

    report_figures.py SUMMARY_JSON --out FIGDIR

reads a `trac-sweep-report/1` summary (docs/REPORT.md) and writes, per task, PNG and SVG files:

- `sensitivity_<task>_<hp>` (one_at_a_time): normalized reward and cost against each value of a
  varied hyperparameter, error bars = std, the cost = 1 line, the BC baselines, range vs seed std;
- `variance_<task>`: one_at_a_time: range of the means beside the seed std per hyperparameter;
  product: the share of variance of each main effect and pair (functional ANOVA);
- `heatmap_<task>_<h>_<g>`: mean reward and cost over a pair of varied hyperparameters;
- `scatter_<task>`: reward against cost of every recorded run, by setting, best safe setting marked;
- `parallel_<task>`: parallel coordinates of the settings (varied values, reward, cost);
- `learning_<task>`: TraC loss and accuracy against step, mean ± std over each TraC setting's runs,
  from the runs' train.jsonl (only when the summary's `learning_curves` hold any);

and FIGDIR/manifest.json listing them. The output is deterministic: two runs on the same summary
give identical files. Exit status 0 on success, 2 when the summary is malformed (the message names
the key or path), 1 when a file cannot be written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

FORMAT = "trac-sweep-report/1"
DPI = 120
SAFE_COLOR = "#1b7837"
UNSAFE_COLOR = "#c2185b"
REWARD_COLOR = "#1f5fa8"
COST_COLOR = "#b5541c"

STYLE = {
    "svg.hashsalt": "trac-sweep-report",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "path.simplify": False,
}


class SummaryError(Exception):
    """The summary is not a `trac-sweep-report/1` document; the message names the path."""


# ---------------------------------------------------------------------------------------------
# Reading the summary: every access names its JSON path, so a malformed file gives a clear error.


def _path(base: str, key: str | int) -> str:
    return f"{base}[{key}]" if isinstance(key, int) else f"{base}.{key}"


def need(obj: dict, key: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise SummaryError(f"{where} is not an object")
    if key not in obj:
        raise SummaryError(f"missing key {_path(where, key)}")
    return obj[key]


def need_list(obj: dict, key: str, where: str) -> list:
    value = need(obj, key, where)
    if not isinstance(value, list):
        raise SummaryError(f"{_path(where, key)} is not a list")
    return value


def need_str(obj: dict, key: str, where: str) -> str:
    value = need(obj, key, where)
    if not isinstance(value, str):
        raise SummaryError(f"{_path(where, key)} is not a string")
    return value


def objects(value: Any, where: str) -> list[tuple[str, dict]]:
    """A list of objects (null: empty), each with its path; anything else is an error."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise SummaryError(f"{where} is not a list")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise SummaryError(f"{_path(where, i)} is not an object")
    return [(_path(where, i), item) for i, item in enumerate(value)]


def opt_obj(obj: dict, key: str, where: str) -> dict | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SummaryError(f"{_path(where, key)} is not an object")
    return value


def number(value: Any, where: str) -> float:
    """A number, or NaN for null; anything else is an error."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SummaryError(f"{where} is not a number or null")
    return float(value)


def opt_number(obj: dict | None, key: str, where: str) -> float:
    if obj is None:
        return math.nan
    return number(obj.get(key), _path(where, key))


def numbers(value: Any, where: str) -> list[float]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SummaryError(f"{where} is not a list")
    return [number(v, _path(where, i)) for i, v in enumerate(value)]


def mean_std(obj: dict, key: str, where: str) -> tuple[float, float]:
    ms = opt_obj(obj, key, where)
    w = _path(where, key)
    return opt_number(ms, "mean", w), opt_number(ms, "std", w)


def text(value: Any) -> str:
    """A hyperparameter value as the report prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass
class Metric:
    means: list[float]
    stds: list[float]
    range: float
    seed_std: float


@dataclass
class Curve:
    hyperparameter: str
    values: list[Any]
    labels: list[str]
    reward: Metric
    cost: Metric


@dataclass
class Baseline:
    label: str
    reward: tuple[float, float]
    cost: tuple[float, float]


@dataclass
class Decomposition:
    variance: float
    main: list[tuple[str, float]]
    pairs: list[tuple[str, str, float]]


@dataclass
class Heatmap:
    hyperparameters: tuple[str, str]
    values: tuple[list[Any], list[Any]]
    reward: np.ndarray
    cost: np.ndarray


@dataclass
class Anova:
    complete: bool
    missing_cells: list[str]
    reward: Decomposition | None
    cost: Decomposition | None
    heatmaps: list[Heatmap]


@dataclass
class Setting:
    label: str
    algorithm: str
    varied: dict
    hyperparameters: dict
    reward: tuple[float, float]
    cost: tuple[float, float]
    safe: bool | None
    best_safe: bool


@dataclass
class Run:
    label: str
    reward: float
    cost: float


@dataclass
class LearningCurve:
    label: str
    runs: int
    steps: np.ndarray
    loss: tuple[np.ndarray, np.ndarray]
    accuracy: tuple[np.ndarray, np.ndarray]


@dataclass
class Task:
    name: str
    design: str
    learning: list[LearningCurve] = field(default_factory=list)
    curves: list[Curve] = field(default_factory=list)
    anova: Anova | None = None
    baselines: list[Baseline] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


@dataclass
class Summary:
    name: str
    design: str
    vary: list[str]
    tasks: list[Task]


def _metric(obj: dict, key: str, where: str, count: int) -> Metric:
    m = opt_obj(obj, key, where) or {}
    w = _path(where, key)
    means = numbers(m.get("means"), _path(w, "means"))
    stds = numbers(m.get("stds"), _path(w, "stds"))
    if len(means) != count:
        raise SummaryError(f"{_path(w, 'means')} has {len(means)} entries, the curve has {count} values")
    stds = (stds + [math.nan] * count)[:count]
    return Metric(means, stds, opt_number(m, "range", w), opt_number(m, "seed_std", w))


def _decomposition(obj: dict, key: str, where: str, order: list[str]) -> Decomposition | None:
    d = opt_obj(obj, key, where)
    if d is None:
        return None
    w = _path(where, key)
    main_obj = d.get("main") or {}
    if not isinstance(main_obj, dict):
        raise SummaryError(f"{_path(w, 'main')} is not an object")
    main = [(name, number(main_obj[name], _path(_path(w, "main"), name))) for name in _ordered(main_obj, order)]
    pairs = []
    for pw, p in objects(d.get("pairs"), _path(w, "pairs")):
        names = need_list(p, "hyperparameters", pw)
        if len(names) != 2:
            raise SummaryError(f"{_path(pw, 'hyperparameters')} does not name two hyperparameters")
        pairs.append((str(names[0]), str(names[1]), number(need(p, "share", pw), _path(pw, "share"))))
    return Decomposition(opt_number(d, "variance", w), main, pairs)


def _count(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise SummaryError(f"{where} is not a whole number")
    return value


def _ordered(names, order: list[str]) -> list[str]:
    """Names in the sweep's `vary` order, any others after them sorted (JSON objects have no order)."""
    known = [n for n in order if n in names]
    return known + sorted(n for n in names if n not in order)


def _grid(value: Any, rows: int, cols: int, where: str) -> np.ndarray:
    if not isinstance(value, list) or len(value) != rows:
        raise SummaryError(f"{where} is not a list of {rows} rows")
    out = np.full((rows, cols), np.nan)
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != cols:
            raise SummaryError(f"{_path(where, i)} is not a list of {cols} numbers or nulls")
        out[i] = [number(v, _path(_path(where, i), j)) for j, v in enumerate(row)]
    return out


def _anova(obj: dict, where: str, order: list[str]) -> Anova | None:
    a = opt_obj(obj, "anova", where)
    if a is None:
        return None
    w = _path(where, "anova")
    heatmaps = []
    for hw, h in objects(a.get("heatmaps"), _path(w, "heatmaps")):
        names = need_list(h, "hyperparameters", hw)
        values = need_list(h, "values", hw)
        if len(names) != 2 or len(values) != 2 or not all(isinstance(v, list) for v in values):
            raise SummaryError(f"{hw} needs two hyperparameters and two lists of values")
        rows, cols = len(values[0]), len(values[1])
        heatmaps.append(
            Heatmap(
                (str(names[0]), str(names[1])),
                (values[0], values[1]),
                _grid(need(h, "reward", hw), rows, cols, _path(hw, "reward")),
                _grid(need(h, "cost", hw), rows, cols, _path(hw, "cost")),
            )
        )
    missing = a.get("missing_cells") or []
    return Anova(
        complete=a.get("complete") is True,
        missing_cells=[text(m) for m in missing] if isinstance(missing, list) else [],
        reward=_decomposition(a, "reward", w, order),
        cost=_decomposition(a, "cost", w, order),
        heatmaps=heatmaps,
    )


def parse(doc: Any) -> Summary:
    if not isinstance(doc, dict):
        raise SummaryError("the summary is not a JSON object")
    fmt = need(doc, "format", "summary")
    if fmt != FORMAT:
        raise SummaryError(f"summary.format is {json.dumps(fmt)}, expected {json.dumps(FORMAT)}")
    sweep = need(doc, "sweep", "summary")
    design = need_str(sweep, "design", "summary.sweep")
    task_names = [str(t) for t in need_list(sweep, "tasks", "summary.sweep")]
    vary = []
    for vw, v in objects(sweep.get("vary"), "summary.sweep.vary"):
        vary.append(need_str(v, "name", vw))
    tasks: dict[str, Task] = {}

    def task(name: str) -> Task:
        if name not in tasks:
            tasks[name] = Task(name, design)
        return tasks[name]

    for name in task_names:
        task(name)

    for w, s in objects(need_list(doc, "settings", "summary"), "summary.settings"):
        varied = s.get("varied") or {}
        hps = s.get("hyperparameters") or {}
        if not isinstance(varied, dict) or not isinstance(hps, dict):
            raise SummaryError(f"{w}.varied and {w}.hyperparameters must be objects")
        safe = s.get("safe")
        task(need_str(s, "task", w)).settings.append(
            Setting(
                label=need_str(s, "label", w),
                algorithm=str(s.get("algorithm") or ""),
                varied=varied,
                hyperparameters=hps,
                reward=mean_std(s, "reward", w),
                cost=mean_std(s, "cost", w),
                safe=safe if isinstance(safe, bool) else None,
                best_safe=s.get("best_safe") is True,
            )
        )

    for w, entry in objects(need_list(doc, "sensitivity", "summary"), "summary.sensitivity"):
        t = task(need_str(entry, "task", w))
        t.design = need_str(entry, "design", w)
        for cw, c in objects(entry.get("curves"), f"{w}.curves"):
            values = need_list(c, "values", cw)
            labels = c.get("labels") or []
            if not isinstance(labels, list):
                raise SummaryError(f"{cw}.labels is not a list")
            t.curves.append(
                Curve(
                    hyperparameter=need_str(c, "hyperparameter", cw),
                    values=values,
                    labels=[text(x) for x in labels],
                    reward=_metric(c, "reward", cw, len(values)),
                    cost=_metric(c, "cost", cw, len(values)),
                )
            )
        t.anova = _anova(entry, w, vary)
        for bw, b in objects(entry.get("baselines"), f"{w}.baselines"):
            t.baselines.append(Baseline(need_str(b, "label", bw), mean_std(b, "reward", bw), mean_std(b, "cost", bw)))

    for w, r in objects(need_list(doc, "runs", "summary"), "summary.runs"):
        run = Run(
            label=need_str(r, "label", w),
            reward=number(need(r, "normalized_reward", w), f"{w}.normalized_reward"),
            cost=number(need(r, "normalized_cost", w), f"{w}.normalized_cost"),
        )
        task(need_str(r, "task", w)).runs.append(run)

    for w, entry in objects(doc.get("learning_curves"), "summary.learning_curves"):
        t = task(need_str(entry, "task", w))
        for lw, c in objects(entry.get("settings"), f"{w}.settings"):
            steps = numbers(need_list(c, "steps", lw), f"{lw}.steps")

            def series(key: str) -> tuple[np.ndarray, np.ndarray]:
                obj = opt_obj(c, key, lw) or {}
                sw = _path(lw, key)
                means = numbers(obj.get("means"), _path(sw, "means"))
                stds = numbers(obj.get("stds"), _path(sw, "stds"))
                if len(means) != len(steps):
                    raise SummaryError(f"{_path(sw, 'means')} has {len(means)} entries for {len(steps)} steps")
                stds = (stds + [math.nan] * len(steps))[: len(steps)]
                return np.array(means, dtype=float), np.array(stds, dtype=float)

            t.learning.append(LearningCurve(need_str(c, "label", lw), _count(c.get("runs"), f"{lw}.runs"),
                                            np.array(steps, dtype=float), series("loss"), series("accuracy")))

    return Summary(str(sweep.get("name") or ""), design, vary, list(tasks.values()))


# ---------------------------------------------------------------------------------------------
# Drawing


def slug(name: str) -> str:
    """A file-name-safe form of a task or hyperparameter name."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return s or "x"


def fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"


def _note(ax, message: str) -> None:
    """A grey note inside the axes, wrapped to their width (matplotlib's own wrap uses the figure's), near
    the top and on a white box, so it neither spills into the next panel nor hides a point."""
    ax.text(0.5, 0.96, textwrap.fill(message, 44, break_on_hyphens=False), transform=ax.transAxes, ha="center", va="top",
            color="#666666", fontsize=8, bbox=dict(facecolor="white", edgecolor="none", alpha=0.85, pad=2))


def _cost_line(ax, vertical: bool = False) -> None:
    if vertical:
        ax.axvline(1.0, color="#444444", linestyle="--", linewidth=1, zorder=1)
    else:
        ax.axhline(1.0, color="#444444", linestyle="--", linewidth=1, zorder=1)


def _noise_verdict(metric: Metric) -> str:
    if not (math.isfinite(metric.range) and math.isfinite(metric.seed_std)):
        return f"range {fmt(metric.range)}, seed std {fmt(metric.seed_std)}"
    head = f"range {fmt(metric.range)} vs seed std {fmt(metric.seed_std)}"
    if metric.seed_std <= 0:
        return f"{head}: no seed noise measured"
    ratio = metric.range / metric.seed_std  # the report's tables use the same words (ReportText.verdict)
    verdict = f"effect {ratio:.1f}x the seed std" if ratio >= 2 else f"within noise ({ratio:.1f}x the seed std)"
    return f"{head}: {verdict}"


def value_axis(values: list) -> tuple[np.ndarray, bool, bool]:
    """Where a curve's values sit on the x axis: (positions, numeric, log). Numbers at their value, on a
    log scale when they are all positive and span more than 4x; anything else at 0, 1, 2, ..."""
    nums = [numeric(v) for v in values]
    if nums and all(n is not None for n in nums):
        lo, hi = min(nums), max(nums)
        return np.array(nums, dtype=float), True, lo > 0 and hi / lo > 4
    return np.arange(len(values), dtype=float), False, False


def _set_value_axis(ax, values: list, x: np.ndarray, is_numeric: bool, log: bool) -> None:
    labels = [text(v) for v in values]
    if log:
        ax.set_xscale("log")
        lo, hi = float(x.min()), float(x.max())
        pad = (hi / lo) ** 0.08
        ax.set_xlim(lo / pad, hi * pad)
    elif is_numeric and len(x):
        lo, hi = float(x.min()), float(x.max())
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        ax.set_xlim(lo - 0.08 * span, hi + 0.08 * span)
    else:
        ax.set_xlim(-0.5, max(len(values) - 0.5, 0.5))
    ax.set_xticks(x, labels)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    if is_numeric and len(x) > 1:
        # rotate when neighbouring labels would touch (values close together on the axis)
        pos = np.log(x) if log else x
        lo, hi = ax.get_xlim()
        width = (math.log(hi) - math.log(lo)) if log else (hi - lo)
        gaps = np.diff(np.sort(pos)) / width
        longest = max(len(label) for label in labels)
        if gaps.min() * 60 < longest:
            ax.tick_params(axis="x", labelrotation=45)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")


def _fit_limits(ax, lows: list[float], highs: list[float]) -> None:
    """y limits that hold every error bar whole, with a margin (nothing drawn is clipped)."""
    lows = [v for v in lows if math.isfinite(v)]
    highs = [v for v in highs if math.isfinite(v)]
    if not lows or not highs:
        return
    lo, hi = min(lows), max(highs)
    span = hi - lo if hi > lo else max(abs(hi), 0.1)
    ax.set_ylim(lo - 0.08 * span, hi + 0.08 * span)


def sensitivity_figure(task: Task, curve: Curve):
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.6), layout="constrained")
    x, is_numeric, log = value_axis(curve.values)
    baseline_styles = [":", "-.", (0, (5, 2, 1, 2)), (0, (1, 1))]
    for ax, name, metric, color, pick in (
        (axes[0], "normalized reward", curve.reward, REWARD_COLOR, lambda b: b.reward),
        (axes[1], "normalized cost", curve.cost, COST_COLOR, lambda b: b.cost),
    ):
        means = np.array(metric.means, dtype=float)
        stds = np.nan_to_num(np.array(metric.stds, dtype=float), nan=0.0)
        present = np.isfinite(means)
        # A normalized cost is never below 0: its bar stops there rather than show impossible values.
        below = np.minimum(stds, np.maximum(means, 0.0)) if name == "normalized cost" else stds
        lows, highs = list(means[present] - below[present]), list(means[present] + stds[present])
        if present.any():
            order = np.argsort(x[present], kind="stable")
            ax.errorbar(
                x[present][order], means[present][order],
                yerr=np.vstack([below[present][order], stds[present][order]]), color=color, marker="o",
                capsize=4, linewidth=1.5, label="TraC (mean ± std)", zorder=3, clip_on=False,
            )
        for k in np.flatnonzero(~present):
            ax.annotate("no runs", (x[k], 0), xycoords=("data", "axes fraction"), xytext=(0, 4),
                        textcoords="offset points", ha="center", color="#888888", fontsize=8)
        if name == "normalized cost":
            _cost_line(ax)
            ax.plot([], [], color="#444444", linestyle="--", linewidth=1, label="cost = 1 (safe below)")
            lows.append(1.0)
            highs.append(1.0)
        for i, b in enumerate(task.baselines):
            mean = pick(b)[0]
            if not math.isfinite(mean):
                continue
            ax.axhline(mean, color="#555555", linestyle=baseline_styles[i % len(baseline_styles)], linewidth=1,
                       label=f"{b.label} ({fmt(mean)})", zorder=2)
            lows.append(mean)
            highs.append(mean)
        _fit_limits(ax, lows, highs)
        _set_value_axis(ax, curve.values, x, is_numeric, log)
        ax.set_xlabel(curve.hyperparameter + (" (log scale)" if log else ""))
        ax.set_ylabel(name)
        # the verdict goes in the title, the legend below the axes: nothing is drawn over the data
        ax.set_title(f"{name}\n{_noise_verdict(metric)}", fontsize=9)
        if not present.any():
            _note(ax, "no recorded runs")
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7, frameon=False)
    title = f"{task.name}: sensitivity to {curve.hyperparameter}"
    fig.suptitle(title)
    caption = (
        f"Normalized reward and cost of TraC on {task.name} for each value of {curve.hyperparameter}, the base "
        f"point's included (mean ± std over cost thresholds and seeds), with the cost = 1 line and the BC "
        f"baselines."
    )
    return fig, title, caption


def variance_figure(task: Task):
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    if task.curves:
        names = [c.hyperparameter for c in task.curves]
        x = np.arange(len(names))
        width = 0.38
        for ax, name, pick in ((axes[0], "normalized reward", lambda c: c.reward),
                               (axes[1], "normalized cost", lambda c: c.cost)):
            ranges = np.array([pick(c).range for c in task.curves], dtype=float)
            noise = np.array([pick(c).seed_std for c in task.curves], dtype=float)
            ax.bar(x - width / 2, np.nan_to_num(ranges), width, color=REWARD_COLOR if ax is axes[0] else COST_COLOR,
                   label="range of the means")
            ax.bar(x + width / 2, np.nan_to_num(noise), width, color="#9e9e9e", label="seed std")
            for k in range(len(names)):
                for dx, v in ((-width / 2, ranges[k]), (width / 2, noise[k])):
                    ax.annotate(fmt(v), (x[k] + dx, 0 if not math.isfinite(v) else v), xytext=(0, 2),
                                textcoords="offset points", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(x, names)
            ax.set_xlim(-0.6, len(names) - 0.4)
            top = max([v for v in np.concatenate([ranges, noise]) if math.isfinite(v)] + [0.0])
            ax.set_ylim(0, top * 1.35 if top > 0 else 1.0)
            ax.set_title(name)
            ax.set_ylabel("spread")
            ax.legend(loc="upper right", fontsize=7)
        title = f"{task.name}: effect range vs seed noise"
        caption = (
            f"For each varied hyperparameter on {task.name}, the range of the mean normalized reward and cost "
            f"across its values beside the seed-to-seed std: an effect not clearly above the grey bar is noise."
        )
    else:
        anova = task.anova
        assert anova is not None
        for ax, name, d in ((axes[0], "normalized reward", anova.reward), (axes[1], "normalized cost", anova.cost)):
            ax.set_title(name)
            entries = []
            if d is not None:
                entries = [(n, s) for n, s in d.main] + [(f"{a} × {b}", s) for a, b, s in d.pairs]
            if not entries or not anova.complete:
                ax.set_xticks([])
                ax.set_yticks([])
                if anova.complete:
                    _note(ax, "no effects")
                else:
                    cells = ", ".join(anova.missing_cells[:4]) + (", ..." if len(anova.missing_cells) > 4 else "")
                    _note(ax, "not computed: the grid is incomplete" + (f"\nmissing: {cells}" if cells else ""))
                continue
            labels = [n for n, _ in entries]
            shares = np.nan_to_num(np.array([s for _, s in entries], dtype=float))
            x = np.arange(len(entries))
            colors = [REWARD_COLOR if ax is axes[0] else COST_COLOR] * len(d.main) + ["#7b5ea7"] * len(d.pairs)
            ax.bar(x, shares, 0.6, color=colors)
            for k, s in enumerate(shares):
                ax.annotate(f"{s:.2f}", (x[k], s), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7)
            rest = 1 - float(shares.sum())
            ax.set_xticks(x, labels, rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
            ax.set_ylim(0, 1.08)
            ax.set_ylabel("share of variance")
            ax.text(0.98, 0.98, f"variance {d.variance:.3g}\nhigher order {max(rest, 0):.2f}"
                    if math.isfinite(d.variance) else f"higher order {max(rest, 0):.2f}",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8)
        title = f"{task.name}: variance explained (functional ANOVA)"
        if not anova.complete:
            n = len(anova.missing_cells)
            title += f": incomplete grid ({n} cell{'s' if n != 1 else ''} missing), not computed"
        caption = (
            f"Share of the variance of TraC's mean normalized reward and cost on {task.name} explained by "
            f"each hyperparameter's main effect and by each pair."
        )
    fig.suptitle(title)
    return fig, title, caption


def heatmap_figure(task: Task, heatmap: Heatmap):
    h, g = heatmap.hyperparameters
    rows, cols = heatmap.reward.shape
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 2.2 + 1.6 * cols), max(3.2, 1.2 + 0.6 * rows)),
                             layout="constrained")
    for ax, name, grid, cmap in ((axes[0], "normalized reward", heatmap.reward, "viridis"),
                                 (axes[1], "normalized cost", heatmap.cost, "RdYlGn_r")):
        masked = np.ma.masked_invalid(grid)
        kwargs = {}
        if name == "normalized cost":
            finite = grid[np.isfinite(grid)]
            hi = max(2.0, float(finite.max())) if finite.size else 2.0
            kwargs = {"vmin": 0.0, "vmax": hi}
        image = ax.imshow(masked, cmap=cmap, aspect="auto", origin="lower", **kwargs)
        fig.colorbar(image, ax=ax, shrink=0.85)
        for i in range(rows):
            for j in range(cols):
                v = grid[i, j]
                if math.isfinite(v):
                    unsafe = name == "normalized cost" and v > 1
                    ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=8,
                            fontweight="bold" if unsafe else "normal", color="black",
                            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                                  "alpha": 0.6})
                else:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="white", edgecolor="#999999",
                                           hatch="//", linewidth=0.5))
                    ax.text(j, i, "no runs", ha="center", va="center", fontsize=7, color="#666666")
        ax.set_xticks(np.arange(cols), [text(v) for v in heatmap.values[1]])
        ax.set_yticks(np.arange(rows), [text(v) for v in heatmap.values[0]])
        ax.set_xlabel(g)
        ax.set_ylabel(h)
        ax.set_title(name)
    title = f"{task.name}: {h} × {g}"
    fig.suptitle(title)
    caption = (
        f"Mean normalized reward and cost of TraC on {task.name} for each pair of values of {h} and {g} "
        f"(other hyperparameters averaged out); hatched cells have no recorded run."
    )
    return fig, title, caption


def _palette(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def scatter_figure(task: Task):
    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    labels = []
    for r in task.runs:
        if r.label not in labels:
            labels.append(r.label)
    colors = dict(zip(labels, _palette(len(labels))))
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]
    for k, label in enumerate(labels):
        pts = [(r.cost, r.reward) for r in task.runs if r.label == label and math.isfinite(r.cost)
               and math.isfinite(r.reward)]
        if pts:
            xs, ys = zip(*pts)
            ax.scatter(xs, ys, s=22, color=colors[label], marker=markers[k % len(markers)], alpha=0.8,
                       label=label, zorder=3, linewidths=0)
    _cost_line(ax, vertical=True)
    ax.annotate("cost = 1", (1.0, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3),
                textcoords="offset points", ha="left", va="top", fontsize=8, color="#444444")
    best = next((s for s in task.settings if s.best_safe), None)
    if best is not None and math.isfinite(best.reward[0]) and math.isfinite(best.cost[0]):
        ax.scatter([best.cost[0]], [best.reward[0]], s=220, marker="*", facecolor="gold", edgecolor="black",
                   linewidth=0.8, zorder=5, label=f"best safe: {best.label} (mean)")
        ax.annotate(f"best safe: {best.label}", (best.cost[0], best.reward[0]), xytext=(8, 8),
                    textcoords="offset points", fontsize=8, fontweight="bold")
    if not task.runs:
        _note(ax, "no recorded runs")
        ax.set_xlim(0, 2)
        ax.set_ylim(0, 1)
    ax.set_xlabel("normalized cost")
    ax.set_ylabel("normalized reward")
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    n = sum(1 for r in task.runs)
    title = f"{task.name}: reward vs cost of every run ({n} run{'s' if n != 1 else ''})"
    ax.set_title(title)
    caption = (
        f"Normalized reward against normalized cost of every recorded run on {task.name}, coloured by setting; "
        f"runs left of the dashed cost = 1 line are safe, the star is the best safe setting's mean."
    )
    return fig, title, caption


def spread(positions: list[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label positions as close to `positions` as they can be with at least `gap` between neighbours,
    within [lo, hi] (when they fit): labels drawn there never overprint. Keeps the input order."""
    if not positions:
        return []
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    want = [positions[i] for i in order]
    gap = min(gap, (hi - lo) / max(len(want) - 1, 1))
    placed = []
    for y in want:
        placed.append(max(y, lo) if not placed else max(y, placed[-1] + gap))
    if placed[-1] > hi:  # pushed past the top: push back down from there
        placed[-1] = hi
        for k in range(len(placed) - 2, -1, -1):
            placed[k] = min(placed[k], placed[k + 1] - gap)
    out = [0.0] * len(positions)
    for k, i in enumerate(order):
        out[i] = placed[k]
    return out


def _label_gap(fig, ax, fontsize: float) -> float:
    """The height of a line of text of `fontsize` points, in the axes' y data units."""
    fig.canvas.draw()  # the layout engine places the axes
    height_in = ax.get_position().height * fig.get_figheight()
    lo, hi = ax.get_ylim()
    return fontsize * 1.35 / 72 / height_in * (hi - lo)


def parallel_figure(task: Task, vary: list[str]):
    names = _ordered({k for s in task.settings for k in s.varied}, vary)
    rows = [s for s in task.settings if math.isfinite(s.reward[0]) and math.isfinite(s.cost[0])]
    axes_names = names + ["reward", "cost"]
    # tall enough that every setting's label gets its own line at the right
    height = max(4.4, 1.6 + 0.16 * len(rows))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.9 * len(axes_names) + 2.5), height), layout="constrained")

    def raw(s: Setting, name: str):
        if name == "reward":
            return s.reward[0]
        if name == "cost":
            return s.cost[0]
        return s.varied.get(name, s.hyperparameters.get(name))

    columns = []  # per axis: (positions in [0, 1] per row, tick positions, tick labels)
    for name in axes_names:
        values = [raw(s, name) for s in rows]
        present = [v for v in values if v is not None]
        if present and all(numeric(v) is not None for v in present):
            nums = [numeric(v) for v in present]
            lo, hi = min(nums), max(nums)
            if name == "cost":
                lo, hi = min(lo, 1.0), max(hi, 1.0)
            log = name not in ("reward", "cost") and lo > 0 and hi / lo > 4
            scale = math.log if log else (lambda v: v)
            span = scale(hi) - scale(lo)

            def at(v, lo=lo, span=span, scale=scale):
                return 0.5 if span == 0 else (scale(v) - scale(lo)) / span

            pos = [math.nan if v is None else at(numeric(v)) for v in values]
            if name in ("reward", "cost"):
                ticks = [0.0, 1.0] if span else [0.5]
                tick_labels = [fmt(lo), fmt(hi)] if span else [fmt(lo)]
                if name == "cost" and span:
                    if lo < 1.0 < hi:
                        ticks.append(at(1.0))
                        tick_labels.append("1 (safe below)")
                    else:
                        tick_labels = [f"{t} (safe below)" if v == 1.0 else t for t, v in zip(tick_labels, (lo, hi))]
            else:
                distinct = sorted(set(nums))
                ticks = [at(d) for d in distinct]
                tick_labels = [text(d) for d in distinct]
                if log:
                    tick_labels[0] += " (log)"
        else:
            distinct = sorted({text(v) for v in present})
            index = {d: i for i, d in enumerate(distinct)}
            step = 1 / max(len(distinct) - 1, 1)
            pos = [math.nan if v is None else (0.5 if len(distinct) == 1 else index[text(v)] * step) for v in values]
            ticks = [0.5] if len(distinct) == 1 else [i * step for i in range(len(distinct))]
            tick_labels = distinct
        columns.append((pos, ticks, tick_labels))

    xs = np.arange(len(axes_names))
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(-0.75, len(axes_names) - 1 + 1.6)
    ax.set_xticks(xs, axes_names)
    ax.xaxis.set_ticks_position("top")
    ax.set_yticks([])
    for side in ("left", "bottom", "top", "right"):
        ax.spines[side].set_visible(False)
    ax.plot([], [], color=SAFE_COLOR, label="safe (mean cost ≤ 1)")
    ax.plot([], [], color=UNSAFE_COLOR, label="unsafe")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=8, frameon=False)
    title = f"{task.name}: settings in parallel coordinates"
    fig.suptitle(title)
    gap = _label_gap(fig, ax, 7)
    for k, (_, ticks, tick_labels) in enumerate(columns):
        ax.axvline(k, color="#333333", linewidth=1, zorder=1)
        placed = spread(ticks, gap, -0.05, 1.05)
        for t, y, lab in zip(ticks, placed, tick_labels):
            ax.plot([k - 0.04, k], [t, t], color="#333333", linewidth=1, zorder=1)
            if abs(y - t) > 1e-9:
                ax.plot([k - 0.06, k - 0.04], [y, t], color="#999999", linewidth=0.6, zorder=1)
            ax.text(k - 0.07, y, lab, ha="right", va="center", fontsize=7, zorder=4,
                    bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ends = []
    for r, s in enumerate(rows):
        ys = np.array([columns[k][0][r] for k in range(len(axes_names))], dtype=float)
        safe = s.safe if s.safe is not None else s.cost[0] <= 1
        ax.plot(xs, ys, color=SAFE_COLOR if safe else UNSAFE_COLOR, linewidth=2.2 if s.best_safe else 1.3,
                alpha=0.85, marker="o", markersize=3, zorder=3)
        ends.append((ys[-1], s, safe))
    label_x = xs[-1] + 0.35
    for (y, s, safe), placed in zip(ends, spread([e[0] for e in ends], gap, -0.05, 1.05)):
        color = SAFE_COLOR if safe else UNSAFE_COLOR
        ax.plot([xs[-1] + 0.03, label_x - 0.03], [y, placed], color=color, linewidth=0.6, alpha=0.7, zorder=2)
        ax.text(label_x, placed, s.label + (" ★" if s.best_safe else ""), ha="left", va="center", fontsize=7,
                color=color, fontweight="bold" if s.best_safe else "normal", zorder=4)
    if not rows:
        _note(ax, "no setting has recorded runs")
    caption = (
        f"Each line is a setting on {task.name}: its varied hyperparameters' values (log scale when they span "
        f"more than 4x), mean normalized reward and cost, every axis scaled to its range; safe settings in green, "
        f"unsafe in red, the best safe one thick (★)."
    )
    return fig, title, caption


# A learning curve needs at least this many logged steps; with fewer, the figure shows the points and says so.
MIN_CURVE_POINTS = 3


def learning_figure(task: Task):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    colors = _palette(len(task.learning))
    for ax, name, pick in ((axes[0], "TraC loss", lambda c: c.loss), (axes[1], "TraC accuracy", lambda c: c.accuracy)):
        drawn = False
        most_points = 0
        for color, c in zip(colors, task.learning):
            means, stds = pick(c)
            ok = np.isfinite(means)
            if not ok.any():
                continue
            drawn = True
            most_points = max(most_points, int(ok.sum()))
            label = f"{c.label} ({c.runs} run{'s' if c.runs != 1 else ''})"
            if ok.sum() < MIN_CURVE_POINTS:
                # Too few logged steps for a curve: the points alone, never a line that suggests a trend.
                ax.errorbar(c.steps[ok], means[ok], yerr=np.nan_to_num(stds, nan=0.0)[ok], color=color,
                            marker="o", linestyle="none", capsize=3, label=label)
                continue
            band = np.nan_to_num(stds, nan=0.0)
            ax.fill_between(c.steps[ok], (means - band)[ok], (means + band)[ok], color=color, alpha=0.15, linewidth=0)
            ax.plot(c.steps[ok], means[ok], color=color, linewidth=1.4, label=label)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.set_ylabel(name.split(" ")[1])
        if not drawn:
            _note(ax, "no TraC steps logged (train.jsonl has a line every --log-every steps)")
        elif most_points < MIN_CURVE_POINTS:
            _note(ax, f"only {most_points} logged TraC step{'s' if most_points != 1 else ''} per setting: "
                      f"too few for a curve (train with a smaller --log-every)")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(handles)), fontsize=7, frameon=False)
    title = f"{task.name}: TraC learning curves"
    fig.suptitle(title)
    caption = (
        f"TraC loss and classification accuracy against the training step on {task.name}, for each TraC setting the "
        f"mean (band: ± std) over its runs (cost thresholds and seeds), from the runs' train.jsonl."
    )
    return fig, title, caption


# ---------------------------------------------------------------------------------------------


def save(fig, out: Path, stem: str) -> None:
    fig.savefig(out / f"{stem}.png", format="png", dpi=DPI, metadata={"Software": None})
    fig.set_layout_engine("none")  # keep the layout just computed: the SVG needs no second pass
    fig.savefig(out / f"{stem}.svg", format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def render(summary: Summary, out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    figures: list[dict] = []
    used: set[str] = set()

    def emit(stem: str, task: Task, kind: str, made) -> None:
        base, n = stem, 2
        while stem in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem)
        fig, title, caption = made
        save(fig, out, stem)
        figures.append({"name": stem, "task": task.name, "kind": kind, "title": title, "caption": caption,
                        "png": f"{stem}.png", "svg": f"{stem}.svg"})

    with plt.rc_context(STYLE):
        for task in summary.tasks:
            t = slug(task.name)
            for curve in task.curves:
                emit(f"sensitivity_{t}_{slug(curve.hyperparameter)}", task, "sensitivity",
                     sensitivity_figure(task, curve))
            if task.curves or (task.anova is not None and task.design == "product"):
                emit(f"variance_{t}", task, "variance", variance_figure(task))
            if task.anova is not None:
                for heatmap in task.anova.heatmaps:
                    h, g = heatmap.hyperparameters
                    emit(f"heatmap_{t}_{slug(h)}_{slug(g)}", task, "heatmap", heatmap_figure(task, heatmap))
            emit(f"scatter_{t}", task, "scatter", scatter_figure(task))
            emit(f"parallel_{t}", task, "parallel", parallel_figure(task, summary.vary))
            if any(len(c.steps) for c in task.learning):
                emit(f"learning_{t}", task, "learning", learning_figure(task))
    return figures


def write_manifest(out: Path, figures: list[dict]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=out)
    os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the figures beside it are 0644
    with os.fdopen(fd, "w") as f:
        json.dump({"figures": figures}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, out / "manifest.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw a sensitivity report's figures from its summary.json.")
    parser.add_argument("summary", type=Path, help="summary.json (trac-sweep-report/1)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the figures and manifest.json")
    args = parser.parse_args(argv)
    try:
        with open(args.summary, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        print(f"report_figures: cannot read {args.summary}: {e.strerror}", file=sys.stderr)
        return 2
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        print(f"report_figures: {args.summary} is not JSON: {e}", file=sys.stderr)
        return 2
    try:
        summary = parse(doc)
    except SummaryError as e:
        print(f"report_figures: {args.summary}: {e}", file=sys.stderr)
        return 2
    try:
        figures = render(summary, args.out)
        write_manifest(args.out, figures)
    except OSError as e:
        print(f"report_figures: cannot write to {args.out}: {e}", file=sys.stderr)
        return 1
    print(f"{len(figures)} figures in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
