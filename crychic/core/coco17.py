"""The COCO-17 keypoint layout that every keypoint source is mapped into.

Layouts: keypoints are ``M x T x V x 3`` (persons, frames, V=17 joints, (x, y, score)) in
source-frame pixels; ``score == 0`` marks a joint that was not seen. Heatmap channels follow
the same joint order (joint mode) or the order of ``SKELETON_EDGES`` (limb mode), which is
PoseConv3D's, so its checkpoints and recipes carry over.
"""

from __future__ import annotations

NUM_JOINTS = 17

JOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# PYSKL's `left_kp` / `right_kp`: a horizontal flip swaps these channels pairwise.
LEFT_KP: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 13, 15)
RIGHT_KP: tuple[int, ...] = (2, 4, 6, 8, 10, 12, 14, 16)

# The limb channels of PoseConv3D (PYSKL's `skeletons` for COCO-17), in channel order.
SKELETON_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (5, 7), (7, 9), (0, 6), (6, 8),
    (8, 10), (5, 11), (11, 13), (13, 15), (6, 12), (12, 14), (14, 16), (11, 12),
)
# A flip maps limb channel i to LIMB_FLIP[i] (left limbs <-> right limbs).
LEFT_LIMB: tuple[int, ...] = (0, 2, 4, 5, 6, 10, 11, 12)
RIGHT_LIMB: tuple[int, ...] = (1, 3, 7, 8, 9, 13, 14, 15)


def flip_permutation(with_limb: bool = False) -> list[int]:
    """Channel permutation that a horizontal flip applies (an involution)."""
    left, right, n = (LEFT_LIMB, RIGHT_LIMB, len(SKELETON_EDGES)) if with_limb else (LEFT_KP, RIGHT_KP, NUM_JOINTS)
    perm = list(range(n))
    for a, b in zip(left, right):
        perm[a], perm[b] = b, a
    return perm
