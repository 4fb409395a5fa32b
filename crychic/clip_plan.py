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

from crychic.clip_sampling import uniform_sample_indices
from crychic.person_box import compact_box

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


def plan_clip(row: dict, keypoint: np.ndarray, img_shape: tuple[int, int], *, clip_len: int,
              padding: float, seed: int) -> dict:
    """One clip-plan row from a manifest row and its keypoints (`M x T x V x 3`, every frame)."""
    num_frames = keypoint.shape[1]
    frames = sample_frames(num_frames, clip_len, split=row["split"], seed=seed,
                           sample_id=row["sample_id"], purpose="heatmap")
    sampled = keypoint[:, frames]  # M x clip_len x V x 3
    box = compact_box(sampled[..., :2], sampled[..., 2], img_shape, padding=padding)
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
