"""Run a params preset as a DVC experiment: `python -m pipeline.presets presets/X.yaml [key=value ...]`.

A preset is a partial params.yaml. Every leaf becomes a `dvc exp run -S key=value`, so params.yaml
stays the small default, the preset run is tracked like any experiment, and the stages re-run
only where their keys changed. Extra `key=value` arguments (the dataset's location) come last
and win.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import yaml

from crychic.core.params import flatten


def experiment_command(preset: str | Path, overrides: list[str]) -> list[str]:
    path = Path(preset)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: preset not found")
    leaves = flatten(yaml.safe_load(path.read_text()) or {})
    command = ["dvc", "exp", "run", "-n", path.stem.replace("_", "-")]
    for key, value in leaves.items():
        command += ["-S", f"{key}={json.dumps(value)}"]
    for override in overrides:
        if "=" not in override:
            raise ValueError(f"expected key=value, got {override!r}")
        command += ["-S", override]
    return command


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit(__doc__)
    command = experiment_command(argv[0], argv[1:])
    print(" ".join(command), flush=True)
    dvc = shutil.which("dvc", path=os.path.dirname(sys.executable)) or "dvc"
    os.execvp(dvc, [dvc, *command[1:]])


if __name__ == "__main__":
    main()
