"""Which teacher points where the actions differ: heatmap kind x teacher size, chosen on val.

    python -m pipeline.teacher_variants            # after `dvc repro` (reads its keypoints and clip plan)
    python -m pipeline.teacher_variants --epochs 2 # a quick look (not the report's figures)

For each heatmap kind (`joint`, `limb`, `joint_limb`: PoseConv3D's `with_joint` / `with_limb`) the
val and train clips' volumes are rendered by the `render_heatmaps` stage's command into
`data/teacher_variants/`, and for each teacher preset (`posec3d_tiny`, 0.07 M parameters, and
`posec3d_small`, 0.75 M: the student's size; `VARIANTS`, or every pair with `--all`) the
`train_teacher` stage's command trains a teacher
with the pipeline's `train.teacher` settings. Each is then measured on **val** only: top-1 and the
share of its spatial attention within `WRIST_RADIUS_PX` heatmap pixels of the wrists against a
uniform map, per class group and teacher stage (`crychic.evaluation.attention_focus`).

The choice (pre-registered): among the variants whose val top-1 is within 5 points of the best,
the one with the highest wrist ratio in the object-defined groups (mean over the teacher's stages),
since those groups differ only at the hands. Writes `metrics/teacher_variants.json` and one
figure per variant in `plots/teacher_variants/`. Test is never read here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from crychic.core.atomic_write import write_json
from crychic.core.manifest import read_label_names
from crychic.core.params import load_params

HEATMAP_KINDS = {"joint": (True, False), "limb": (False, True), "joint_limb": (True, True)}
TEACHERS = ("posec3d_tiny", "posec3d_small")
# Every heatmap kind with the default teacher, and the default heatmaps with the student-sized one
# (the full cross product is `--all`: twice the CPU time, for the small teacher costs several times
# the tiny's).
VARIANTS = [("joint", "posec3d_tiny"), ("limb", "posec3d_tiny"), ("joint_limb", "posec3d_tiny"),
            ("joint", "posec3d_small")]
TOP1_MARGIN = 0.05


def variant_name(kind: str, teacher: str) -> str:
    return f"{kind}-{teacher.removeprefix('posec3d_')}"


def choose(results: dict[str, dict], object_groups: list[str]) -> str:
    """The pre-registered rule above; ties keep the earlier variant (the default comes first)."""
    best_top1 = max(r["val_top1"] for r in results.values())
    eligible = [name for name, r in results.items() if r["val_top1"] >= best_top1 - TOP1_MARGIN - 1e-9]
    return max(eligible, key=lambda name: results[name]["object_wrist_ratio"])  # max keeps the first of ties


def object_ratio(focus: dict, object_groups: list[str]) -> float:
    ratios = [focus["stages"][stage][g]["ratio"] for stage in focus["stages"] for g in object_groups
              if g in focus["stages"][stage]]
    return round(float(np.mean(ratios)), 3) if ratios else float("nan")


def _run(command: list[str]) -> None:
    subprocess.run([sys.executable, "-m", *command], check=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--work", default="data/teacher_variants")
    parser.add_argument("--epochs", type=int, help="override train.teacher.epochs (quick looks only)")
    parser.add_argument("--out", default="metrics/teacher_variants.json")
    parser.add_argument("--plots", default="plots/teacher_variants")
    parser.add_argument("--all", action="store_true", help="every heatmap kind x every teacher size")
    parser.add_argument("--resume", action="store_true", help="keep teachers a killed run finished (same params)")
    return parser.parse_args(argv)


def _variant_params(params: dict, kind: str, teacher: str) -> dict:
    """The pipeline's params with this variant's heatmap kind and teacher preset."""
    with_joint, with_limb = HEATMAP_KINDS[kind]
    return {**params, "heatmap": {**params["heatmap"], "with_joint": with_joint, "with_limb": with_limb},
            "model": {**params["model"], "teacher": teacher}}


def _render_and_train(work: Path, kind: str, name: str, variant_params: dict, resume: bool) -> tuple[Path, Path, float]:
    """Render the kind's heatmaps (once per kind) and train the variant's teacher with the stages' own commands;
    returns the heatmaps, the checkpoint and the training loop's seconds."""
    heatmaps = work / f"heatmaps-{kind}"
    params_file = work / f"params-{name}.yaml"
    params_file.write_text(yaml.safe_dump(variant_params, sort_keys=False))
    if not heatmaps.is_dir():
        _run(["stages.render_heatmaps", "--params", str(params_file), "--out", str(heatmaps),
              "--metrics", str(work / f"render-{kind}.json")])
    checkpoint, timing = work / f"teacher-{name}.pt", work / f"timing-{name}.json"
    if not (checkpoint.is_file() and timing.is_file() and resume):  # --resume keeps finished teachers
        _run(["stages.train_teacher", "--no-mlflow", "--params", str(params_file), "--heatmaps", str(heatmaps),
              "--out", str(checkpoint), "--metrics", str(work / f"train-{name}.json"),
              "--timing", str(timing), "--plots", str(work / f"plots-{name}.json")])
    seconds = json.loads(timing.read_text())["seconds"]  # the training loop's own seconds
    return heatmaps, checkpoint, seconds


def _measure(work: Path, kind: str, teacher: str, name: str, variant_params: dict, heatmaps: Path, checkpoint: Path,
             seconds: float, num_classes: int, groups: dict, val_split: str) -> dict:
    """The trained teacher on val: top-1, size, training seconds and its attention near the wrists."""
    from crychic.evaluation.attention_focus import WRIST_RADIUS_PX, teacher_wrist_focus
    from crychic.heatmaps.volume import channel_names
    from crychic.sources.synthetic.classes import OBJECT_GROUPS
    from crychic.models.checkpoints import build_model, load_checkpoint

    channels = len(channel_names(*HEATMAP_KINDS[kind]))
    model = build_model(num_classes, {**variant_params["model"], "attention_guidance": True},
                        heatmap_channels=channels)
    load_checkpoint(checkpoint, model)
    focus = teacher_wrist_focus(model, heatmaps, "data/keypoints/keypoints.h5", "data/clips/clips.parquet",
                                split=val_split, radius=WRIST_RADIUS_PX / int(variant_params["heatmap"]["size"]),
                                groups=groups)
    trained = json.loads((work / f"train-{name}.json").read_text())
    return {"heatmap": kind, "teacher": teacher, "val_top1": trained["val_top1"],
            "parameters": sum(p.numel() for p in model.teacher.parameters()),
            "train_seconds": round(seconds, 1),
            "object_wrist_ratio": object_ratio(focus, list(OBJECT_GROUPS)), "wrist_focus": focus}


def _report_variant(name: str, result: dict, seconds: float, plots: Path) -> None:
    """The variant's wrist-focus figure and its line on the console."""
    from crychic.reporting import figures

    figures.save(figures.wrist_focus_figure(
        result["wrist_focus"], f"{name}: val top-1 {result['val_top1']:.3f}, object-group ratio "
                               f"{result['object_wrist_ratio']:.2f}"), plots / f"{name}.png")
    print(f"[teacher_variants] {name}: val top-1 {result['val_top1']:.3f}, object-group wrist ratio "
          f"{result['object_wrist_ratio']:.2f}, {seconds:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    from crychic.clips.plan import read_clip_plan
    from crychic.core.manifest import validation_split
    from crychic.evaluation.attention_focus import WRIST_RADIUS_PX
    from crychic.sources.synthetic.classes import OBJECT_GROUPS, class_groups

    params = load_params(args.params)
    if args.epochs:
        params["train"]["teacher"]["epochs"] = args.epochs
    work, plots = Path(args.work), Path(args.plots)
    work.mkdir(parents=True, exist_ok=True)
    plots.mkdir(parents=True, exist_ok=True)
    label_names = read_label_names("data/ingest/manifest.parquet")
    groups = class_groups(label_names)
    val_split = validation_split(row["split"] for row in read_clip_plan("data/clips/clips.parquet"))
    results: dict[str, dict] = {}
    variants = [(k, t) for k in HEATMAP_KINDS for t in TEACHERS] if args.all else VARIANTS
    for kind, teacher in variants:
        name = variant_name(kind, teacher)
        variant_params = _variant_params(params, kind, teacher)
        heatmaps, checkpoint, seconds = _render_and_train(work, kind, name, variant_params, args.resume)
        results[name] = _measure(work, kind, teacher, name, variant_params, heatmaps, checkpoint, seconds,
                                 len(label_names), groups, val_split)
        _report_variant(name, results[name], seconds, plots)
    chosen = choose(results, list(OBJECT_GROUPS))
    write_json(args.out, {"split": val_split, "epochs": int(params["train"]["teacher"]["epochs"]),
                          "radius_px": WRIST_RADIUS_PX, "rule": f"val top-1 within {TOP1_MARGIN:.0%} of the best, "
                          "then the highest object-group wrist ratio", "chosen": chosen, "variants": results})
    print(f"[teacher_variants] chosen on {val_split}: {chosen}")


if __name__ == "__main__":
    main()
