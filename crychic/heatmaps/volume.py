"""From a sample's keypoints and its clip plan to the stored heatmap volume.

Layouts: keypoint `M x T_src x V x 3` (every source frame, source pixels); the volume is
`K x T x H x W` uint8 with K = 17 joint channels, then 17 limb channels when both are asked for,
T = the planned frames, H = W = `size`, cut from the planned square box. Channels first (K, T)
because that is what the 3D-CNN teacher eats (PoseConv3D's NCTHW).
"""

from __future__ import annotations

import numpy as np

from crychic.core.coco17 import JOINT_NAMES, SKELETON_EDGES
from crychic.heatmaps.render import generate_pose_target
from crychic.heatmaps.shards import to_uint8
from crychic.clips.person_box import crop_keypoints_to_box


def channel_names(with_joint: bool, with_limb: bool) -> list[str]:
    names = list(JOINT_NAMES) if with_joint else []
    if with_limb:
        names += [f"{JOINT_NAMES[a]}-{JOINT_NAMES[b]}" for a, b in SKELETON_EDGES]
    return names


def render_volume(keypoint: np.ndarray, box, frame_indices, *, size: int, sigma: float,
                  with_joint: bool = True, with_limb: bool = False) -> np.ndarray:
    if not (with_joint or with_limb):
        raise ValueError("heatmap: at least one of with_joint / with_limb must be true")
    sampled = keypoint[:, np.asarray(frame_indices)]  # M x T x V x 3
    in_box = crop_keypoints_to_box(sampled[..., :2], np.asarray(box), size)  # M x T x V x 2, box pixels
    score = sampled[..., 2]
    parts = []
    if with_joint:
        parts.append(generate_pose_target(in_box, score, (size, size), sigma=sigma))  # T x 17 x H x W
    if with_limb:
        parts.append(generate_pose_target(in_box, score, (size, size), sigma=sigma, with_limb=True))
    volume = np.concatenate(parts, axis=1)  # T x K x H x W
    return to_uint8(volume.transpose(1, 0, 2, 3))  # K x T x H x W
