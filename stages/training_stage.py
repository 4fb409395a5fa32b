"""What the training stages (three, plus the RGB-only baseline) share: params subset, MLflow run, metrics, plots, checkpoint.

Each stage reads exactly `PARAM_KEYS[stage]` (dvc.yaml lists the same keys; a test keeps them in
step), so `dvc exp run -S loss.contrastive_weight=0.5` re-runs the student and joint stages but
never the teacher. Outputs per stage: `models/<stage>.pt` (DVC-cached), `metrics/train_<stage>.json`
(validation figures of the kept epoch: accuracy only, so re-running an identical model rewrites
it byte for byte), `metrics/timing/train_<stage>.json` (seconds and the MLflow run id) and
`plots/train_<stage>.json` (per-epoch history without timings; MLflow has those).
"""

from __future__ import annotations

import argparse
import os

import pyarrow.parquet as pq
import torch
from torch import nn

from crychic.core.atomic_write import write_json
from crychic.core.params import load_params

COMMON = ["seed", "model.teacher", "model.student", "model.embed_dim", "model.multiscale_temporal",
          "train.device", "train.amp", "train.batch_size", "train.workers"]
GUIDED = ["model.attention_guidance", "loss.attention_weight", "loss.contrastive_weight", "loss.temperature",
          "loss.fr_head_weight"]
PARAM_KEYS = {
    "teacher": COMMON + ["train.teacher"],
    "student": COMMON + GUIDED + ["train.student"],
    "joint": COMMON + GUIDED + ["train.joint"],
    # Baseline: the plain student network (no attention weighting), the student stage's settings,
    # and the epochs of stages 2 + 3 together (crychic.training.loop.stage_epochs), never a teacher.
    "rgb_only": COMMON + ["train.student", "train.joint.epochs"],
}
CHECKPOINTS = {"teacher": "models/teacher.pt", "student": "models/student.pt", "joint": "models/joint.pt",
               "rgb_only": "models/rgb_only.pt"}
PREVIOUS = {"teacher": None, "student": "teacher", "joint": "student", "rgb_only": None}
DVC_STAGE = {"teacher": "train_teacher", "student": "train_student", "joint": "finetune_joint",
             "rgb_only": "train_rgb_only"}


def select(params: dict, keys: list[str]) -> dict:
    """The nested subset of `params` named by dotted keys (what the stage may read)."""
    out: dict = {}
    for key in keys:
        node, target = params, out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
            target = target.setdefault(part, {})
        target[leaf] = node[leaf]
    return out


class LogitsOnly(nn.Module):
    """What MLflow serves: one input tensor in, logits out (pose-free: RGB only; teacher: heatmaps)."""

    def __init__(self, model: nn.Module, modality: str, key: str):
        super().__init__()
        self.model, self.modality, self.key = model, modality, key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(**{self.modality: x})[self.key]


def training_curve_figure(history: list[dict], stage: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] + 1 for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in sorted(k for k in history[0] if k.startswith("train_")):
        left.plot(epochs, [row[key] for row in history], label=key.removeprefix("train_"))
    left.set(xlabel="epoch", ylabel="loss", title=f"{stage}: training loss terms")
    left.legend(fontsize=8)
    for key in sorted(k for k in history[0] if k.startswith("val_") and k.endswith("_top1") and k != "val_top1"):
        right.plot(epochs, [row[key] for row in history], marker="o", label=key.removeprefix("val_"))
    right.set(xlabel="epoch", ylabel="top-1", ylim=(0, 1), title=f"{stage}: validation accuracy")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig


def run(stage: str, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"DVC stage {DVC_STAGE[stage]}")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--heatmaps", default="data/heatmaps")
    parser.add_argument("--rgb", default="data/rgb")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--init", default=CHECKPOINTS[PREVIOUS[stage]] if PREVIOUS[stage] else None)
    parser.add_argument("--out", default=CHECKPOINTS[stage])
    parser.add_argument("--metrics", default=f"metrics/train_{stage}.json")
    parser.add_argument("--timing", default=f"metrics/timing/train_{stage}.json")
    parser.add_argument("--plots", default=f"plots/train_{stage}.json")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (used by quick tests)")
    args = parser.parse_args(argv)

    from crychic.training.loop import train_stage

    params = select(load_params(args.params), PARAM_KEYS[stage])
    manifest = pq.read_table(args.manifest, columns=["label", "label_name"]).to_pylist()
    names = {row["label"]: row["label_name"] for row in manifest}
    label_names = [names.get(i, str(i)) for i in range(max(names) + 1)]

    run_ctx, run_id, mlflow = None, None, None
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main and not args.no_mlflow:
        import mlflow

        from crychic.reporting.tracking import start_run

        run_ctx = start_run(DVC_STAGE[stage], params)
        run_id = run_ctx.info.run_id

    def on_epoch(epoch: int, row: dict) -> None:
        if mlflow is not None:
            mlflow.log_metrics({k: float(v) for k, v in row.items() if k != "epoch"}, step=epoch)

    try:
        result = train_stage(stage, params=params, heatmap_dir=args.heatmaps, rgb_dir=args.rgb,
                             init_checkpoint=args.init, out_checkpoint=args.out, label_names=label_names,
                             on_epoch=on_epoch)
        if not result["is_main"]:
            return
        history, final = result["history"], result["final"]
        metrics = {"val_split": result["val_split"], "epochs": len(history), "best_epoch": result["best_epoch"]}
        for name, figures in final.items():
            for key in ("top1", "top5", "mean_class_accuracy"):
                metrics[f"val_{name}_{key}"] = round(figures[key], 4)
        metrics["val_top1"] = history[result["best_epoch"]]["val_top1"] if history else None
        timing = {"seconds": round(sum(row["seconds"] for row in history), 1), "mlflow_run_id": run_id}
        write_json(args.metrics, metrics)
        write_json(args.timing, timing)
        write_json(args.plots, [{k: v for k, v in row.items() if k != "seconds"} for row in history], indent=1)
        if mlflow is not None:
            _log_to_mlflow(mlflow, stage, result, history, args)
        print(f"{DVC_STAGE[stage]}: val top-1 {metrics['val_top1']:.3f} ({result['val_split']}, epoch "
              f"{metrics['best_epoch'] + 1} of {len(history)}), {timing['seconds']} s, MLflow run {run_id}")
    finally:
        if run_ctx is not None:
            mlflow.end_run()


def _log_to_mlflow(mlflow, stage: str, result: dict, history: list[dict], args) -> None:
    import matplotlib.pyplot as plt

    from crychic.reporting.tracking import log_torch_model
    from crychic.training.data import PoseRgbDataset

    fig = training_curve_figure(history, stage)
    mlflow.log_figure(fig, f"training_curves_{stage}.png")
    plt.close(fig)
    model = result["model"].cpu().eval()
    modality, key = ("heatmap", "teacher_logits") if stage == "teacher" else ("rgb", "student_logits")
    example = PoseRgbDataset(args.heatmaps if modality == "heatmap" else None, args.rgb if modality == "rgb" else None,
                             split=result["val_split"], modalities=(modality,))[0]
    name = {"teacher": "teacher", "rgb_only": "rgb_only_student"}.get(stage, "pose_free_student")
    log_torch_model(LogitsOnly(model, modality, key), example[modality][None].numpy(), name=name)
