"""Per-item randomness for the training datasets: an epoch number in shared memory, and one
generator per (seed, epoch, item).

Why: a dataset's augmentation must give the same batches whatever the number of DataLoader
workers. So no item draws from a worker's global random state: each item draws from a generator
seeded by (seed, epoch, index), the same in whichever process makes it. The epoch lives in a
shared-memory tensor because persistent workers are copies of the dataset made when the loader
first started: an int set in the main process later would never reach them, a shared tensor does.
Call `set_epoch` before each epoch's `iter(loader)`.

Both the keypoint clips (`crychic.keypoints.clips`) and the heatmap + RGB pairs
(`crychic.training.data`) draw this way. torch is imported when a dataset is made, not with this
module: nothing in `crychic.core` imports torch at import time (`crychic.core.reproducibility`
must set its CPU kernel caps first).
"""

from __future__ import annotations

import numpy as np


class EpochSeeded:
    """Base of a map-style dataset whose items draw from `item_rng(index)`: `seed` and a shared epoch."""

    def __init__(self, seed: int):
        import torch

        self.seed = seed
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def item_rng(self, index: int, *stream: int) -> np.random.Generator:
        """The generator of item `index` this epoch: a pure function of (seed, epoch, index). A
        `stream` number gives a second generator of the same item that leaves the first's draws alone."""
        return np.random.default_rng([self.seed, self.epoch, index, *stream])
