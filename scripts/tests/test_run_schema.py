"""run.json, train.jsonl and policy.safetensors of a real (tiny) training run against docs/.

Trains with the release binary ($TRAC_SWEEP_BIN or .build/release/trac-sweep) on a 10-episode
BallRun dataset made by scripts/make_dataset.py: a TraC run evaluated in the simulator (2
episodes) and a BC-All run without evaluation, 20 updates each. Then checks each run.json against
docs/run.schema.json (JSON Schema draft 2020-12). The `jsonschema` package is not in the project's
venv, so a small validator for the keywords that schema uses is below; it refuses any other
keyword, so the schema cannot quietly grow past what is checked. Skipped when the binary is not
built.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "docs" / "run.schema.json"
FORMATS = ROOT / "docs" / "FORMATS.md"


def binary() -> Path:
    return Path(os.environ.get("TRAC_SWEEP_BIN") or ROOT / ".build/release/trac-sweep")


# ---------------------------------------------------------------------------------------------
# A validator for the subset of JSON Schema 2020-12 that docs/run.schema.json uses.
# ---------------------------------------------------------------------------------------------

ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs"}
KEYWORDS = ANNOTATIONS | {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "enum", "const",
    "minimum", "maximum", "exclusiveMinimum", "minLength", "pattern", "$ref", "anyOf",
}


def _is_type(value, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    raise ValueError(f"unsupported type {name!r}")


def validate(instance, schema: dict, root: dict | None = None, path: str = "$") -> list[str]:
    """Every violation of `schema` by `instance`, as `path: problem` lines (empty when valid)."""
    root = schema if root is None else root
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"{path}: the schema uses keywords this validator does not check: {sorted(unknown)}")
    errors: list[str] = []
    if "$ref" in schema:
        reference = schema["$ref"]
        if not reference.startswith("#/"):
            raise ValueError(f"{path}: only local references are supported, got {reference}")
        target = root
        for part in reference[2:].split("/"):
            target = target[part]
        errors += validate(instance, target, root, path)
    if "anyOf" in schema:
        if all(validate(instance, option, root, path) for option in schema["anyOf"]):
            errors.append(f"{path}: {instance!r} matches none of anyOf")
    if "type" in schema and not _is_type(instance, schema["type"]):
        return errors + [f"{path}: {instance!r} is not of type {schema['type']}"]
    if "const" in schema and instance != schema["const"]:
        errors.append(f"{path}: {instance!r} is not {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        errors.append(f"{path}: {instance!r} is not one of {schema['enum']}")
    numeric = _is_type(instance, "number")
    if numeric and "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{path}: {instance} < minimum {schema['minimum']}")
    if numeric and "maximum" in schema and instance > schema["maximum"]:
        errors.append(f"{path}: {instance} > maximum {schema['maximum']}")
    if numeric and "exclusiveMinimum" in schema and instance <= schema["exclusiveMinimum"]:
        errors.append(f"{path}: {instance} <= exclusiveMinimum {schema['exclusiveMinimum']}")
    if isinstance(instance, str):
        if "minLength" in schema and len(instance) < schema["minLength"]:
            errors.append(f"{path}: {instance!r} is shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            errors.append(f"{path}: {instance!r} does not match {schema['pattern']}")
    if isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            errors.append(f"{path}: {len(instance)} items, fewer than {schema['minItems']}")
        if "items" in schema:
            for index, item in enumerate(instance):
                errors += validate(item, schema["items"], root, f"{path}[{index}]")
    if isinstance(instance, dict):
        for key in schema.get("required", []):
            if key not in instance:
                errors.append(f"{path}: the required key {key!r} is missing")
        properties = schema.get("properties", {})
        for key, value in instance.items():
            if key in properties:
                errors += validate(value, properties[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{path}: the key {key!r} is not in the schema")
    return errors


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Real runs
# ---------------------------------------------------------------------------------------------

TINY = ["--steps", "20", "--bc-steps", "10", "--batch-size", "8", "--log-every", "5"]


def train(out: Path, dataset: Path, *arguments: str) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", TRAC_PYTHON=sys.executable,
               TRAC_EVALUATOR=str(ROOT / "scripts" / "evaluator.py"))
    result = subprocess.run(
        [str(binary()), "train", "--dataset", str(dataset), "--task", "OfflineBallRun-v0",
         "--cost-threshold", "20", "--seed", "0", *TINY, *arguments, "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "run.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    if not binary().is_file():
        pytest.skip(f"{binary()} is not built (swift build -c release)")
    directory = tmp_path_factory.mktemp("runs")
    dataset = directory / "SafetyBallRun-v0-tiny.hdf5"
    made = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_dataset.py"), "OfflineBallRun-v0", "--episodes", "10",
         "--seed", "0", "--out", str(dataset)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    assert made.returncode == 0, made.stderr
    trac = train(directory / "trac", dataset, "--algorithm", "trac", "--evaluate", "--eval-episodes", "2")
    bc_all = train(directory / "bc_all", dataset, "--algorithm", "bc_all")
    return {"trac": (directory / "trac", trac), "bc_all": (directory / "bc_all", bc_all)}


def test_run_json_of_an_evaluated_trac_run_matches_the_schema(runs, schema):
    _, record = runs["trac"]
    assert validate(record, schema) == []
    # What the schema leaves open, checked against what was asked.
    assert record["spec"]["hyperparameters"]["steps"] == 20 and record["final"]["steps"] == 20
    assert record["spec"]["algorithm"] == "trac" and record["final"]["phase"] == "trac"
    assert {"bc_loss", "trac_loss", "accuracy"} <= set(record["final"])
    data = record["data"]
    assert data["safe_segments"] + data["unsafe_segments"] == data["segments"]
    assert 0 < data["desirable_segments"] and data["desirable_segments"] + data["undesirable_segments"] <= data["segments"]
    evaluation = record["evaluation"]
    assert evaluation["episodes"] == 2 == len(evaluation["reward_returns"]) == len(evaluation["cost_returns"])
    [threshold] = evaluation["by_threshold"]
    assert threshold["cost_threshold"] == 20
    assert threshold["safe"] == (threshold["normalized_cost"]["mean"] <= 1)
    assert record["timing"]["total_seconds"] >= record["timing"]["evaluation_seconds"]


def test_run_json_of_a_bc_baseline_without_evaluation_matches_the_schema(runs, schema):
    _, record = runs["bc_all"]
    assert validate(record, schema) == []
    assert "evaluation" not in record and "evaluation_seconds" not in record["timing"]
    assert record["final"]["phase"] == "bc" and "trac_loss" not in record["final"]
    assert "trac_steps_per_second" not in record["timing"]
    # `train` records the hyperparameters it was given, TraC-only ones included (a sweep gives its
    # baselines the defaults of those, docs/GRID.md).
    assert record["spec"]["hyperparameters"]["bc_steps"] == 10


def test_the_validator_refuses_what_the_schema_forbids(runs, schema):
    """So that the two tests above can fail: each broken copy of a real run.json is refused."""
    _, record = runs["trac"]

    def broken(change) -> dict:
        copy = json.loads(json.dumps(record))
        change(copy)
        return copy

    cases = {
        "missing key": lambda r: r.pop("run_id"),
        "unknown key": lambda r: r.update(extra=1),
        "wrong type": lambda r: r["data"].update(segments="10"),
        "bad enum": lambda r: r["spec"].update(algorithm="ppo"),
        "bad pattern": lambda r: r.update(run_id="XYZ"),
        "out of range": lambda r: r["spec"]["hyperparameters"].update(x=1.5),
        "nested item": lambda r: r["evaluation"]["by_threshold"][0].update(safe="yes"),
        "unknown hyperparameter": lambda r: r["spec"]["hyperparameters"].update(kappa=1),
        "null instead of absent": lambda r: r["final"].update(accuracy=None),
    }
    for name, change in cases.items():
        assert validate(broken(change), schema), f"the validator accepted a run.json with a {name}"


def test_train_jsonl_has_the_documented_lines(runs):
    directory, record = runs["trac"]
    lines = [json.loads(line) for line in (directory / "train.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [5, 10, 15, 20]
    assert [line["phase"] for line in lines] == ["bc", "bc", "trac", "trac"]
    for line in lines:
        expected = {"step", "total_steps", "phase", "loss", "lr", "steps_per_second", "elapsed_seconds"}
        if line["phase"] == "trac":
            expected.add("accuracy")
        assert set(line) == expected
        assert line["total_steps"] == 20
    # BC at lr; the TraC warm-up: lr * 0.1 * k / 10000 at the k-th TraC update (docs/ALGORITHM.md).
    assert lines[1]["lr"] == pytest.approx(1e-4)
    assert lines[3]["lr"] == pytest.approx(1e-4 * 0.1 * 10 / 10000)
    assert record["final"]["trac_loss"] == pytest.approx(lines[3]["loss"])


def test_policy_file_has_the_documented_tensors_and_metadata(runs):
    from safetensors import safe_open

    directory, record = runs["trac"]
    with safe_open(str(directory / "policy.safetensors"), framework="numpy") as f:
        metadata = f.metadata()
        shapes = {name: f.get_tensor(name).shape for name in f.keys()}
        dtypes = {f.get_tensor(name).dtype for name in f.keys()}
    assert shapes == {"layers.0.weight": (256, 7), "layers.0.bias": (256,), "layers.1.weight": (256, 256),
                      "layers.1.bias": (256,), "layers.2.weight": (2, 256), "layers.2.bias": (2,)}
    assert dtypes == {np.dtype(np.float32)}
    assert metadata == {"format": "trac-policy/1", "hidden_activation": "relu", "output_activation": "tanh",
                        "task": "OfflineBallRun-v0", "obs_dim": "7", "act_dim": "2",
                        "run_id": record["run_id"], "algorithm": "trac",
                        "trainer_version": record["trainer_version"]}


def test_every_run_json_key_is_documented(schema):
    """docs/FORMATS.md names every key the schema allows, so the page and the schema stay together."""
    text = re.sub(r"```.*?```", "", FORMATS.read_text(encoding="utf-8"), flags=re.S)  # prose and tables only
    keys: set[str] = set()

    def collect(node):
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    # Names written in code spans: `timing`, `{"mean", "std"}`, `by_threshold[].safe`.
    documented = {word for span in re.findall(r"`([^`]+)`", text) for word in re.findall(r"\w+", span)}
    undocumented = sorted(keys - documented)
    assert not undocumented, f"docs/FORMATS.md does not mention {undocumented}"


def test_trac_sweep_typed_from_path_finds_its_evaluator(runs, tmp_path):
    """README: after `export PATH=".../.build/release:$PATH"`, `trac-sweep` works from any folder.

    A program found on PATH gets only its name as argv[0]; the evaluator must still be found next to
    the binary's checkout, not only when the working directory is inside it.
    """
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{python} is missing (scripts/setup.sh makes it)")
    directory, _ = runs["trac"]
    env = {key: value for key, value in os.environ.items() if key not in ("TRAC_EVALUATOR", "TRAC_PYTHON")}
    env.update(PATH=f"{binary().parent}{os.pathsep}{env.get('PATH', '')}", OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(
        ["trac-sweep", "evaluate", str(directory / "policy.safetensors"), "--task", "OfflineBallRun-v0",
         "--cost-threshold", "20", "--episodes", "1", "--json"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["by_threshold"][0]["cost_threshold"] == 20


def test_the_example_in_formats_md_matches_the_schema(schema):
    blocks = re.findall(r"```json\n(.*?)```", FORMATS.read_text(encoding="utf-8"), flags=re.S)
    examples = [json.loads(block) for block in blocks if '"trac-run/1"' in block]
    assert len(examples) == 1, "docs/FORMATS.md should show one run.json"
    assert validate(examples[0], schema) == []
