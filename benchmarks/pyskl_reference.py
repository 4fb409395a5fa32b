"""A straightforward port of PYSKL's `GeneratePoseTarget` loop, for the tests' random-input agreement
check on machines without ``../shared/`` (where PYSKL's own file lives; the benchmark,
`bench_heatmaps.py`, times PYSKL's own file, never this port).

It keeps PYSKL's structure on purpose (Python loops over frames, channels and persons, one
small numpy window per keypoint or limb, merged into the map with `np.maximum`), and PYSKL's
arithmetic: float32 arrays, window bounds from `int()` (truncation toward zero) of
`mu -/+ 3 sigma`, clipped to the map. It is slow and is not used by the library.

Layouts: keypoint ``M x T x V x 2`` (x, y), keypoint_score ``M x T x V``, output
``T x C x H x W`` float32 with C = V (joints) or the number of skeleton edges (limbs).
"""

from __future__ import annotations

import numpy as np

from crychic.core.coco17 import SKELETON_EDGES

EPS = 1e-3


def _draw_joint(plane: np.ndarray, centers: np.ndarray, peaks: np.ndarray, sigma: float) -> None:
    """Max-merge one Gaussian per person (``centers``: M x 2, ``peaks``: M) into ``plane`` (H x W)."""
    img_h, img_w = plane.shape
    for center, peak in zip(centers, peaks):
        if peak < EPS:
            continue
        mu_x, mu_y = center[0], center[1]
        st_x = max(int(mu_x - 3 * sigma), 0)
        ed_x = min(int(mu_x + 3 * sigma) + 1, img_w)
        st_y = max(int(mu_y - 3 * sigma), 0)
        ed_y = min(int(mu_y + 3 * sigma) + 1, img_h)
        x = np.arange(st_x, ed_x, 1, np.float32)
        y = np.arange(st_y, ed_y, 1, np.float32)
        if not (len(x) and len(y)):  # the window lies outside the map
            continue
        y = y[:, None]
        patch = np.exp(-((x - mu_x) ** 2 + (y - mu_y) ** 2) / 2 / sigma**2) * peak
        plane[st_y:ed_y, st_x:ed_x] = np.maximum(plane[st_y:ed_y, st_x:ed_x], patch)


def _draw_limb(plane: np.ndarray, starts, ends, start_peaks, end_peaks, sigma: float) -> None:
    """Max-merge one segment Gaussian per person (``starts``/``ends``: M x 2) into ``plane``."""
    img_h, img_w = plane.shape
    for start, end, start_peak, end_peak in zip(starts, ends, start_peaks, end_peaks):
        peak = min(start_peak, end_peak)
        if peak < EPS:
            continue
        min_x = max(int(min(start[0], end[0]) - 3 * sigma), 0)
        max_x = min(int(max(start[0], end[0]) + 3 * sigma) + 1, img_w)
        min_y = max(int(min(start[1], end[1]) - 3 * sigma), 0)
        max_y = min(int(max(start[1], end[1]) + 3 * sigma) + 1, img_h)
        x = np.arange(min_x, max_x, 1, np.float32)
        y = np.arange(min_y, max_y, 1, np.float32)
        if not (len(x) and len(y)):
            continue
        y = y[:, None]
        d2_start = (x - start[0]) ** 2 + (y - start[1]) ** 2
        d2_end = (x - end[0]) ** 2 + (y - end[1]) ** 2
        d2_ab = (start[0] - end[0]) ** 2 + (start[1] - end[1]) ** 2
        if d2_ab < 1:  # endpoints (nearly) coincide: a joint Gaussian at the start point
            _draw_joint(plane, start[None], start_peak[None], sigma)
            continue
        # coeff: position of each pixel's projection along start -> end (0 = start, 1 = end)
        coeff = (d2_start - d2_end + d2_ab) / 2.0 / d2_ab
        a_dominate = coeff <= 0
        b_dominate = coeff >= 1
        seg_dominate = 1 - a_dominate - b_dominate
        position = np.stack([x + np.zeros_like(y), y + np.zeros_like(x)], axis=-1)  # h x w x 2
        projection = start + np.stack([coeff, coeff], axis=-1) * (end - start)
        d2_line = position - projection
        d2_line = d2_line[:, :, 0] ** 2 + d2_line[:, :, 1] ** 2
        d2_seg = a_dominate * d2_start + b_dominate * d2_end + seg_dominate * d2_line
        patch = np.exp(-d2_seg / 2.0 / sigma**2) * peak
        plane[min_y:max_y, min_x:max_x] = np.maximum(plane[min_y:max_y, min_x:max_x], patch)


def generate_pose_target_loop(keypoint, keypoint_score, img_shape, *, sigma=0.6, with_limb=False, scaling=1.0):
    """PYSKL's loop, frame by frame and channel by channel; same signature as the fast version."""
    keypoint = np.asarray(keypoint, dtype=np.float32) * scaling  # a copy: PYSKL scales in place
    keypoint_score = np.asarray(keypoint_score, dtype=np.float32)
    img_h = int(img_shape[0] * scaling + 0.5)
    img_w = int(img_shape[1] * scaling + 0.5)
    num_frames, num_joints = keypoint.shape[1], keypoint.shape[2]
    num_channels = len(SKELETON_EDGES) if with_limb else num_joints
    heatmap = np.zeros((num_frames, num_channels, img_h, img_w), dtype=np.float32)
    for t in range(num_frames):
        kps, scores = keypoint[:, t], keypoint_score[:, t]  # M x V x 2, M x V
        if with_limb:
            for c, (a, b) in enumerate(SKELETON_EDGES):
                _draw_limb(heatmap[t, c], kps[:, a], kps[:, b], scores[:, a], scores[:, b], sigma)
        else:
            for v in range(num_joints):
                _draw_joint(heatmap[t, v], kps[:, v], scores[:, v], sigma)
    return heatmap
