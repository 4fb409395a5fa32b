"""Test-split figures of trained models: predictions, accuracies, group accuracies, late fusion.

Layouts: logits ``N x classes`` float32, labels ``N`` int64, embeddings ``N x D`` (L2-normalised
projections ``z_teacher`` / ``z_student`` of `CrychicModel`). One pass of the fused model over
both modalities gives the teacher's logits, the fused logits and both embeddings; a second pass
with RGB alone gives the pose-free student's logits, which is how it is deployed (no keypoints).

Group accuracy answers "does this model tell apart the classes *inside* a group?": samples of the
group only, predictions restricted to the group's classes (argmax over those logits), so chance is
1 / group size whatever the model does with the other classes. On the synthetic benchmark the
object-defined groups are where a skeleton model must sit at chance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from crychic.metrics import classification_report, per_class_accuracy
from crychic.training_data import PoseRgbDataset, make_loader


@torch.no_grad()
def predict_crychic(model: torch.nn.Module, heatmap_dir, rgb_dir, *, split: str, batch_size: int = 16,
                    device: torch.device | str = "cpu") -> dict:
    """Logits and embeddings of every head on `split`: teacher, fused and pose-free student
    (`student_posefree`, RGB only), plus `z_teacher`, `z_student` from the paired pass."""
    device = torch.device(device)
    dataset = PoseRgbDataset(heatmap_dir, rgb_dir, split=split, modalities=("heatmap", "rgb"))
    if len(dataset) == 0:
        raise ValueError(f"no {split!r} samples with both a heatmap ({heatmap_dir}) and an RGB clip ({rgb_dir})")
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, workers=0, seed=0)
    model.eval().to(device)
    keys = ("teacher_logits", "fused_logits", "z_teacher", "z_student")
    collected: dict[str, list] = {key: [] for key in (*keys, "student_posefree_logits", "labels")}
    sample_ids: list[str] = []
    for batch in loader:
        heatmap, rgb = batch["heatmap"].to(device), batch["rgb"].to(device)
        both = model(heatmap=heatmap, rgb=rgb)
        for key in keys:
            collected[key].append(both[key].float().cpu())
        collected["student_posefree_logits"].append(model(rgb=rgb)["student_logits"].float().cpu())
        collected["labels"].append(batch["label"])
        sample_ids += list(batch["sample_id"])
    out = {key: torch.cat(values) for key, values in collected.items()}
    out["sample_ids"] = sample_ids
    return out


@torch.no_grad()
def predict_single(model: torch.nn.Module, heatmap_dir, rgb_dir, *, modality: str, key: str, split: str,
                   batch_size: int = 16, device: torch.device | str = "cpu") -> dict:
    """Logits of one head fed one modality (the teacher alone, or a student trained without one)."""
    device = torch.device(device)
    dataset = PoseRgbDataset(heatmap_dir if modality == "heatmap" else None, rgb_dir if modality == "rgb" else None,
                             split=split, modalities=(modality,))
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, workers=0, seed=0)
    model.eval().to(device)
    logits, labels, sample_ids = [], [], []
    for batch in loader:
        logits.append(model(**{modality: batch[modality].to(device)})[key].float().cpu())
        labels.append(batch["label"])
        sample_ids += list(batch["sample_id"])
    return {"logits": torch.cat(logits), "labels": torch.cat(labels), "sample_ids": sample_ids}


def late_fusion(*logits: torch.Tensor) -> torch.Tensor:
    """Score averaging: the mean of the models' softmax probabilities (log taken so that the result
    is again logits-like: argmax and top-k are those of the averaged scores)."""
    if len(logits) < 2:
        raise ValueError("late fusion needs at least two models' logits")
    probabilities = torch.stack([torch.softmax(x.float(), dim=1) for x in logits]).mean(dim=0)  # N x classes
    return probabilities.clamp_min(1e-12).log()


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
