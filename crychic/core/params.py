"""Reading `params.yaml`, the one place where a run's settings live (DVC tracks its keys).

A stage reads its settings through `select`, first thing, which also checks every value it hands
out against the schema (`crychic.core.params_schema`): a bad setting stops the stage before any
work, naming the key, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from crychic.core.params_schema import check


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: params file not found (run from the project root)")
    with path.open() as f:
        params = yaml.safe_load(f) or {}
    if not isinstance(params, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(params).__name__}")
    return params


def select(params: dict, keys: list[str]) -> dict:
    """The nested subset of `params` named by dotted keys: what a stage may read. dvc.yaml lists
    the same keys for the stage (a test keeps them in step), so DVC re-runs a stage exactly when
    one of them changes. A key missing from params.yaml is an error that names it: pipeline
    settings have no silent defaults in code. Every value returned is checked against the schema
    (`crychic.core.params_schema.RULES`); a bad one raises `ParamsError` naming the key, the value
    and what is allowed. The dict returned is the params' own values, unchanged."""
    out: dict = {}
    for key in keys:
        node, target = params, out
        *parents, leaf = key.split(".")
        for depth, part in enumerate([*parents, leaf]):
            if not isinstance(node, dict) or part not in node:
                where = ".".join([*parents, leaf][: depth + 1])
                raise KeyError(f"params.yaml: missing setting '{where}' (needed for '{key}')")
            if depth < len(parents):
                node, target = node[part], target.setdefault(part, {})
        target[leaf] = node[leaf]
    check(flatten(out))
    return out


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params -> {dotted key: leaf value} (MLflow params, presets as `-S key=value`)."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
