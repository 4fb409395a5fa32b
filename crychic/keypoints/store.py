"""The keypoints table on disk: one HDF5 file, one dataset per sample, keyed by `sample_id`.

Layout: `/keypoints/<sample_id>` is `M x T x V x 3` float32 (x, y, score) in source-frame
pixels, every source frame, with attribute `img_shape` = (H, W). Samples differ in M and T, so
each has its own (compressed) dataset rather than rows of one big array.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from crychic.core.atomic_write import atomic_path


@dataclass(frozen=True)
class SampleKeypoints:
    """One sample's keypoints as every stage after extraction reads them."""
    keypoint: np.ndarray  # M x T x V x 3 (persons, source frames, COCO-17 joints, (x, y, score))
    img_shape: tuple[int, int]  # the source video's (height, width): the keypoints' pixel frame

GROUP = "keypoints"


def write_keypoints(path: str | Path, samples: Mapping[str, SampleKeypoints]) -> None:
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            group = f.create_group(GROUP)
            for sample_id in sorted(samples):
                sample = samples[sample_id]
                ds = group.create_dataset(sample_id, data=sample.keypoint, compression="gzip", compression_opts=4)
                ds.attrs["img_shape"] = np.asarray(sample.img_shape, dtype=np.int64)


class KeypointStore:
    """Read access by sample id; open once, read many (a DataLoader worker keeps its own)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: keypoints file not found (run the extract_keypoints stage)")
        self._file = h5py.File(self.path, "r")
        self._group = self._file[GROUP]

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self._group

    def __len__(self) -> int:
        return len(self._group)

    def ids(self) -> list[str]:
        return sorted(self._group.keys())

    def __getitem__(self, sample_id: str) -> SampleKeypoints:
        ds = self._group[sample_id]
        return SampleKeypoints(keypoint=ds[()], img_shape=tuple(int(v) for v in ds.attrs["img_shape"]))

    def items(self) -> Iterator[tuple[str, SampleKeypoints]]:
        for sample_id in self.ids():
            yield sample_id, self[sample_id]

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> KeypointStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
