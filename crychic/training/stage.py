"""What a training stage does around its loop: the params it reads, the files it writes, its MLflow run.

Four DVC stages train CRYCHIC networks (`train_teacher`, `train_student`, `train_joint`, and
the `train_rgb_only` baseline) and four train single-network baselines (`train_gcn`,
`train_msg3d`, `train_sta_lstm` on keypoints, `train_i3d` on RGB: `crychic.training.baselines`); each reads
exactly `PARAM_KEYS[stage]` (read from the stage registry, `crychic.core.stage_registry`, which
dvc.yaml is rendered from), so `dvc exp run -S loss.contrastive_weight=0.5` re-runs the student and
joint stages, never the teacher.

Outputs per stage (`outputs(stage)`): the checkpoint (DVC-cached), `metrics/train_<stage>.json`
(validation figures of the kept epoch: accuracy only, so re-running an identical model rewrites
it byte for byte), `metrics/timing/train_<stage>.json` (seconds, MLflow run id) and
`plots/train_<stage>.json` (per-epoch history without timings; MLflow has those). The MLflow run
lists the stage's inputs (`input_paths`: the data deps dvc.yaml declares, a test keeps them in
step) as training datasets with their DVC hashes, and the CRYCHIC stages log their model under
`MODEL_NAMES[stage]`.

Kill and resume: while it trains, a stage keeps a resume point of its last finished epoch in
`models/.<stage>-partial/` (outside DVC's outs; `crychic.training.resume`), under a token of the
params it reads and its input files; run again, it goes on from there (`--fresh` starts over),
and it removes the point once its outputs are written.
"""

from __future__ import annotations

import argparse
import collections
import os
from collections.abc import Callable

from torch import nn

from crychic.core.atomic_write import write_json
from crychic.core.devices import set_compute_threads
from crychic.core.execution import execution_settings
from crychic.core.machine import describe_machine
from crychic.core.manifest import EmptySplitError, read_label_names, require_splits
from crychic.core.params import load_params, select
from crychic.core.partial_shards import input_token
from crychic.core.stage_registry import CRYCHIC_TRAINING, TRAINING
from crychic.reporting.tracking import StageRun
from crychic.training.loop import TIMING_KEYS
from crychic.training.resume import ResumePoint

# Read from the stage registry (crychic.core.stage_registry), by each training stage's short name.
# The single-network baselines (crychic.training.baselines): stage (= params section) -> its input.
BASELINE_INPUTS = {name: "rgb" if "data/rgb" in stage.data else "keypoint"
                   for name, stage in TRAINING.items() if name not in CRYCHIC_TRAINING}
PARAM_KEYS = {name: list(stage.params) for name, stage in TRAINING.items()}
PREVIOUS = {name: stage.previous for name, stage in CRYCHIC_TRAINING.items()}
DVC_STAGE = {name: stage.name for name, stage in TRAINING.items()}
# The logged model of each CRYCHIC stage (what serves: the teacher on heatmaps, else the RGB student).
MODEL_NAMES = {name: stage.model_name for name, stage in CRYCHIC_TRAINING.items()}


def checkpoint(stage: str) -> str:
    return f"models/{stage}.pt"


def build_parser(stage: str) -> argparse.ArgumentParser:
    """The command line of a training stage; the defaults are the paths dvc.yaml declares."""
    parser = argparse.ArgumentParser(description=f"DVC stage {DVC_STAGE[stage]}")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    if stage in BASELINE_INPUTS:
        parser.add_argument("--keypoints", default="data/keypoints/keypoints.h5")
        parser.add_argument("--clips", default="data/clips/clips.parquet")
        parser.add_argument("--rgb", default="data/rgb")
    else:
        parser.add_argument("--heatmaps", default="data/heatmaps")
        parser.add_argument("--rgb", default="data/rgb")
        # research.deployment_framing: the student and rgb_only read these instead (decode_rgb_framed)
        parser.add_argument("--rgb-framed", default="data/rgb_framed")
        parser.add_argument("--init", default=checkpoint(PREVIOUS[stage]) if PREVIOUS[stage] else None)
        if stage == "text":
            parser.add_argument("--class-text", default="data/text/class_text.h5")
    parser.add_argument("--out", default=checkpoint(stage))
    parser.add_argument("--metrics", default=f"metrics/train_{stage}.json")
    parser.add_argument("--timing", default=f"metrics/timing/train_{stage}.json")
    parser.add_argument("--plots", default=f"plots/train_{stage}.json")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (used by quick tests)")
    parser.add_argument("--fresh", action="store_true",
                        help="start from epoch 1 even where a killed run left a resume point")
    return parser


def input_paths(stage: str, args: argparse.Namespace, params: dict | None = None) -> list[str]:
    """The files and directories `stage` may read (those of `build_parser`'s arguments it uses:
    every data dep dvc.yaml declares); with `params`, those it reads under them (one RGB folder:
    box-cut or, with `research.deployment_framing`, framed)."""
    if stage in BASELINE_INPUTS:
        names = ["keypoints", "clips"] + (["rgb"] if BASELINE_INPUTS[stage] == "rgb" else [])
    else:
        names = {"teacher": ["heatmaps"], "rgb_only": ["rgb", "rgb_framed"]}.get(stage, ["heatmaps", "rgb", "rgb_framed"])
        names += ["init"] + (["class_text"] if stage == "text" else [])
        if params is not None and stage != "teacher":  # only the RGB folder this run reads
            names.remove("rgb_framed" if rgb_dir(stage, params, args) == args.rgb else "rgb")
    return [str(path) for path in (getattr(args, name) for name in [*names, "manifest"]) if path is not None]


def rgb_dir(stage: str, params: dict, args: argparse.Namespace) -> str:
    """The RGB clips a CRYCHIC stage trains on: cut by the person box, or with
    `research.deployment_framing` by the framing the pose-free path gets (no keypoints)."""
    framed = stage != "teacher" and bool(params.get("research", {}).get("deployment_framing", False))
    return args.rgb_framed if framed else args.rgb


def split_counts(stage: str, params: dict, args: argparse.Namespace) -> dict[str, dict[str, int]]:
    """{store: {split: clips}} for each store of clips the stage trains from."""
    from crychic.clips.plan import read_clip_plan
    from crychic.heatmaps.shards import HeatmapShards
    from crychic.rgb.shards import RgbClips

    if stage in BASELINE_INPUTS:
        stores = {args.clips: collections.Counter(row["split"] for row in read_clip_plan(args.clips))}
        if BASELINE_INPUTS[stage] == "rgb":
            stores[args.rgb] = RgbClips(args.rgb).split_counts()
        return stores
    stores = {} if stage == "rgb_only" else {args.heatmaps: HeatmapShards(args.heatmaps).split_counts()}
    if stage != "teacher":
        stores[rgb_dir(stage, params, args)] = RgbClips(rgb_dir(stage, params, args)).split_counts()
    return stores


def training_run(stage: str, params: dict, args: argparse.Namespace) -> StageRun:
    """The stage's MLflow run, logging its inputs (`input_paths`) as training datasets."""
    return StageRun(DVC_STAGE[stage], params, enabled=not args.no_mlflow, inputs=input_paths(stage, args, params))


def resume_token(stage: str, params: dict, args: argparse.Namespace) -> str:
    """What a resume point must have been saved under to be resumed from: the params the stage
    reads and the identity of its input files (`input_paths`)."""
    return input_token(params, input_paths(stage, args, params))


def run_training_stage(stage: str, args: argparse.Namespace, train: Callable | None = None) -> dict | None:
    """Train `stage` with the params it may read, write its outputs, log its MLflow run; returns
    the metrics written (None on the non-main ranks of a torchrun job). `train(stage, params, args,
    label_names, on_epoch)` does the training: CRYCHIC's `train_stage` unless a stage passes its own
    (the baselines pass `crychic.training.baselines.train_baseline_from_args`, so that the CRYCHIC
    stages never import, and never re-run for, the baselines' code)."""
    params = select(load_params(args.params), PARAM_KEYS[stage])
    try:  # fitted on train, kept by val: stop here, naming the split, if a rejecting stage emptied one
        for store, counts in split_counts(stage, params, args).items():
            require_splits(counts, ("train", "val"), where=store)
    except EmptySplitError as err:
        raise SystemExit(f"{DVC_STAGE[stage]}: {err}") from None
    label_names = read_label_names(args.manifest)
    set_compute_threads(execution_settings().torch_threads)
    token = resume_token(stage, params, args)
    if args.fresh:
        ResumePoint.beside(args.out, token, int(os.environ.get("RANK", "0"))).clear()
    with training_run(stage, params, args) as run:
        def on_epoch(epoch: int, row: dict) -> None:
            run.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)

        if train is None:
            from crychic.training.loop import train_stage

            result = train_stage(stage, params=params, heatmap_dir=args.heatmaps, rgb_dir=rgb_dir(stage, params, args),
                                 init_checkpoint=args.init, out_checkpoint=args.out, label_names=label_names,
                                 on_epoch=on_epoch, resume_token=token)
        else:
            result = train(stage, params, args, label_names, on_epoch, resume_token=token)
        if not result["is_main"]:
            return None  # rank 0 removes every rank's resume point once the outputs are written
        history = result["history"]
        metrics = {"val_split": result["val_split"], "epochs": len(history), "best_epoch": result["best_epoch"]}
        for name, figures in result["final"].items():
            for key in ("top1", "top5", "mean_class_accuracy"):
                metrics[f"val_{name}_{key}"] = round(figures[key], 4) if figures else None
        metrics["val_top1"] = history[result["best_epoch"]]["val_top1"] if history else None
        for head, kept in result.get("also_kept", {}).items():  # stage 3's pose-free student, kept by its own score
            metrics[f"best_epoch_{head}"] = kept["epoch"]
            metrics[f"val_top1_{head}"] = round(kept["val_top1"], 4)
        timing = {"seconds": round(sum(row["seconds"] for row in history), 1), "mlflow_run_id": run.run_id,
                  "machine": describe_machine()}
        write_json(args.metrics, metrics)
        write_json(args.timing, timing)
        write_json(args.plots, [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in history], indent=1)
        if run.enabled and history:
            from crychic.reporting.figures import training_curves_figure

            run.log_figure(training_curves_figure(history, stage), f"training_curves_{stage}.png")
            if stage not in BASELINE_INPUTS:
                _log_model(result["model"], stage, args, result["val_split"], params, label_names)
        ResumePoint.beside(args.out, token).clear(every_rank=True)  # the outputs are written: nothing to resume
        top1 = "n/a" if metrics["val_top1"] is None else f"{metrics['val_top1']:.3f}"
        kept = "" if result["best_epoch"] is None else f", epoch {result['best_epoch'] + 1} of {len(history)}"
        print(f"{DVC_STAGE[stage]}: val top-1 {top1} ({result['val_split']}{kept}), {timing['seconds']} s, "
              f"MLflow run {run.run_id}")
        return metrics


def _log_model(model: nn.Module, stage: str, args: argparse.Namespace, val_split: str, params: dict,
               label_names: list[str]) -> None:
    """Log the stage's network under `MODEL_NAMES[stage]`: weights and plain data, loadable without
    unpickling (`crychic.models.logged`), with one validation clip as its input example."""
    from crychic.models.logged import log_crychic_model, served_input
    from crychic.training.data import PoseRgbDataset, clips_are_framed

    modality, output_key = served_input(stage)
    rgb = rgb_dir(stage, params, args) if modality == "rgb" else None
    example = PoseRgbDataset(args.heatmaps if modality == "heatmap" else None, rgb, split=val_split,
                             modalities=(modality,), framed=rgb is not None and clips_are_framed(rgb))[0]
    log_crychic_model(model.cpu().eval(), example[modality][None].numpy(), stage=stage, model_name=MODEL_NAMES[stage],
                      modality=modality, output_key=output_key, label_names=label_names)
