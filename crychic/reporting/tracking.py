"""MLflow bookkeeping shared by the training and evaluation stages.

One MLflow run per stage execution, in a SQLite store at an *absolute* path (so a
`dvc exp run --temp/--queue` run, which executes in a copy under `.dvc/tmp/exps/`, still records
into the project's store), overridable with `MLFLOW_TRACKING_URI`. Every run is tagged with the
stage, the DVC experiment name and the git commit, and carries the stage's params flattened.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crychic.core.params import flatten

EXPERIMENT = "crychic"
# What `mlflow.pytorch.log_model` would otherwise infer by importing half the environment (slow).
MODEL_PIP_REQUIREMENTS = ["torch==2.13.0", "numpy==1.26.4", "mlflow==3.17.2"]


def project_root(start: str | Path | None = None) -> Path:
    """The user's project root, also from inside a DVC temporary experiment workspace."""
    path = Path(start or os.getcwd()).resolve()
    parts = path.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return path


def tracking_uri(root: str | Path | None = None) -> str:
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{project_root(root) / 'mlflow.db'}"


def artifact_location(root: str | Path | None = None) -> str:
    return (project_root(root) / "mlruns").as_uri()


def git_commit(cwd: str | Path | None = None) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def start_run(stage: str, params: Mapping[str, Any], *, experiment: str = EXPERIMENT):
    """Start (and return) the stage's MLflow run; use as a context manager."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    if mlflow.get_experiment_by_name(experiment) is None:
        mlflow.create_experiment(experiment, artifact_location=f"{artifact_location()}/{experiment}")
    mlflow.set_experiment(experiment)
    exp_name = os.environ.get("DVC_EXP_NAME", "workspace")
    run = mlflow.start_run(run_name=f"{stage}-{exp_name}", tags={
        "stage": stage, "dvc_experiment": exp_name, "git_commit": git_commit(), "mlflow.source.git.commit": git_commit(),
    })
    flat = {k: ("null" if v is None else v) for k, v in flatten(params).items()}
    items = list(flat.items())
    for i in range(0, len(items), 100):  # MLflow caps params per request
        mlflow.log_params(dict(items[i : i + 100]))
    return run


def log_torch_model(model, input_example, *, name: str = "model") -> None:
    """Log a module whose forward takes one tensor and returns logits (what pyfunc can serve)."""
    import mlflow.pytorch

    mlflow.pytorch.log_model(model, name=name, input_example=input_example, serialization_format="pickle",
                             pip_requirements=MODEL_PIP_REQUIREMENTS)


class StageRun:
    """A stage's MLflow run, or nothing when MLflow is off (quick tests) or this is not rank 0 of
    a torchrun job: `log_metrics`, `log_figure` and `run_id` work either way, so a stage's code has
    no `if mlflow` branches, and the run is always ended, also when the stage fails."""

    def __init__(self, stage: str, params: Mapping[str, Any], enabled: bool = True):
        self.stage, self.params = stage, params
        self.enabled = enabled and int(os.environ.get("RANK", "0")) == 0
        self.run_id: str | None = None

    def __enter__(self) -> "StageRun":
        if self.enabled:
            self.run_id = start_run(self.stage, self.params).info.run_id
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            import mlflow

            mlflow.end_run("FAILED" if exc[0] is not None else "FINISHED")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.enabled:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_figure(self, figure, name: str) -> None:
        """Log a matplotlib figure (built without pyplot: `crychic.reporting.figures`)."""
        if self.enabled:
            import mlflow

            mlflow.log_figure(figure, name)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        if self.enabled:
            import mlflow

            mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_numbers(self, report: Mapping[str, Any]) -> None:
        """Every number of a nested report as a metric with a dotted name."""
        if self.enabled:
            import mlflow

            mlflow.log_metrics({metric_name(key): float(value) for key, value in flatten(report).items()
                                if isinstance(value, (int, float)) and not isinstance(value, bool)})

    def log_dict(self, report: Mapping[str, Any], artifact: str) -> None:
        if self.enabled:
            import mlflow

            mlflow.log_dict(dict(report), artifact)


def metric_name(key: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces; comparisons are named 'a - b'."""
    return key.replace("/", ".").replace(" - ", "_minus_")
