"""Figures of trained models on val (to choose) and test (to report): predictions, choices made
on val, accuracies with intervals, paired comparisons, group accuracies, late fusion.

Layouts: logits ``N x classes`` float32, labels ``N`` int64, embeddings ``N x D`` (L2-normalised
projections ``z_teacher`` / ``z_student`` of `CrychicModel`). One pass of the fused model over
both modalities gives the teacher's logits, the fused logits and both embeddings; a second pass
with RGB alone gives the pose-free student's logits, which is how it is deployed (no keypoints).

Group accuracy answers "does this model tell apart the classes *inside* a group?": samples of the
group only, predictions restricted to the group's classes (argmax over those logits), so chance is
1 / group size whatever the model does with the other classes. On the synthetic benchmark the
object-defined groups are where a skeleton model must sit at chance.

Protocol: every choice (fusion rule, whether the teacher guides the student at test time, late
fusion's weight, the pose-free framing) is a list of candidates scored on val; `choose_on_val`
keeps the first best, so the first candidate is the pre-registered default and a tie never moves
away from it. Test is scored once, with what val chose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from crychic.core.classification import classification_report, per_class_accuracy
from crychic.training.data import PoseRgbDataset, clips_are_framed, make_loader
from crychic.models.inference import collect_logits


@torch.no_grad()
def predict_crychic(model: torch.nn.Module, heatmap_dir, rgb_dir, *, split: str, batch_size: int = 16,
                    device: torch.device | str = "cpu") -> dict:
    """Logits and embeddings of every head on `split`: the teacher, the fusion head and the student
    with both inputs (the student weighted by its own attention, and `*_teacher_guided` by the
    teacher's), the pose-free student (`student_posefree`, RGB only), the backbone embeddings and
    the projections `z_teacher`, `z_student`."""
    device = torch.device(device)
    framed = clips_are_framed(rgb_dir)  # cut by the deployment framing: the teacher's maps carried there
    dataset = PoseRgbDataset(heatmap_dir, rgb_dir, split=split, modalities=("heatmap", "rgb"), framed=framed)
    if len(dataset) == 0:
        raise ValueError(f"no {split!r} samples with both a heatmap ({heatmap_dir}) and an RGB clip ({rgb_dir})")
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, workers=0, seed=0)
    model.eval().to(device)
    keys = ("teacher_logits", "fusion_head_logits", "student_logits", "z_teacher", "z_student",
            "teacher_embedding", "student_embedding")
    guided = ("fusion_head_logits", "student_logits")  # the outputs the teacher's guidance changes

    def heads(batch: dict) -> dict[str, torch.Tensor]:
        heatmap, rgb = batch["heatmap"].to(device), batch["rgb"].to(device)
        box = batch["heatmap_in_rgb"].to(device) if framed else None
        model.guide_at_inference = False
        both = model(heatmap=heatmap, rgb=rgb, heatmap_in_rgb=box)
        model.guide_at_inference = True
        teacher_guided = model(heatmap=heatmap, rgb=rgb, heatmap_in_rgb=box)
        model.guide_at_inference = False
        return {**{key: both[key] for key in keys}, **{f"{key}_teacher_guided": teacher_guided[key] for key in guided},
                "student_posefree_logits": model(rgb=rgb)["student_logits"]}

    return collect_logits(heads, loader)


@torch.no_grad()
def predict_single(model: torch.nn.Module, heatmap_dir, rgb_dir, *, modality: str, key: str, split: str,
                   batch_size: int = 16, device: torch.device | str = "cpu") -> dict:
    """Logits of one head fed one modality (the teacher alone, or a student trained without one)."""
    device = torch.device(device)
    dataset = PoseRgbDataset(heatmap_dir if modality == "heatmap" else None, rgb_dir if modality == "rgb" else None,
                             split=split, modalities=(modality,), framed=modality == "rgb" and clips_are_framed(rgb_dir))
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, workers=0, seed=0)
    model.eval().to(device)
    out = collect_logits(lambda batch: {"logits": model(**{modality: batch[modality].to(device)})[key]}, loader)
    return {"logits": out["logits"], "labels": out["labels"], "sample_ids": out["sample_ids"]}


def late_fusion(*logits: torch.Tensor, weights: Sequence[float] | None = None) -> torch.Tensor:
    """Score averaging: the (weighted) mean of the models' softmax probabilities (log taken so that
    the result is again logits-like: argmax and top-k are those of the averaged scores)."""
    if len(logits) < 2:
        raise ValueError("late fusion needs at least two models' logits")
    weights = torch.full((len(logits),), 1 / len(logits)) if weights is None else torch.tensor(weights, dtype=torch.float32)
    if len(weights) != len(logits):
        raise ValueError(f"{len(weights)} weights for {len(logits)} models")
    probabilities = torch.stack([torch.softmax(x.float(), dim=1) for x in logits])  # models x N x classes
    return (probabilities * (weights / weights.sum()).view(-1, 1, 1)).sum(0).clamp_min(1e-12).log()


# Fusion rules of CRYCHIC's fused prediction, in pre-registered order (the training target first).
FUSION_RULES = ("mean_all", "head", "mean_branches")


def fuse(rule: str, head: torch.Tensor, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
    """`mean_all`: mean probability of the fusion head, the teacher and the student (the model's
    `concat_ensemble`); `head`: the fusion head alone (`concat`); `mean_branches`: teacher and
    student only (late fusion inside one jointly trained model)."""
    if rule == "mean_all":
        return late_fusion(head, teacher, student)
    if rule == "head":
        return head.float()
    if rule == "mean_branches":
        return late_fusion(teacher, student)
    raise ValueError(f"unknown fusion rule {rule!r}: expected one of {FUSION_RULES}")


def top1(logits, labels) -> float:
    return float((torch.as_tensor(logits).argmax(1) == torch.as_tensor(labels)).float().mean())


def choose_on_val(candidates: Mapping[str, torch.Tensor], labels) -> tuple[str, dict[str, float]]:
    """The candidate with the best val top-1 (the first one on ties) and every candidate's figure."""
    if not candidates:
        raise ValueError("choose_on_val needs at least one candidate")
    scores = {name: round(top1(logits, labels), 4) for name, logits in candidates.items()}
    best = max(scores.values())
    return next(name for name, score in scores.items() if score == best), scores


def correct_per_clip(logits, labels) -> np.ndarray:
    """N bool: whether each clip's top-1 is right (what the bootstrap resamples)."""
    return (torch.as_tensor(logits).argmax(1) == torch.as_tensor(labels)).numpy()


def group_accuracy(logits, labels, class_groups: Mapping[str, Sequence[int]]) -> dict[str, float]:
    """Accuracy inside each group: its samples, argmax over its classes only (chance = 1 / size)."""
    logits, labels = torch.as_tensor(logits), torch.as_tensor(labels)
    out = {}
    for group, classes in class_groups.items():
        classes_t = torch.as_tensor(list(classes))
        mask = torch.isin(labels, classes_t)
        if not mask.any():
            continue
        predicted = classes_t[logits[mask][:, classes_t].argmax(dim=1)]
        out[group] = float((predicted == labels[mask]).float().mean())
    return out


def model_report(logits, labels, class_names: Sequence[str],
                 class_groups: Mapping[str, Sequence[int]] | None = None) -> dict:
    """top1, top5, mean class accuracy, per-class accuracy by class name, group accuracies."""
    num_classes = len(class_names)
    report = {key: round(value, 4) for key, value in classification_report(logits, labels, num_classes).items()}
    per_class = per_class_accuracy(logits, labels, num_classes)
    report["per_class"] = {name: (None if np.isnan(acc) else round(float(acc), 4))
                           for name, acc in zip(class_names, per_class)}
    if class_groups:
        report["group_top1"] = {g: round(v, 4) for g, v in group_accuracy(logits, labels, class_groups).items()}
    return report


def align_by_sample_id(reference: Sequence[str], other: dict) -> torch.Tensor:
    """`other`'s logits reordered to `reference`'s sample order (late fusion joins by sample id,
    never by position); every reference id must be present."""
    position = {sample_id: i for i, sample_id in enumerate(other["sample_ids"])}
    missing = [s for s in reference if s not in position]
    if missing:
        raise ValueError(f"{len(missing)} samples have no prediction to fuse with, e.g. {missing[:3]}")
    return other["logits"][[position[s] for s in reference]]


@torch.no_grad()
def predict_without_keypoints(models: Mapping[str, torch.nn.Module], rgb_dir, clip_plan_path, *, split: str,
                              framing: str, size: int, decode_max_side: int | None = None,
                              batch_size: int = 16) -> dict[str, dict]:
    """Pose-free students on clips framed with no keypoints at all: each `split` clip's own RGB
    frames (those its shard records) decoded again from the video and cut by `framing_box`, not by
    the keypoint person box. Returns, per model, {logits, labels, sample_ids} in sample-id order."""
    from tqdm import tqdm

    from crychic.clips.plan import read_clip_plan
    from crychic.evaluation.end_to_end import framing_box
    from crychic.rgb.decode import decode_clip
    from crychic.rgb.shards import RgbClips
    from crychic.training.data import normalise_rgb

    plan = {row["sample_id"]: row for row in read_clip_plan(clip_plan_path)}
    clips = RgbClips(rgb_dir)
    sample_ids = sorted(s for s, (s_split, _) in clips.metadata().items() if s_split == split)
    for model in models.values():
        model.eval()

    def batches():
        """Batches decoded on the fly: `rgb` N x 3 x T x S x S, `label` N, `sample_id`."""
        for start in tqdm(range(0, len(sample_ids), batch_size), desc=f"{split} clips framed '{framing}'",
                          unit="batch"):
            rgb, labels = [], []
            for sample_id in sample_ids[start:start + batch_size]:
                record, row = clips.get(sample_id), plan[sample_id]
                height, width = row["img_shape"]
                frames = decode_clip(row["path"], record["frame_indices"], framing_box(framing, height, width),
                                     row["img_shape"], size, decode_max_side=decode_max_side)  # T x S x S x 3
                rgb.append(normalise_rgb(frames))  # 3 x T x S x S
                labels.append(int(record["label"]))
            yield {"rgb": torch.stack(rgb), "label": torch.tensor(labels, dtype=torch.int64),
                   "sample_id": sample_ids[start:start + batch_size]}

    out = collect_logits(lambda batch: {name: model(rgb=batch["rgb"])["student_logits"]
                                        for name, model in models.items()}, batches())
    return {name: {"logits": out[name], "labels": out["labels"], "sample_ids": out["sample_ids"]} for name in models}
