"""RGB clips cut by the person box, stored as Arrow IPC shards keyed by sample id.

Layouts: decoded frames `T x H x W x 3` uint8 RGB in source (or decoded) pixels; a clip
`T x S x S x 3` uint8, the square person box (x0, y0, x1, y1 source pixels, see
`crychic.clips.person_box`) resampled to `S x S`, zeros where the box reaches past the image.
Pixel (row i, column j) of a clip is the point `box_to_frame_matrix` maps there, the same
mapping the heatmaps are rendered with, so a heatmap pixel and an RGB pixel are the same place.

Shards (`shard-00000.arrow`, ...) are Arrow IPC *files* with one record batch per sample: each
batch's buffers are compressed on their own, so reading one sample decompresses one clip and
nothing else, and the file footer lets a memory-mapped reader jump straight to it. `frames` is a
`fixed_shape_tensor(uint8, (T, S, S, 3))` column, so a clip comes back as a numpy view of the
(decompressed, or with `compression=None` memory-mapped) buffer, without a further copy.
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from crychic.core.atomic_write import atomic_path
from crychic.clips.plan import sample_frames
from crychic.clips.person_box import box_to_frame_matrix
from crychic.core.video import VideoError, open_video, read_frames

SHARD_GLOB = "shard-*.arrow"
# Measured on 8 x 112 x 112 x 3 clips (303 KB raw): NTU 1080p 149 KB zstd / 192 KB lz4; web clips
# 267-281 KB zstd / 275-296 KB lz4; synthetic 206 KB zstd / 243 KB lz4. Reading one back: ~0.4 ms.
COMPRESSION = "zstd"

# Bilinear sampling reads a 2 x 2 neighbourhood, so below this scale it skips source pixels and
# aliases (cv2.warpAffine treats INTER_AREA as INTER_LINEAR): we box-filter down first.
MIN_DIRECT_SCALE = 0.5


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.arrow"


def rgb_schema(clip_len: int, size: int) -> pa.Schema:
    """The shard schema; the clip shape is part of the `frames` type, so it depends on T and S."""
    return pa.schema(
        [
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("label", pa.int32(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("frame_indices", pa.list_(pa.int64()), nullable=False),
            pa.field("box", pa.list_(pa.float64(), 4), nullable=False),
            pa.field("frames", pa.fixed_shape_tensor(pa.uint8(), (clip_len, size, size, 3)), nullable=False),
        ]
    )


# ---------------------------------------------------------------------------------------------
# Cutting and decoding


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
                        decode_max_side: int | None = None) -> dict:
    """One clip-plan row -> one shard record: its own RGB frames (purpose "rgb"), cut by its box."""
    frame_indices = sample_frames(clip["num_frames"], clip_len, split=clip["split"], seed=seed,
                                  sample_id=clip["sample_id"], purpose="rgb")
    frames = decode_clip(clip["path"], frame_indices, clip["box"], clip["img_shape"], size,
                         decode_max_side=decode_max_side, num_frames=clip["num_frames"])
    return {"sample_id": clip["sample_id"], "label": int(clip["label"]), "split": clip["split"],
            "frame_indices": frame_indices, "box": [float(v) for v in clip["box"]], "frames": frames}


# ---------------------------------------------------------------------------------------------
# Shards


def write_rgb_shard(path: str | Path, records: Sequence[dict], *, compression: str | None = COMPRESSION) -> None:
    """`records`: dicts with sample_id, label, split, frame_indices, box and frames (T x S x S x 3 uint8)."""
    if not records:
        raise ValueError(f"{path}: no records to write")
    shape = np.shape(records[0]["frames"])
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
        raise ValueError(f"{path}: frames must be T x S x S x 3, got {shape}")
    schema = rgb_schema(shape[0], shape[1])
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with atomic_path(path) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema, options=options) as writer:
            for record in records:
                frames = np.ascontiguousarray(record["frames"])
                if frames.shape != shape or frames.dtype != np.uint8:
                    raise ValueError(f"{path}: {record['sample_id']}: frames {frames.shape} {frames.dtype}, "
                                     f"expected {shape} uint8 like the rest of the shard")
                batch = pa.record_batch(
                    [
                        pa.array([record["sample_id"]], pa.string()),
                        pa.array([int(record["label"])], pa.int32()),
                        pa.array([record["split"]], pa.string()),
                        pa.array([[int(i) for i in record["frame_indices"]]], pa.list_(pa.int64())),
                        pa.array([[float(v) for v in record["box"]]], pa.list_(pa.float64(), 4)),
                        pa.FixedShapeTensorArray.from_numpy_ndarray(frames.reshape(1, *shape)),  # 1 x T x S x S x 3
                    ],
                    schema=schema,
                )
                writer.write_batch(batch)


class RgbClips:
    """Random access by sample id across all shards of a directory.

    Shards are memory-mapped lazily and per process, so the object can be pickled into DataLoader
    workers. Returned frames are read-only views: copy before editing them in place.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.paths = sorted(self.directory.glob(SHARD_GLOB))
        if not self.paths:
            raise FileNotFoundError(f"{self.directory}: no RGB shards (run the decode_rgb stage)")
        self.index: dict[str, tuple[int, int]] = {}  # sample_id -> (shard, record batch)
        ids_only = pa.ipc.IpcReadOptions(included_fields=[0], use_threads=False)  # never decompress frames here
        for shard, path in enumerate(self.paths):
            with pa.memory_map(str(path), "r") as source:
                reader = pa.ipc.open_file(source, options=ids_only)
                for row in range(reader.num_record_batches):
                    for sample_id in reader.get_batch(row).column(0).to_pylist():
                        self.index[sample_id] = (shard, row)
        self._readers: dict[int, pa.ipc.RecordBatchFileReader] = {}
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.index

    def ids(self) -> list[str]:
        return sorted(self.index)

    def metadata(self) -> dict[str, tuple[str, int]]:
        """sample id -> (split, label), read from the small columns only (no clip is decompressed)."""
        meta = {}
        for path in self.paths:
            with pa.memory_map(str(path), "r") as source:
                names = pa.ipc.open_file(source).schema.names
                small_columns = [names.index(name) for name in ("sample_id", "split", "label")]
                reader = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(included_fields=small_columns))
                for row in range(reader.num_record_batches):
                    batch = reader.get_batch(row).to_pydict()
                    meta.update({sid: (split, int(label)) for sid, split, label
                                 in zip(batch["sample_id"], batch["split"], batch["label"])})
        return meta

    def split_counts(self) -> dict[str, int]:
        return dict(collections.Counter(split for split, _ in self.metadata().values()))

    def _reader(self, shard: int) -> pa.ipc.RecordBatchFileReader:
        if self._pid != os.getpid():  # a forked worker: never reuse the parent's maps
            self._readers, self._pid = {}, os.getpid()
        if shard not in self._readers:
            source = pa.memory_map(str(self.paths[shard]), "r")
            self._readers[shard] = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(use_threads=False))
        return self._readers[shard]

    def get(self, sample_id: str) -> dict:
        if sample_id not in self.index:
            raise KeyError(f"{self.directory}: sample {sample_id!r} has no RGB clip")
        shard, row = self.index[sample_id]
        batch = self._reader(shard).get_batch(row)
        return {
            "sample_id": sample_id,
            "frames": batch.column("frames").to_numpy_ndarray()[0],  # T x S x S x 3 uint8, no copy
            "label": batch.column("label")[0].as_py(),
            "split": batch.column("split")[0].as_py(),
            "box": np.array(batch.column("box")[0].as_py(), dtype=np.float64),
            "frame_indices": np.array(batch.column("frame_indices")[0].as_py(), dtype=np.int64),
        }

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_readers"], state["_pid"] = {}, None
        return state
