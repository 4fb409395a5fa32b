"""The trained networks as MLflow models that load without running code from the model's files.

Why: a model logged with pickle serialisation is unpickled on load, and unpickling can run any
code the file names, so such a model is only as safe as wherever it came from. A logged CRYCHIC
network is instead its weights and plain data:

- `weights.safetensors`: the CrychicModel's state dict (safetensors holds tensors and nothing else);
- `crychic_model.json`: the model's config (`CrychicConfig` as plain data), the stage that trained
  it, the registered name (`crychic.training.stage.MODEL_NAMES`), the input it serves on
  (`modality`: "heatmap" for the teacher, "rgb" for the students), the output that is its logits
  (`output_key`) and the class names in label order.

`load_logged_model(uri)` rebuilds the network from those with this package's own code. For
`mlflow.pyfunc.load_model(uri).predict(array)` the model is logged as MLflow "models from code":
the pyfunc is `crychic/models/logged_pyfunc.py`, a copy of which MLflow keeps with the model and
imports on load; it calls `load_logged_model`'s reader too. Either way, loading needs this
package installed (`pip install -e .`): the model's files hold no code of their own.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from crychic.models.crychic_model import CrychicModel, config_from_dict

WEIGHTS_FILE, CONFIG_FILE = "weights.safetensors", "crychic_model.json"
PYFUNC_CODE = Path(__file__).with_name("logged_pyfunc.py")
FORMAT = 1  # of crychic_model.json: a reader refuses formats it does not know


@dataclass
class LoggedModel:
    """A logged network, ready to predict: `module` is the whole CrychicModel on CPU in eval mode;
    `logits(x)` runs it on one input (`modality`, e.g. rgb ``N x 3 x T x H x W``) and returns
    ``N x len(label_names)`` logits (the forward's `output_key`)."""

    module: CrychicModel
    stage: str
    model_name: str
    modality: str
    output_key: str
    label_names: list[str]

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(**{self.modality: x})[self.output_key]


def write_logged_model(directory: str | Path, model: CrychicModel, *, stage: str, model_name: str, modality: str,
                       output_key: str, label_names: list[str]) -> dict[str, Path]:
    """Write the weights and the JSON description into `directory`; returns {"weights", "config"}: paths."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {"weights": directory / WEIGHTS_FILE, "config": directory / CONFIG_FILE}
    # Cloned: safetensors refuses tensors that share memory, and no two entries should.
    save_file({key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()},
              str(files["weights"]))
    description = {"format": FORMAT, "stage": stage, "model_name": model_name, "modality": modality,
                   "output_key": output_key, "label_names": list(label_names),
                   "model_config": dataclasses.asdict(model.config)}
    files["config"].write_text(json.dumps(description, indent=1) + "\n")
    return files


def read_logged_model(weights: str | Path, config: str | Path) -> LoggedModel:
    """The network of a logged model's two files (`write_logged_model`), rebuilt with this package's code."""
    from safetensors.torch import load_file

    description = json.loads(Path(config).read_text())
    if description.get("format") != FORMAT:
        raise ValueError(f"{config}: a logged CRYCHIC model of format {description.get('format')!r}; "
                         f"this code reads format {FORMAT}")
    module = CrychicModel(config_from_dict(description["model_config"]))
    module.load_state_dict(load_file(str(weights)))  # strict: every weight present, none unknown
    return LoggedModel(module=module.eval(), stage=description["stage"], model_name=description["model_name"],
                       modality=description["modality"], output_key=description["output_key"],
                       label_names=list(description["label_names"]))


def load_logged_model(uri: str) -> LoggedModel:
    """A logged network from its MLflow URI (``runs:/<run_id>/<model name>``, ``models:/<id or name/version>``,
    or a local directory of a saved model), without importing its pyfunc and without unpickling."""
    import mlflow
    from mlflow.models import Model

    local = Path(uri) if Path(uri).is_dir() else Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    artifacts = Model.load(str(local)).flavors.get("python_function", {}).get("artifacts", {})
    if not {"weights", "config"} <= artifacts.keys():
        raise ValueError(f"{uri}: not a logged CRYCHIC model (expected the artifacts 'weights' and 'config'; "
                         "a model logged before issue 24 was pickled: retrain its stage to log it again)")
    return read_logged_model(local / artifacts["weights"]["path"], local / artifacts["config"]["path"])


def log_crychic_model(model: CrychicModel, input_example: np.ndarray, *, stage: str, model_name: str,
                      modality: str, output_key: str, label_names: list[str]) -> str:
    """Log `model` into the active MLflow run under `model_name` (weights, JSON, the pyfunc's code);
    `input_example` is one batch of its input (``1 x ...``), kept with the model. Returns the model's URI."""
    import mlflow.pyfunc

    from crychic.reporting.tracking import MODEL_PIP_REQUIREMENTS

    with tempfile.TemporaryDirectory(prefix="crychic-model-") as directory:
        files = write_logged_model(directory, model, stage=stage, model_name=model_name, modality=modality,
                                   output_key=output_key, label_names=label_names)
        info = mlflow.pyfunc.log_model(name=model_name, python_model=str(PYFUNC_CODE),
                                       artifacts={key: str(path) for key, path in files.items()},
                                       input_example=input_example, pip_requirements=MODEL_PIP_REQUIREMENTS)
    return info.model_uri


def served_input(stage: str) -> tuple[str, str]:
    """(modality, output key) a stage's logged model serves: the teacher on heatmaps, else the RGB student."""
    return ("heatmap", "teacher_logits") if stage == "teacher" else ("rgb", "student_logits")
