"""Random access by sample id across a directory of shards: what the HDF5 heatmap store
(`crychic.heatmaps.shards`) and the Arrow RGB store (`crychic.rgb.shards`) share.

A subclass says how one shard's sample ids, its small columns (split, label) and one sample are
read; this base keeps the index (sample id -> shard, position) and opens shard handles lazily and
per process, so an instance can be pickled into DataLoader workers (file handles and memory maps
must not cross a fork).
"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any


class ShardedSamples:
    glob = "shard-*"   # the shard files of a directory
    what = "samples"   # named in errors ("no heatmap shards", "has no heatmap")
    stage = ""         # the stage that writes them, named when none are found

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.paths = sorted(self.directory.glob(self.glob))
        if not self.paths:
            raise FileNotFoundError(f"{self.directory}: no {self.what} shards (run the {self.stage} stage)")
        self.index: dict[str, tuple[int, int]] = {}  # sample_id -> (shard, position in it)
        for shard, path in enumerate(self.paths):
            for position, sample_id in enumerate(self._read_ids(path)):
                self.index[sample_id] = (shard, position)
        self._handles: dict[int, Any] = {}
        self._pid: int | None = None
        self._cache: dict[str, dict] = {}  # sample id -> record, see `cache_in_memory`
        self._cache_budget = self._cache_used = 0

    # ------------------------------------------------------------------ what a store defines
    def _read_ids(self, path: Path) -> list[str]:
        raise NotImplementedError

    def _read_metadata(self, path: Path) -> list[tuple[str, str, int]]:
        """(sample_id, split, label) per sample of a shard, without reading the sample data."""
        raise NotImplementedError

    def _open(self, path: Path) -> Any:
        raise NotImplementedError

    def _read(self, handle: Any, position: int, sample_id: str) -> dict:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.index

    def ids(self) -> list[str]:
        return sorted(self.index)

    def metadata(self) -> dict[str, tuple[str, int]]:
        """sample id -> (split, label), read from the small columns only."""
        return {sid: (split, label) for path in self.paths for sid, split, label in self._read_metadata(path)}

    def split_counts(self) -> dict[str, int]:
        return dict(collections.Counter(split for split, _ in self.metadata().values()))

    def cache_in_memory(self, max_bytes: int) -> None:
        """Keep the records `get` reads, up to `max_bytes` of their arrays, in this process's memory.

        A training run reads every sample once an epoch; reading one back (for a heatmap volume,
        inflating its compressed HDF5 chunk) was a third of a training item's cost on the default
        profile. Samples past the budget are read from disk each time, so memory stays bounded at
        any dataset size (per process: each DataLoader worker keeps its own)."""
        self._cache_budget = int(max_bytes)

    def get(self, sample_id: str) -> dict:
        if sample_id in self._cache:
            return dict(self._cache[sample_id])  # a new dict: a caller may add keys, never to ours
        if sample_id not in self.index:
            raise KeyError(f"{self.directory}: sample {sample_id!r} has no {self.what}")
        shard, position = self.index[sample_id]
        if self._pid != os.getpid():  # a forked worker: never reuse the parent's handles
            self._handles, self._pid = {}, os.getpid()
        if shard not in self._handles:
            self._handles[shard] = self._open(self.paths[shard])
        record = self._read(self._handles[shard], position, sample_id)
        size = sum(value.nbytes for value in record.values() if hasattr(value, "nbytes"))
        if self._cache_used + size <= self._cache_budget:
            for value in record.values():
                if hasattr(value, "flags"):
                    value.flags.writeable = False  # shared by every later `get`: read-only
            self._cache[sample_id] = record
            self._cache_used += size
        return dict(record)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"], state["_pid"] = {}, None
        return state
