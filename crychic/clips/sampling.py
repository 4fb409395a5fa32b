"""Which source frames a clip uses: PoseConv3D's `UniformSampleFrames` for one clip.

Layout: the result is a 1-D int64 array of ``clip_len`` source frame indices in
``[0, num_frames)``. The same indices select keypoint frames (``M x T x V x 2`` -> ``M x clip_len
x V x 2``) and RGB frames, which is what keeps both modalities on one time base.

The video is cut into ``clip_len`` equal segments and one frame is taken from each, so a clip
always spans the whole action whatever its length. PYSKL's three regimes are kept:
- ``num_frames >= 2 * clip_len``: a random frame in each segment ``[i*n//L, (i+1)*n//L)``;
- ``clip_len <= num_frames < 2 * clip_len``: consecutive frames with ``n - L`` one-frame gaps
  inserted at random places (segments are 1 or 2 frames long, so this is the same idea);
- ``num_frames < clip_len``: ``clip_len`` consecutive frames from a random start, looping
  around the end (``start, ..., n-1, 0, 1, ...``): the only regime whose indices are not sorted.

Test mode (``rng=None``) reproduces PYSKL's test-time indices exactly: PYSKL reseeds NumPy's
legacy generator with 255 and draws from it in a fixed order; we replay that order on a private
``RandomState(255)`` (no global state touched), so evaluation clips match PoseConv3D's.
"""

from __future__ import annotations

import numpy as np

# PYSKL's `UniformSampleFrames(seed=255)`: the fixed seed of test-time sampling.
TEST_SEED = 255


def uniform_sample_indices(num_frames: int, clip_len: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """``clip_len`` source frame indices for one clip: random per segment with ``rng`` (training),
    PYSKL's deterministic test-mode choice without."""
    if num_frames < 1 or clip_len < 1:
        raise ValueError(f"need num_frames >= 1 and clip_len >= 1, got {num_frames} and {clip_len}")
    if rng is None:
        return _test_indices(num_frames, clip_len)

    if num_frames < clip_len:
        start = rng.integers(num_frames)
        indices = np.arange(start, start + clip_len)
    elif num_frames < 2 * clip_len:
        gaps = rng.choice(clip_len + 1, num_frames - clip_len, replace=False)
        indices = np.arange(clip_len) + _gap_offsets(gaps, clip_len)
    else:
        segment_start = np.arange(clip_len + 1) * num_frames // clip_len  # L + 1 boundaries
        indices = segment_start[:-1] + rng.integers(np.diff(segment_start))
    return np.mod(indices, num_frames).astype(np.int64)


def _test_indices(num_frames: int, clip_len: int) -> np.ndarray:
    """PYSKL's `_get_test_clips` for one clip, drawing in its order from RandomState(255)."""
    legacy = np.random.RandomState(TEST_SEED)
    legacy.rand()  # PYSKL draws its p_interval ratio first (it is 1: the draw only moves the stream)
    if num_frames < clip_len:
        indices = np.arange(clip_len)  # start 0, looping: no random draw
    elif num_frames < 2 * clip_len:
        gaps = legacy.choice(clip_len + 1, num_frames - clip_len, replace=False)
        indices = np.arange(clip_len) + _gap_offsets(gaps, clip_len)
    else:
        segment_start = np.arange(clip_len + 1) * num_frames // clip_len  # L + 1 boundaries
        indices = segment_start[:-1] + legacy.randint(np.diff(segment_start))
    return np.mod(indices, num_frames).astype(np.int64)


def _gap_offsets(gaps: np.ndarray, clip_len: int) -> np.ndarray:
    """How far frame i of the clip is pushed right by one-frame gaps inserted before positions ``gaps``."""
    inserted = np.zeros(clip_len + 1, dtype=np.int64)
    inserted[gaps] = 1
    return np.cumsum(inserted)[:-1]  # L
