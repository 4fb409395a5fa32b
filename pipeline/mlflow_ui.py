"""Start the MLflow UI on this project's store: `python -m pipeline.mlflow_ui [--port 5000]`.

Binds 127.0.0.1 only. One worker and no job runner (`MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`):
with them, `mlflow server` leaves processes behind after SIGTERM. The process is replaced by the
server itself (exec), so stopping this command stops the server.

Before that it makes sure the `crychic` experiment exists with its model-training tag
(`crychic.reporting.tracking.ensure_experiment`) and prints the link to its training runs. MLflow
3.17's UI picks its view from a per-browser "workflow type" (GenAI by default: traces and tokens),
not from the experiment's tag; the link's `workflowType=machine_learning` selects the runs view.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from crychic.reporting.tracking import EXPERIMENT, artifact_location, ensure_experiment, tracking_uri


def training_runs_url(port: int, experiment_id: str) -> str:
    return f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or shutil.which("mlflow")
    if mlflow is None:
        sys.exit("mlflow is not installed in this environment (run `make install`)")
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [mlflow, "server", "--backend-store-uri", tracking_uri(),
               "--default-artifact-root", artifact_location(), "--host", "127.0.0.1",
               "--port", str(args.port), "--workers", "1"]
    experiment_id = ensure_experiment(EXPERIMENT)
    print(f"MLflow UI: http://127.0.0.1:{args.port}  (store {tracking_uri()})\n"
          f"Training runs of experiment '{EXPERIMENT}': {training_runs_url(args.port, experiment_id)}", flush=True)
    os.execve(mlflow, command, env)


if __name__ == "__main__":
    main()
