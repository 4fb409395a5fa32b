"""Crop-and-resize of a training item straight from its stored uint8 pixels, in one pass per modality.

Layouts: heatmap volumes ``K x T x H x W`` uint8 in, float32 in [0, 1] out (channel c of the output
read from input channel `channels[c]`, which carries the flip's left/right swap); RGB clips
``T x S x S x 3`` uint8 in, ``3 x T x S x S`` float32 out, normalised by a per-channel mean and std.
Either can instead write uint8 (`out` of dtype uint8: the resampled stored value, rounded to the
nearest level, never scaled or normalised): the loader's uint8 transport for a GPU, which turns a
batch to float on the device (`crychic.training.data.model_input`); 4x fewer bytes through shared
memory and the bus, within half a level (0.5/255) of the float32 result.

Why: the loader used to turn the whole volume to float32 and resample it with two dense matrix
products per plane (`crychic.training.data.apply_augmentation`): O(S^3) work per plane, most of it
multiplying by zero, and three full float32 copies of the volume. Bilinear resampling reads at most
two input pixels per axis, so one compiled loop that reads the uint8 input, interpolates, and
writes the float32 output once does the same work in a fraction of the time (at NTU shapes, the
loader went from about a third of the way to one GPU's appetite to past it: benchmarks/bench_loader.py).

The weights are `crychic.clips.person_box.resample_matrix`'s own (border pixels replicated, the
two weights of a border pixel summed in float32), so the result equals the dense products up to
float32 rounding (tests/test_training_data.py compares them: within 1e-5, far inside 1/255). The
order of the sums differs, so the last bits do, and with them every network trained after this
change (the sweep restarts under a new prefix: pipeline/ablations.py).

Algorithm (`_bilinear_planes`, compiled by numba, one thread), in the reference's order (rows, then
columns): for output row i, with row taps (top, bottom, wt, wb), blend the two input rows,
    blended[k] = (wt * scale) * in[top, k] + (wb * scale) * in[bottom, k]     (contiguous, vectorised)
then for output column j, with column taps (left, right, wl, wr),
    out[i, j] = wl * blended[left] + wr * blended[right] + offset
The reference is the dense form `(rows @ plane) @ columns.T` with `resample_matrix`'s matrices.
"""

from __future__ import annotations

import numba
import numpy as np


def axis_taps(positions: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The two input pixels and float32 weights that `resample_matrix(positions, size)` gives each output
    position: (first, second, w_first, w_second), a border pixel's two weights merged into the first."""
    positions = np.clip(np.asarray(positions, dtype=np.float64), 0, size - 1)
    # uint64: numba then skips its negative-index (wrap-around) test, a per-pixel cost
    first = np.floor(positions).astype(np.uint64)
    second = np.minimum(first + 1, size - 1).astype(np.uint64)
    frac = positions - first
    w_first, w_second = (1 - frac).astype(np.float32), frac.astype(np.float32)
    merged = first == second  # resample_matrix adds both weights into one cell, in float32
    w_first[merged] = w_first[merged] + w_second[merged]
    w_second[merged] = 0
    return first, second, w_first, w_second


@numba.njit(cache=True, nogil=True)
def _bilinear_planes(source, planes, out, rows, columns, scale, offset, quantise):  # pragma: no cover (compiled)
    """out[p] = bilinear(source[planes[p]]) * scale[p] + offset[p]; source P' x H x W (any dtype),
    out P x H' x W' float32 (or uint8 with `quantise`: rounded half up, clipped to 0-255);
    rows / columns: (first, second, w_first, w_second) per output row / column."""
    top, bottom, wt, wb = rows
    left, right, wl, wr = columns
    blended = np.empty(source.shape[2], dtype=np.float32)  # one output row, blended from two input rows
    for p in range(out.shape[0]):
        plane = source[planes[p]]
        s, o = scale[p], offset[p]
        for i in range(out.shape[1]):
            upper, lower = plane[top[i]], plane[bottom[i]]
            w_upper, w_lower = wt[i] * s, wb[i] * s  # the plane's scale folded into the row weights
            for k in range(blended.shape[0]):  # contiguous: vectorised
                blended[k] = w_upper * np.float32(upper[k]) + w_lower * np.float32(lower[k])
            row = out[p, i]
            for j in range(row.shape[0]):
                value = wl[j] * blended[left[j]] + wr[j] * blended[right[j]] + o
                if quantise:
                    row[j] = min(max(np.floor(value + np.float32(0.5)), np.float32(0)), np.float32(255))
                else:
                    row[j] = value


def _taps(low: float, high: float, flip: bool, size: int):
    u = np.arange(size) / size  # output pixel i at box position u = i / size (mirrored when flipped)
    if flip:
        u = 1.0 - u
    return axis_taps((low + u * (high - low)) * size, size)


def _quantised(out: np.ndarray) -> bool:
    assert out.flags.c_contiguous, "`out` must be contiguous (a batch's slot)"
    if out.dtype not in (np.float32, np.uint8):
        raise TypeError(f"resample: `out` must be float32 or uint8, got {out.dtype}")
    return out.dtype == np.uint8


def resize_heatmap(volume: np.ndarray, crop: np.ndarray, flip: bool, channels: np.ndarray,
                   out: np.ndarray | None = None) -> np.ndarray:
    """``K x T x H x W`` uint8 -> float32 in [0, 1], cropped to `crop` (u0, v0, u1, v1), resized back,
    mirrored when `flip`, output channel c read from input channel `channels[c]`; written into `out`
    (``K x T x H x W`` float32, or uint8 for levels 0-255 as stored, contiguous: a batch's slot) when given."""
    k, t, h, w = volume.shape
    u0, v0, u1, v1 = crop
    source = volume.reshape(k * t, h, w)  # (K T) x H x W: one plane per channel and frame
    planes = (np.asarray(channels, dtype=np.uint64)[:, None] * t + np.arange(t, dtype=np.uint64)).reshape(-1)  # output (c, t) <- (channels[c], t)
    out = np.empty((len(channels), t, h, w), dtype=np.float32) if out is None else out
    quantise = _quantised(out)
    scale = np.full(len(planes), 1 if quantise else 1 / np.float32(255.0), dtype=np.float32)
    _bilinear_planes(source, planes, out.reshape(len(planes), h, w), _taps(v0, v1, False, h), _taps(u0, u1, flip, w),
                     scale, np.zeros(len(planes), dtype=np.float32), quantise)
    return out


def resize_rgb(frames: np.ndarray, crop: np.ndarray, flip: bool, mean, std, out: np.ndarray | None = None) -> np.ndarray:
    """``T x S x S x 3`` uint8 -> ``3 x T x S x S`` float32 normalised ((x - mean) / std per channel),
    cropped, resized back and mirrored like `resize_heatmap` (and like it written into `out` if given;
    an `out` of uint8 gets the resampled levels 0-255, not normalised)."""
    t, h, w, c = frames.shape
    u0, v0, u1, v1 = crop
    source = np.ascontiguousarray(frames.transpose(3, 0, 1, 2)).reshape(c * t, h, w)  # (3 T) x S x S
    out = np.empty((c, t, h, w), dtype=np.float32) if out is None else out
    quantise = _quantised(out)
    std = np.ones(c, dtype=np.float32) if quantise else np.asarray(std, dtype=np.float32)
    mean = np.zeros(c, dtype=np.float32) if quantise else np.asarray(mean, dtype=np.float32)
    scale = np.repeat(1 / std, t).astype(np.float32)
    offset = np.repeat(-mean / std, t).astype(np.float32)
    _bilinear_planes(source, np.arange(c * t, dtype=np.uint64), out.reshape(c * t, h, w), _taps(v0, v1, False, h),
                     _taps(u0, u1, flip, w), scale, offset, quantise)
    return out
