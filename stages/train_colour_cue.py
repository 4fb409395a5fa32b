"""DVC stage `train_colour_cue`: the hand-colour reference baseline (`crychic.training.colour_cue`).

Saturated-hue histograms around person 0's wrists in every planned clip, a logistic regression fit
on train with C chosen on val. Outputs: `models/colour_cue/{model.json,scores.parquet}`,
`metrics/train_colour_cue.json` (figures only), `metrics/timing/train_colour_cue.json`.
"""

from __future__ import annotations

import argparse
import time

from crychic.core.atomic_write import write_json
from crychic.core.machine import describe_machine
from crychic.core.manifest import read_label_names
from crychic.core.params import load_params, select
from crychic.reporting.tracking import StageRun
from crychic.training.colour_cue import PARAM_KEYS, train_colour_cue

STAGE = "train_colour_cue"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"DVC stage {STAGE}")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--keypoints", default="data/keypoints/keypoints.h5")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--out", default="models/colour_cue")
    parser.add_argument("--metrics", default=f"metrics/{STAGE}.json")
    parser.add_argument("--timing", default=f"metrics/timing/{STAGE}.json")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (used by quick tests)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    params = select(load_params(args.params), PARAM_KEYS)
    with StageRun(STAGE, params, enabled=not args.no_mlflow, inputs=[args.keypoints, args.clips, args.manifest]) as run:
        metrics = train_colour_cue(params, keypoints_path=args.keypoints, clip_plan_path=args.clips,
                                   label_names=read_label_names(args.manifest), out_dir=args.out)
        write_json(args.metrics, metrics)
        seconds = round(time.perf_counter() - start, 1)
        write_json(args.timing, {"seconds": seconds, "mlflow_run_id": run.run_id, "machine": describe_machine()})
        run.log_metrics({**{f"val_top1_c{c}": v for c, v in metrics["c_grid"].items()},
                         "train_top1": metrics["train_top1"],
                         **({"val_top1": metrics["val_top1"]} if metrics["val_top1"] is not None else {})})
        run.log_artifact(f"{args.out}/model.json")
    top1 = "n/a" if metrics["val_top1"] is None else f"{metrics['val_top1']:.3f}"
    print(f"{STAGE}: val top-1 {top1} with C={metrics['chosen_c']}, {metrics['num_features']} features, {seconds} s, "
          f"MLflow run {run.run_id}")


if __name__ == "__main__":
    main()
