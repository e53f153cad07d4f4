"""The HTML report in a real headless browser (issue 5): Debian's chromium renders `index.html` offline,
and the numbers of its settings table equal those computed here from the report's `results.csv`.

Runs `trac-sweep report --grid GRID --results CSV --out DIR` (the binary is $TRAC_SWEEP_BIN or
.build/release/trac-sweep) on a synthetic grid and synthetic results, then
`chromium --headless=new --dump-dom` and `--screenshot`. Skipped, with the reason, when the binary
is not built or chromium is not installed (scripts/setup.sh installs it); a built binary without the
`report` command fails.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import statistics
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from browser_tools import ROOT, offline_flags, require_tools

TASK = "OfflineBallCircle-v0"
BASE = {"x": 0.5, "y": 0.0, "alpha": 0.2, "eta": 0.25, "beta": 0.7, "gamma": 0.99, "seg_ratio": 1.0,
        "batch_size": 32, "lr": 1e-4, "bc_steps": 600, "steps": 1500}
HYPERPARAMETERS = list(BASE)
THRESHOLDS = [10, 20]
SEEDS = [0, 1, 2]
COLUMNS = ["run_id", "task", "algorithm", *HYPERPARAMETERS, "reference", "cost_threshold", "seed",
           "normalized_reward", "normalized_cost", "policy"]
TOLERANCE = 0.0015  # the table prints 3 decimals
SHARE_TOLERANCE = 0.0051  # and safe shares as whole percentages
FIELDS = ("runs", "reward_mean", "reward_std", "cost_mean", "cost_std", "safe_share")
OFFLINE = offline_flags(loopback=False)


@pytest.fixture(scope="module")
def tools():
    return require_tools("report", "--results")


# ---------------------------------------------------------------------------------------------
# Inputs


def grid(design: str, vary: dict, algorithms: list[str]) -> dict:
    return {"name": f"html-{design}", "task": TASK, "algorithm": algorithms, "base": BASE, "vary": vary,
            "design": design, "cost_thresholds": THRESHOLDS, "seeds": SEEDS, "eval": {"episodes": 2, "seed": 0}}


def points(design: str, vary: dict) -> list[dict]:
    """TraC's grid points as hyperparameter overrides (docs/GRID.md)."""
    names = list(vary)
    if design == "product":
        combos = [{}]
        for name in names:
            combos = [{**c, name: v} for c in combos for v in vary[name]]
        return combos
    # one at a time: the base point, and each value that differs from the base
    return [{}] + [{name: v} for name in names for v in vary[name] if v != BASE[name]]


def results_rows(design: str, vary: dict, algorithms: list[str], seed: int, artifacts: Path | None = None
                 ) -> list[dict]:
    """One row per run of the grid, with seeded random normalized reward and cost; some costs above 1.
    With `artifacts`, each run has a folder there (its `policy` path) with a train.jsonl of TraC steps."""
    rng = np.random.default_rng(seed)
    settings = []
    if "trac" in algorithms:
        settings += [("trac", p) for p in points(design, vary)]
    settings += [(a, {}) for a in algorithms if a != "trac"]  # BC: the base values of the TraC-only ones
    rows = []
    for k, (algorithm, override) in enumerate(settings):
        level = 0.2 + 0.45 * (k % 3)  # settings from clearly safe to clearly unsafe
        for threshold in THRESHOLDS:
            for s in SEEDS:
                hps = {**BASE, **override}
                run_id = f"{len(rows):016x}"
                row = {"run_id": run_id, "task": TASK, "algorithm": algorithm,
                       **{h: hps[h] for h in HYPERPARAMETERS},
                       "reference": "bc", "cost_threshold": threshold, "seed": s,
                       "normalized_reward": round(float(rng.uniform(0.0, 0.9)), 6),
                       "normalized_cost": round(float(level + rng.uniform(0.0, 0.9)), 6), "policy": ""}
                if artifacts is not None:
                    folder = artifacts / "runs" / run_id
                    folder.mkdir(parents=True)
                    row["policy"] = str(folder / "policy.safetensors")
                    lines = [{"phase": "bc", "step": 300, "loss": 2.0}]
                    if algorithm == "trac":
                        lines += [{"phase": "trac", "step": step, "loss": 1.0 / (1 + step / 500) + 0.1 * k + 0.01 * s,
                                   "accuracy": 0.5 + step / 4000} for step in range(700, 1501, 100)]
                    (folder / "train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
                rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


# ---------------------------------------------------------------------------------------------
# Reading the browser's DOM


class Page(HTMLParser):
    """The settings rows (`<tr data-task data-label>`, cells `<td data-field>`) and every URL attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[dict] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts_with_src: list[str] = []
        self._row: dict | None = None
        self._field: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href", "srcset", "data", "poster", "action", "formaction", "xlink:href"):
            if a.get(name):
                self.urls.append((tag, name, a[name]))
        if tag == "script" and a.get("src"):
            self.scripts_with_src.append(a["src"])
        if tag == "tr" and "data-task" in a and "data-label" in a:
            self._row = {"task": a["data-task"], "label": a["data-label"], "classes": (a.get("class") or "").split(),
                         "cells": {}}
            self.rows.append(self._row)
        elif tag == "td" and self._row is not None and a.get("data-field"):
            self._field = a["data-field"]
            self._row["cells"][self._field] = ""

    def handle_endtag(self, tag):
        if tag == "td":
            self._field = None
        elif tag == "tr":
            self._row = None
            self._field = None

    def handle_data(self, data):
        if self._row is not None and self._field is not None:
            self._row["cells"][self._field] += data


class Tables(HTMLParser):
    """Every `<table class=...>` of the page: its rows, each (the row's attributes, its cells as
    (attributes, text))."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[tuple[dict, list[tuple[dict, str]]]]] = {}
        self.images: list[dict] = []
        self._table: str | None = None
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        if tag == "table":
            self._table = a.get("class", "")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append((a, []))
        elif tag in ("td", "th") and self._table is not None and self.tables[self._table]:
            self._cell = [a, ""]
            self.tables[self._table][-1][1].append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._cell[1] = self._cell[1].strip()
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def tables(html: str) -> Tables:
    page = Tables()
    page.feed(html)
    page.close()
    return page


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def browser(chrome: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chrome, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={profile}", *OFFLINE, *args],
                          capture_output=True, text=True, timeout=120)


def report(tools, tmp: Path, design: str, vary: dict, algorithms: list[str], screenshot: bool,
           figures: bool = True, twice: bool = False) -> dict:
    trac_sweep, chrome = tools
    grid_path, csv_path, out = tmp / "grid.json", tmp / "results.csv", tmp / "report"
    grid_path.write_text(json.dumps(grid(design, vary, algorithms), indent=2))
    rows = results_rows(design, vary, algorithms, seed=5, artifacts=tmp / "artifacts" if figures else None)
    write_csv(csv_path, rows)
    command = [str(trac_sweep), "report", "--grid", str(grid_path), "--results", str(csv_path), "--out", str(out),
               *([] if figures else ["--no-figures"])]
    made = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert made.returncode == 0, made.stdout + made.stderr
    if twice:
        # a second report into the same folder replaces the first whole and leaves nothing beside it
        before = sorted(p.name for p in tmp.iterdir())
        again = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert again.returncode == 0, again.stdout + again.stderr
        assert sorted(p.name for p in tmp.iterdir()) == before
        assert sorted(p.name for p in out.iterdir()) == sorted(
            ["index.html", "report.md", "results.csv", "summary.json", *(["figures"] if figures else [])])
    index = out / "index.html"
    dom = browser(chrome, tmp / "profile", "--dump-dom", index.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = None
    if screenshot:
        shot = tmp / "page.png"
        taken = browser(chrome, tmp / "profile", f"--screenshot={shot}", "--window-size=1280,1600",
                        "--hide-scrollbars", index.as_uri())
        assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    with open(out / "results.csv", newline="") as f:
        results = list(csv.DictReader(f))
    return {"input": rows, "results": results, "dom": parse(dom.stdout), "html": index.read_text(),
            "screenshot": shot, "dom_text": dom.stdout, "out": out}


# ---------------------------------------------------------------------------------------------
# Expected numbers, computed here from the report's results.csv


def expected_settings(results: list[dict]) -> dict[tuple[str, str], dict]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in results:
        groups.setdefault((row["task"], row["setting"]), []).append(row)
    out = {}
    for key, rows in groups.items():
        reward = [float(r["normalized_reward"]) for r in rows]
        cost = [float(r["normalized_cost"]) for r in rows]
        out[key] = {
            "runs": len(rows),
            "reward_mean": statistics.fmean(reward),
            "reward_std": statistics.stdev(reward) if len(reward) > 1 else 0.0,
            "cost_mean": statistics.fmean(cost),
            "cost_std": statistics.stdev(cost) if len(cost) > 1 else 0.0,
            "safe_share": sum(c <= 1 for c in cost) / len(cost),
        }
    return out


def check_table(rep: dict, expected_labels: set[str]) -> None:
    results, page = rep["results"], rep["dom"]
    # the report's results.csv holds every input run, each once
    assert len(results) == len(rep["input"])
    assert sorted((float(r["normalized_reward"]), float(r["normalized_cost"])) for r in results) == sorted(
        (r["normalized_reward"], r["normalized_cost"]) for r in rep["input"])
    expected = expected_settings(results)
    assert {label for _, label in expected} == expected_labels
    rows = {(r["task"], r["label"]): r for r in page.rows}
    assert len(rows) == len(page.rows), "a settings row appears twice"
    assert set(rows) == set(expected), f"table rows {sorted(rows)} != settings of results.csv {sorted(expected)}"
    for key, want in expected.items():
        cells = rows[key]["cells"]
        assert set(FIELDS) <= set(cells), (key, cells)
        assert int(cells["runs"].strip()) == want["runs"], key
        for name in FIELDS[1:-1]:
            shown = float(cells[name].strip())
            assert math.isclose(shown, want[name], abs_tol=TOLERANCE), (key, name, shown, want[name])
        share = cells["safe_share"].strip()
        assert share.endswith("%"), share  # a percentage
        assert math.isclose(float(share[:-1]) / 100, want["safe_share"], abs_tol=SHARE_TOLERANCE), (key, share)
        unsafe = want["cost_mean"] > 1
        assert ("unsafe" in rows[key]["classes"]) == unsafe, (key, rows[key]["classes"])
    safe = {k: v for k, v in expected.items() if v["cost_mean"] <= 1}
    assert safe, "the synthetic results should have a safe setting"
    best = max(safe, key=lambda k: safe[k]["reward_mean"])
    marked = [k for k, r in rows.items() if "best-safe" in r["classes"]]
    assert marked == [best], f"best safe marked {marked}, expected {best}"
    assert any("unsafe" in r["classes"] for r in rows.values()), "the synthetic results should have an unsafe setting"


def check_offline(rep: dict) -> None:
    html = rep["html"]
    page = parse(html)
    assert not page.scripts_with_src, page.scripts_with_src
    remote = [u for u in page.urls if u[2].strip().lower().startswith(("http://", "https://", "//"))]
    assert not remote, remote
    assert "url(http" not in html.replace(" ", "").lower() and "@import" not in html
    # figures inlined as data URIs: nothing inside them is fetched either (only #fragment references)
    for _, _, url in parse(rep["html"]).urls:
        if url.startswith("data:image/svg+xml"):
            header, _, payload = url.partition(",")
            svg = base64.b64decode(payload) if header.endswith(";base64") else urllib.parse.unquote(payload).encode()
            for element in ET.fromstring(svg).iter():
                for name, value in element.attrib.items():
                    if name.endswith("href") or name == "src":
                        assert value.startswith(("#", "data:")), (name, value[:80])
    dom = rep["dom"]
    assert not dom.scripts_with_src
    assert not [u for u in dom.urls if u[2].strip().lower().startswith(("http://", "https://", "//"))]


def check_thresholds(rep: dict, page: Tables) -> None:
    """The per-threshold table: per setting and threshold, mean ± std over seeds as computed from results.csv."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rep["results"]:
        groups.setdefault((row["setting"], str(int(float(row["cost_threshold"])))), []).append(row)
    rows = page.tables["thresholds"][1:]
    assert len(rows) == len(expected_settings(rep["results"]))
    for attrs, cells in rows:
        label = attrs["data-label"]
        tds = [(a, text) for a, text in cells if a.get("data-threshold")]
        assert [a["data-threshold"] for a, _ in tds] == [str(t) for t in THRESHOLDS for _ in range(2)]
        for a, shown in tds:
            values = [float(r["normalized_" + a["data-field"]]) for r in groups[(label, a["data-threshold"])]]
            mean, std = statistics.fmean(values), statistics.stdev(values)
            m, sd = (float(x) for x in shown.rstrip(" †").split(" ± "))
            assert math.isclose(m, mean, abs_tol=TOLERANCE) and math.isclose(sd, std, abs_tol=TOLERANCE), (label, a)
            costs = [float(r["normalized_cost"]) for r in groups[(label, a["data-threshold"])]]
            assert ("safe" == a.get("class")) == (statistics.fmean(costs) <= 1), (label, a)


def check_runs(rep: dict, page: Tables) -> None:
    """The table of every run: id, threshold, seed, reward, cost, state and artifacts folder."""
    rows = [cells for attrs, cells in page.tables["runs"][1:]]
    assert len(rows) == len(rep["input"])
    by_id = {r["run_id"]: r for r in rep["input"]}
    for cells in rows:
        field = {a.get("data-field"): text for a, text in cells}
        run = by_id[field["run_id"]]
        assert float(field["cost_threshold"]) == run["cost_threshold"] and int(field["seed"]) == run["seed"]
        assert math.isclose(float(field["reward"]), run["normalized_reward"], abs_tol=TOLERANCE)
        assert math.isclose(float(field["cost"]), run["normalized_cost"], abs_tol=TOLERANCE)
        assert field["state"] == "done"
        assert field["artifacts"] == (str(Path(run["policy"]).parent) if run["policy"] else "-")


def test_one_at_a_time_report_in_a_browser(tools, tmp_path):
    # unsorted, spanning more than 4x, and without the base value (0.2): the base point joins the curve
    vary = {"alpha": [0.5, 0.05, 0.1]}
    rep = report(tools, tmp_path, "one_at_a_time", vary, ["trac", "bc_all", "bc_safe"], screenshot=True,
                 twice=True)
    settings = expected_settings(rep["results"])
    trac = ["trac alpha=0.05", "trac alpha=0.1", "trac alpha=0.2", "trac alpha=0.5"]
    check_table(rep, set(trac) | {"bc_all", "bc_safe"})
    assert set(settings) == {(TASK, label) for label in trac + ["bc_all", "bc_safe"]}
    # rows by value, the base point among them
    assert [r["label"] for r in rep["dom"].rows] == trac + ["bc_all", "bc_safe"]
    page = tables(rep["dom_text"])
    sensitivity = page.tables["sensitivity"][1:]
    assert [{a.get("data-field"): t for a, t in cells}["values"] for _, cells in sensitivity] == [
        "0.05, 0.1, 0.2 (base), 0.5"]
    # 3 seeds per threshold but 6 runs per setting: no mean rests on fewer than 3 seeds
    assert not [t for _, cells in page.tables["settings"] for _, t in cells if "†" in t]
    check_thresholds(rep, page)
    check_runs(rep, page)
    # the training setup
    setup = {cells[0][1]: cells[1][1] for _, cells in page.tables["setup"]}
    assert setup["Steps"] == "1500 updates in all; TraC's first 600 (bc_steps) are BC", setup
    assert setup["Batch size"] == "32" and setup["Evaluation"] == "2 episodes per run, evaluation seed 0"
    assert setup["Learning rate"] == "0.0001"
    assert "Warm-up" in setup and "Trainer format" in setup
    assert "sha256 not in the report's input" in setup[f"Dataset of {TASK}"]
    names = [a["data-hyperparameter"] for a, _ in page.tables["hyperparameters"][1:]]
    assert set(BASE) | {"reference", "segments"} <= set(names), names
    # the learning curves, from the runs' train.jsonl
    alts = [img.get("alt") for img in page.images]
    assert f"{TASK}: TraC learning curves" in alts, alts
    assert f"{TASK}: sensitivity to alpha" in alts
    manifest = json.loads((rep["out"] / "figures" / "manifest.json").read_text())
    learning = json.loads((rep["out"] / "summary.json").read_text())["learning_curves"][0]
    assert learning["runs"] == learning["runs_read"] == 4 * len(THRESHOLDS) * len(SEEDS)
    assert [c["label"] for c in learning["settings"]] == trac
    assert "learning" in {f["kind"] for f in manifest["figures"]}
    assert "No figures" not in rep["html"]
    check_offline(rep)
    from PIL import Image

    with Image.open(rep["screenshot"]) as image:
        assert image.width >= 1000 and image.height >= 1000
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 16, f"the screenshot looks blank: {len(colours or [])} colours"
    # and not one colour with a few specks: the most common colour covers less than 99% of the page
    assert max(n for n, _ in colours) < 0.99 * image.width * image.height


def test_product_report_in_a_browser(tools, tmp_path):
    vary = {"alpha": [0.1, 0.5], "eta": [0.25, 1.0]}
    # the table only (the figures, inlined the same way, are checked above): keeps the test short
    rep = report(tools, tmp_path, "product", vary, ["trac"], screenshot=False, figures=False)
    labels = {label for _, label in expected_settings(rep["results"])}
    assert len(labels) == 4 and all("alpha=" in label and "eta=" in label for label in labels), labels
    check_table(rep, labels)
    # rows by value: alpha first, then eta
    assert [r["label"] for r in rep["dom"].rows] == ["trac alpha=0.1 eta=0.25", "trac alpha=0.1 eta=1",
                                                     "trac alpha=0.5 eta=0.25", "trac alpha=0.5 eta=1"]
    page = tables(rep["dom_text"])
    check_thresholds(rep, page)
    check_runs(rep, page)
    # no figures asked for: the page says so, and that the learning curves were not read
    assert "No figures: the report was made without figures (--no-figures)." in rep["dom_text"]
    assert "Learning curves not shown" in rep["dom_text"]
    check_offline(rep)
