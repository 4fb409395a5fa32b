"""DVC stage `train_colour_cue`: the hand-colour reference baseline (see `crychic.training.colour_cue`).

It reads exactly `PARAM_KEYS` (dvc.yaml lists the same keys). For every clip of the clip plan it
decodes the planned frames, histograms the saturated hues around person 0's wrists, then fits
`StandardScaler + LogisticRegression` on train, choosing C on val. Outputs:
- `models/colour_cue/model.pkl`: the pickled sklearn pipeline;
- `models/colour_cue/scores.parquet`: `sample_id, split, label, log_proba [num_classes]` for every
  clip (train, val, test), which the evaluate stage can treat like logits;
- `metrics/train_colour_cue.json`: val top-1 per C, the chosen C, feature count (deterministic:
  no timings, no run ids, so DVC sees a change only when a figure changes);
- `metrics/timing/train_colour_cue.json`: seconds and the MLflow run id.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from crychic.core.atomic_write import atomic_path, write_json
from crychic.core.params import load_params
from stages.training_stage import select

STAGE = "train_colour_cue"
PARAM_KEYS = ["seed", "colour_cue.c_grid", "colour_cue.hue_bins"]
SPLITS = ("train", "val", "test")


def scores_schema(num_classes: int) -> pa.Schema:
    return pa.schema([
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("label", pa.int32(), nullable=False),
        pa.field("log_proba", pa.list_(pa.float32(), num_classes), nullable=False),
    ])


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

    from crychic.clips.plan import read_clip_plan
    from crychic.training.colour_cue import clip_features, fit_colour_cue, predict_log_proba
    from crychic.keypoints.store import KeypointStore

    start = time.perf_counter()
    params = select(load_params(args.params), PARAM_KEYS)
    seed, settings = int(params["seed"]), params["colour_cue"]
    c_grid, hue_bins = [float(c) for c in settings["c_grid"]], int(settings["hue_bins"])
    manifest = pq.read_table(args.manifest, columns=["label", "label_name"]).to_pylist()
    names = {row["label"]: row["label_name"] for row in manifest}
    plan = read_clip_plan(args.clips)
    unknown = sorted({row["split"] for row in plan} - set(SPLITS))
    if unknown:
        raise ValueError(f"{args.clips}: unknown splits {unknown}; expected {SPLITS}")
    num_classes = max(max(names) + 1, max(row["label"] for row in plan) + 1)

    run_ctx, run_id, mlflow = None, None, None
    if not args.no_mlflow:
        import mlflow

        from crychic.reporting.tracking import start_run

        run_ctx = start_run(STAGE, params)
        run_id = run_ctx.info.run_id

    try:
        with KeypointStore(args.keypoints) as store:
            features = np.stack([clip_features(row, store, hue_bins=hue_bins)
                                 for row in tqdm(plan, desc=STAGE, unit="clip")])
        labels = np.array([row["label"] for row in plan], dtype=np.int64)
        split = np.array([row["split"] for row in plan])
        present = [s for s in SPLITS if (split == s).any()]
        if "train" not in present:
            raise ValueError(f"{args.clips}: no train clips to fit on")
        model, report = fit_colour_cue({s: features[split == s] for s in present},
                                       {s: labels[split == s] for s in present}, c_grid=c_grid, seed=seed)
        log_proba = predict_log_proba(model, features, num_classes)
        train = split == "train"
        train_top1 = float(np.mean(log_proba[train].argmax(1) == labels[train]))

        out = Path(args.out)
        table = pa.Table.from_pydict({
            "sample_id": [row["sample_id"] for row in plan], "split": split.tolist(),
            "label": labels.astype(np.int32),
            "log_proba": pa.FixedSizeListArray.from_arrays(pa.array(log_proba.astype(np.float32).ravel()),
                                                           num_classes),
        }, schema=scores_schema(num_classes))
        with atomic_path(out / "scores.parquet") as tmp:
            pq.write_table(table, tmp)
        with atomic_path(out / "model.pkl") as tmp:
            tmp.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))

        metrics = {**report, "train_top1": round(train_top1, 4), "num_features": int(features.shape[1]),
                   "num_classes": num_classes, "clips": {s: int((split == s).sum()) for s in present}}
        write_json(args.metrics, metrics)
        seconds = round(time.perf_counter() - start, 1)
        write_json(args.timing, {"seconds": seconds, "mlflow_run_id": run_id})

        if mlflow is not None:
            figures = {f"val_top1_c{c}": v for c, v in report["c_grid"].items()}
            figures["train_top1"] = train_top1
            if report["val_top1"] is not None:
                figures["val_top1"] = report["val_top1"]
            mlflow.log_metrics(figures)
            mlflow.log_param("colour_cue.chosen_c", report["chosen_c"])
            mlflow.log_artifact(str(out / "model.pkl"))
        per_c = ", ".join(f"C={c}: {v:.3f}" for c, v in report["c_grid"].items()) or report.get("note", "")
        top1 = "n/a" if report["val_top1"] is None else f"{report['val_top1']:.3f}"
        print(f"{STAGE}: val top-1 {top1} with C={report['chosen_c']} ({per_c}), {features.shape[1]} features, "
              f"{seconds} s, MLflow run {run_id}")
    finally:
        if run_ctx is not None:
            mlflow.end_run()


if __name__ == "__main__":
    main()
