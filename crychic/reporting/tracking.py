"""MLflow bookkeeping shared by the training and evaluation stages.

One MLflow run per stage execution, in a SQLite store at an *absolute* path (so a
`dvc exp run --temp/--queue` run, which executes in a copy under `.dvc/tmp/exps/`, still records
into the project's store), overridable with `MLFLOW_TRACKING_URI`. Every run is tagged with the
stage, the DVC experiment name and the git commit, and carries the stage's params flattened.

The experiment is tagged as model training (`mlflow.experimentKind`), also one created before the
tag was set. A training run logs the data it read as MLflow datasets (context "training"): under
DVC (`dvc repro`, `dvc exp run`: `DVC_STAGE` is set) each input is the DVC out that holds it, named
by the out's path, with the md5 that the producing stage's entry in the workspace's `dvc.lock`
records as digest (DVC writes that entry before it runs the consumer). Run by hand, the lock may
not match the files, so the digest is `content_digest` of the path as given; each dataset's
profile says which of the two its digest is.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from crychic.core.machine import describe_machine, machine_tags
from crychic.core.params import flatten

EXPERIMENT = "crychic"
# Model training, not GenAI (traces, tokens). MLflow 3.17's UI itself opens an experiment in the
# view of a per-browser workflow switch instead; `make ui` prints a link that selects it.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
# Values of the tag that record no user's choice (empty, or one of MLflow's inferred kinds).
_INFERRED_KINDS = {"", "no_inferred_type", "genai_development_inferred", "custom_model_development_inferred"}
CONTENT_DIGEST = ("crychic content digest: the first 32 hex digits of sha256 over each file's path relative "
                  "to the input (sorted; empty for a single file), a NUL byte and the file's sha256")
# A logged model's requirements (`crychic.models.logged`; the crychic package itself besides), given
# because MLflow would otherwise infer them by importing half the environment (slow).
MODEL_PIP_REQUIREMENTS = ["torch==2.13.0", "numpy==1.26.4", "mlflow==3.17.2", "safetensors==0.8.0"]


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


def ensure_experiment(experiment: str = EXPERIMENT) -> str:
    """The experiment's id in this project's store: created if missing, and tagged as model
    training unless a user chose another kind."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri())
    found = client.get_experiment_by_name(experiment)
    if found is None:
        try:
            return client.create_experiment(experiment, artifact_location=f"{artifact_location()}/{experiment}",
                                            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except MlflowException:  # created meanwhile by a stage running in parallel
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise
    if found.tags.get(EXPERIMENT_KIND_TAG, "") in _INFERRED_KINDS:
        client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return found.experiment_id


def start_run(stage: str, params: Mapping[str, Any], *, experiment: str = EXPERIMENT):
    """Start (and return) the stage's MLflow run; use as a context manager."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(experiment_id=ensure_experiment(experiment))
    exp_name = os.environ.get("DVC_EXP_NAME", "workspace")
    run = mlflow.start_run(run_name=f"{stage}-{exp_name}", tags={
        "stage": stage, "dvc_experiment": exp_name, "git_commit": git_commit(), "mlflow.source.git.commit": git_commit(),
        **machine_tags(describe_machine()),  # trained figures are one machine's: crychic.core.machine
    })
    flat = {k: ("null" if v is None else v) for k, v in flatten(params).items()}
    items = list(flat.items())
    for i in range(0, len(items), 100):  # MLflow caps params per request
        mlflow.log_params(dict(items[i : i + 100]))
    return run


def dvc_lock_outs(lock: str | Path = "dvc.lock") -> dict[str, dict[str, Any]]:
    """Every out the lock file records: its path -> {"stage", "md5", "size", "nfiles"} (the last two
    when DVC wrote them). No lock file: an empty dict."""
    path = Path(lock)
    if not path.is_file():
        return {}
    try:
        stages = (yaml.safe_load(path.read_text()) or {}).get("stages", {})
        return {out["path"]: {"stage": name, **{k: out[k] for k in ("md5", "size", "nfiles") if k in out}}
                for name, entry in stages.items() for out in entry.get("outs", [])}
    except (yaml.YAMLError, AttributeError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a DVC lock file ({error})") from error


def content_digest(path: str | Path) -> str:
    """The digest of an input no dvc.lock entry vouches for (a file or directory): CONTENT_DIGEST."""
    path = Path(path)
    if path.is_file():
        files = [(path, "")]
    elif path.is_dir():
        files = sorted(((f, f.relative_to(path).as_posix()) for f in path.rglob("*") if f.is_file()),
                       key=lambda pair: pair[1])
    else:
        raise FileNotFoundError(f"{path}: a training input that does not exist")
    total = hashlib.sha256()
    for file, relative in files:
        content = hashlib.sha256()
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                content.update(block)
        total.update(relative.encode() + b"\0" + content.digest())
    return total.hexdigest()[:32]


def input_dataset_fields(path: str | Path, lock_outs: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """What a training input is logged as: name, source (an absolute path in the user's project,
    also from a DVC temporary workspace), digest and profile. `lock_outs` (`dvc_lock_outs`) is
    None outside DVC; then, and for a path no out holds, the digest is `content_digest`."""
    given = Path(path)
    relative = Path(os.path.relpath(given.resolve(), Path.cwd().resolve())) if given.is_absolute() else given
    relative_posix = os.path.normpath(relative).replace(os.sep, "/")
    holders = [out for out in (lock_outs or {}) if relative_posix == out or relative_posix.startswith(out + "/")]
    if holders:
        out = max(holders, key=len)
        entry = lock_outs[out]
        profile = {"digest": f"dvc.lock: md5 of out '{out}' of stage '{entry['stage']}'",
                   **{k: entry[k] for k in ("size", "nfiles") if k in entry}}
        return {"name": out, "source": str(project_root() / out), "digest": entry["md5"], "profile": profile}
    if not given.exists():
        raise FileNotFoundError(f"{given}: a training input that does not exist")
    reason = "no dvc.lock entry holds it" if lock_outs is not None else "run outside DVC"
    return {"name": relative_posix if not relative_posix.startswith("..") else str(given.resolve()),
            "source": str(given.resolve() if given.is_absolute() else project_root() / relative),
            "digest": content_digest(given), "profile": {"digest": f"{CONTENT_DIGEST} ({reason})"}}


def input_datasets(paths: Iterable[str | Path]) -> list:
    """The stage's inputs as MLflow datasets (`input_dataset_fields`), reading the cwd's dvc.lock
    under DVC (in a `dvc exp run --temp` workspace that is the workspace's own lock)."""
    from mlflow.data.dataset_source_registry import get_registered_sources
    from mlflow.data.meta_dataset import MetaDataset

    # MLflow registers its local-file source twice (for "" and "file:"): resolving a path warns.
    local_source = next(source for source in get_registered_sources() if source._get_source_type() == "local")

    class InputDataset(MetaDataset):
        def __init__(self, source, name: str, digest: str, profile: dict):
            self._profile = profile
            super().__init__(source, name=name, digest=digest)

        @property
        def profile(self) -> dict:
            return self._profile

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(self._profile)}

    lock_outs = dvc_lock_outs("dvc.lock") if os.environ.get("DVC_STAGE") else None
    datasets = []
    for path in paths:
        fields = input_dataset_fields(path, lock_outs)
        datasets.append(InputDataset(local_source(fields["source"]), fields["name"], fields["digest"],
                                     fields["profile"]))
    return datasets


class StageRun:
    """A stage's MLflow run, or nothing when MLflow is off (quick tests) or this is not rank 0 of
    a torchrun job: `log_metrics`, `log_figure` and `run_id` work either way, so a stage's code has
    no `if mlflow` branches, and the run is always ended, also when the stage fails. `inputs`: the
    files and directories the stage reads, logged as the run's training datasets."""

    def __init__(self, stage: str, params: Mapping[str, Any], enabled: bool = True,
                 inputs: Iterable[str | Path] = ()):
        self.stage, self.params, self.inputs = stage, params, list(inputs)
        self.enabled = enabled and int(os.environ.get("RANK", "0")) == 0
        self.run_id: str | None = None

    def __enter__(self) -> "StageRun":
        if self.enabled:
            self.run_id = start_run(self.stage, self.params).info.run_id
            if self.inputs:
                import mlflow

                try:
                    datasets = input_datasets(self.inputs)
                    mlflow.log_inputs(datasets, contexts=["training"] * len(datasets), tags_list=[None] * len(datasets))
                except BaseException:
                    mlflow.end_run("FAILED")
                    raise
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
