"""Typed result tables: `results` and `report` rows come as text; their columns have types.

The coordinator sends `types` beside `columns` (`text`, `integer`, `number`, `boolean`; docs/PROTOCOL.md,
"Result columns"). An empty field is a missing value (a run without evaluation has no `safe`).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

KINDS = ("text", "integer", "number", "boolean")

# The columns of `results` as docs/PROTOCOL.md lists them, for a reply without `types`.
DOCUMENTED_TYPES: Dict[str, str] = {
    **{name: "text" for name in ("sweep", "run_id", "point", "setting", "task", "algorithm", "reference", "segments",
                                  "worker", "policy", "bc_stage", "state")},
    **{name: "integer" for name in ("batch_size", "bc_steps", "steps", "warmup_steps", "seed", "eval_episodes",
                                     "attempt", "steps_trained")},
    **{name: "number" for name in ("x", "y", "alpha", "eta", "beta", "gamma", "seg_ratio", "lr", "trac_lr_scale",
                                    "cost_threshold", "normalized_reward", "normalized_reward_std",
                                    "normalized_cost", "normalized_cost_std", "reward_return", "cost_return",
                                    "train_seconds")},
    "safe": "boolean",
}


def column_types(reply: dict) -> List[str]:
    columns = reply["columns"]
    types = reply.get("types")
    if isinstance(types, list) and len(types) == len(columns) and all(t in KINDS for t in types):
        return list(types)
    return [DOCUMENTED_TYPES.get(name, "text") for name in columns]


def convert(text: str, kind: str, column: str):
    """One field's value: None when empty."""
    if text == "":
        return None
    if kind == "integer":
        return int(text)
    if kind == "number":
        value = float(text)
        return value
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"column {column}: {text!r} is not true or false")
        return text == "true"
    return text


def records(reply: dict) -> List[dict]:
    """The rows as dicts of typed values, in column order."""
    columns = reply["columns"]
    types = column_types(reply)
    out = []
    for row in reply["rows"]:
        if len(row) != len(columns):
            raise ValueError(f"a row of {len(row)} fields for {len(columns)} columns")
        out.append({name: convert(value, kind, name) for name, value, kind in zip(columns, row, types)})
    return out


def frame(reply: dict):
    """A pandas DataFrame of the rows: integer columns int64 (Int64 when a value is missing, UInt64 past
    int64), number columns float64 (NaN when missing), boolean columns bool (boolean when missing)."""
    import pandas as pd

    columns = reply["columns"]
    types = column_types(reply)
    rows = records(reply)
    data = {}
    for name, kind in zip(columns, types):
        values = [row[name] for row in rows]
        missing = any(value is None for value in values)
        if kind == "integer":
            if any(value is not None and value > 2**63 - 1 for value in values):
                dtype = "UInt64"
            else:
                dtype = "Int64" if missing else "int64"
            data[name] = pd.array(values, dtype=dtype)
        elif kind == "number":
            data[name] = pd.array([math.nan if value is None else value for value in values], dtype="float64")
        elif kind == "boolean":
            data[name] = pd.array(values, dtype="boolean" if missing else "bool")
        else:
            data[name] = pd.Series(values, dtype=None if values else "object")
    return pd.DataFrame(data, columns=columns)
