"""DVC stage `train_gcn`: the ST-GCN skeleton baseline on raw keypoints (see `crychic.training.gcn`).

It reads exactly `PARAM_KEYS` (dvc.yaml lists the same keys). Outputs: `models/gcn.pt` (DVC-cached),
`metrics/train_gcn.json` (validation figures and the MLflow run id) and `plots/train_gcn.json`
(per-epoch history), like the other training stages (`stages.training_stage`).
"""

from __future__ import annotations

import argparse

import pyarrow.parquet as pq

from crychic.core.atomic_write import write_json
from crychic.core.params import load_params
from stages.training_stage import select

STAGE = "train_gcn"
PARAM_KEYS = ["seed", "gcn.model", "gcn.epochs", "gcn.lr", "gcn.weight_decay", "train.device", "train.batch_size",
              "train.workers"]


def gcn_curve_figure(history: list[dict]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] + 1 for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.plot(epochs, [row["train_loss"] for row in history], label="cross-entropy")
    left.set(xlabel="epoch", ylabel="loss", title="gcn: training loss")
    left.legend(fontsize=8)
    for key in ("val_top1", "val_top5", "val_mean_class_accuracy"):
        right.plot(epochs, [row[key] for row in history], marker="o", label=key.removeprefix("val_"))
    right.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title="gcn: validation accuracy")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"DVC stage {STAGE}")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--keypoints", default="data/keypoints/keypoints.h5")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--out", default="models/gcn.pt")
    parser.add_argument("--metrics", default=f"metrics/{STAGE}.json")
    parser.add_argument("--timing", default=f"metrics/timing/{STAGE}.json")
    parser.add_argument("--plots", default=f"plots/{STAGE}.json")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (used by quick tests)")
    args = parser.parse_args(argv)

    from crychic.training.gcn import train_gcn

    params = select(load_params(args.params), PARAM_KEYS)
    manifest = pq.read_table(args.manifest, columns=["label", "label_name"]).to_pylist()
    names = {row["label"]: row["label_name"] for row in manifest}
    label_names = [names.get(i, str(i)) for i in range(max(names) + 1)]

    run_ctx, run_id, mlflow = None, None, None
    if not args.no_mlflow:
        import mlflow

        from crychic.reporting.tracking import start_run

        run_ctx = start_run(STAGE, params)
        run_id = run_ctx.info.run_id

    def on_epoch(epoch: int, row: dict) -> None:
        if mlflow is not None:
            mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=epoch)

    try:
        result = train_gcn(params, keypoints_path=args.keypoints, clip_plan_path=args.clips, out_checkpoint=args.out,
                           label_names=label_names, on_epoch=on_epoch)
        history, final = result["history"], result["final"]
        metrics = {"val_split": result["val_split"], "epochs": len(history), "best_epoch": result["best_epoch"]}
        for key in ("top1", "top5", "mean_class_accuracy"):
            metrics[f"val_gcn_{key}"] = round(final[key], 4) if final else None
        metrics["val_top1"] = history[result["best_epoch"]]["val_top1"] if history else None
        timing = {"seconds": round(sum(row["seconds"] for row in history), 1), "mlflow_run_id": run_id}
        write_json(args.metrics, metrics)  # accuracy only; timings apart, so a re-run changes no accuracy file
        write_json(args.timing, timing)
        write_json(args.plots, [{k: v for k, v in row.items() if k != "seconds"} for row in history], indent=1)
        if mlflow is not None and history:
            import matplotlib.pyplot as plt

            fig = gcn_curve_figure(history)
            mlflow.log_figure(fig, "training_curves_gcn.png")
            plt.close(fig)
        top1 = "n/a" if metrics["val_top1"] is None else f"{metrics['val_top1']:.3f}"
        print(f"{STAGE}: val top-1 {top1} ({result['val_split']}), {timing['seconds']} s, MLflow run {run_id}")
    finally:
        if run_ctx is not None:
            mlflow.end_run()


if __name__ == "__main__":
    main()
