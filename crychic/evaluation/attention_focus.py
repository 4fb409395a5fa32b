"""Where the teacher's attention points: its share near the wrists, against a uniform map.

On the synthetic benchmark the object-defined classes differ only by what is at the hands, so
guidance helps the RGB student there only if the teacher's spatial attention (the maps that weight
the student's features) sits near the wrists. This module measures that.

Layouts: a teacher stage's attention ``T_a x h x w`` (non-negative, `crychic.models.attention`),
over the person box; wrist positions ``T_k x P x 2`` as (u, v) in [0, 1] of the same box with a
validity mask ``T_k x P`` (P: both wrists of every person). Pixel j of an ``n``-pixel map sits at
box position j / n (the resize convention of `crychic.reporting.figures`); attention frame t is
matched to keypoint frame floor(t * T_k / T_a) (a stage that halves T keeps every other frame).

share   = attention mass within `radius` (box units) of any valid wrist / total mass;
uniform = the same share for a constant map (the masked area's fraction);
ratio   = share / uniform: 1 means the attention ignores the wrists, 2 that it is twice as dense
          there as a uniform map would be.
"""

from __future__ import annotations

import numpy as np
import torch

from crychic.core.coco17 import JOINT_INDEX

WRISTS = (JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"])
# "Near the wrist": within this many pixels of the heatmap volume (3 of 32: the held objects'
# size in the default profile's boxes); the radius in box units is this / heatmap.size.
WRIST_RADIUS_PX = 3


def wrist_mask(size_hw: tuple[int, int], wrists: np.ndarray, valid: np.ndarray, radius: float) -> np.ndarray:
    """``T x h x w`` bool: pixels within `radius` (box units) of a valid wrist of that frame."""
    h, w = size_hw
    ys, xs = np.arange(h) / h, np.arange(w) / w
    # T x P x h x w squared distances from every pixel to every wrist
    d2 = (xs[None, None, None, :] - wrists[:, :, 0, None, None]) ** 2 + \
         (ys[None, None, :, None] - wrists[:, :, 1, None, None]) ** 2
    return ((d2 <= radius ** 2) & valid[:, :, None, None]).any(axis=1)


def wrist_share(attention: np.ndarray, wrists: np.ndarray, valid: np.ndarray, radius: float) -> tuple[float, float]:
    """(share, uniform) of one clip's attention ``T_a x h x w`` (see the module docstring)."""
    t_a, h, w = attention.shape
    frames = (np.arange(t_a) * wrists.shape[0]) // t_a
    mask = wrist_mask((h, w), wrists[frames], valid[frames], radius)
    total = float(attention.sum())
    share = float((attention * mask).sum()) / total if total > 0 else float(mask.mean())
    return share, float(mask.mean())


def clip_wrists(keypoint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From a `KeypointClips` item's ``3 x T x V x M`` (centred box coordinates in [-1, 1], score):
    wrists ``T x 2M x 2`` as (u, v) in [0, 1] and their validity ``T x 2M`` (score > 0)."""
    xy = keypoint[:2][:, :, list(WRISTS)]  # 2 x T x 2 x M
    score = keypoint[2][:, list(WRISTS)]  # T x 2 x M
    t = xy.shape[1]
    wrists = ((xy.transpose(1, 2, 3, 0).reshape(t, -1, 2)) + 1) / 2  # T x 2M x 2
    return wrists, score.reshape(t, -1) > 0


@torch.no_grad()
def teacher_wrist_focus(model, heatmap_dir, keypoints_path, clip_plan_path, *, split: str, radius: float,
                        groups: dict[str, list[int]], batch_size: int = 16, device="cpu") -> dict:
    """Per stage of the teacher and per class group (and "all"): mean share, mean uniform share,
    their ratio, clip count. `model` is a CrychicModel (its teacher and attention maps)."""
    from crychic.keypoints.clips import KeypointClips
    from crychic.training.data import PoseRgbDataset, make_loader

    keypoints = KeypointClips(keypoints_path, clip_plan_path, split)
    by_id = {row["sample_id"]: i for i, row in enumerate(keypoints.rows)}
    dataset = PoseRgbDataset(heatmap_dir, None, split=split, modalities=("heatmap",))
    loader = make_loader(dataset, batch_size=batch_size, shuffle=False, workers=0, seed=0)
    model.eval().to(device)
    rows = []  # (label, stage, share, uniform)
    for batch in loader:
        attention = model(heatmap=batch["heatmap"].to(device))["teacher_attention"]  # per stage N x 1 x T x h x w
        for n, (sample_id, label) in enumerate(zip(batch["sample_id"], batch["label"].tolist())):
            if sample_id not in by_id:
                continue
            wrists, valid = clip_wrists(keypoints[by_id[sample_id]]["keypoint"].numpy())
            for stage, maps in enumerate(attention):
                share, uniform = wrist_share(maps[n, 0].float().cpu().numpy(), wrists, valid, radius)
                rows.append((label, stage, share, uniform))
    if not rows:
        raise ValueError(f"{heatmap_dir}: no {split} clip has both heatmaps and keypoints")
    label_group = {label: g for g, labels in groups.items() for label in labels}
    out: dict = {"split": split, "radius_box": radius, "stages": {}}
    for stage in sorted({r[1] for r in rows}):
        per_group: dict = {}
        for group in ["all", *groups]:
            picked = [(s, u) for label, st, s, u in rows
                      if st == stage and (group == "all" or label_group.get(label) == group)]
            if not picked:
                continue
            share, uniform = (float(np.mean(v)) for v in zip(*picked))
            per_group[group] = {"share": round(share, 4), "uniform": round(uniform, 4),
                                "ratio": round(share / uniform, 3) if uniform > 0 else None, "clips": len(picked)}
        out["stages"][f"stage{stage + 1}"] = per_group
    return out

