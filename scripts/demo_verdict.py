#!/usr/bin/env python3
"""Print the demo's verdict from a report's summary.json (format trac-sweep-report/1).

  demo_verdict.py runs/demo/report/summary.json

For each task: one line per seed (and cost threshold) with every setting's normalized reward and
cost, then one line per TraC setting ("safe in 3/3 seeds, reward 0.31 vs BC-Safe 0.13"), the BC
baselines, each varied hyperparameter's effect against the seed noise (the report's own rule: a
range at least twice the pooled seed std is an effect), and a last line saying whether the sweep
shows TraC's claim in every seed: every TraC setting safe, with a reward above BC-Safe's of the
same seed, and at least one hyperparameter whose effect stands above the noise.

Exit status 0 whatever the verdict (the demo reports what it shows); 2 when the file cannot be
read or is not a report summary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EFFECT_RATIO = 2.0  # the report's rule (ReportText.verdict): range >= 2 x seed std is an effect


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def task_verdict(summary: dict, task: str) -> tuple[list[str], bool]:
    """The lines for one task, and whether the task shows the claim in every seed."""
    runs = [r for r in summary.get("runs", []) if r.get("task") == task
            and r.get("normalized_reward") is not None and r.get("normalized_cost") is not None]
    labels: list[str] = []
    for setting in summary.get("settings", []):
        if setting.get("task") == task and setting["label"] not in labels:
            labels.append(setting["label"])
    algorithm_of = {s["label"]: s["algorithm"] for s in summary.get("settings", []) if s.get("task") == task}
    trac = [label for label in labels if algorithm_of.get(label) == "trac"]
    bc_safe = [label for label in labels if algorithm_of.get(label) == "bc_safe"]
    bc_all = [label for label in labels if algorithm_of.get(label) == "bc_all"]
    thresholds = sorted({r["cost_threshold"] for r in runs})
    cells = sorted({(r["cost_threshold"], r["seed"]) for r in runs})
    unit = "seeds" if len(thresholds) <= 1 else "threshold-seed pairs"
    by_cell = {(r["label"], r["cost_threshold"], r["seed"]): r for r in runs}

    lines = [f"{task}: normalized reward / cost per seed (cost <= 1 is safe; ! marks unsafe)"]
    shown_labels = trac + bc_all + bc_safe
    width = max([12] + [len(label) + 2 for label in shown_labels])
    header = ("threshold  " if len(thresholds) > 1 else "") + "seed  " + "".join(
        label.ljust(width) for label in shown_labels)
    lines.append("  " + header.rstrip())
    for threshold, seed in cells:
        row = (f"{threshold:<9g}  " if len(thresholds) > 1 else "") + f"{seed:<4}  "
        for label in shown_labels:
            run = by_cell.get((label, threshold, seed))
            text = "-" if run is None else (
                f"{fmt(run['normalized_reward'])}/{fmt(run['normalized_cost'])}"
                + ("" if run["normalized_cost"] <= 1 else " !"))
            row += text.ljust(width)
        lines.append("  " + row.rstrip())

    problems: list[str] = []
    if not trac:
        problems.append("no TraC run recorded")
    if not bc_safe:
        problems.append("no BC-Safe run to compare with")
    baseline = bc_safe[0] if bc_safe else None
    for label in trac:
        safe = above = compared = 0
        count = 0
        for threshold, seed in cells:
            run = by_cell.get((label, threshold, seed))
            if run is None:
                continue
            count += 1
            safe += run["normalized_cost"] <= 1
            reference = by_cell.get((baseline, threshold, seed)) if baseline else None
            if reference is not None:
                compared += 1
                above += run["normalized_reward"] > reference["normalized_reward"]
        rewards = [r["normalized_reward"] for r in runs if r["label"] == label]
        costs = [r["normalized_cost"] for r in runs if r["label"] == label]
        text = f"  {label}: safe in {safe}/{len(cells)} {unit} (cost {fmt(mean(costs))}), reward {fmt(mean(rewards))}"
        if baseline:
            base_rewards = [r["normalized_reward"] for r in runs if r["label"] == baseline]
            text += f" vs BC-Safe {fmt(mean(base_rewards))}, above it in {above}/{compared} {unit}"
        lines.append(text)
        if count < len(cells) or safe < len(cells):
            problems.append(f"{label} is not safe in every one of the {unit}")
        if baseline and (compared < len(cells) or above < compared):
            problems.append(f"{label} does not beat BC-Safe in every one of the {unit}")
    for label, name in [(l, "BC-All") for l in bc_all] + [(l, "BC-Safe") for l in bc_safe]:
        rewards = [r["normalized_reward"] for r in runs if r["label"] == label]
        costs = [r["normalized_cost"] for r in runs if r["label"] == label]
        unsafe = sum(cost > 1 for cost in costs)
        lines.append(f"  {name}: reward {fmt(mean(rewards))}, cost {fmt(mean(costs))},"
                     f" unsafe in {unsafe}/{len(costs)} {unit}")

    effects: dict[str, list[str]] = {}
    for entry in summary.get("sensitivity", []):
        if entry.get("task") != task:
            continue
        for curve in entry.get("curves", []):
            parts = []
            for metric in ("reward", "cost"):
                numbers = curve.get(metric) or {}
                spread, noise = numbers.get("range"), numbers.get("seed_std")
                if spread is None:
                    continue
                if not noise:
                    parts.append(f"{metric} range {fmt(spread)}, no seed noise measured")
                    continue
                ratio = spread / noise
                is_effect = ratio >= EFFECT_RATIO
                if is_effect:
                    effects.setdefault(curve["hyperparameter"], []).append(metric)
                parts.append(f"{metric} {'effect' if is_effect else 'within noise'} {ratio:.1f}x the seed std"
                             f" (range {fmt(spread)}, seed std {fmt(noise)})")
            values = ", ".join(str(v) for v in curve.get("values", []))
            lines.append(f"  {curve['hyperparameter']} [{values}]: " + "; ".join(parts))
    if not effects:
        problems.append("no varied hyperparameter has an effect above the seed noise")

    if problems:
        lines.append("  not shown in every seed: " + "; ".join(problems) + ".")
    else:
        named = "; ".join(f"{name} (on {' and '.join(metrics)})" for name, metrics in effects.items())
        lines.append(f"  shown in every one of the {len(cells)} {unit}: each TraC setting is safe with a reward"
                     f" above BC-Safe's, and the effect of {named} stands above the seed noise.")
    return lines, not problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: demo_verdict.py SUMMARY_JSON", file=sys.stderr)
        return 2
    path = Path(argv[1])
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        print(f"error: cannot read {path}: {error}", file=sys.stderr)
        return 2
    if not isinstance(summary, dict) or summary.get("format") != "trac-sweep-report/1":
        print(f"error: {path} is not a report summary (format trac-sweep-report/1)", file=sys.stderr)
        return 2
    tasks = summary.get("sweep", {}).get("tasks") or sorted({r["task"] for r in summary.get("runs", [])})
    for task in tasks:
        lines, _ = task_verdict(summary, task)
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
