"""RGB clips decoded by decord and cut by the person box (stage `decode_rgb`; storage: `crychic.rgb.shards`).

Layouts: decoded frames `T x H x W x 3` uint8 RGB in source (or decoded) pixels; a clip
`T x S x S x 3` uint8, the square person box (x0, y0, x1, y1 source pixels, see
`crychic.clips.person_box`) resampled to `S x S`, zeros where the box reaches past the image.
Pixel (row i, column j) of a clip is the point `box_to_frame_matrix` maps there, the same
mapping the heatmaps are rendered with, so a heatmap pixel and an RGB pixel are the same place.

The deployment framing. The pose-free path has no keypoint box at test time, so it cuts its clip
by a box that depends on the video's size alone (`framing_box`): `centre`, the largest centred
square (it may cut off a person near the edge); `full`, the whole frame in a centred square (zeros
above and below a landscape frame; the person smaller). A framed clip (stage `decode_rgb_framed`)
is cut by that box instead of the person box, and records where the person box (which the
heatmaps cover) lies in it: `box_in_frame`, (u0, v0, u1, v1) in the clip's [0, 1] coordinates,
u = (x - x0) / (x1 - x0) for source x, so pixel j of an S-pixel side at u = j / S; it may reach
past [0, 1] (a person cut off by the centre square). `framing_box` is the function of
`crychic.evaluation.end_to_end` (tests check they agree), here so that a data stage need not
import the evaluation code and its pose estimator.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from crychic.clips.plan import sample_frames
from crychic.clips.person_box import box_to_frame_matrix
from crychic.core.video import VideoError, open_video, read_frames

# `centre`: the largest centred square; `full`: the whole frame padded to a centred square.
FRAMINGS = ("centre", "full")

# Bilinear sampling reads a 2 x 2 neighbourhood, so below this scale it skips source pixels and
# aliases (cv2.warpAffine treats INTER_AREA as INTER_LINEAR): we box-filter down first.
MIN_DIRECT_SCALE = 0.5


def cut_clip(frames: np.ndarray, box, size: int) -> np.ndarray:
    """`T x H x W x 3` frames -> `T x size x size x 3`: every frame cut by the same box.

    Shrinking by more than 2x first box-filters (cv2.INTER_AREA) the part of the frame around
    the box down to the output scale, then warps what is left (a sub-pixel shift); the matrix
    is adjusted so that the geometry is exactly `box_to_frame_matrix(box, size)` either way.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected T x H x W x 3 uint8 frames, got {frames.shape} {frames.dtype}")
    matrix = box_to_frame_matrix(box, size)
    scale = np.array([matrix[0, 0], matrix[1, 1]])  # output pixels per source pixel, x and y
    if scale.min() < MIN_DIRECT_SCALE:
        frames, matrix = _shrink_around_box(frames, np.asarray(box, dtype=np.float64), matrix, scale)
    clip = np.zeros((len(frames), size, size, 3), dtype=np.uint8)
    if frames.shape[1] == 0 or frames.shape[2] == 0:  # the box lies wholly outside the image
        return clip
    for t, frame in enumerate(frames):
        clip[t] = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return clip


def _shrink_around_box(frames: np.ndarray, box: np.ndarray, matrix: np.ndarray, scale: np.ndarray):
    """(frames cropped around the box and area-resized by `scale`, the matrix for them)."""
    height, width = frames.shape[1:3]
    margin = 2 / scale  # two output pixels of context, so the warp never samples the crop's own edge
    col0, row0 = np.maximum(np.floor(box[:2] - margin), 0).astype(int)
    col1 = int(min(math.ceil(box[2] + margin[0]), width))
    row1 = int(min(math.ceil(box[3] + margin[1]), height))
    if col1 <= col0 or row1 <= row0:
        return frames[:, :0, :0], matrix
    crop = frames[:, row0:row1, col0:col1]
    out_w = max(1, round((col1 - col0) * scale[0]))
    out_h = max(1, round((row1 - row0) * scale[1]))
    shrunk = np.stack([cv2.resize(f, (out_w, out_h), interpolation=cv2.INTER_AREA) for f in crop])
    # cv2.resize keeps pixel centres aligned: crop x' = (x - col0 + 0.5) * f - 0.5; so a source x
    # is (x' + 0.5) / f - 0.5 + col0, which the box matrix (out = s * x + t) then maps on.
    f = np.array([out_w / (col1 - col0), out_h / (row1 - row0)])
    origin = np.array([col0, row0])
    adjusted = np.column_stack([np.diag(scale / f), scale * (0.5 / f - 0.5 + origin) + matrix[:, 2]])
    return shrunk, adjusted


def centre_box(height: int, width: int, side: float | None = None) -> np.ndarray:
    """A centred square (by default the largest inside the frame)."""
    side = min(height, width) if side is None else side
    x0, y0 = (width - side) / 2, (height - side) / 2
    return np.array([x0, y0, x0 + side, y0 + side])


def framing_box(framing: str, height: int, width: int) -> np.ndarray:
    """The box, in source pixels, that frames a `height x width` video without keypoints."""
    if framing == "centre":
        return centre_box(height, width)
    if framing == "full":
        return centre_box(height, width, side=max(height, width))
    raise ValueError(f"unknown framing {framing!r}: expected one of {FRAMINGS}")


def box_in_frame(box, frame) -> np.ndarray:
    """`box` (source pixels) in the [0, 1] coordinates of a clip cut by `frame` (source pixels):
    (u0, v0, u1, v1), with u = (x - frame.x0) / frame width."""
    box, frame = np.asarray(box, dtype=np.float64), np.asarray(frame, dtype=np.float64)
    origin = np.tile(frame[:2], 2)
    extent = np.tile(frame[2:] - frame[:2], 2)
    return (box - origin) / extent


def decode_clip(path: str | Path, frame_indices, box, img_shape, size: int, *,
                decode_max_side: int | None = None, num_frames: int | None = None) -> np.ndarray:
    """Decode only `frame_indices` and cut them by `box`: `T x size x size x 3` uint8.

    With `decode_max_side` and a larger video (1080p NTU), decord scales while decoding, so a worker
    holds T small frames instead of T 6 MB ones; the box is moved into the decoded pixels, so the
    clip's geometry is unchanged, and it is never scaled below `size` decoded pixels (that would
    lose resolution the clip keeps). `num_frames` is the length the clip plan saw: a video now
    reporting fewer frames is truncated (decord then counts only what it can read, and the last of
    those is often half-decoded), so it raises instead of returning what it has.
    """
    height, width = (int(v) for v in img_shape)
    box = np.asarray(box, dtype=np.float64)
    factor = 1.0
    if decode_max_side:
        box_side = min(box[2] - box[0], box[3] - box[1])
        factor = min(1.0, max(decode_max_side / max(height, width), size / box_side))
    decode_w, decode_h = round(width * factor), round(height * factor)
    if num_frames is not None:
        available = len(open_video(path))
        if available < num_frames:
            raise VideoError(f"{path}: video has {available} readable frames, the clip plan expects "
                             f"{num_frames}: truncated, or not the file the plan was made from")
    scaled = {"width": decode_w, "height": decode_h} if factor < 1 else {}
    frames = read_frames(path, frame_indices, **scaled)
    if frames.shape[1:3] != (decode_h, decode_w):
        raise VideoError(f"{path}: frames are {frames.shape[2]}x{frames.shape[1]} pixels, "
                         f"the clip plan expects {width}x{height}")
    # Decoded pixel centres sit where the source's do (ffmpeg's scaler): x' = (x + 0.5) * f - 0.5.
    stretch = np.array([decode_w / width, decode_h / height] * 2)
    decoded_box = (box + 0.5) * stretch - 0.5
    return cut_clip(frames, decoded_box, size)


def decode_planned_clip(clip: dict, *, clip_len: int, size: int, seed: int,
                        decode_max_side: int | None = None, framing: str | None = None) -> dict:
    """One clip-plan row -> one shard record: its own RGB frames (purpose "rgb"), cut by its box.

    With `framing` (`FRAMINGS`), the same frames are cut by the deployment
    framing box instead (no keypoints: the frame's size alone), and the record also carries that
    `framing_box` (source pixels) and `person_in_clip`, the person box in the framed clip's [0, 1]
    coordinates (`box_in_frame`); `box` stays the person box, which the heatmaps cover.
    """
    frame_indices = sample_frames(clip["num_frames"], clip_len, split=clip["split"], seed=seed,
                                  sample_id=clip["sample_id"], purpose="rgb")
    cut_by = clip["box"]
    if framing is not None:
        cut_by = framing_box(framing, *(int(v) for v in clip["img_shape"]))
    frames = decode_clip(clip["path"], frame_indices, cut_by, clip["img_shape"], size,
                         decode_max_side=decode_max_side, num_frames=clip["num_frames"])
    record = {"sample_id": clip["sample_id"], "label": int(clip["label"]), "split": clip["split"],
              "frame_indices": frame_indices, "box": [float(v) for v in clip["box"]], "frames": frames}
    if framing is not None:
        record["framing_box"] = [float(v) for v in cut_by]
        record["person_in_clip"] = [float(v) for v in box_in_frame(clip["box"], cut_by)]
    return record
