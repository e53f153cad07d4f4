"""The HTML report in a real headless browser (issue 5): Debian's chromium renders `index.html` offline,
and the numbers of its settings table equal those computed here from the report's `results.csv`.

Runs `trac-sweep report --grid GRID --results CSV --out DIR` (the binary is $TRAC_SWEEP_BIN or
.build/release/trac-sweep) on a synthetic grid and synthetic results, then
`chromium --headless=new --dump-dom` and `--screenshot`. Skipped, with the reason, when the binary
has no `report` command or chromium is not installed (scripts/setup.sh installs it).
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TASK = "OfflineBallCircle-v0"
BASE = {"x": 0.5, "y": 0.0, "alpha": 0.2, "eta": 0.25, "beta": 0.7, "gamma": 0.99, "seg_ratio": 1.0,
        "batch_size": 32, "lr": 1e-4, "bc_steps": 600, "steps": 1500}
HYPERPARAMETERS = list(BASE)
THRESHOLDS = [10, 20]
SEEDS = [0, 1, 2]
COLUMNS = ["task", "algorithm", *HYPERPARAMETERS, "reference", "cost_threshold", "seed", "normalized_reward",
           "normalized_cost"]
TOLERANCE = 0.0015  # the table prints 3 decimals
FIELDS = ("runs", "reward_mean", "reward_std", "cost_mean", "cost_std", "safe_share")
# never let the browser reach the network: no DNS, every proxied request to a closed local port
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
           "--no-first-run", "--no-default-browser-check", "--disable-extensions"]


def binary() -> Path:
    return Path(os.environ.get("TRAC_SWEEP_BIN") or ROOT / ".build/release/trac-sweep")


def chromium() -> str | None:
    return shutil.which("chromium") or (("/usr/bin/chromium") if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def tools():
    trac_sweep = binary()
    if not trac_sweep.exists():
        pytest.skip(f"{trac_sweep} is not built (swift build -c release)")
    probe = subprocess.run([str(trac_sweep), "report", "--help"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0 or "--results" not in probe.stdout:
        pytest.skip(f"{trac_sweep} has no `report` command (with --grid, --results) yet")
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; scripts/setup.sh installs it)")
    return trac_sweep, browser


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
    return [{name: v} for name in names for v in vary[name]]


def results_rows(design: str, vary: dict, algorithms: list[str], seed: int) -> list[dict]:
    """One row per run of the grid, with seeded random normalized reward and cost; some costs above 1."""
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
                row = {"task": TASK, "algorithm": algorithm, **{h: hps[h] for h in HYPERPARAMETERS},
                       "reference": "bc", "cost_threshold": threshold, "seed": s,
                       "normalized_reward": round(float(rng.uniform(0.0, 0.9)), 6),
                       "normalized_cost": round(float(level + rng.uniform(0.0, 0.9)), 6)}
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
           figures: bool = True) -> dict:
    trac_sweep, chrome = tools
    grid_path, csv_path, out = tmp / "grid.json", tmp / "results.csv", tmp / "report"
    grid_path.write_text(json.dumps(grid(design, vary, algorithms), indent=2))
    rows = results_rows(design, vary, algorithms, seed=5)
    write_csv(csv_path, rows)
    made = subprocess.run([str(trac_sweep), "report", "--grid", str(grid_path), "--results", str(csv_path),
                           "--out", str(out), *([] if figures else ["--no-figures"])],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert made.returncode == 0, made.stdout + made.stderr
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
            "screenshot": shot}


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
        for name in FIELDS[1:]:
            shown = float(cells[name].strip())
            assert math.isclose(shown, want[name], abs_tol=TOLERANCE), (key, name, shown, want[name])
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


def test_one_at_a_time_report_in_a_browser(tools, tmp_path):
    vary = {"alpha": [0.1, 0.2, 0.5]}
    rep = report(tools, tmp_path, "one_at_a_time", vary, ["trac", "bc_all", "bc_safe"], screenshot=True)
    settings = expected_settings(rep["results"])
    trac = sorted(label for _, label in settings if label.startswith("trac"))
    assert len(trac) == 3 and all("alpha=" in label for label in trac), trac
    check_table(rep, set(trac) | {"bc_all", "bc_safe"})
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
    check_offline(rep)
