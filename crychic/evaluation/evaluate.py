"""The evaluate stage's work: every trained model, choices on val, figures on test, once.

Protocol: the val split chooses CRYCHIC's fusion rule and whether the teacher guides the student
at test time, late fusion's weight and the pose-free framing (`scoring.choose_on_val`); the
training stages chose their kept epoch on val and `train_colour_cue` its regularisation. All of it
is recorded under `protocol` with the val figures that made it. Then the test split is scored, each
top-1 with a 95 % bootstrap interval over clips, and the README's claims as paired differences on
the same clips (`methods.COMPARISONS`).

Layouts: logits ``N x C`` per method (N clips of a split in the paired heatmap/RGB set's sample
order, C classes); labels ``N``; embeddings ``N x D``. `metrics` holds accuracy, alignment and cost
figures only (re-running identical models reproduces it byte for byte); `timing` holds latency,
throughput, end-to-end clips/s and seconds.
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from crychic.clips.plan import read_clip_plan
from crychic.core.manifest import read_label_names, require_splits, validation_split
from crychic.evaluation import scoring as evaluation
from crychic.evaluation.efficiency import model_costs
from crychic.evaluation.end_to_end import FRAMINGS, Deployment, clip_settings, end_to_end_throughput
from crychic.evaluation.methods import (COMPARISONS, LATE_FUSION_WEIGHTS, METHODS, PROTOCOL_QUESTIONS,
                                        TEXT_ANCHOR_ROWS, TRAINED_CHECKPOINTS)
from crychic.evaluation.statistics import bootstrap_ci, paired_difference
from crychic.sources.synthetic.classes import class_groups
from crychic.training.baselines import load_baseline, predict_baseline
from crychic.training.stage import BASELINE_INPUTS
from crychic.core.devices import resolve_device
from crychic.core.stage_registry import params_of
from crychic.models.checkpoints import build_model, load_checkpoint, read_checkpoint

PARAM_KEYS = params_of("evaluate")  # the keys `evaluate` reads (crychic.core.stage_registry)


@dataclass(frozen=True)
class EvaluationInputs:
    """Where the pipeline's earlier stages wrote what evaluate reads (dvc.yaml's deps)."""
    heatmaps: str = "data/heatmaps"
    rgb: str = "data/rgb"
    rgb_framed: str = "data/rgb_framed"  # the students' clips with research.deployment_framing
    keypoints: str = "data/keypoints/keypoints.h5"
    clips: str = "data/clips/clips.parquet"
    manifest: str = "data/ingest/manifest.parquet"
    models: str = "models"
    train_metrics: str = "metrics"  # folder of the training stages' metrics (their kept epochs)


@dataclass
class Evaluation:
    metrics: dict
    timing: dict
    logits: dict[str, torch.Tensor]  # method -> N x C on the test split
    labels: torch.Tensor  # N
    sample_ids: list[str]
    label_names: list[str]
    groups: dict[str, list[int]]
    joint: torch.nn.Module  # the CRYCHIC model on CPU (attention figures)

    def predictions(self) -> list[dict]:
        """One row per test clip: its true class and every method's predicted class (DVC's confusion plot)."""
        names = self.label_names
        return [{"sample_id": sample_id, "actual": names[int(label)],
                 **{name: names[int(values[i].argmax())] for name, values in self.logits.items()}}
                for i, (sample_id, label) in enumerate(zip(self.sample_ids, self.labels))]


def _load_crychic(path, num_classes: int, model_params: dict, head: str | None = None):
    """A trained CRYCHIC model as its stage built it; `head`: the weights kept by that head's val score."""
    saved = read_checkpoint(path)["model_config"]
    # train_text's model has text heads, a multi-level FR-Head run's student has descriptor heads;
    # the design switches are the guided stages' params, not evaluate's: read them from the model
    designs = {key: saved[key] for key in ("guidance_source", "residual_fusion") if key in saved}
    model = build_model(num_classes, {**model_params, **designs}, text_dim=int(saved.get("text_dim", 0)),
                        fr_head_levels=bool(saved.get("fr_head_levels", False)),
                        heatmap_channels=int(saved.get("teacher_overrides", {}).get("in_channels", 17)))
    load_checkpoint(path, model, head=head)
    return model.eval()


def load_crychic(path, model_params: dict, head: str | None = None) -> tuple[torch.nn.Module, list[str]]:
    """A trained CRYCHIC checkpoint and the class names it was trained with (`crychic predict`)."""
    label_names = list(read_checkpoint(path)["label_names"])  # the refusing reader, as for the weights
    return _load_crychic(path, len(label_names), model_params, head=head), label_names


@dataclass
class TrainedModels:
    """Every network the pipeline trained, as its stage built it (CPU or `device`, eval mode)."""

    joint: torch.nn.Module  # stage 3, kept by the fused val score: the fused rows
    joint_posefree: torch.nn.Module  # stage 3, the student kept by its own pose-free val score
    teacher: torch.nn.Module  # stage 1
    guided: torch.nn.Module  # stage 2's student
    text: torch.nn.Module | None  # stage 3 with the text anchor, the student kept by its own score (research arm)
    rgb_only: torch.nn.Module
    baselines: dict[str, torch.nn.Module]  # gcn, msg3d, sta_lstm, i3d
    colour_cue: list[dict]  # the colour-cue baseline's scores, one row per clip


def load_trained_models(models_dir: Path, num_classes: int, model_params: dict, text_anchor: bool) -> TrainedModels:
    """`text_anchor` false (`research.text_anchor`): train_text wrote a marker (which `read_checkpoint` refuses to
    load), so no crychic_text model."""
    return TrainedModels(
        joint=_load_crychic(models_dir / "joint.pt", num_classes, model_params),
        joint_posefree=_load_crychic(models_dir / "joint.pt", num_classes, model_params, head="student_posefree"),
        teacher=_load_crychic(models_dir / "teacher.pt", num_classes, model_params),
        guided=_load_crychic(models_dir / "student.pt", num_classes, model_params),
        text=(_load_crychic(models_dir / "text.pt", num_classes, model_params, head="student_posefree")
              if text_anchor else None),
        rgb_only=_load_crychic(models_dir / "rgb_only.pt", num_classes,
                               {**model_params, "attention_guidance": False}),  # as train_rgb_only built it
        baselines={name: load_baseline(models_dir / f"{name}.pt") for name in BASELINE_INPUTS},
        colour_cue=pq.read_table(models_dir / "colour_cue" / "scores.parquet").to_pylist())


def predict_split(models: TrainedModels, inputs: EvaluationInputs, params: dict, on: str, *, students_rgb: str,
                  device, framings=FRAMINGS) -> dict:
    """Every candidate's logits on split `on`, in the paired heatmap/RGB set's sample order
    (of the no-keypoint framings, only `framings`: each one decodes every clip again)."""
    batch = int(params["evaluate"]["batch_size"])
    crychic = evaluation.predict_crychic(models.joint, inputs.heatmaps, students_rgb, split=on, batch_size=batch,
                                         device=device)
    reference, labels = crychic["sample_ids"], crychic["labels"]

    def single_network(model, modality: str, key: str) -> dict:
        return evaluation.predict_single(model, inputs.heatmaps, students_rgb, modality=modality, key=key, split=on,
                                         batch_size=batch, device=device)

    single = {
        "teacher": single_network(models.teacher, "heatmap", "teacher_logits"),
        "rgb_only": single_network(models.rgb_only, "rgb", "student_logits"),
        "crychic_posefree": single_network(models.joint_posefree, "rgb", "student_logits"),
        "student_guided": single_network(models.guided, "rgb", "student_logits"),
    }
    if models.text is not None:
        single["crychic_text"] = single_network(models.text, "rgb", "student_logits")
        single["crychic_text_zeroshot"] = single_network(models.text, "rgb", "student_text_logits")
    for name, network in models.baselines.items():
        logits_, labels_, ids_ = predict_baseline(network, keypoints_path=inputs.keypoints, clip_plan_path=inputs.clips,
                                                  rgb_dir=inputs.rgb, split=on, batch_size=batch)
        single[name] = {"logits": logits_, "labels": labels_, "sample_ids": list(ids_)}
    rows = [r for r in models.colour_cue if r["split"] == on]
    single["colour_cue"] = {"logits": torch.tensor([r["log_proba"] for r in rows], dtype=torch.float32),
                            "labels": torch.tensor([r["label"] for r in rows]),
                            "sample_ids": [r["sample_id"] for r in rows]}
    for framing in framings:
        framed = evaluation.predict_without_keypoints(
            {"crychic_posefree_nokp": models.joint_posefree, "rgb_only_nokp": models.rgb_only}, inputs.rgb,
            inputs.clips, split=on, framing=framing, size=int(params["rgb"]["size"]),
            decode_max_side=params["rgb"]["decode_max_side"], batch_size=batch)
        single.update({f"{name}/{framing}": result for name, result in framed.items()})
    logits = {name: evaluation.align_by_sample_id(reference, result) for name, result in single.items()}
    for name, result in single.items():  # the same clips must carry the same labels in every input
        if not torch.equal(evaluation.align_by_sample_id(reference, {**result, "logits": result["labels"]}), labels):
            raise ValueError(f"{name}: labels disagree with the paired heatmap/RGB {on} set")
    for guidance, suffix in (("student", ""), ("teacher", "_teacher_guided")):
        for rule in evaluation.FUSION_RULES:
            logits[f"crychic_fused/{rule}/{guidance}"] = evaluation.fuse(
                rule, crychic[f"fusion_head_logits{suffix}"], crychic["teacher_logits"],
                crychic[f"student_logits{suffix}"])
    for weight in LATE_FUSION_WEIGHTS:
        logits[f"late_fusion/{weight}"] = evaluation.late_fusion(logits["teacher"], logits["rgb_only"],
                                                                 weights=[weight, 1 - weight])
    return {"logits": logits, "labels": labels, "sample_ids": reference, "crychic": crychic}


def choices_on_val(val: dict, val_split: str, label_names: list[str], groups: dict,
                   train_metrics: str | Path) -> tuple[dict, dict]:
    """(protocol, chosen): every choice made on val with the val figures that made it, each method's
    val figures under those choices (what metrics/designs.json decides by), and the kept epochs."""
    protocol: dict = {"split": val_split, "samples": len(val["labels"])}
    chosen = {}
    for model_name in ("crychic_fused", "late_fusion", "crychic_posefree_nokp"):
        candidates = {name.split("/", 1)[1]: value for name, value in val["logits"].items()
                      if name.startswith(model_name + "/")}
        chosen[model_name], scores = evaluation.choose_on_val(candidates, val["labels"])
        protocol[model_name] = {"candidates_val_top1": scores, "chosen": chosen[model_name],
                                "question": PROTOCOL_QUESTIONS[model_name]}
    chosen["rgb_only_nokp"] = chosen["crychic_posefree_nokp"]  # one framing for every pose-free student
    protocol["val_top1"] = {}
    for name in METHODS:
        values = val["logits"].get(f"{name}/{chosen[name]}" if name in chosen else name)
        if values is not None:
            report = evaluation.model_report(values, val["labels"], label_names, groups)
            protocol["val_top1"][name] = {"top1": report["top1"], **({"groups": report["group_top1"]}
                                                                    if "group_top1" in report else {})}
    protocol["checkpoints"] = kept_checkpoints(train_metrics)
    colour_path = Path(train_metrics) / "train_colour_cue.json"
    if colour_path.is_file():
        protocol["colour_cue"] = json.loads(colour_path.read_text())
    return protocol, chosen


def kept_checkpoints(train_metrics: str | Path) -> dict:
    """The epoch each training stage kept by its val score (stage 3's pose-free student by its own). Every
    training stage writes its metrics file (a research arm switched off, a marker saying so), so a missing
    one is an error, not a model without a kept epoch."""
    checkpoints = {}
    for name, stage in TRAINED_CHECKPOINTS.items():
        path = Path(train_metrics) / f"{stage}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the {stage} stage's metrics (its kept epoch) are missing: run it first")
        figures = json.loads(path.read_text())
        if figures.get("enabled") is False:  # a research arm switched off (train_text's marker)
            continue
        checkpoints[name] = {"kept_epoch": None if figures.get("best_epoch") is None else figures["best_epoch"] + 1,
                             "of_epochs": figures.get("epochs"), "val_top1": figures.get("val_top1")}
        if figures.get("best_epoch_student_posefree") is not None:
            checkpoints[f"{name}_posefree"] = {
                "kept_epoch": figures["best_epoch_student_posefree"] + 1, "of_epochs": figures.get("epochs"),
                "val_top1": figures["val_top1_student_posefree"], "kept_by": "pose-free student val top-1"}
    return checkpoints


def test_figures(logits: dict, labels: torch.Tensor, label_names: list[str], groups: dict, resamples: int) -> dict:
    """Each method's test report with its bootstrap interval, chance, and the paired claims."""
    metrics: dict = {"models": {}}
    correct = {name: evaluation.correct_per_clip(values, labels) for name, values in logits.items()}
    for name, values in logits.items():
        report = evaluation.model_report(values, labels, label_names, groups)
        report["top1_ci95"] = list(bootstrap_ci(correct[name], resamples=resamples))
        metrics["models"][name] = report
    metrics["chance_top1"] = round(1 / len(label_names), 4)
    if groups:
        metrics["chance_group_top1"] = {g: round(1 / len(c), 4) for g, c in groups.items()}
    absent = set(TEXT_ANCHOR_ROWS) - set(logits)  # a research arm switched off; any other missing model is an error
    metrics["comparisons"] = {f"{a} - {b}": paired_difference(correct[a], correct[b], resamples=resamples)
                              for a, b in COMPARISONS if not {a, b} & absent}
    return metrics


def end_to_end_report(models: TrainedModels, test_plan: list[dict], chosen: dict, params: dict,
                      label_names: list[str], resamples: int) -> tuple[dict, dict]:
    """(metrics, timing) of both deployments from video files, on `evaluate.end_to_end_clips` test clips
    spread over the split: accuracy and the predictions `crychic predict` must reproduce; clips/s."""
    count = min(int(params["evaluate"]["end_to_end_clips"]), len(test_plan))
    chosen_rows = [test_plan[i] for i in np.linspace(0, len(test_plan) - 1, count).round().astype(int)]
    rule, guidance = chosen["crychic_fused"].split("/")
    deployment = Deployment(joint=models.joint.cpu(), posefree=models.joint_posefree.cpu(), label_names=label_names,
                            fusion_rule=rule, guidance=guidance, framing=chosen["crychic_posefree_nokp"])
    videos = [row["path"] for row in chosen_rows]
    end_to_end = end_to_end_throughput(deployment, videos, clip_settings(params))
    truth = np.array([row["label"] for row in chosen_rows])
    metrics = {"clips": count, "framing": deployment.framing, "videos": videos, "fusion": chosen["crychic_fused"],
               "predictions": {}}
    timing = {name: end_to_end[name] for name in ("speedup", "sampled_pose_speedup", "full_speedup")}
    one_thread = end_to_end["full_one_thread"]  # timing only: the same keypoints as "full", on one thread
    one_thread["same_predictions_as_full"] = one_thread.pop("predictions") == end_to_end["full"]["predictions"]
    timing["full_one_thread"] = one_thread
    for path_name, key in (("pose_free", "posefree"), ("full", "full"), ("full_every_frame", "full_every_frame")):
        result = end_to_end[path_name]
        predicted = result.pop("predictions")
        hits = np.array(predicted) == truth
        metrics[key] = {"top1": round(float(hits.mean()), 4), "top1_ci95": list(bootstrap_ci(hits, resamples=resamples))}
        metrics["predictions"][key] = [label_names[p] if p >= 0 else None for p in predicted]
        timing[key] = result
    print(f"end to end, {count} clips on CPU, batch 1: "
          + " | ".join(f"{name.replace('_', ' ')} {timing[key]['clips_per_second']:.2f} clips/s (top-1 "
                       f"{metrics[key]['top1']:.3f})" for name, key in (("pose_free", "posefree"), ("full", "full"),
                                                                       ("full, pose on every frame", "full_every_frame"))),
          flush=True)
    return metrics, timing


def cost_report(models: TrainedModels, params: dict, device) -> tuple[dict, dict]:
    """(metrics, timing): parameters and FLOPs per clip are figures of the model (metrics); latency
    and throughput are this machine's (timing)."""
    efficiency = model_costs(models.joint, models.teacher, models.rgb_only, models.baselines, params,
                             params["evaluate"], device)
    if models.text is None:  # the text anchor's rows (the pose-free student's network) exist only when it trained
        efficiency = {name: row for name, row in efficiency.items() if name not in TEXT_ANCHOR_ROWS}
    cost = {name: {"parameters": row["parameters"], "gflops_per_clip": row["gflops_per_clip"]}
            for name, row in efficiency.items()}
    timing = {"device": str(device), "efficiency": {
        name: {k: v for k, v in row.items() if k not in ("parameters", "gflops_per_clip")}
        for name, row in efficiency.items()}}
    return cost, timing


def evaluate(params: dict, inputs: EvaluationInputs = EvaluationInputs()) -> Evaluation:
    """Choose on val, score test once; `params` holds exactly `PARAM_KEYS`."""
    settings, split = params["evaluate"], params["evaluate"]["split"]
    resamples = int(settings["bootstrap_resamples"])
    label_names = read_label_names(inputs.manifest)
    groups = class_groups(label_names) if params["data"]["source"] == "synthetic" else {}
    device = resolve_device(params["train"]["device"])
    plan = read_clip_plan(inputs.clips)
    # The CRYCHIC networks and rgb_only see the clips they were trained on: cut by the person box, or
    # by the deployment framing (research.deployment_framing); the I3D baseline keeps the box cut.
    students_rgb = inputs.rgb_framed if params["research"]["deployment_framing"] else inputs.rgb
    # chosen on val, scored on test: stop before loading any model if the clips lack either
    require_splits(collections.Counter(row["split"] for row in plan), ("val", split), where=inputs.clips)
    val_split = validation_split(row["split"] for row in plan)
    started = time.perf_counter()

    def step(message: str) -> None:
        print(f"[evaluate {time.perf_counter() - started:6.1f} s] {message}", flush=True)

    models = load_trained_models(Path(inputs.models), len(label_names), params["model"], params["research"]["text_anchor"])

    step(f"predicting the {val_split} split: every candidate of every choice")
    val = predict_split(models, inputs, params, val_split, students_rgb=students_rgb, device=device)
    protocol, chosen = choices_on_val(val, val_split, label_names, groups, inputs.train_metrics)
    for name, entry in protocol.items():
        if isinstance(entry, dict) and "chosen" in entry:
            step(f"val chose {name}: {entry['chosen']} ({entry['candidates_val_top1']})")

    step(f"predicting the {split} split with the choices val made")
    test = predict_split(models, inputs, params, split, students_rgb=students_rgb, device=device,
                         framings=(chosen["crychic_posefree_nokp"],))  # the test split sees val's choice only
    labels, reference = test["labels"], test["sample_ids"]
    logits = {name: (test["logits"][f"{name}/{chosen[name]}"] if name in chosen else test["logits"][name])
              for name in METHODS if models.text is not None or name not in TEXT_ANCHOR_ROWS}
    figures = test_figures(logits, labels, label_names, groups, resamples)
    metrics: dict = {"split": split, "samples": len(reference), "models": figures.pop("models"),
                     "framed": bool(params["research"]["deployment_framing"]), **figures, "protocol": protocol}

    step("alignment of teacher and student embeddings (joint model)")
    metrics["alignment"] = alignment_report(test["crychic"], float(params["loss"]["contrastive_weight"]) > 0)
    if groups:
        step("teacher attention near the wrists (stage-1 teacher, test split)")
        from crychic.evaluation.attention_focus import WRIST_RADIUS_PX, teacher_wrist_focus

        metrics["teacher_wrist_focus"] = teacher_wrist_focus(
            models.teacher, inputs.heatmaps, inputs.keypoints, inputs.clips, split=split,
            radius=WRIST_RADIUS_PX / int(params["heatmap"]["size"]), groups=groups,
            batch_size=int(settings["batch_size"]), device=device)

    step(f"parameters, FLOPs, latency (batch 1) and throughput (batch {settings['throughput_batch']}) on {device}")
    metrics["cost"], timing = cost_report(models, params, device)

    test_plan = [row for row in plan if row["split"] == split]
    if min(int(settings["end_to_end_clips"]), len(test_plan)):  # 0 clips skips it (the sweep compares accuracy)
        step(f"end to end from video files: pose-free path (framing '{chosen['crychic_posefree_nokp']}') "
             "vs full path (MediaPipe)")
        metrics["end_to_end"], timing["end_to_end"] = end_to_end_report(models, test_plan, chosen, params, label_names,
                                                                         resamples)
    return Evaluation(metrics=metrics, timing=timing, logits=logits, labels=labels, sample_ids=list(reference),
                      label_names=label_names, groups=groups, joint=models.joint.cpu())


def alignment_report(crychic: dict, projections_trained: bool) -> dict:
    """Linear CKA of the backbone embeddings (every variant has them trained), and of the
    projections; cosine gap and R@1 both ways in the projection space only when a contrastive
    term trained it (untrained heads say nothing about the embeddings: reported as null)."""
    from crychic.evaluation.statistics import linear_cka
    from crychic.losses import alignment_stats

    teacher, student = crychic["teacher_embedding"].numpy(), crychic["student_embedding"].numpy()
    out = {"cka": round(linear_cka(teacher, student), 4),
           "cka_projection": round(linear_cka(crychic["z_teacher"].numpy(), crychic["z_student"].numpy()), 4),
           "projections_trained": projections_trained, "r1_chance": round(1 / len(teacher), 4)}
    stats = alignment_stats(crychic["z_teacher"], crychic["z_student"]) if projections_trained else {}
    for key, source in (("matched_cosine", "matched_cosine"), ("mismatched_cosine", "mismatched_cosine"), ("gap", "gap"),
                        ("r1_teacher_to_student", "r1_a_to_b"), ("r1_student_to_teacher", "r1_b_to_a")):
        out[key] = round(stats[source], 4) if source in stats else None
    return out


def summary(metrics: dict) -> str:
    """The test figures as a console table: top-1 with its interval per method, the claims, alignment."""
    lines = [f"\n{'model':22s} {'top-1':>6s} {'95% CI':>14s} {'mean cls':>8s}  groups (within-group top-1)"]
    for name, report in metrics["models"].items():
        groups = " ".join(f"{g}={v:.2f}" for g, v in report.get("group_top1", {}).items())
        low, high = report["top1_ci95"]
        lines.append(f"{name:22s} {report['top1']:6.3f} [{low:.3f}, {high:.3f}] {report['mean_class_accuracy']:8.3f}  "
                     f"{groups}")
    for name, comparison in metrics["comparisons"].items():
        low, high = comparison["ci95"]
        lines.append(f"{name:40s} {comparison['difference']:+.3f} [{low:+.3f}, {high:+.3f}]")
    a = metrics["alignment"]
    lines.append(f"alignment: linear CKA backbones {a['cka']:.3f}, projections {a['cka_projection']:.3f}; "
                 f"R@1 teacher->student {a['r1_teacher_to_student']}, student->teacher {a['r1_student_to_teacher']} "
                 f"(chance {a['r1_chance']})")
    return "\n".join(lines)


def write_figures(result: Evaluation, out_dir: str | Path, inputs: EvaluationInputs, split: str,
                  attention_clips: int) -> list[Path]:
    """A confusion matrix per method, and the fused model's teacher vs student attention on one
    test clip per class group (else the first clips); stale pictures of an earlier run are removed."""
    from crychic.core.classification import confusion_matrix
    from crychic.reporting import figures
    from crychic.rgb.shards import RgbClips
    from crychic.training.data import PoseRgbDataset

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.png"):
        stale.unlink()
    labels, label_names, groups = result.labels, result.label_names, result.groups
    group_of = {c: g for g, classes in groups.items() for c in classes}
    class_group = [group_of.get(i, "") for i in range(len(label_names))] if groups else None
    paths = []
    for name, values in result.logits.items():
        matrix = confusion_matrix(values.argmax(1), labels, len(label_names))
        accuracy = float((values.argmax(1) == labels).float().mean())
        fig = figures.confusion_matrix_figure(matrix, label_names, groups=class_group,
                                              title=f"{name}, top-1 {accuracy:.3f}\n{METHODS[name].description}")
        paths.append(out_dir / f"confusion_{name}.png")
        figures.save(fig, paths[-1])

    focus = result.metrics.get("teacher_wrist_focus")
    if focus:
        paths.append(out_dir / "teacher_wrist_focus.png")
        figures.save(figures.wrist_focus_figure(focus, "stage-1 teacher: attention near the wrists (test)"), paths[-1])

    chosen: list[int] = []
    for classes in (groups.values() if groups else []):
        chosen += [i for i, label in enumerate(labels.tolist()) if label in classes][:1]
    chosen = (chosen or list(range(len(result.sample_ids))))[:attention_clips]
    from crychic.training.data import clips_are_framed

    rgb_dir = inputs.rgb_framed if result.metrics.get("framed") else inputs.rgb
    framed = clips_are_framed(rgb_dir)
    dataset = PoseRgbDataset(inputs.heatmaps, rgb_dir, split=split, modalities=("heatmap", "rgb"), framed=framed)
    position = {sample_id: i for i, sample_id in enumerate(dataset.sample_ids)}
    clips = RgbClips(rgb_dir)
    with torch.no_grad():
        for index in chosen:
            sample_id = result.sample_ids[index]
            item = dataset[position[sample_id]]
            out = result.joint(heatmap=item["heatmap"][None], rgb=item["rgb"][None],
                               heatmap_in_rgb=item["heatmap_in_rgb"][None] if framed else None)
            teacher_map = out["teacher_attention_aligned"][0][0, 0]  # T x h x w on the student's layer2 grid
            student_map = out["student_attention"][0][0, 0]  # T x h x w
            fig = figures.attention_overlay_figure(
                clips.get(sample_id)["frames"], teacher_map, student_map,
                title=f"{sample_id} ({label_names[int(labels[index])]}): layer2 attention")
            paths.append(out_dir / f"attention_{sample_id}.png")
            figures.save(fig, paths[-1])
    return paths
