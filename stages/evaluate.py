"""DVC stage `evaluate`: every model the pipeline trained; choices on val, figures on test, once.

The work is `crychic.evaluation.evaluate` (protocol, methods: `crychic.evaluation.methods`).
Outputs: `metrics/evaluate.json` (accuracy, alignment and cost figures only, so re-running
identical models rewrites it byte for byte), `metrics/timing/evaluate.json` (latency, throughput,
end-to-end clips/s, seconds, MLflow run id), `plots/evaluate_predictions.json` (one row per test
clip: true and predicted class of every model, DVC's confusion template), `plots/evaluate/*.png`
(confusion matrices, attention overlays), and the same in one MLflow run.
"""

from __future__ import annotations

import argparse
import time

from crychic.core.atomic_write import write_json
from crychic.core.devices import set_compute_threads
from crychic.core.execution import execution_settings
from crychic.core.machine import describe_machine
from crychic.core.manifest import EmptySplitError
from crychic.core.params import load_params, select
from crychic.evaluation.evaluate import PARAM_KEYS, EvaluationInputs, evaluate, summary, write_figures
from crychic.reporting.tracking import StageRun


def main(argv: list[str] | None = None) -> None:
    defaults = EvaluationInputs()
    parser = argparse.ArgumentParser(description="DVC stage evaluate")
    parser.add_argument("--params", default="params.yaml")
    for field in defaults.__dataclass_fields__:
        parser.add_argument(f"--{field.replace('_', '-')}", default=getattr(defaults, field))
    parser.add_argument("--metrics", default="metrics/evaluate.json")
    parser.add_argument("--timing", default="metrics/timing/evaluate.json")
    parser.add_argument("--predictions", default="plots/evaluate_predictions.json")
    parser.add_argument("--figures", default="plots/evaluate")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (used by quick tests)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    params = select(load_params(args.params), PARAM_KEYS)
    set_compute_threads(execution_settings().torch_threads)  # the last bits of every logit depend on it
    inputs = EvaluationInputs(**{field: getattr(args, field) for field in defaults.__dataclass_fields__})
    with StageRun("evaluate", params, enabled=not args.no_mlflow) as run:
        try:
            result = evaluate(params, inputs)
        except EmptySplitError as err:  # raised at its start, before any model is loaded
            raise SystemExit(f"evaluate: {err}") from None
        settings = params["evaluate"]
        print("[evaluate] confusion matrices and attention overlays", flush=True)
        figures = write_figures(result, args.figures, inputs, settings["split"], int(settings["attention_clips"]))
        write_json(args.predictions, result.predictions(), indent=1)
        timing = {**result.timing, "mlflow_run_id": run.run_id, "seconds": round(time.perf_counter() - started, 1),
                  "machine": describe_machine()}
        write_json(args.metrics, result.metrics)
        write_json(args.timing, timing)
        run.log_numbers({**result.metrics, "timing": timing})
        run.log_dict(result.metrics, "metrics/evaluate.json")
        run.log_dict(timing, "metrics/timing/evaluate.json")
        for path in figures:
            run.log_artifact(path, artifact_path="figures")
    print(summary(result.metrics))


if __name__ == "__main__":
    main()
