"""PoseConv3D pseudo-heatmaps from keypoints: compiled loops around NumPy's own `exp`.

Layouts: keypoint ``M x T x V x 2`` (persons, frames, V=17 COCO joints, (x, y) in the map's
input pixel frame), keypoint_score ``M x T x V``; heatmap ``T x C x H x W`` float32, frames
first as PYSKL's `GeneratePoseTarget` emits it (C = V joints, or one channel per
`coco17.SKELETON_EDGES` edge in limb mode). Callers wanting PoseConv3D's ``C x T x H x W``
transpose it themselves. Inside, one "item" is one (person, frame, channel): a joint or a limb,
numbered ``n = (m * T + t) * C + c``; it draws on channel plane ``t * C + c``.

The output must equal PYSKL's to 1e-5 (checked against `shared/reference/`), so PYSKL's
quirks are kept: window bounds use `int()` (truncation toward zero, so a keypoint up to 3 sigma
+ 1 px left of the map still lights column 0), a score below `EPS` draws nothing, and persons
merge by max. Joint Gaussians are evaluated in float32 as PYSKL does; limb distances in float64,
because PYSKL's float32 projection formula loses up to ~5e-6 to cancellation on long limbs:
computing the exact value keeps our difference from PYSKL down to its own rounding noise.

The output is also bit-for-bit that of the earlier pure-NumPy renderer (kept as
`tests/reference_render.py`; `tests/test_render_equality.py` compares them), so stored heatmap
shards do not change. Hence every value goes through the same float32 / float64 operations in the
same order, and every exponential is NumPy's vectorised `np.exp` on a contiguous array, as before
(a compiled `exp` may differ from it in the last bit).

Why it is fast: the cost is per drawn pixel, so each mode is three passes, none of them through
index arrays (nothing broadcast, gathered, repeated or scattered):
1. a loop compiled with `numba` runs over the items and writes every pixel's exponent, item after
   item, into one float array (`_joint_exponents`, `_limb_exponents`);
2. one in-place `np.exp` over that array: the same vectorised loop, hence the same bits, as before;
3. a second compiled loop zeroes each channel plane of the uninitialised volume and, while the
   plane is in cache, max-merges ``float32(exp * peak)`` of the items drawn on it (`_draw_*`).
So the volume is written once, as the fill bound writes it, plus a few ns per drawn pixel.
- A joint lights at most a K x K block (K = floor(6 sigma) + 2, 5 for sigma 0.6) and its Gaussian
  is separable, so only 2 K exponents per joint are evaluated; the block is shifted to lie inside
  the map and is zero outside PYSKL's window (exponent -inf; a zero, max-merged, changes nothing).
- A limb draws on its box, row by row (boxes have ragged sizes). Box pixels whose float32 value is
  certainly 0.0 are dropped (see `_UNDERFLOW`: farther than about 8.7 px from the segment for
  sigma 0.6 and scores <= 1), which saves work on long limbs; a zero left out of a zero plane, or
  of a max, changes nothing.
The loops compile on a machine's first call (a few seconds per mode) and are cached by numba
beside this file (``__pycache__``) for later processes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from crychic.core.coco17 import SKELETON_EDGES

# PoseConv3D's Gaussian width in map pixels: the default of every function that renders
# heatmaps (the pipeline's own value is params.yaml's `heatmap.sigma`).
DEFAULT_SIGMA = 0.6
# PYSKL's threshold: keypoints (or limbs, by their weaker endpoint) scoring less draw nothing.
EPS = 1e-3
# A limb pixel's value is float32(exp(a) * peak) for its exponent a = -d2 / (2 sigma^2), and a
# float64 at or below 2^-150 (half the smallest float32 subnormal) rounds to 0.0: so any
# a <= -(150 ln 2 + ln peak) draws exactly 0.0. The extra 1 (a factor e on the value) keeps that
# test clear of `exp`'s last-bit rounding; an infinite peak skips nothing.
_UNDERFLOW = 150 * math.log(2) + 1
_EPS32 = np.float32(EPS)  # scores are float32; NumPy compares them with EPS cast to float32
_EDGES = np.array(SKELETON_EDGES, dtype=np.int64)  # E x 2


def heatmap_size(img_shape: tuple[int, int], scaling: float = 1.0) -> tuple[int, int]:
    """(H, W) of the rendered map: PYSKL rounds the scaled input size half up."""
    return int(img_shape[0] * scaling + 0.5), int(img_shape[1] * scaling + 0.5)


def generate_pose_target(
    keypoint: np.ndarray,
    keypoint_score: np.ndarray,
    img_shape: tuple[int, int],
    *,
    sigma: float = DEFAULT_SIGMA,
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
    keypoint = np.ascontiguousarray(np.asarray(keypoint, dtype=np.float32)[..., :2] * scaling)
    keypoint_score = np.ascontiguousarray(keypoint_score, dtype=np.float32)
    num_frames = keypoint_score.shape[1]
    img_h, img_w = heatmap_size(img_shape, scaling)
    num_channels = len(SKELETON_EDGES) if with_limb else keypoint_score.shape[2]
    # Not zeroed here: the draw pass zeroes each plane just before it draws on it (cache-hot).
    heatmap = np.empty((num_frames, num_channels, img_h, img_w), dtype=np.float32)
    # Python-float constants, computed exactly as the NumPy expressions they replace did.
    three_sigma, block = 3 * sigma, int(6 * sigma) + 2
    if with_limb:
        exponent, item, runs, peak = _limb_exponents(
            keypoint, keypoint_score, _EDGES, img_h, img_w, three_sigma, -0.5 / sigma**2
        )
        gauss = np.exp(exponent, out=exponent)  # in place: the same vectorised loop, no second buffer
        _draw_limbs(heatmap, gauss, item, runs, peak)
    else:
        exponent, origin = _joint_exponents(keypoint, keypoint_score, img_h, img_w, three_sigma, block,
                                            np.float32(sigma**2))
        _draw_joints(heatmap, np.exp(exponent, out=exponent), origin, keypoint_score)
    return heatmap


@numba.njit(cache=True, error_model="numpy")
def _u(index):
    """An index as uint64: numba then skips its negative-index (wrap-around) test, a per-pixel cost."""
    return np.uint64(index)


@numba.njit(cache=True, error_model="numpy")
def _window(low, high, three_sigma, size):
    """PYSKL's pixel window [start, stop) along one axis for coordinates spanning [low, high].

    float64 arithmetic on purpose: PYSKL subtracts a Python float from a numpy float32 scalar,
    which NumPy 1.x evaluates in float64, and `int()` truncates toward zero. Bounding to
    [-1, size] first changes no window and keeps far-off coordinates from overflowing the cast.
    """
    low = max(min(np.float64(low) - three_sigma, float(size)), -1.0)
    high = max(min(np.float64(high) + three_sigma, float(size)), -1.0)
    return max(int(low), 0), min(int(high) + 1, size)


@numba.njit(cache=True, error_model="numpy")
def _merge_run(plane, start, gauss, offset, peak, length, first):
    """``plane[start:start + length] = np.maximum(that, float32(gauss[offset:offset + length] * peak))``,
    the product in gauss's dtype.

    For the first item drawn on a plane (zero there), a plain store gives the same. `np.maximum`
    propagates a NaN from either side; so does the select here. Branch-free, so vectorised; indices
    rather than slices, whose reference counting would cost more than a short run itself, and
    unsigned ones (`_u`), which numba does not test for negative (wrap-around) values."""
    if first:
        for j in range(length):
            plane[_u(start + j)] = np.float32(gauss[_u(offset + j)] * peak)
    else:
        for j in range(length):
            old, value = plane[_u(start + j)], np.float32(gauss[_u(offset + j)] * peak)
            plane[_u(start + j)] = old if (old >= value or np.isnan(old)) else value


@numba.njit(cache=True, error_model="numpy")
def _joint_exponents(keypoint, keypoint_score, img_h, img_w, three_sigma, block, sigma2):
    """Per item, the exponents of its 1-D Gaussians over a block of pixels, and the block's origin.

    Returns ``exponent`` (N x 2 x K float32: x then y, ``-(p - mu)^2 / 2 / sigma^2`` at block pixel
    p, -inf outside PYSKL's window so that exp gives exactly 0; 0 for an item that draws nothing)
    and ``origin`` (N x 2: first block column and row; -1 for an item that draws nothing). The
    block (K = min(block, map side) pixels) covers the widest window, shifted to lie inside the map.
    """
    coordinates, scores = keypoint.reshape(-1, 2), keypoint_score.reshape(-1)  # item n's (x, y), score
    exponent = np.zeros((len(scores), 2, block), dtype=np.float32)
    flat_exponent = exponent.reshape(-1)
    origin = np.full((len(scores), 2), -1, dtype=np.int64)
    half = np.float32(0.5)
    for n in range(len(scores)):
        # A NaN or inf coordinate (or a float32 overflow of their sum) draws nothing.
        if not (scores[n] >= _EPS32 and np.isfinite(coordinates[n, 0] + coordinates[n, 1])):
            continue
        for axis in range(2):
            mu, size = coordinates[n, axis], img_w if axis == 0 else img_h
            start, stop = _window(mu, mu, three_sigma, size)
            first_pixel = min(start, size - min(block, size))
            origin[n, axis] = first_pixel
            row = (n * 2 + axis) * block
            for k in range(block):  # branch-free, so vectorised; the window lies inside the block
                p = first_pixel + k
                d = np.float32(p) - mu
                value = -(d * d) * half / sigma2  # * 0.5 is / 2 exactly (both round x / 2 once)
                flat_exponent[_u(row + k)] = value if start <= p < stop else -np.inf
    return exponent, origin


@numba.njit(cache=True, error_model="numpy")
def _draw_joints(heatmap, gauss, origin, keypoint_score):
    """Zero each plane of `heatmap` (T x V x H x W), then max-merge every drawn joint's block
    ``(gauss_y * score) * gauss_x`` (float32) into it, persons in order."""
    num_frames, num_joints, img_h, img_w = heatmap.shape
    # Flat views: plain index arithmetic.
    pixels, flat_gauss, scores = heatmap.reshape(-1), gauss.reshape(-1), keypoint_score.reshape(-1)
    block = gauss.shape[2]
    block_x, block_y = min(block, img_w), min(block, img_h)
    for plane in range(num_frames * num_joints):
        plane_start = plane * img_h * img_w
        pixels[plane_start:plane_start + img_h * img_w] = 0
        first = True
        for n in range(plane, len(scores), num_frames * num_joints):  # this plane's joint of every person
            if origin[n, 0] < 0:
                continue
            peak = scores[n]
            for ky in range(block_y):
                gy = flat_gauss[(n * 2 + 1) * block + ky] * peak
                start = plane_start + (origin[n, 1] + ky) * img_w + origin[n, 0]
                _merge_run(pixels, start, flat_gauss, n * 2 * block, gy, block_x, first)
            first = False


@numba.njit(cache=True, error_model="numpy")
def _limb_exponent(u, v, direction_x, direction_y, along_x, along_y, scale):
    """``d2 * scale`` for the pixel at offset (u, v) from the start point, d2 its squared float64
    distance to the segment (the same operations as the pixel loop in `_limb_exponents`)."""
    s = min(max(u * along_x + v * along_y, 0.0), 1.0)  # nearest point of the segment
    du, dv = u - s * direction_x, v - s * direction_y
    return (du * du + dv * dv) * scale


@numba.njit(cache=True, error_model="numpy")
def _limb_exponents(keypoint, keypoint_score, edges, img_h, img_w, three_sigma, scale):
    """Every drawn limb's box pixels that are not certainly zero, row by row: their exponents.

    Returns ``exponent`` (P: ``d2 * scale``, d2 the squared float64 distance to the segment),
    ``item`` (N x 7: box x0, x1, y0, y1 (x0 == x1: draws nothing), first entry in `exponent`,
    first and end run in `runs`: none for a whole box, whose rows follow one another),
    ``runs`` (R x 2: in-plane flat index ``y * W + x`` of a kept row run's first pixel, and its
    length) and ``peak`` (N float32). The distance is PYSKL's (to the start point before it, to
    the end point past it, to the line in between), written as the distance to the nearest point of
    the segment.
    """
    # A reader's guide. Two passes over the items, which pass 1 numbers as the module docstring
    # does (n = (m * T + t) * E + e):
    # - Pass 1 decides each limb's box (PYSKL's windows), peak and segment, and counts what pass 2
    #   can write at most: `total` exponents (the boxes' areas) and `total_rows` runs (their
    #   heights), so that the outputs are plain arrays, allocated once and trimmed on return.
    # - Pass 2 writes each box's exponents (float64: see the module docstring) row after row into
    #   the flat `exponent`, item after item. A row's pixels that certainly draw 0.0 (exponent
    #   below `limit`) are cut off both its ends and what is left is recorded as one run in `runs`,
    #   unless the corner test below keeps the whole box, with no runs (`_draw_limbs` then walks
    #   it row by row).
    # Arrays, per item n:
    # - item[n] = (x0, x1, y0, y1, first entry in `exponent`, first run, end run); an item that
    #   draws nothing keeps x0 == x1 (all zero when pass 1 skips it).
    # - geometry[n] = (start x, y; direction = end - start, x, y; along = direction / |direction|^2,
    #   x, y): for the pixel at offset (u, v) from the start, s = u * along_x + v * along_y is where
    #   it projects onto the segment (0 at the start, 1 at the end), clamped to [0, 1] for the
    #   nearest point of the segment. A limb drawn as a point keeps direction and along at 0 (s = 0).
    # Only the exponents are computed here: `generate_pose_target` takes NumPy's `np.exp` of them
    # (the same bits as the earlier renderer), and `_draw_limbs` reads `item`, `runs` and `peak`
    # in the same item order to merge the values into the planes.
    num_persons, num_frames, _ = keypoint_score.shape
    num_edges = len(edges)
    num_items = num_persons * num_frames * num_edges
    item = np.zeros((num_items, 7), dtype=np.int64)
    geometry = np.zeros((num_items, 6))  # start x, y, direction x, y, along x, y (float64)
    peak = np.zeros(num_items, dtype=np.float32)
    largest_peak, total, total_rows = 0.0, 0, 0
    # Pass 1: which limbs draw, on which box, how strongly; the output sizes.
    n = -1
    for m in range(num_persons):
        for t in range(num_frames):
            for e in range(num_edges):
                n += 1  # this item: person m, frame t, edge e
                a, b = edges[e, 0], edges[e, 1]
                x_a, y_a, x_b, y_b = keypoint[m, t, a, 0], keypoint[m, t, a, 1], keypoint[m, t, b, 0], keypoint[m, t, b, 1]
                peak_a, peak_b = keypoint_score[m, t, a], keypoint_score[m, t, b]
                # A skipped item (`continue`) keeps item[n] all zero: it draws nothing.
                if not (peak_a >= _EPS32 and peak_b >= _EPS32 and np.isfinite(x_a + y_a + x_b + y_b)):
                    continue
                x0, x1 = _window(min(x_a, x_b), max(x_a, x_b), three_sigma, img_w)
                y0, y1 = _window(min(y_a, y_b), max(y_a, y_b), three_sigma, img_h)
                if not (x1 > x0 and y1 > y0):  # PYSKL tests this before it looks at the limb's length
                    continue
                # Endpoints under 1 px apart: PYSKL draws a joint Gaussian at the start point
                # instead, on the start point's own window and peaked at its own score. (Squared
                # float32 differences summed in float64, as PYSKL's numpy-scalar arithmetic does.)
                gap_x, gap_y = np.float64(x_a - x_b), np.float64(y_a - y_b)
                start_x, start_y = np.float64(x_a), np.float64(y_a)
                if gap_x * gap_x + gap_y * gap_y < 1:
                    x0, x1 = _window(x_a, x_a, three_sigma, img_w)
                    y0, y1 = _window(y_a, y_a, three_sigma, img_h)
                    if not (x1 > x0 and y1 > y0):
                        continue
                    peak[n] = peak_a  # direction stays 0, so s = 0: the distance to the start point
                else:
                    peak[n] = min(peak_a, peak_b)
                    direction_x, direction_y = np.float64(x_b) - start_x, np.float64(y_b) - start_y
                    length2 = direction_x * direction_x + direction_y * direction_y
                    geometry[n, 2], geometry[n, 3] = direction_x, direction_y
                    geometry[n, 4], geometry[n, 5] = direction_x / length2, direction_y / length2
                geometry[n, 0], geometry[n, 1] = start_x, start_y
                item[n, 0], item[n, 1], item[n, 2], item[n, 3] = x0, x1, y0, y1
                # Upper bounds for pass 2: at most every box pixel, at most one run per box row.
                total += (x1 - x0) * (y1 - y0)
                total_rows += y1 - y0
                largest_peak = max(largest_peak, np.float64(peak[n]))

    # Pass 2. One cutoff for every item: the largest peak's, which is safe for any smaller one.
    # An exponent below `limit` draws exactly 0.0 (see _UNDERFLOW).
    limit = -(_UNDERFLOW + np.log(largest_peak)) if largest_peak > 0 else np.inf
    exponent = np.empty(total)
    runs = np.empty((total_rows, 2), dtype=np.int64)
    i = r = 0  # the next free entry of `exponent`, of `runs`
    for n in range(num_items):
        x0, x1, y0, y1 = item[n, 0], item[n, 1], item[n, 2], item[n, 3]
        if x1 == x0:
            continue
        start_x, start_y, direction_x, direction_y, along_x, along_y = geometry[n]
        width = x1 - x0
        item[n, 4], item[n, 5] = i, r
        # Rows need scanning only where the box reaches past the cutoff. The squared distance to a
        # segment is convex, so over the box it peaks at a corner, and the corners next to the
        # segment's ends are within 3 sigma + 1 px of them: test the other two. (A wrong guess
        # costs time only: a whole box keeps every pixel, each computed exactly.)
        corner_y0, corner_y1 = (y0, y1 - 1) if direction_x * direction_y >= 0 else (y1 - 1, y0)
        whole = True
        for x, y in ((x1 - 1, corner_y0), (x0, corner_y1)):
            whole &= _limb_exponent(x - start_x, y - start_y, direction_x, direction_y, along_x, along_y,
                                    scale) >= limit + 1
        # One box row at a time: its `width` exponents are written at exponent[i:] first, then
        # kept whole (i moves on by `width`), trimmed to one run, or dropped (i stays).
        for y in range(y0, y1):
            v = y - start_y
            v_along = v * along_y  # v's share of s, the same along the row
            for j in range(width):  # the whole box row, branch-free (vectorised by the compiler)
                u = (x0 + j) - start_x
                s = min(max(u * along_x + v_along, 0.0), 1.0)  # nearest point of the segment
                du, dv = u - s * direction_x, v - s * direction_y
                exponent[_u(i + j)] = (du * du + dv * dv) * scale
            if whole:
                i += width
                continue
            # Keep the run from the row's first to its last pixel not certainly zero (a NaN is
            # kept), moved down over the dropped pixels before it.
            first, last = 0, width - 1
            while first < width and exponent[i + first] < limit:
                first += 1
            if first == width:
                continue  # the whole row is exactly 0.0
            while exponent[i + last] < limit:
                last -= 1
            for j in range(last - first + 1):
                exponent[i + j] = exponent[i + first + j]
            runs[r, 0], runs[r, 1] = y * img_w + x0 + first, last - first + 1
            i += last - first + 1
            r += 1
        # This item's runs are runs[item[n, 5]:item[n, 6]]; none for a whole box.
        item[n, 6] = r
        if not whole and r == item[n, 5]:
            item[n, 1] = x0  # every row dropped: draws nothing
    return exponent[:i], item, runs[:r], peak


@numba.njit(cache=True, error_model="numpy")
def _draw_limbs(heatmap, gauss, item, runs, peak):
    """Zero each plane of `heatmap` (T x E x H x W), then max-merge ``float32(gauss * peak)`` (the
    product in float64) of every limb drawn on it, persons in order."""
    num_frames, num_edges, img_h, img_w = heatmap.shape
    pixels = heatmap.reshape(-1)  # a flat view: plain index arithmetic
    num_planes = num_frames * num_edges
    for plane in range(num_planes):
        plane_start = plane * img_h * img_w
        pixels[plane_start:plane_start + img_h * img_w] = 0
        first = True
        for n in range(plane, len(peak), num_planes):  # this plane's limb of every person, in order
            x0, x1, y0, y1, i, run_begin, run_end = item[n]
            if x1 == x0:
                continue
            peak_n = np.float64(peak[n])
            if run_begin == run_end:  # a whole box
                for y in range(y0, y1):
                    _merge_run(pixels, plane_start + y * img_w + x0, gauss, i, peak_n, x1 - x0, first)
                    i += x1 - x0
            for r in range(run_begin, run_end):
                _merge_run(pixels, plane_start + runs[r, 0], gauss, i, peak_n, runs[r, 1], first)
                i += runs[r, 1]
            first = False
