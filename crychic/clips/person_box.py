"""The person box: one square region per sample that both heatmaps and RGB clips are cut from.

Layouts: keypoint ``M x T x V x 2`` (or ``... x 3`` with the score last: extra channels are
carried through untouched) in source-frame pixels, keypoint_score ``M x T x V``; a box is a
float64 array ``(x0, y0, x1, y1)`` in source pixels, x1 - x0 = width, possibly reaching past
the image (the RGB cropper pads there).

This is PoseConv3D's `PoseCompact(padding=0.25, threshold=10, hw_ratio=1.0, allow_imgpad=True)`:
the tight box of all keypoints of all sampled frames, grown about its centre by ``padding``,
then its shorter side grown to the ``hw_ratio`` (height / width; 1 = square). Two deliberate
differences: a keypoint counts when its score is > 0 (PYSKL tests coordinate != 0, per axis),
and the corners stay float (PYSKL truncates them with `int()`; sub-pixel, and a float box
maps keypoints and pixels by exactly the same transform). As in PYSKL, a tight box narrower or
shorter than ``threshold`` pixels is not used; we then fall back to the whole frame, made
square about its centre, as we do when no keypoint has a score.

Mapping into the box frame: source point p goes to ``(p - (x0, y0)) * out_size / box_size``,
with pixel j of the output at coordinate j, the convention of both the heatmap renderer and
`cv2.warpAffine`; `box_to_frame_matrix` gives that transform as the 2 x 3 matrix to warp RGB.
"""

from __future__ import annotations

import numpy as np


def compact_box(
    keypoint: np.ndarray,
    keypoint_score: np.ndarray,
    img_shape: tuple[int, int],
    *,
    padding: float = 0.25,
    threshold: float = 10,
    hw_ratio: float = 1.0,
) -> np.ndarray:
    """Box ``(x0, y0, x1, y1)`` around every scored keypoint of the given frames, padded."""
    img_h, img_w = img_shape
    xy = np.asarray(keypoint, dtype=np.float64)[..., :2]
    seen = (np.asarray(keypoint_score) > 0) & np.isfinite(xy).all(axis=-1)  # M x T x V
    low = xy[seen].min(axis=0, initial=np.inf)  # (x, y) of the tight box; +inf when nobody was seen
    high = xy[seen].max(axis=0, initial=-np.inf)  # (x, y); -inf when nobody was seen
    if (high - low >= threshold).all():
        center = (low + high) / 2
        half_width, half_height = (high - low) / 2 * (1 + padding)
    else:  # nobody seen, or too small to trust: the whole frame
        center = np.array([img_w / 2, img_h / 2])
        half_width, half_height = img_w / 2, img_h / 2
    # Grow the shorter side to reach height / width = hw_ratio (PYSKL's order of the two steps).
    half_height = max(hw_ratio * half_width, half_height)
    half_width = max(half_height / hw_ratio, half_width)
    half_size = np.array([half_width, half_height])
    return np.concatenate([center - half_size, center + half_size])


def box_to_frame_matrix(box: np.ndarray, out_size: int) -> np.ndarray:
    """2 x 3 affine matrix taking source pixels into the box's ``out_size x out_size`` frame
    (the `cv2.warpAffine` matrix that cuts the RGB crop matching `crop_keypoints_to_box`)."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    scale_x, scale_y = out_size / (x1 - x0), out_size / (y1 - y0)
    return np.array([[scale_x, 0.0, -scale_x * x0], [0.0, scale_y, -scale_y * y0]])


def crop_keypoints_to_box(keypoint: np.ndarray, box: np.ndarray, out_size: int) -> np.ndarray:
    """Keypoints in the box's ``out_size x out_size`` pixel frame, where heatmaps are rendered.

    Unscored keypoints are moved too (PYSKL leaves zero coordinates at zero); they draw nothing.
    """
    keypoint = np.asarray(keypoint)
    matrix = box_to_frame_matrix(box, out_size)
    mapped = keypoint.astype(np.result_type(keypoint.dtype, np.float32), copy=True)
    # The matrix is diagonal plus shift: scale each axis and offset it.
    mapped[..., :2] = keypoint[..., :2] * matrix.diagonal() + matrix[:, 2]
    return mapped


def resample_matrix(positions: np.ndarray, size: int) -> np.ndarray:
    """``len(positions) x size`` bilinear weights: row i samples a `size`-pixel axis at pixel
    coordinate positions[i] (pixel j at j), replicating the border pixel outside [0, size - 1].

    Resampling an image is then two small matrix products (rows, then columns) on every channel
    and frame at once, and the same weights serve any resolution.
    """
    positions = np.clip(np.asarray(positions, dtype=np.float64), 0, size - 1)
    left = np.floor(positions).astype(np.intp)
    right = np.minimum(left + 1, size - 1)
    frac = positions - left
    rows = np.arange(len(positions))
    weights = np.zeros((len(positions), size), dtype=np.float32)
    np.add.at(weights, (rows, left), 1 - frac)
    np.add.at(weights, (rows, right), frac)  # right == left on the last pixel: the weights still sum to 1
    return weights
