"""docs/GRID.md's example grids parse and have the run counts the page states.

Each example is read by the real parser through `trac-sweep report --grid GRID --results CSV
--no-figures` with a results table that has no rows: the report's summary.json then says how
many runs the grid expects. Skipped when the release binary is not built.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRID_DOC = ROOT / "docs" / "GRID.md"
HEADER = ("task,algorithm,x,y,alpha,eta,beta,gamma,seg_ratio,batch_size,lr,bc_steps,steps,reference,"
          "cost_threshold,seed,normalized_reward,normalized_cost\n")


def binary() -> Path:
    return Path(os.environ.get("TRAC_SWEEP_BIN") or ROOT / ".build/release/trac-sweep")


def expected_runs(grid: Path, tmp: Path) -> int:
    results = tmp / "empty.csv"
    results.write_text(HEADER)
    out = tmp / f"report-{grid.stem}"
    done = subprocess.run([str(binary()), "report", "--grid", str(grid), "--results", str(results), "--out", str(out),
                           "--no-figures"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{grid.name}: {done.stderr}"
    return json.loads((out / "summary.json").read_text())["completeness"]["expected"]


def test_example_grids_have_the_stated_run_counts(tmp_path):
    if not binary().is_file():
        pytest.skip(f"{binary()} is not built (swift build -c release)")
    text = GRID_DOC.read_text(encoding="utf-8")
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, flags=re.S)]
    counts = {}
    for example in examples:
        path = tmp_path / f"{example['name']}.json"
        path.write_text(json.dumps(example))
        counts[example["name"]] = expected_runs(path, tmp_path)
    # The numbers the page gives next to each example.
    assert counts == {"ballcircle-alpha-eta": 63, "no-pretraining": 72, "ball-alpha-x-product": 36}
    for count in counts.values():
        assert re.search(rf"\b{count} runs\b", text), f"docs/GRID.md does not state {count} runs"
