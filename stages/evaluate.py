"""DVC stage `evaluate`: every model the pipeline trained; choices on val, figures on test, once.

Models (names used in the metrics file, the plots and the README table): see MODEL_DESCRIPTIONS.

Protocol: the val split chooses CRYCHIC's fusion rule and whether the teacher guides the student
at test time, late fusion's weight and the pose-free framing (`crychic.evaluation.scoring.choose_on_val`);
the training stages chose their kept epoch on val and `train_colour_cue` its regularisation. All
of it is recorded under `protocol` with the val figures that made it. Then the test split is
scored, each top-1 with a 95 % bootstrap interval over clips, and the README's claims as paired
differences on the same clips (`comparisons`).

Outputs: `metrics/evaluate.json` (accuracy, alignment and cost figures only, so re-running
identical models rewrites it byte for byte), `metrics/timing/evaluate.json` (latency, throughput,
end-to-end clips/s, seconds, MLflow run id), `plots/evaluate_predictions.json` (one row per test
clip: true and predicted class of every model, DVC's confusion template), `plots/evaluate/*.png`
(confusion matrices, attention overlays), and the same in one MLflow run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from crychic.core.atomic_write import write_json
from crychic.core.params import load_params
from stages.training_stage import select

PARAM_KEYS = [
    "data.source", "model.teacher", "model.student", "model.embed_dim", "model.multiscale_temporal",
    "model.attention_guidance", "train.device", "heatmap.clip_len", "heatmap.size", "heatmap.sigma",
    "heatmap.with_joint", "heatmap.with_limb", "heatmap.box_padding", "rgb.clip_len", "rgb.size",
    "rgb.decode_max_side", "keypoints.mediapipe_frame_size", "evaluate.split", "evaluate.batch_size",
    "evaluate.attention_clips", "evaluate.end_to_end_clips", "evaluate.latency_repeats", "evaluate.throughput_batch",
    "evaluate.bootstrap_resamples", "loss.contrastive_weight",
]
MODEL_DESCRIPTIONS = {
    "teacher": "skeleton heatmaps (stage 1)",
    "gcn": "raw keypoints, ST-GCN-style",
    "colour_cue": "hue histogram around the keypoint wrists, logistic regression",
    "rgb_only": "plain RGB student, no teacher, stages 2 + 3 epochs",
    "late_fusion": "teacher + rgb_only scores, weight chosen on val",
    "student_guided": "RGB student trained with the teacher (stage 2), pose-free",
    "crychic_posefree": "CRYCHIC student after joint fine-tuning, pose-free, keypoint-box crop",
    "rgb_only_nokp": "rgb_only on clips framed without keypoints",
    "crychic_posefree_nokp": "crychic_posefree on clips framed without keypoints",
    "crychic_fused": "CRYCHIC fused (teacher + student), rule chosen on val",
}
MODALITY = {
    "teacher": "skeleton (heatmaps)", "gcn": "skeleton (keypoints)", "colour_cue": "RGB + keypoints",
    "rgb_only": "RGB (keypoint box)", "late_fusion": "skeleton + RGB", "student_guided": "RGB (keypoint box)",
    "crychic_posefree": "RGB (keypoint box)", "rgb_only_nokp": "RGB only", "crychic_posefree_nokp": "RGB only",
    "crychic_fused": "skeleton + RGB",
}
# The README's claims, each a paired difference (first minus second) on the same test clips.
COMPARISONS = [
    ("student_guided", "rgb_only"),           # the teacher makes the pose-free student better (stage 2)...
    ("crychic_posefree", "rgb_only"),         # ... and after joint fine-tuning
    ("crychic_posefree_nokp", "rgb_only_nokp"),  # ... and with no keypoints at all
    ("crychic_fused", "teacher"),             # the modalities complement each other
    ("crychic_fused", "crychic_posefree"),
    ("late_fusion", "teacher"),
    ("crychic_fused", "late_fusion"),         # CRYCHIC beyond averaging two separately trained models
]
TRAINED_CHECKPOINTS = {"teacher": "train_teacher", "student_guided": "train_student", "crychic": "train_joint",
                       "rgb_only": "train_rgb_only", "gcn": "train_gcn"}


def class_groups(source: str, label_names: list[str]) -> dict[str, list[int]]:
    """Class groups worth a within-group accuracy: the synthetic benchmark's object and motion groups."""
    if source != "synthetic":
        return {}
    from crychic.sources.synthetic import CLASSES

    groups: dict[str, list[int]] = {}
    for action in CLASSES:
        if action.label < len(label_names) and label_names[action.label] == action.name:
            groups.setdefault(action.group, []).append(action.label)
    return groups


def _load_crychic(path: str, num_classes: int, model_params: dict):
    from crychic.training.loop import build_model, load_checkpoint

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
    parser.add_argument("--train-metrics", default="metrics", help="folder of the training stages' metrics")
    parser.add_argument("--metrics", default="metrics/evaluate.json")
    parser.add_argument("--timing", default="metrics/timing/evaluate.json")
    parser.add_argument("--predictions", default="plots/evaluate_predictions.json")
    parser.add_argument("--figures", default="plots/evaluate")
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow (used by quick tests)")
    args = parser.parse_args(argv)

    from crychic.evaluation import scoring as evaluation
    from crychic.clips.plan import read_clip_plan
    from crychic.evaluation.end_to_end import FRAMINGS, ClipSettings, end_to_end_throughput
    from crychic.training.gcn import load_gcn, predict_gcn
    from crychic.core.manifest import validation_split
    from crychic.evaluation.statistics import bootstrap_ci, paired_difference
    from crychic.training.loop import resolve_device

    params = select(load_params(args.params), PARAM_KEYS)
    settings, split = params["evaluate"], params["evaluate"]["split"]
    resamples = int(settings["bootstrap_resamples"])
    manifest = pq.read_table(args.manifest, columns=["label", "label_name"]).to_pylist()
    names = {row["label"]: row["label_name"] for row in manifest}
    label_names = [names.get(i, str(i)) for i in range(max(names) + 1)]
    num_classes, groups = len(label_names), class_groups(params["data"]["source"], label_names)
    device = resolve_device(params["train"]["device"])
    models_dir = Path(args.models)
    batch = int(settings["batch_size"])
    plan = read_clip_plan(args.clips)
    val_split = validation_split(row["split"] for row in plan)
    started = time.perf_counter()

    def step(message: str) -> None:
        print(f"[evaluate {time.perf_counter() - started:6.1f} s] {message}", flush=True)

    joint = _load_crychic(models_dir / "joint.pt", num_classes, params["model"])
    teacher = _load_crychic(models_dir / "teacher.pt", num_classes, params["model"])
    guided = _load_crychic(models_dir / "student.pt", num_classes, params["model"])
    rgb_only = _load_crychic(models_dir / "rgb_only.pt", num_classes,
                             {**params["model"], "attention_guidance": False})  # as train_rgb_only built it
    gcn = load_gcn(models_dir / "gcn.pt")
    colour_cue = pq.read_table(models_dir / "colour_cue" / "scores.parquet").to_pylist()

    def predict(on: str) -> dict:
        """Every candidate's logits on split `on`, in the paired heatmap/RGB set's sample order."""
        crychic = evaluation.predict_crychic(joint, args.heatmaps, args.rgb, split=on, batch_size=batch, device=device)
        reference, labels = crychic["sample_ids"], crychic["labels"]
        single = {
            "teacher": evaluation.predict_single(teacher, args.heatmaps, args.rgb, modality="heatmap",
                                                 key="teacher_logits", split=on, batch_size=batch, device=device),
            "rgb_only": evaluation.predict_single(rgb_only, args.heatmaps, args.rgb, modality="rgb",
                                                  key="student_logits", split=on, batch_size=batch, device=device),
            "student_guided": evaluation.predict_single(guided, args.heatmaps, args.rgb, modality="rgb",
                                                        key="student_logits", split=on, batch_size=batch, device=device),
        }
        gcn_logits, gcn_labels, gcn_ids = predict_gcn(gcn, args.keypoints, args.clips, on, batch_size=batch)
        single["gcn"] = {"logits": gcn_logits, "labels": gcn_labels, "sample_ids": list(gcn_ids)}
        rows = [r for r in colour_cue if r["split"] == on]
        single["colour_cue"] = {"logits": torch.tensor([r["log_proba"] for r in rows], dtype=torch.float32),
                                "labels": torch.tensor([r["label"] for r in rows]),
                                "sample_ids": [r["sample_id"] for r in rows]}
        for framing in FRAMINGS:
            framed = evaluation.predict_without_keypoints(
                {"crychic_posefree_nokp": joint, "rgb_only_nokp": rgb_only}, args.rgb, args.clips, split=on,
                framing=framing, size=int(params["rgb"]["size"]), decode_max_side=params["rgb"]["decode_max_side"],
                batch_size=batch)
            single.update({f"{name}/{framing}": result for name, result in framed.items()})
        logits = {name: evaluation.align_by_sample_id(reference, result) for name, result in single.items()}
        for name, result in single.items():  # the same clips must carry the same labels in every input
            if not torch.equal(evaluation.align_by_sample_id(reference, {**result, "logits": result["labels"]}), labels):
                raise ValueError(f"{name}: labels disagree with the paired heatmap/RGB {on} set")
        logits["crychic_posefree"] = crychic["student_posefree_logits"]
        for guidance, suffix in (("student", ""), ("teacher", "_teacher_guided")):
            for rule in evaluation.FUSION_RULES:
                logits[f"crychic_fused/{rule}/{guidance}"] = evaluation.fuse(
                    rule, crychic[f"fusion_head_logits{suffix}"], crychic["teacher_logits"],
                    crychic[f"student_logits{suffix}"])
        for weight in LATE_FUSION_WEIGHTS:
            logits[f"late_fusion/{weight}"] = evaluation.late_fusion(logits["teacher"], logits["rgb_only"],
                                                                     weights=[weight, 1 - weight])
        return {"logits": logits, "labels": labels, "sample_ids": reference, "crychic": crychic}

    # ------------------------------------------------------------ choices, made on val only
    step(f"predicting the {val_split} split: every candidate of every choice")
    val = predict(val_split)
    protocol: dict = {"split": val_split, "samples": len(val["labels"])}
    chosen = {}
    for model_name in ("crychic_fused", "late_fusion", "crychic_posefree_nokp"):
        candidates = {name.split("/", 1)[1]: value for name, value in val["logits"].items()
                      if name.startswith(model_name + "/")}
        chosen[model_name], scores = evaluation.choose_on_val(candidates, val["labels"])
        protocol[model_name] = {"candidates_val_top1": scores, "chosen": chosen[model_name],
                                "question": PROTOCOL_QUESTIONS[model_name]}
    chosen["rgb_only_nokp"] = chosen["crychic_posefree_nokp"]  # one framing for every pose-free student
    protocol["checkpoints"] = {}
    for name, stage in TRAINED_CHECKPOINTS.items():
        path = Path(args.train_metrics) / f"{stage}.json"
        figures = json.loads(path.read_text()) if path.is_file() else {}
        protocol["checkpoints"][name] = {"kept_epoch": None if figures.get("best_epoch") is None else figures["best_epoch"] + 1,
                                         "of_epochs": figures.get("epochs"), "val_top1": figures.get("val_top1")}
    colour_path = Path(args.train_metrics) / "train_colour_cue.json"
    if colour_path.is_file():
        protocol["colour_cue"] = json.loads(colour_path.read_text())
    for name, entry in protocol.items():
        if isinstance(entry, dict) and "chosen" in entry:
            step(f"val chose {name}: {entry['chosen']} ({entry['candidates_val_top1']})")

    # ------------------------------------------------------------ the test split, once
    step(f"predicting the {split} split with the choices val made")
    test = predict(split)
    labels, reference = test["labels"], test["sample_ids"]
    logits = {name: (test["logits"][f"{name}/{chosen[name]}"] if name in chosen else test["logits"][name])
              for name in MODEL_DESCRIPTIONS}

    metrics: dict = {"split": split, "samples": len(reference), "models": {}}
    correct = {name: evaluation.correct_per_clip(values, labels) for name, values in logits.items()}
    for name, values in logits.items():
        report = evaluation.model_report(values, labels, label_names, groups)
        report["top1_ci95"] = list(bootstrap_ci(correct[name], resamples=resamples))
        metrics["models"][name] = report
    metrics["chance_top1"] = round(1 / num_classes, 4)
    if groups:
        metrics["chance_group_top1"] = {g: round(1 / len(c), 4) for g, c in groups.items()}
    metrics["comparisons"] = {f"{a} - {b}": paired_difference(correct[a], correct[b], resamples=resamples)
                              for a, b in COMPARISONS}
    metrics["protocol"] = protocol

    step("alignment of teacher and student embeddings (joint model)")
    crychic = test["crychic"]
    metrics["alignment"] = evaluation_alignment(crychic, float(params["loss"]["contrastive_weight"]) > 0)

    step(f"parameters, FLOPs, latency (batch 1) and throughput (batch {settings['throughput_batch']}) on {device}")
    efficiency = efficiency_table(joint, teacher, rgb_only, gcn, params, settings, device)
    metrics["cost"] = {name: {"parameters": row["parameters"], "gflops_per_clip": row["gflops_per_clip"]}
                       for name, row in efficiency.items()}
    timing: dict = {"device": str(device), "efficiency": {
        name: {k: v for k, v in row.items() if k not in ("parameters", "gflops_per_clip")} for name, row in efficiency.items()}}

    # ------------------------------------------------------------ end to end from video files
    joint_cpu = joint.cpu()
    test_plan = [row for row in plan if row["split"] == split]
    count = min(int(settings["end_to_end_clips"]), len(test_plan))
    if count:  # 0 clips skips it (the ablation sweep compares accuracy, not cost)
        chosen_rows = [test_plan[i] for i in np.linspace(0, len(test_plan) - 1, count).round().astype(int)]
        step(f"end to end from {count} video files: pose-free path (framing '{chosen['crychic_posefree_nokp']}') "
             "vs full path (MediaPipe)")
        clip_settings = ClipSettings(
            rgb_clip_len=int(params["rgb"]["clip_len"]), rgb_size=int(params["rgb"]["size"]),
            heatmap_clip_len=int(params["heatmap"]["clip_len"]), heatmap_size=int(params["heatmap"]["size"]),
            sigma=float(params["heatmap"]["sigma"]), with_joint=bool(params["heatmap"]["with_joint"]),
            with_limb=bool(params["heatmap"]["with_limb"]), box_padding=float(params["heatmap"]["box_padding"]),
            rgb_decode_max_side=params["rgb"]["decode_max_side"],
            pose_frame_size=params["keypoints"]["mediapipe_frame_size"], framing=chosen["crychic_posefree_nokp"])
        joint_cpu.guide_at_inference = chosen["crychic_fused"].endswith("/teacher")
        end_to_end = end_to_end_throughput(joint_cpu, [row["path"] for row in chosen_rows], clip_settings)
        joint_cpu.guide_at_inference = False
        truth = np.array([row["label"] for row in chosen_rows])
        metrics["end_to_end"] = {"clips": count, "framing": chosen["crychic_posefree_nokp"]}
        timing["end_to_end"] = {"speedup": end_to_end["speedup"]}
        for path_name, key in (("pose_free", "posefree"), ("full", "full")):
            result = end_to_end[path_name]
            hits = np.array(result.pop("predictions")) == truth
            metrics["end_to_end"][key] = {"top1": round(float(hits.mean()), 4),
                                          "top1_ci95": list(bootstrap_ci(hits, resamples=resamples))}
            timing["end_to_end"][key] = result
        print(f"end to end, {count} clips on CPU, batch 1: pose-free {end_to_end['pose_free']['clips_per_second']:.2f} "
              f"clips/s (top-1 {metrics['end_to_end']['posefree']['top1']:.3f}) | full "
              f"{end_to_end['full']['clips_per_second']:.2f} clips/s (top-1 {metrics['end_to_end']['full']['top1']:.3f})",
              flush=True)

    step("confusion matrices and attention overlays")
    figure_paths = write_figures(Path(args.figures), logits, labels, label_names, groups, joint_cpu, args, reference,
                                 split, int(settings["attention_clips"]))
    predictions = [{"sample_id": sample_id, "actual": label_names[int(label)],
                    **{name: label_names[int(values[i].argmax())] for name, values in logits.items()}}
                   for i, (sample_id, label) in enumerate(zip(reference, labels))]
    write_json(args.predictions, predictions, indent=1)

    timing["mlflow_run_id"] = None if args.no_mlflow else log_to_mlflow(params, metrics, timing, figure_paths)
    timing["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.metrics, metrics)
    write_json(args.timing, timing)
    print_summary(metrics)


LATE_FUSION_WEIGHTS = (0.5, 0.25, 0.75)  # the teacher's share; 0.5 (plain averaging) is the default
PROTOCOL_QUESTIONS = {
    "crychic_fused": "fusion rule / whose attention weights the student's features at test time",
    "late_fusion": "the teacher's weight in the averaged probabilities",
    "crychic_posefree_nokp": "how a clip is framed with no keypoints (centre square or whole frame)",
}


def evaluation_alignment(crychic: dict, projections_trained: bool) -> dict:
    """Linear CKA of the backbone embeddings (every variant has them trained), and of the
    projections; cosine gap and R@1 both ways in the projection space only when a contrastive
    term trained it (untrained heads say nothing about the embeddings: reported as null)."""
    from crychic.losses import alignment_stats
    from crychic.evaluation.statistics import linear_cka

    teacher, student = crychic["teacher_embedding"].numpy(), crychic["student_embedding"].numpy()
    out = {"cka": round(linear_cka(teacher, student), 4),
           "cka_projection": round(linear_cka(crychic["z_teacher"].numpy(), crychic["z_student"].numpy()), 4),
           "projections_trained": projections_trained, "r1_chance": round(1 / len(teacher), 4)}
    stats = alignment_stats(crychic["z_teacher"], crychic["z_student"]) if projections_trained else {}
    for key, source in (("matched_cosine", "matched_cosine"), ("mismatched_cosine", "mismatched_cosine"), ("gap", "gap"),
                        ("r1_teacher_to_student", "r1_a_to_b"), ("r1_student_to_teacher", "r1_b_to_a")):
        out[key] = round(stats[source], 4) if source in stats else None
    return out


def efficiency_table(joint, teacher, rgb_only, gcn, params, settings, device) -> dict:
    """One efficiency row per model, each measured on `device` with inputs of the pipeline's shapes."""
    from crychic.evaluation.efficiency import count_parameters, inference_cost

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
    table["crychic_posefree_nokp"] = dict(table["crychic_posefree"])  # the same network, framed otherwise
    table["rgb_only_nokp"] = dict(table["rgb_only"])
    return {name: table[name] for name in MODEL_DESCRIPTIONS if name in table}  # colour_cue: not a network


def write_figures(figures_dir: Path, logits: dict, labels, label_names, groups, joint, args, reference,
                  split: str, attention_clips: int) -> list[Path]:
    import matplotlib.pyplot as plt

    from crychic.reporting import figures
    from crychic.evaluation.metrics import confusion_matrix
    from crychic.rgb.clips import RgbClips
    from crychic.training.data import PoseRgbDataset

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


def log_to_mlflow(params: dict, metrics: dict, timing: dict, figure_paths: list[Path]) -> str:
    import mlflow

    from crychic.reporting.tracking import flatten, start_run

    run = start_run("evaluate", params)
    try:
        numeric = {_metric_name(key): float(value) for key, value in flatten({**metrics, "timing": timing}).items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None}
        mlflow.log_metrics(numeric)
        for path in figure_paths:
            mlflow.log_artifact(str(path), artifact_path="figures")
        mlflow.log_dict(metrics, "metrics/evaluate.json")
        mlflow.log_dict(timing, "metrics/timing/evaluate.json")
        return run.info.run_id
    finally:
        mlflow.end_run()


def _metric_name(key: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces; comparisons are named 'a - b'."""
    return key.replace("/", ".").replace(" - ", "_minus_")


def print_summary(metrics: dict) -> None:
    print(f"\n{'model':22s} {'top-1':>6s} {'95% CI':>14s} {'mean cls':>8s}  groups (within-group top-1)")
    for name, report in metrics["models"].items():
        groups = " ".join(f"{g}={v:.2f}" for g, v in report.get("group_top1", {}).items())
        low, high = report["top1_ci95"]
        print(f"{name:22s} {report['top1']:6.3f} [{low:.3f}, {high:.3f}] {report['mean_class_accuracy']:8.3f}  {groups}")
    for name, comparison in metrics["comparisons"].items():
        low, high = comparison["ci95"]
        print(f"{name:40s} {comparison['difference']:+.3f} [{low:+.3f}, {high:+.3f}]")
    a = metrics["alignment"]
    print(f"alignment: linear CKA backbones {a['cka']:.3f}, projections {a['cka_projection']:.3f}; "
          f"R@1 teacher->student {a['r1_teacher_to_student']}, student->teacher {a['r1_student_to_teacher']} "
          f"(chance {a['r1_chance']})")


if __name__ == "__main__":
    main()
