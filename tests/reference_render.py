"""The previous renderer, frozen: `crychic.heatmaps.render` as of commit 28fe3c10 (pure NumPy).

`tests/test_render_equality.py` requires the current renderer to reproduce it bit for bit, so that
heatmap shards rendered before the compiled renderer stay valid. Test code only; do not change it.
Its original docstring follows.

PoseConv3D pseudo-heatmaps from keypoints, vectorised, and their uint8 storage form.

Layouts: keypoint ``M x T x V x 2`` (persons, frames, V=17 COCO joints, (x, y) in the map's
input pixel frame), keypoint_score ``M x T x V``; heatmap ``T x C x H x W`` float32, frames
first as PYSKL's `GeneratePoseTarget` emits it (C = V joints, or one channel per
`coco17.SKELETON_EDGES` edge in limb mode). Callers wanting PoseConv3D's ``C x T x H x W``
transpose it themselves.

The output must equal PYSKL's to 1e-5 (checked against `shared/reference/`), so PYSKL's
quirks are kept: window bounds use `int()` (truncation toward zero, so a keypoint up to 3 sigma
+ 1 px left of the map still lights column 0), a score below `EPS` draws nothing, and persons
merge by max. Joint Gaussians are evaluated in float32 as PYSKL does; limb distances in float64,
because PYSKL's float32 projection formula loses up to ~5e-6 to cancellation on long limbs:
computing the exact value keeps our difference from PYSKL down to its own rounding noise.

Why it is fast: for sigma 0.6 a joint lights at most 5 x 5 pixels of a 56 x 56 map, so we
compute only those window values for every (person, frame, channel) at once and scatter them
into a zero volume by flat index. Limb windows have ragged sizes (a limb's bounding box), so
their pixels are enumerated with `np.repeat` instead of padding every window to the largest.
"""

from __future__ import annotations

import numpy as np

from crychic.core.coco17 import SKELETON_EDGES

# PYSKL's threshold: keypoints (or limbs, by their weaker endpoint) scoring less draw nothing.
EPS = 1e-3


def heatmap_size(img_shape: tuple[int, int], scaling: float = 1.0) -> tuple[int, int]:
    """(H, W) of the rendered map: PYSKL rounds the scaled input size half up."""
    return int(img_shape[0] * scaling + 0.5), int(img_shape[1] * scaling + 0.5)


def generate_pose_target(
    keypoint: np.ndarray,
    keypoint_score: np.ndarray,
    img_shape: tuple[int, int],
    *,
    sigma: float = 0.6,
    with_limb: bool = False,
    scaling: float = 1.0,
) -> np.ndarray:
    """Render PoseConv3D heatmaps (``T x C x H x W`` float32) for all persons and frames.

    Each keypoint draws ``score * exp(-d^2 / (2 sigma^2))`` on its +-3 sigma window; each limb
    draws ``min(endpoint scores) * exp(-d_segment^2 / (2 sigma^2))`` on the endpoints' box grown
    by 3 sigma. Both keypoint coordinates and the map size are multiplied by ``scaling``.
    """
    # float32 like PYSKL's in-place `keypoint *= scaling`; the multiply also makes a copy.
    # ([..., :2]: an ``M x T x V x 3`` array with the score last is accepted too.)
    keypoint = np.asarray(keypoint, dtype=np.float32)[..., :2] * scaling
    keypoint_score = np.asarray(keypoint_score, dtype=np.float32)
    num_persons, num_frames, num_joints = keypoint_score.shape
    img_h, img_w = heatmap_size(img_shape, scaling)
    num_channels = len(SKELETON_EDGES) if with_limb else num_joints
    heatmap = np.zeros((num_frames, num_channels, img_h, img_w), dtype=np.float32)

    if with_limb:
        flat_index, values = _limb_pixels(keypoint, keypoint_score, (img_h, img_w), sigma)
    else:
        flat_index, values = _joint_pixels(keypoint, keypoint_score, (img_h, img_w), sigma)
    _scatter_max(heatmap.reshape(-1), flat_index, values, may_repeat=num_persons > 1)
    return heatmap


def _window(low: np.ndarray, high: np.ndarray, sigma: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """PYSKL's pixel window [start, stop) along one axis for coordinates spanning [low, high].

    float64 arithmetic on purpose: PYSKL subtracts a Python float from a numpy float32 scalar,
    which NumPy 1.x evaluates in float64, and `int()` truncates toward zero. Bounding to
    [-1, size] first changes no window and keeps far-off coordinates from overflowing the cast.
    """
    low = np.maximum(np.minimum(low.astype(np.float64) - 3 * sigma, size), -1)
    high = np.maximum(np.minimum(high.astype(np.float64) + 3 * sigma, size), -1)
    start = np.maximum(np.trunc(low).astype(np.intp), 0)
    stop = np.minimum(np.trunc(high).astype(np.intp) + 1, size)
    return start, stop


def _joint_pixels(keypoint, keypoint_score, map_shape, sigma):
    """Flat output indices and values of a fixed Ky x Kx block around every scored joint.

    Each block is shifted to lie inside the map and is zero outside PYSKL's window. That costs
    a few zero writes but no boolean compaction, and writing a zero is harmless: no other joint
    of the same person draws on that channel plane, and other persons merge by max.
    Arrays keep the joint axis N last so that numpy's inner loops run over N, not over K = 5.
    """
    img_h, img_w = map_shape
    num_persons, num_frames, num_joints = keypoint_score.shape
    # One entry per (person, frame, joint); `plane` is the frame * V + joint channel it draws on.
    mu_x, mu_y = keypoint.reshape(-1, 2).T  # N, N
    peaks = keypoint_score.reshape(-1)  # N
    plane = np.tile(np.arange(num_frames * num_joints), num_persons)  # N
    drawn = (peaks >= EPS) & np.isfinite(mu_x + mu_y)  # a NaN or inf coordinate draws nothing
    mu_x, mu_y, peaks, plane = mu_x[drawn], mu_y[drawn], peaks[drawn], plane[drawn]

    columns, gauss_x = _gaussian_block_1d(mu_x, sigma, img_w)  # Kx x N each
    rows, gauss_y = _gaussian_block_1d(mu_y, sigma, img_h)  # Ky x N each
    # Separable Gaussian: exp(-(dx^2 + dy^2) / 2s^2) = gx * gy, Kx + Ky exps per joint, not Kx * Ky.
    values = (gauss_y * peaks)[:, None, :] * gauss_x[None, :, :]  # Ky x Kx x N
    row_index = (plane * img_h) + rows  # Ky x N
    flat_index = row_index[:, None, :] * img_w + columns[None, :, :]  # Ky x Kx x N
    return flat_index.reshape(-1), values.reshape(-1)


def _gaussian_block_1d(mu: np.ndarray, sigma: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions (K x N) of a K-pixel block inside [0, size) covering each PYSKL window, and
    the 1-D Gaussian there, zero outside the window. K = floor(6 sigma) + 2 (the widest window)."""
    block = min(int(6 * sigma) + 2, size)
    start, stop = _window(mu, mu, sigma, size)  # N, N
    pixel = np.arange(block)[:, None] + np.minimum(start, size - block)  # K x N
    in_window = (pixel >= start) & (pixel < stop)  # K x N
    gauss = np.exp(-((pixel.astype(np.float32) - mu) ** 2) / 2 / sigma**2)  # K x N
    return pixel, gauss * in_window


def _limb_pixels(keypoint, keypoint_score, map_shape, sigma):
    """Flat output indices and values of every scored limb's bounding-box pixels.

    Boxes have ragged sizes, so pixels are enumerated limb -> rows -> pixels with `np.repeat`
    (contiguous and cheap) rather than padded to the largest box or gathered by fancy indexing.
    The distance to the segment is PYSKL's (to the start point before it, to the end point past
    it, to the line in between), written as the distance to the nearest point of the segment
    and computed in float64 (see the module docstring).
    """
    img_h, img_w = map_shape
    num_persons, num_frames, _ = keypoint_score.shape
    edge_start, edge_end = np.array(SKELETON_EDGES).T  # E, E
    # One entry per (person, frame, edge); `plane` is the frame * E + edge channel it draws on.
    start = keypoint[:, :, edge_start].reshape(-1, 2)  # N x 2
    end = keypoint[:, :, edge_end].reshape(-1, 2)  # N x 2
    start_peak = keypoint_score[:, :, edge_start].reshape(-1)  # N
    peaks = np.minimum(start_peak, keypoint_score[:, :, edge_end].reshape(-1))  # N
    plane = np.tile(np.arange(num_frames * len(SKELETON_EDGES)), num_persons)  # N
    drawn = (peaks >= EPS) & np.isfinite(start[:, 0] + start[:, 1] + end[:, 0] + end[:, 1])
    start, end, start_peak, peaks, plane = start[drawn], end[drawn], start_peak[drawn], peaks[drawn], plane[drawn]

    x0, x1 = _window(np.minimum(start[:, 0], end[:, 0]), np.maximum(start[:, 0], end[:, 0]), sigma, img_w)
    y0, y1 = _window(np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1]), sigma, img_h)
    box_in_map = (x1 > x0) & (y1 > y0)  # PYSKL tests this before it looks at the limb's length

    # Endpoints under 1 px apart: PYSKL draws a joint Gaussian at the start point instead, on the
    # start point's own window and peaked at its own score. (Squared float32 differences summed
    # in float64, as PYSKL's numpy-scalar arithmetic does, so the 1 px test agrees exactly.)
    degenerate = ((start - end).astype(np.float64) ** 2).sum(axis=1) < 1  # N
    joint_x0, joint_x1 = _window(start[:, 0], start[:, 0], sigma, img_w)
    joint_y0, joint_y1 = _window(start[:, 1], start[:, 1], sigma, img_h)
    x0, x1 = np.where(degenerate, joint_x0, x0), np.where(degenerate, joint_x1, x1)
    y0, y1 = np.where(degenerate, joint_y0, y0), np.where(degenerate, joint_y1, y1)
    peaks = np.where(degenerate, start_peak, peaks)
    drawn = box_in_map & (x1 > x0) & (y1 > y0)
    start, end, peaks, plane, degenerate = start[drawn], end[drawn], peaks[drawn], plane[drawn], degenerate[drawn]
    x0, x1, y0, y1 = x0[drawn], x1[drawn], y0[drawn], y1[drawn]
    start, end = start.astype(np.float64), end.astype(np.float64)  # distances in float64 from here

    # A pixel at offset (u, v) from the start projects to s = u * along_x + v * along_y along the
    # limb (0 at the start, 1 at the end); a degenerate limb gets direction 0, so s = 0.
    direction = np.where(degenerate[:, None], 0.0, end - start)  # N x 2
    length2 = np.where(degenerate, 1.0, (direction**2).sum(axis=1))  # N
    along = direction / length2[:, None]  # N x 2

    # Limbs -> rows: one entry per (limb, box row).
    row_limb = np.repeat(np.arange(len(plane)), y1 - y0)  # R
    row_y = y0[row_limb] + _ragged_arange(y1 - y0)  # R
    row_v = row_y - start[row_limb, 1]  # R, v of every pixel in the row
    row_width = (x1 - x0)[row_limb]  # R

    # Rows -> pixels: `spread` hands each row's constant to all of its pixels.
    def spread(row_values: np.ndarray) -> np.ndarray:
        return np.repeat(row_values, row_width)  # P

    pixel_x = spread(x0[row_limb]) + _ragged_arange(row_width)  # P
    flat_index = spread((plane[row_limb] * img_h + row_y) * img_w) + pixel_x  # P
    u = pixel_x - spread(start[row_limb, 0])  # P
    v = spread(row_v)  # P
    s = u * spread(along[row_limb, 0]) + spread(row_v * along[row_limb, 1])  # P
    s = np.minimum(np.maximum(s, 0.0), 1.0)  # nearest point of the segment
    d2_segment = (u - s * spread(direction[row_limb, 0])) ** 2 + (v - s * spread(direction[row_limb, 1])) ** 2
    values = np.exp(d2_segment * (-0.5 / sigma**2)) * spread(peaks[row_limb])  # P
    return flat_index, values


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(n) for n in lengths, without a Python loop."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - lengths, lengths)


def _scatter_max(flat_out: np.ndarray, flat_index: np.ndarray, values: np.ndarray, *, may_repeat: bool) -> None:
    """Write values into a zero array, keeping the max where several persons hit one pixel.

    One person never hits a pixel twice (each draws once per channel plane), so a plain
    assignment is enough; with several, `np.maximum.at` merges (fast since NumPy 1.25 when
    the dtypes match, hence float32 values).
    """
    values = values.astype(flat_out.dtype, copy=False)
    if may_repeat:
        np.maximum.at(flat_out, flat_index, values)
    else:
        flat_out[flat_index] = values
