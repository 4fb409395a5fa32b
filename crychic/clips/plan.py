"""The clip plan: which frames each sample uses and the one person box both modalities are cut by.

This is the invariant "one spatial frame, one time base" made into a table. Heatmaps and RGB clips
are both cut from `box` (source pixels, square, may reach past the image), so a pixel of one is
the same place as the same pixel of the other. `frame_indices` are the heatmap's sampled source
frames (PoseConv3D's `UniformSampleFrames`: random per segment for training, fixed otherwise);
the RGB clip samples its own, usually fewer, frames over the same video and records them too.

Table layout (`data/clips/clips.parquet`, one row per sample):
`sample_id, path, label, split, num_frames, img_shape [H, W], box [x0, y0, x1, y1], frame_indices [T]`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crychic.clips.sampling import uniform_sample_indices
from crychic.clips.person_box import compact_box

CLIP_PLAN_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("label", pa.int32(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("num_frames", pa.int32(), nullable=False),
        pa.field("img_shape", pa.list_(pa.int32(), 2), nullable=False),
        pa.field("box", pa.list_(pa.float64(), 4), nullable=False),
        pa.field("frame_indices", pa.list_(pa.int64()), nullable=False),
    ]
)


def sample_rng(seed: int, sample_id: str, purpose: str) -> np.random.Generator:
    """A generator per (seed, sample, purpose): the same sample draws the same clip whatever the
    order or the worker, and the heatmap and RGB draws do not disturb each other."""
    digest = hashlib.sha256(f"{seed}/{sample_id}/{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def sample_frames(num_frames: int, clip_len: int, *, split: str, seed: int, sample_id: str, purpose: str) -> np.ndarray:
    """Training clips draw random offsets per segment; val/test clips are PoseConv3D's fixed ones."""
    rng = sample_rng(seed, sample_id, purpose) if split == "train" else None
    return uniform_sample_indices(num_frames, clip_len, rng=rng)


def jitter_box(box: np.ndarray, rng: np.random.Generator, max_scale: float, max_shift: float) -> np.ndarray:
    """The square box grown by a factor in [1, max_scale] and its centre moved by up to
    `max_shift` of the new side in x and y.

    Why: a pose-free student deployed without keypoints sees clips framed by the whole frame or
    its centre, where the person is smaller and off-centre. Training clips framed this way (both
    modalities follow the one box, so the teacher's maps still cover the same pixels) teach the
    student that framing; val and test boxes stay the tight person box.
    """
    side = (box[2] - box[0]) * rng.uniform(1.0, max_scale)
    centre = (box[:2] + box[2:]) / 2 + rng.uniform(-max_shift, max_shift, size=2) * side
    return np.concatenate([centre - side / 2, centre + side / 2])


def plan_clip(row: dict, keypoint: np.ndarray, img_shape: tuple[int, int], *, clip_len: int,
              padding: float, seed: int, train_box_scale: float = 1.0, train_box_shift: float = 0.0,
              train_box_jitter_share: float = 1.0) -> dict:
    """One clip-plan row from a manifest row and its keypoints (`M x T x V x 3`, every frame);
    `train_box_jitter_share` of the training rows get a box jittered by `jitter_box` (the others
    keep the tight box the evaluation splits have; scale 1 and shift 0 switch it off)."""
    num_frames = keypoint.shape[1]
    frames = sample_frames(num_frames, clip_len, split=row["split"], seed=seed,
                           sample_id=row["sample_id"], purpose="heatmap")
    sampled = keypoint[:, frames]  # M x clip_len x V x 3
    box = compact_box(sampled[..., :2], sampled[..., 2], img_shape, padding=padding)
    rng = sample_rng(seed, row["sample_id"], "box")
    if row["split"] == "train" and (train_box_scale > 1.0 or train_box_shift > 0.0) and rng.random() < train_box_jitter_share:
        box = jitter_box(np.asarray(box, dtype=np.float64), rng, train_box_scale, train_box_shift)
    return {
        "sample_id": row["sample_id"], "path": row["path"], "label": int(row["label"]), "split": row["split"],
        "num_frames": int(num_frames), "img_shape": [int(v) for v in img_shape],
        "box": [float(v) for v in box], "frame_indices": [int(v) for v in frames],
    }


def read_clip_plan(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: clip plan not found (run the sample_clips stage)")
    return pq.read_table(path).to_pylist()
