"""Keypoint clips for the ST-GCN baseline: the clip plan's frames of each sample, in its person box.

Layout of one item: `keypoint` float32 tensor ``3 x T x V x M`` (x, y, score; V = 17 COCO joints;
M = `max_persons`, missing persons zero-padded, extra ones dropped), `label` int64, `sample_id`
str, `index` int. T is the plan's `frame_indices` (the heatmap's own frames).

Coordinates: the same spatial frame as the heatmaps. With the plan's square box (x0, y0, x1, y1),
u = (x - x0) / (x1 - x0) and v = (y - y0) / (y1 - y0) place a joint at [0, 1] of the box, which is
then centred to [-1, 1] (2u - 1), so the box corners map to -1 and 1. A joint with score 0 was not
seen: its x and y are set to 0 (the box centre) rather than to wherever the source put them.

Augmentation (`augment=True`): a horizontal flip with probability `flip_prob`, u -> 1 - u (x -> -x
after centring) with left and right joints swapped (`coco17.flip_permutation`), as the heatmap
flip of `crychic.training.data`. Each item draws from a generator seeded by (seed, epoch, index),
so the batches do not depend on the number of DataLoader workers; call `set_epoch` each epoch
(`crychic.core.epoch_seeds`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from crychic.clips.plan import read_clip_plan
from crychic.core.coco17 import NUM_JOINTS, flip_permutation
from crychic.core.epoch_seeds import EpochSeeded
from crychic.keypoints.store import KeypointStore


def box_coordinates(keypoint: np.ndarray, box) -> np.ndarray:
    """``... x 3`` (x, y, score) in source pixels -> (x, y) centred box coordinates in [-1, 1], score kept."""
    x0, y0, x1, y1 = (float(b) for b in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"degenerate person box {box}")
    out = np.array(keypoint, dtype=np.float32, copy=True)
    out[..., 0] = 2 * (out[..., 0] - x0) / (x1 - x0) - 1
    out[..., 1] = 2 * (out[..., 1] - y0) / (y1 - y0) - 1
    out[..., :2] *= (out[..., 2:] > 0)  # unseen joints sit at the centre
    return out


class KeypointClips(EpochSeeded, Dataset):
    """The clip plan's samples of one split (sorted by sample id) with their keypoints."""

    def __init__(self, keypoints_h5: str | Path, clip_plan_parquet: str | Path, split: str, *, augment: bool = False,
                 seed: int = 0, max_persons: int = 2, flip_prob: float = 0.5):
        super().__init__(seed)
        self.keypoints_path, self.plan_path = Path(keypoints_h5), Path(clip_plan_parquet)
        self.split, self.augment = split, augment
        self.max_persons, self.flip_prob = int(max_persons), float(flip_prob)
        self.rows = sorted((r for r in read_clip_plan(self.plan_path) if r["split"] == split),
                           key=lambda r: r["sample_id"])
        if not self.rows:
            raise ValueError(f"{self.plan_path}: no samples of split {split!r}")
        with KeypointStore(self.keypoints_path) as store:
            missing = [r["sample_id"] for r in self.rows if r["sample_id"] not in store]
        if missing:
            raise KeyError(f"{self.keypoints_path}: no keypoints for {len(missing)} sample(s) of the clip plan "
                           f"{self.plan_path} (split {split!r}), e.g. {missing[:5]}; re-run extract_keypoints "
                           "and sample_clips")
        self.sample_ids = [r["sample_id"] for r in self.rows]
        self.permutation = flip_permutation()
        self._store, self._store_pid = None, None

    def __len__(self) -> int:
        return len(self.rows)

    def flips(self, index: int) -> bool:
        """Whether item `index` is flipped this epoch: a pure function of (seed, epoch, index)."""
        if not self.augment:
            return False
        return bool(self.item_rng(index).random() < self.flip_prob)

    def _keypoints(self, sample_id: str) -> np.ndarray:
        if self._store is None or self._store_pid != os.getpid():  # one open file per (worker) process
            self._store, self._store_pid = KeypointStore(self.keypoints_path), os.getpid()
        return self._store[sample_id].keypoint  # M x T_all x V x 3

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        sample_id, frames = row["sample_id"], np.asarray(row["frame_indices"], dtype=np.intp)
        keypoint = self._keypoints(sample_id)
        if keypoint.ndim != 4 or keypoint.shape[2:] != (NUM_JOINTS, 3):
            raise ValueError(f"{self.keypoints_path}: sample {sample_id!r} has keypoints of shape {keypoint.shape}, "
                             f"expected M x T x {NUM_JOINTS} x 3")
        if len(frames) == 0 or frames.min() < 0 or frames.max() >= keypoint.shape[1]:
            raise ValueError(f"{self.plan_path}: sample {sample_id!r} plans frames up to {frames.max()}, but "
                             f"{self.keypoints_path} has {keypoint.shape[1]} frames (stale clip plan?)")
        clip = box_coordinates(keypoint[: self.max_persons, frames], row["box"])  # M' x T x V x 3
        if self.flips(index):
            clip = clip[:, :, self.permutation]
            clip[..., 0] *= -1
        padded = np.zeros((self.max_persons, *clip.shape[1:]), dtype=np.float32)
        padded[: len(clip)] = clip
        return {"keypoint": torch.from_numpy(padded).permute(3, 1, 2, 0).contiguous(),  # 3 x T x V x M
                "label": torch.tensor(int(row["label"]), dtype=torch.int64), "sample_id": sample_id, "index": index}

    def __getstate__(self):  # an open HDF5 handle does not pickle (spawned workers): reopen there
        state = dict(self.__dict__)
        state["_store"] = state["_store_pid"] = None
        return state
