"""Reading videos with decord: probing a file and seeking only the frames a clip samples.

Frames come back as `T x H x W x 3` uint8 RGB. decord raises its own `DECORDError` (or a plain
RuntimeError) with a message that does not say which file; every failure here is re-raised as
`VideoError` naming the file, so a rejects table can record it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg"})


class VideoError(ValueError):
    """A video that cannot be decoded: missing, not a video, empty or truncated."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    height: int
    width: int
    fps: float


def open_video(path: str | Path, width: int = -1, height: int = -1):
    """A decord reader (frames counted from the container index), or `VideoError` naming the file."""
    import decord  # imported lazily: it loads its own FFmpeg, which tools that never decode need not pay for

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=1)
    except Exception as err:  # decord.DECORDError, RuntimeError: both mean "cannot open"
        raise VideoError(f"{path}: cannot be decoded as a video ({type(err).__name__}: {str(err)[:200]})") from err


def probe_video(path: str | Path) -> VideoInfo:
    """Open the container and read its header: cheap enough to check every file at ingest."""
    reader = open_video(path)
    num_frames = len(reader)
    if num_frames == 0:
        raise VideoError(f"{path}: video has no frames")
    height, width = reader[0].shape[:2]
    return VideoInfo(num_frames=num_frames, height=int(height), width=int(width), fps=float(reader.get_avg_fps()))


def read_frames(path: str | Path, indices, *, width: int = -1, height: int = -1) -> np.ndarray:
    """Decode only the frames at `indices` (decord seeks to key frames): `T x H x W x 3` uint8 RGB.

    `width`/`height` ask decord to scale while decoding, which is far cheaper than decoding
    1080p and resizing afterwards.
    """
    reader = open_video(path, width=width, height=height)
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) and (indices.min() < 0 or indices.max() >= len(reader)):
        raise VideoError(f"{path}: frame index {int(indices.max())} out of range (video has {len(reader)} frames)")
    try:
        return reader.get_batch(indices.tolist()).asnumpy()
    except Exception as err:
        raise VideoError(f"{path}: decoding failed, the file may be truncated ({type(err).__name__}: {str(err)[:200]})") from err
