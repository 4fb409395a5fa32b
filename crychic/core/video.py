"""Reading videos with decord: probing a file and seeking only the frames a clip samples.

Frames come back as `T x H x W x 3` uint8 RGB. decord raises its own `DECORDError` (or a plain
RuntimeError) with a message that does not say which file; every failure here is re-raised as
`VideoError` naming the file, so a rejects table can record it.

A cut-off file (an interrupted upload or copy) may still open: decord then counts only the frames it
can read, so its count alone cannot tell a short video from a truncated one. `frame_counts` puts the
count the container's header declares (read through OpenCV's FFmpeg) beside decord's. Measured on
real clips cut to 95 %, 50 % and 10 % of their bytes: AVI (MPEG-4 part 2 and NTU's H.264) and MKV
open, the header still declares the full count and decord reads a prefix (the last frame of it
often half-decoded: its packet is cut). An MP4 whose index (moov) sits at the end does not open at
all; a copy of one with the index moved to the front (`faststart`), cut to 95 %, opens in OpenCV but
not in decord (which reads every packet when it opens), so both stay unreadable videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg"})
# Containers whose header stores the frame count (AVI's stream header, the MP4 family's sample
# table). The others (MKV, WebM, MPEG) store none; FFmpeg estimates it from the duration, which
# can be a frame off on a complete clip (docs/REPORT.md, Truncated videos).
HEADER_COUNTS_FRAMES = frozenset({".avi", ".mp4", ".m4v", ".mov"})


class VideoError(ValueError):
    """A video that cannot be decoded: missing, not a video, empty or truncated."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    height: int
    width: int
    fps: float


@dataclass(frozen=True)
class FrameCounts:
    declared: int | None  # the container header's count; None when it declares none
    decoded: int  # the frames decord reads
    exact: bool  # the header stores the count (`HEADER_COUNTS_FRAMES`) rather than a duration

    @property
    def cut_off(self) -> bool:
        """Fewer frames decode than the header declares (one frame of slack for an estimated count)."""
        if self.declared is None:
            return False
        return self.decoded < self.declared - (0 if self.exact else 1)


def declared_frames(path: str | Path) -> int | None:
    """The frame count the container's header declares (None when it declares none, or OpenCV
    cannot open the file). OpenCV's FFmpeg opens the container and probes the stream, which may
    decode a frame or two; no frame is read."""
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return int(count) if count >= 1 else None


def frame_counts(path: str | Path, decoded: int | None = None) -> FrameCounts:
    """The header's and decord's frame counts; `decoded` when the caller has already read the video
    with decord (its frame count), else decord opens it (`VideoError` when it cannot).

    Cost: two container opens, the header's (`declared_frames`) and decord's, which indexes the
    packets and decodes none (the time on a 1080p NTU video: docs/REPORT.md, Truncated videos).
    Checking that the last frame decodes would cost up to a whole group of pictures, far more, and
    is not done.
    """
    path = Path(path)
    if decoded is None:
        decoded = len(open_video(path))
    return FrameCounts(declared=declared_frames(path), decoded=int(decoded),
                       exact=path.suffix.lower() in HEADER_COUNTS_FRAMES)


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
