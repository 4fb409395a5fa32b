"""Heatmap volumes on disk: HDF5 shards of uint8 `N x K x T x H x W`, one chunk per sample.

Why uint8 and one chunk per sample: a volume is mostly zeros and PoseConv3D's values only need
1/255 resolution, so gzip'd uint8 takes a small fraction of float32's bytes (the ratios:
docs/REPORT.md, "Heatmaps, keypoint extraction, the loader"); and a DataLoader reading one
sample decompresses exactly one chunk. Beside the volumes each shard stores, row for row, `sample_id`,
`label`, `split`, `box` (x0, y0, x1, y1 source pixels) and `frame_indices` (N x T source frames),
so a shard can be checked against the RGB table without the rest of the pipeline. Values are
`round(heatmap * 255)`; `from_uint8` undoes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from crychic.core.atomic_write import atomic_path
from crychic.core.shards import ShardedSamples

SHARD_GLOB = "shard-*.h5"


def to_uint8(heatmap: np.ndarray) -> np.ndarray:
    """Quantise a [0, 1] heatmap for storage: 255 levels lose < 0.002 per pixel, 4x fewer bytes."""
    return np.clip(np.rint(np.asarray(heatmap, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def from_uint8(quantised: np.ndarray) -> np.ndarray:
    """Inverse of `to_uint8`: float32 in [0, 1]."""
    return np.asarray(quantised, dtype=np.float32) / np.float32(255.0)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


# gzip level 1: the training loader reads a volume of NTU's shapes in about a quarter of level 4's
# time, for files about half as large again, still about 1 % of the raw uint8 (benchmarks/bench_loader.py).
# Shards written at another level read the same: HDF5 records the filter with the data.
GZIP_LEVEL = 1


def write_heatmap_shard(path: str | Path, records: Sequence[dict], attrs: dict | None = None) -> None:
    """`records`: dicts with sample_id, label, split, box, frame_indices and heatmap (K x T x H x W uint8)."""
    volumes = np.stack([r["heatmap"] for r in records])  # N x K x T x H x W
    if volumes.dtype != np.uint8:
        raise TypeError(f"{path}: heatmaps must be uint8 (quantised), got {volumes.dtype}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("heatmap", data=volumes, chunks=(1, *volumes.shape[1:]),
                             compression="gzip", compression_opts=GZIP_LEVEL, shuffle=False)
            f.create_dataset("sample_id", data=[r["sample_id"] for r in records], dtype=h5py.string_dtype())
            f.create_dataset("split", data=[r["split"] for r in records], dtype=h5py.string_dtype())
            f.create_dataset("label", data=np.array([r["label"] for r in records], dtype=np.int64))
            f.create_dataset("box", data=np.array([r["box"] for r in records], dtype=np.float64))
            f.create_dataset("frame_indices", data=np.array([r["frame_indices"] for r in records], dtype=np.int64))
            for key, value in (attrs or {}).items():
                f.attrs[key] = value


class HeatmapShards(ShardedSamples):
    """Random access by sample id across all shards of a directory.

    Files are opened lazily and per process, so the object can be handed to DataLoader workers
    (h5py handles must not cross a fork).
    """

    glob, what, stage = SHARD_GLOB, "heatmap", "render_heatmaps"

    def __init__(self, directory: str | Path):
        self.attrs: dict = {}  # the rendering settings (sigma, size, with_joint, ...), from the shards
        super().__init__(directory)

    def _read_ids(self, path: Path) -> list[str]:
        with h5py.File(path, "r") as f:
            self.attrs = dict(f.attrs)
            return list(f["sample_id"].asstr()[()])

    def _read_metadata(self, path: Path) -> list[tuple[str, str, int]]:
        with h5py.File(path, "r") as f:
            ids, splits, labels = f["sample_id"].asstr()[()], f["split"].asstr()[()], f["label"][()]
            return [(sid, split, int(label)) for sid, split, label in zip(ids, splits, labels)]

    def _open(self, path: Path) -> h5py.File:
        return h5py.File(path, "r")

    def _read(self, f: h5py.File, row: int, sample_id: str) -> dict:
        return {
            "sample_id": sample_id,
            "heatmap": f["heatmap"][row],  # K x T x H x W uint8
            "label": int(f["label"][row]),
            "split": f["split"].asstr()[row],
            "box": f["box"][row],
            "frame_indices": f["frame_indices"][row],
        }
