"""Finished shards of a sharded stage, kept where a crash cannot take them, until the stage ends.

`decode_rgb` and `render_heatmaps` cut their work into chunks of `shard_size` samples and write
one shard file per chunk. DVC deletes a stage's outs before it runs the stage, so a killed run's
shards cannot wait inside the out folder: they go to `.<out name>-partial/` beside it (git-ignored
as `.*-partial/`, like extract_keypoints' Prefect results), under a *token* of the stage's params
and inputs. Run again with the same token, the stage skips every chunk already there; with another
token (params or inputs changed) the folder is emptied first. When every chunk is done, `finish`
renames the shards into the out folder, numbered in chunk order, and removes the folder: the out
folder then holds exactly what an uninterrupted run writes.

A chunk is finished when its `chunk-NNNNN.json` exists (what the chunk produced: record count,
rejects), written atomically *after* its shard; a shard without its json, or a `.*.tmp` file that
an atomic write left when killed, is never read: the chunk is done again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from crychic.core.atomic_write import write_json


def input_token(params: dict, inputs: Iterable[str | os.PathLike]) -> str:
    """What decides a stage's output: its params and its inputs' identity (path, size, mtime of
    every file, walked in a folder), the same identity Prefect's cache uses in `pipeline.fan_out`.
    Reading the inputs' bytes would cost as much as the stage at NTU scale."""
    identity: list = [params]
    for source in inputs:
        source = Path(source)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for path in files:
            stat = path.stat() if path.exists() else None
            identity.append([str(path), stat and stat.st_size, stat and stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


class PartialShards:
    """The partial folder of one out folder; see the module docstring."""

    def __init__(self, out_dir: str | os.PathLike, token: str, suffix: str):
        out_dir = Path(out_dir)
        self.dir = out_dir.parent / f".{out_dir.name}-partial"
        self.suffix = suffix
        token_file = self.dir / "token"
        if self.dir.exists() and (not token_file.is_file() or token_file.read_text() != token):
            shutil.rmtree(self.dir)  # another run's work: other params or inputs
        self.dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.dir.glob(".*.tmp"):  # a write the kill interrupted: never read
            leftover.unlink()
        if not token_file.is_file():
            token_file.write_text(token)
        self.resumed = len(list(self.dir.glob("chunk-*.json")))

    def shard_path(self, chunk: int) -> Path:
        return self.dir / f"chunk-{chunk:05d}{self.suffix}"

    def _info_path(self, chunk: int) -> Path:
        return self.dir / f"chunk-{chunk:05d}.json"

    def done(self, chunk: int) -> dict | None:
        """What the finished chunk produced (`commit`'s info), or None if it must be done."""
        path = self._info_path(chunk)
        return json.loads(path.read_text()) if path.is_file() else None

    def commit(self, chunk: int, info: dict) -> None:
        """Mark a chunk finished, after its shard (if any) is in place; `info["records"]` counts its
        samples (0: no shard was written)."""
        if info["records"] and not self.shard_path(chunk).is_file():
            raise FileNotFoundError(f"{self.shard_path(chunk)}: commit of a chunk whose shard was not written")
        write_json(self._info_path(chunk), info)

    def finish(self, out_dir: str | os.PathLike, chunks: int, shard_name: Callable[[int], str]) -> list[dict]:
        """Move the shards of chunks 0..chunks-1 into `out_dir` as shard_name(0), (1), ... (chunks
        with no records leave no gap) and remove the partial folder; returns each chunk's info."""
        infos = [self.done(chunk) for chunk in range(chunks)]
        missing = [chunk for chunk, info in enumerate(infos) if info is None]
        if missing:
            raise RuntimeError(f"{self.dir}: chunks {missing[:5]} are not finished")
        out_dir = Path(out_dir)
        written = 0
        for chunk, info in enumerate(infos):
            if info["records"]:
                os.replace(self.shard_path(chunk), out_dir / shard_name(written))
                written += 1
        shutil.rmtree(self.dir)
        return infos
