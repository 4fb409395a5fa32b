"""The MLflow pyfunc of a logged CRYCHIC network, as code: MLflow keeps a copy of this file with the
model (`crychic.models.logged.log_crychic_model`) and imports it on `mlflow.pyfunc.load_model`,
so loading unpickles nothing. Not imported by the package: importing it registers the model
(`mlflow.models.set_model`), which only MLflow's loader wants.

`predict(array)`: one batch of the model's input (float32; rgb ``N x 3 x T x H x W`` for the
students, heatmap ``N x K x T x H x W`` for the teacher) -> ``N x classes`` logits (numpy).
"""

from __future__ import annotations

import mlflow
import numpy as np
import torch
from mlflow.pyfunc import PythonModel


class CrychicLogits(PythonModel):
    def load_context(self, context) -> None:
        from crychic.models.logged import read_logged_model

        self.logged = read_logged_model(context.artifacts["weights"], context.artifacts["config"])

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        batch = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        return self.logged.logits(batch).numpy()


mlflow.models.set_model(CrychicLogits())
