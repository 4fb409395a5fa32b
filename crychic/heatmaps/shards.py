"""Heatmap volumes on disk: HDF5 shards of uint8 `N x K x T x H x W`, one chunk per sample.

Why uint8 and one chunk per sample: a volume is mostly zeros and PoseConv3D's values only need
1/255 resolution, so gzip'd uint8 takes ~1/200 of float32; and a DataLoader reading one sample
decompresses exactly one chunk. Beside the volumes each shard stores, row for row, `sample_id`,
`label`, `split`, `box` (x0, y0, x1, y1 source pixels) and `frame_indices` (N x T source frames),
so a shard can be checked against the RGB table without the rest of the pipeline. Values are
`round(heatmap * 255)`; `crychic.heatmaps.render.from_uint8` undoes it.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from crychic.core.atomic_write import atomic_path

SHARD_GLOB = "shard-*.h5"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


def write_heatmap_shard(path: str | Path, records: Sequence[dict], attrs: dict | None = None) -> None:
    """`records`: dicts with sample_id, label, split, box, frame_indices and heatmap (K x T x H x W uint8)."""
    volumes = np.stack([r["heatmap"] for r in records])  # N x K x T x H x W
    if volumes.dtype != np.uint8:
        raise TypeError(f"{path}: heatmaps must be uint8 (quantised), got {volumes.dtype}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("heatmap", data=volumes, chunks=(1, *volumes.shape[1:]),
                             compression="gzip", compression_opts=4, shuffle=False)
            f.create_dataset("sample_id", data=[r["sample_id"] for r in records], dtype=h5py.string_dtype())
            f.create_dataset("split", data=[r["split"] for r in records], dtype=h5py.string_dtype())
            f.create_dataset("label", data=np.array([r["label"] for r in records], dtype=np.int64))
            f.create_dataset("box", data=np.array([r["box"] for r in records], dtype=np.float64))
            f.create_dataset("frame_indices", data=np.array([r["frame_indices"] for r in records], dtype=np.int64))
            for key, value in (attrs or {}).items():
                f.attrs[key] = value


class HeatmapShards:
    """Random access by sample id across all shards of a directory.

    Files are opened lazily and per process, so the object can be handed to DataLoader workers
    (h5py handles must not cross a fork).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.paths = sorted(self.directory.glob(SHARD_GLOB))
        if not self.paths:
            raise FileNotFoundError(f"{self.directory}: no heatmap shards (run the render_heatmaps stage)")
        self.index: dict[str, tuple[int, int]] = {}
        self.attrs: dict = {}
        for shard, path in enumerate(self.paths):
            with h5py.File(path, "r") as f:
                self.attrs = dict(f.attrs)
                for row, sample_id in enumerate(f["sample_id"].asstr()[()]):
                    self.index[sample_id] = (shard, row)
        self._files: dict[int, h5py.File] = {}
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.index

    def ids(self) -> list[str]:
        return sorted(self.index)

    def metadata(self) -> dict[str, tuple[str, int]]:
        """sample id -> (split, label), read from the small columns only (no volume is decompressed)."""
        meta = {}
        for path in self.paths:
            with h5py.File(path, "r") as f:
                ids, splits, labels = f["sample_id"].asstr()[()], f["split"].asstr()[()], f["label"][()]
                meta.update({sid: (split, int(label)) for sid, split, label in zip(ids, splits, labels)})
        return meta

    def split_counts(self) -> dict[str, int]:
        return dict(collections.Counter(split for split, _ in self.metadata().values()))

    def _file(self, shard: int) -> h5py.File:
        import os

        if self._pid != os.getpid():  # a forked worker: never reuse the parent's handles
            self._files, self._pid = {}, os.getpid()
        if shard not in self._files:
            self._files[shard] = h5py.File(self.paths[shard], "r")
        return self._files[shard]

    def get(self, sample_id: str) -> dict:
        if sample_id not in self.index:
            raise KeyError(f"{self.directory}: sample {sample_id!r} has no heatmap")
        shard, row = self.index[sample_id]
        f = self._file(shard)
        return {
            "sample_id": sample_id,
            "heatmap": f["heatmap"][row],  # K x T x H x W uint8
            "label": int(f["label"][row]),
            "split": f["split"].asstr()[row],
            "box": f["box"][row],
            "frame_indices": f["frame_indices"][row],
        }

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_files"], state["_pid"] = {}, None
        return state
