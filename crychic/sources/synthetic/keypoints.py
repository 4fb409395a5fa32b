"""Ground-truth keypoints made to look like a pose estimator's output.

Layouts: in ``T x V x 2`` exact COCO-17 pixels (source frame), an ``T x V`` occlusion mask;
out ``T x V x 2`` noisy pixels and ``T x V`` scores, both float32. A joint that was not found
has score 0 and coordinates (0, 0), PYSKL's convention (its box compaction skips zeros).

Why noise at all: a teacher trained on perfect keypoints meets real estimators' jitter and
misses only at test time. Noise is position jitter of 1-2% of the body height, a few percent of
joints lost outright, confident scores for visible joints, and low or lost ones behind occluders
or outside the frame.
"""

from __future__ import annotations

import numpy as np


def estimator_like(exact: np.ndarray, occluded: np.ndarray, body_height_px: float, frame_hw: tuple[int, int],
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    frames, joints, _ = exact.shape
    sigma = rng.uniform(0.01, 0.02) * body_height_px
    noise_scale = np.where(occluded, 2.5, 1.0)[..., None]  # guesses behind an occluder wander more
    keypoint = exact + rng.normal(0.0, sigma, size=exact.shape) * noise_scale
    score = np.where(occluded, rng.uniform(0.05, 0.35, size=(frames, joints)),
                     rng.uniform(0.5, 1.0, size=(frames, joints)))

    height, width = frame_hw
    outside = (exact[..., 0] < 0) | (exact[..., 0] >= width) | (exact[..., 1] < 0) | (exact[..., 1] >= height)
    lost = rng.random((frames, joints)) < np.where(occluded, 0.4, 0.03)
    lost |= outside
    keypoint[lost] = 0.0
    score[lost] = 0.0
    return keypoint.astype(np.float32), score.astype(np.float32)
