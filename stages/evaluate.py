"""DVC stage `evaluate`: every model the pipeline trained, on the test split, side by side.

Models (names used in the metrics file, the plots and the README table):
  teacher           skeleton heatmaps, stage 1 (the skeleton-only baseline)
  gcn               raw keypoints, ST-GCN-style (the other skeleton family)
  rgb_only          the student trained without any teacher (the RGB-only baseline)
  late_fusion       teacher + rgb_only, softmax scores averaged
  student_guided    the stage-2 student, pose-free (RGB only): same epochs as rgb_only, with the teacher
  crychic_posefree  the student after joint fine-tuning, RGB only (how CRYCHIC deploys without pose)
  crychic_fused     teacher + student + fusion head after joint fine-tuning (needs keypoints)

Outputs: `metrics/evaluate.json` (accuracies, group accuracies, alignment, efficiency, end-to-end
clips/s, MLflow run id), `plots/evaluate_predictions.json` (one row per test clip: true and
predicted class of every model, DVC's confusion template), `plots/evaluate/*.png` (confusion
matrices, attention overlays), and the same in one MLflow run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

from crychic.atomic_write import write_json
from crychic.params import load_params
from stages.training_stage import select

PARAM_KEYS = [
    "data.source", "model.teacher", "model.student", "model.embed_dim", "model.multiscale_temporal",
    "model.attention_guidance", "train.device", "heatmap.clip_len", "heatmap.size", "heatmap.sigma",
    "heatmap.with_joint", "heatmap.with_limb", "heatmap.box_padding", "rgb.clip_len", "rgb.size",
    "rgb.decode_max_side", "keypoints.mediapipe_frame_size", "evaluate.split", "evaluate.batch_size",
    "evaluate.attention_clips", "evaluate.end_to_end_clips", "evaluate.latency_repeats", "evaluate.throughput_batch",
]
MODEL_DESCRIPTIONS = {
    "teacher": "skeleton heatmaps (stage 1)",
    "gcn": "raw keypoints, ST-GCN-style",
    "rgb_only": "RGB student, no teacher",
    "late_fusion": "teacher + rgb_only scores averaged",
    "student_guided": "RGB student trained with the teacher (stage 2), pose-free",
    "crychic_posefree": "CRYCHIC student after joint fine-tuning, pose-free",
    "crychic_fused": "CRYCHIC fused (teacher + student)",
}


def class_groups(source: str, label_names: list[str]) -> dict[str, list[int]]:
    """Class groups worth a within-group accuracy: the synthetic benchmark's object and motion groups."""
    if source != "synthetic":
        return {}
    from crychic.synthetic import CLASSES

    groups: dict[str, list[int]] = {}
    for action in CLASSES:
        if action.label < len(label_names) and label_names[action.label] == action.name:
            groups.setdefault(action.group, []).append(action.label)
    return groups


def _load_crychic(path: str, num_classes: int, model_params: dict):
    from crychic.training import build_model, load_checkpoint

    model = build_model(num_classes, model_params)
    load_checkpoint(path, model)
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="DVC stage evaluate")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--heatmaps", default="data/heatmaps")
    parser.add_argument("--rgb", default="data/rgb")
    parser.add_argument("--keypoints", default="data/keypoints/keypoints.h5")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--models", default="models")
    parser.add_argument("--metrics", default="metrics/evaluate.json")
    parser.add_argument("--predictions", default="plots/evaluate_predictions.json")
    parser.add_argument("--figures", default="plots/evaluate")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (used by quick tests)")
    args = parser.parse_args(argv)

    from crychic import evaluation
    from crychic.end_to_end import ClipSettings, end_to_end_throughput
    from crychic.gcn_training import load_gcn, predict_gcn
    from crychic.training import resolve_device

    params = select(load_params(args.params), PARAM_KEYS)
    settings, split = params["evaluate"], params["evaluate"]["split"]
    manifest = pq.read_table(args.manifest, columns=["label", "label_name"]).to_pylist()
    names = {row["label"]: row["label_name"] for row in manifest}
    label_names = [names.get(i, str(i)) for i in range(max(names) + 1)]
    num_classes, groups = len(label_names), class_groups(params["data"]["source"], label_names)
    device = resolve_device(params["train"]["device"])
    models_dir = Path(args.models)
    batch = int(settings["batch_size"])
    started = time.perf_counter()

    def step(message: str) -> None:
        print(f"[evaluate {time.perf_counter() - started:6.1f} s] {message}", flush=True)

    # ------------------------------------------------------------ predictions on the test split
    step(f"predicting the {split} split with 6 models")
    joint = _load_crychic(models_dir / "joint.pt", num_classes, params["model"])
    crychic = evaluation.predict_crychic(joint, args.heatmaps, args.rgb, split=split, batch_size=batch, device=device)
    reference = crychic["sample_ids"]
    teacher = _load_crychic(models_dir / "teacher.pt", num_classes, params["model"])
    guided = _load_crychic(models_dir / "student.pt", num_classes, params["model"])
    rgb_only = _load_crychic(models_dir / "rgb_only.pt", num_classes, params["model"])
    gcn = load_gcn(models_dir / "gcn.pt")
    single = {
        "teacher": evaluation.predict_single(teacher, args.heatmaps, args.rgb, modality="heatmap", key="teacher_logits",
                                             split=split, batch_size=batch, device=device),
        "rgb_only": evaluation.predict_single(rgb_only, args.heatmaps, args.rgb, modality="rgb", key="student_logits",
                                              split=split, batch_size=batch, device=device),
        "student_guided": evaluation.predict_single(guided, args.heatmaps, args.rgb, modality="rgb",
                                                    key="student_logits", split=split, batch_size=batch, device=device),
    }
    gcn_logits, gcn_labels, gcn_ids = predict_gcn(gcn, args.keypoints, args.clips, split, batch_size=batch)
    single["gcn"] = {"logits": gcn_logits, "labels": gcn_labels, "sample_ids": list(gcn_ids)}
    logits = {name: evaluation.align_by_sample_id(reference, result) for name, result in single.items()}
    logits["late_fusion"] = evaluation.late_fusion(logits["teacher"], logits["rgb_only"])
    logits["crychic_posefree"] = crychic["student_posefree_logits"]
    logits["crychic_fused"] = crychic["fused_logits"]
    labels = crychic["labels"]
    for name, result in single.items():  # the same clips must carry the same labels in every input
        if not torch.equal(evaluation.align_by_sample_id(reference, {**result, "logits": result["labels"]}), labels):
            raise ValueError(f"{name}: labels disagree with the paired heatmap/RGB test set")
    logits = {name: logits[name] for name in MODEL_DESCRIPTIONS}

    metrics: dict = {"split": split, "samples": len(reference), "models": {}}
    for name, values in logits.items():
        metrics["models"][name] = evaluation.model_report(values, labels, label_names, groups)
    metrics["chance_top1"] = round(1 / num_classes, 4)
    if groups:
        metrics["chance_group_top1"] = {g: round(1 / len(c), 4) for g, c in groups.items()}

    # ------------------------------------------------------------ cross-modal alignment (joint model)
    step("alignment of teacher and student embeddings")
    alignment = evaluation_alignment(crychic)
    metrics["alignment"] = alignment

    # ------------------------------------------------------------ efficiency
    step(f"parameters, FLOPs, latency (batch 1) and throughput (batch {settings['throughput_batch']}) on {device}")
    metrics["efficiency"] = efficiency_table(joint, teacher, rgb_only, gcn, params, settings, device)
    metrics["efficiency"]["device"] = str(device)

    # ------------------------------------------------------------ end to end from video files
    joint_cpu = joint.cpu()
    clip_plan = pq.read_table(args.clips, columns=["sample_id", "path", "split"]).to_pylist()
    videos = [row["path"] for row in clip_plan if row["split"] == split][: int(settings["end_to_end_clips"])]
    if videos:  # 0 clips skips it (the ablation sweep compares accuracy, not cost)
        step(f"end to end from {len(videos)} video files: pose-free path vs full path (MediaPipe)")
        clip_settings = ClipSettings(
            rgb_clip_len=int(params["rgb"]["clip_len"]), rgb_size=int(params["rgb"]["size"]),
            heatmap_clip_len=int(params["heatmap"]["clip_len"]), heatmap_size=int(params["heatmap"]["size"]),
            sigma=float(params["heatmap"]["sigma"]), with_joint=bool(params["heatmap"]["with_joint"]),
            with_limb=bool(params["heatmap"]["with_limb"]), box_padding=float(params["heatmap"]["box_padding"]),
            rgb_decode_max_side=params["rgb"]["decode_max_side"],
            pose_frame_size=params["keypoints"]["mediapipe_frame_size"])
        end_to_end = end_to_end_throughput(joint_cpu, videos, clip_settings)
        for path_name in ("pose_free", "full"):
            end_to_end[path_name].pop("predictions")
        metrics["end_to_end"] = end_to_end
        print(f"end to end, {len(videos)} clips on CPU, batch 1: pose-free {end_to_end['pose_free']['clips_per_second']:.2f} "
              f"clips/s | full {end_to_end['full']['clips_per_second']:.2f} clips/s | "
              f"pose-free is {end_to_end['speedup']:.1f}x faster", flush=True)

    # ------------------------------------------------------------ pictures
    step("confusion matrices and attention overlays")
    figures_dir = Path(args.figures)
    figure_paths = write_figures(figures_dir, logits, labels, label_names, groups, joint_cpu, args, reference,
                                 split, int(settings["attention_clips"]))
    predictions = [{"sample_id": sample_id, "actual": label_names[int(label)],
                    **{name: label_names[int(values[i].argmax())] for name, values in logits.items()}}
                   for i, (sample_id, label) in enumerate(zip(reference, labels))]
    write_json(args.predictions, predictions, indent=1)

    run_id = None
    if not args.no_mlflow:
        run_id = log_to_mlflow(params, metrics, figure_paths)
    metrics["mlflow_run_id"] = run_id
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.metrics, metrics)
    print_summary(metrics)


def evaluation_alignment(crychic: dict) -> dict:
    from crychic.losses import alignment_stats

    stats = alignment_stats(crychic["z_teacher"], crychic["z_student"])
    return {"matched_cosine": round(stats["matched_cosine"], 4), "mismatched_cosine": round(stats["mismatched_cosine"], 4),
            "gap": round(stats["gap"], 4), "r1_teacher_to_student": round(stats["r1_a_to_b"], 4),
            "r1_student_to_teacher": round(stats["r1_b_to_a"], 4)}


def efficiency_table(joint, teacher, rgb_only, gcn, params, settings, device) -> dict:
    """One efficiency row per model, each measured on `device` with inputs of the pipeline's shapes."""
    from crychic.efficiency import count_parameters, inference_cost

    heatmap_channels = 17 * (int(bool(params["heatmap"]["with_joint"])) + int(bool(params["heatmap"]["with_limb"])))
    t_h, side = int(params["heatmap"]["clip_len"]), int(params["heatmap"]["size"])
    t_rgb, size = int(params["rgb"]["clip_len"]), int(params["rgb"]["size"])

    def heatmap(n):
        return torch.rand(n, heatmap_channels, t_h, side, side, device=device)

    def rgb(n):
        return torch.randn(n, 3, t_rgb, size, size, device=device)

    persons = int(gcn.config.num_persons)

    def keypoints(n):
        return torch.randn(n, 3, t_h, 17, persons, device=device)

    for model in (joint, teacher, rgb_only, gcn):
        model.to(device).eval()
    repeats, batch = int(settings["latency_repeats"]), int(settings["throughput_batch"])
    cost = lambda fn, make, count: inference_cost(fn, make, parameters=count, throughput_batch=batch, repeats=repeats)
    student_params = count_parameters(rgb_only.student)
    table = {
        "teacher": cost(lambda heatmap: teacher.teacher(heatmap)["logits"], lambda n: {"heatmap": heatmap(n)},
                        count_parameters(teacher.teacher)),
        "gcn": cost(lambda keypoint: gcn(keypoint)["logits"], lambda n: {"keypoint": keypoints(n)},
                    count_parameters(gcn)),
        "rgb_only": cost(lambda rgb: rgb_only(rgb=rgb)["student_logits"], lambda n: {"rgb": rgb(n)}, student_params),
        "late_fusion": cost(lambda heatmap, rgb: (teacher.teacher(heatmap)["logits"], rgb_only(rgb=rgb)["student_logits"]),
                            lambda n: {"heatmap": heatmap(n), "rgb": rgb(n)},
                            count_parameters(teacher.teacher) + student_params),
        "crychic_posefree": cost(lambda rgb: joint(rgb=rgb)["student_logits"], lambda n: {"rgb": rgb(n)},
                                 count_parameters(joint.student)),
        "crychic_fused": cost(lambda heatmap, rgb: joint(heatmap=heatmap, rgb=rgb)["fused_logits"],
                              lambda n: {"heatmap": heatmap(n), "rgb": rgb(n)},
                              count_parameters(joint.teacher) + count_parameters(joint.student)
                              + count_parameters(joint.fusion_head)),
    }
    table["student_guided"] = dict(table["crychic_posefree"])  # the same network
    return {name: table[name] for name in MODEL_DESCRIPTIONS}


def write_figures(figures_dir: Path, logits: dict, labels, label_names, groups, joint, args, reference,
                  split: str, attention_clips: int) -> list[Path]:
    import matplotlib.pyplot as plt

    from crychic import figures
    from crychic.metrics import confusion_matrix
    from crychic.rgb_clips import RgbClips
    from crychic.training_data import PoseRgbDataset

    figures_dir.mkdir(parents=True, exist_ok=True)
    for stale in figures_dir.glob("*.png"):
        stale.unlink()
    group_of = {c: g for g, classes in groups.items() for c in classes}
    class_group = [group_of.get(i, "") for i in range(len(label_names))] if groups else None
    paths = []
    for name, values in logits.items():
        matrix = confusion_matrix(values.argmax(1), labels, len(label_names))
        accuracy = float((values.argmax(1) == labels).float().mean())
        fig = figures.confusion_matrix_figure(matrix, label_names, groups=class_group,
                                              title=f"{name}, top-1 {accuracy:.3f}\n{MODEL_DESCRIPTIONS[name]}")
        paths.append(figures_dir / f"confusion_{name}.png")
        figures.save(fig, paths[-1])
        plt.close(fig)

    # Attention: one test clip per class group (else the first clips), the fused model's two networks.
    chosen: list[int] = []
    for classes in (groups.values() if groups else []):
        chosen += [i for i, label in enumerate(labels.tolist()) if label in classes][:1]
    chosen = (chosen or list(range(len(reference))))[:attention_clips]
    dataset = PoseRgbDataset(args.heatmaps, args.rgb, split=split, modalities=("heatmap", "rgb"))
    position = {sample_id: i for i, sample_id in enumerate(dataset.sample_ids)}
    clips = RgbClips(args.rgb)
    with torch.no_grad():
        for index in chosen:
            sample_id = reference[index]
            item = dataset[position[sample_id]]
            out = joint(heatmap=item["heatmap"][None], rgb=item["rgb"][None])
            teacher_map = out["teacher_attention_aligned"][0][0, 0]  # T x h x w on the student's layer2 grid
            student_map = out["student_attention"][0][0, 0]  # T x h x w
            fig = figures.attention_overlay_figure(
                clips.get(sample_id)["frames"], teacher_map, student_map,
                title=f"{sample_id} ({label_names[int(labels[index])]}): layer2 attention")
            paths.append(figures_dir / f"attention_{sample_id}.png")
            figures.save(fig, paths[-1])
            plt.close(fig)
    return paths


def log_to_mlflow(params: dict, metrics: dict, figure_paths: list[Path]) -> str:
    import mlflow

    from crychic.tracking import flatten, start_run

    run = start_run("evaluate", params)
    try:
        numeric = {key.replace("/", "."): float(value) for key, value in flatten(metrics).items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None}
        mlflow.log_metrics(numeric)
        for path in figure_paths:
            mlflow.log_artifact(str(path), artifact_path="figures")
        mlflow.log_dict(metrics, "metrics/evaluate.json")
        return run.info.run_id
    finally:
        mlflow.end_run()


def print_summary(metrics: dict) -> None:
    print(f"\n{'model':18s} {'top-1':>6s} {'mean cls':>8s}  groups (within-group top-1)")
    for name, report in metrics["models"].items():
        groups = " ".join(f"{g}={v:.2f}" for g, v in report.get("group_top1", {}).items())
        print(f"{name:18s} {report['top1']:6.3f} {report['mean_class_accuracy']:8.3f}  {groups}")
    a = metrics["alignment"]
    print(f"alignment: matched {a['matched_cosine']:.3f} vs mismatched {a['mismatched_cosine']:.3f} "
          f"(gap {a['gap']:.3f}), R@1 teacher->student {a['r1_teacher_to_student']:.3f}, "
          f"student->teacher {a['r1_student_to_teacher']:.3f}")


if __name__ == "__main__":
    main()
