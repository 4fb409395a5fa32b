"""RGB clips on disk: Arrow IPC shards keyed by sample id (clips: `T x S x S x 3` uint8, see `crychic.rgb.decode`).

Shards (`shard-00000.arrow`, ...) are Arrow IPC *files* with one record batch per sample: each
batch's buffers are compressed on their own, so reading one sample decompresses one clip and
nothing else, and the file footer lets a memory-mapped reader jump straight to it. `frames` is a
`fixed_shape_tensor(uint8, (T, S, S, 3))` column, so a clip comes back as a numpy view of the
(decompressed, or with `compression=None` memory-mapped) buffer, without a further copy.

Framed shards (stage `decode_rgb_framed`, clips cut by the deployment framing box) carry two more
columns, `FRAMED_FIELDS`: `framing_box` (x0, y0, x1, y1 source pixels, what the clip was cut by)
and `person_in_clip` (u0, v0, u1, v1: the person box, which the heatmaps cover, in the clip's
[0, 1] coordinates, see `crychic.rgb.decode`). `box` is the person box in both kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from crychic.core.atomic_write import atomic_path
from crychic.core.shards import ShardedSamples

SHARD_GLOB = "shard-*.arrow"
COMPRESSION = "zstd"  # smaller than lz4 on every kind of clip measured (docs/REPORT.md, Design measurements)


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.arrow"


FRAMED_FIELDS = ("framing_box", "person_in_clip")


def rgb_schema(clip_len: int, size: int, framed: bool = False) -> pa.Schema:
    """The shard schema; the clip shape is part of the `frames` type, so it depends on T and S."""
    framed_fields = [pa.field(name, pa.list_(pa.float64(), 4), nullable=False) for name in FRAMED_FIELDS]
    return pa.schema(
        [
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("label", pa.int32(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("frame_indices", pa.list_(pa.int64()), nullable=False),
            pa.field("box", pa.list_(pa.float64(), 4), nullable=False),
            pa.field("frames", pa.fixed_shape_tensor(pa.uint8(), (clip_len, size, size, 3)), nullable=False),
            *(framed_fields if framed else []),
        ]
    )


# ---------------------------------------------------------------------------------------------
# Cutting and decoding


def write_rgb_shard(path: str | Path, records: Sequence[dict], *, compression: str | None = COMPRESSION) -> None:
    """`records`: dicts with sample_id, label, split, frame_indices, box and frames (T x S x S x 3 uint8),
    and all or none of them `FRAMED_FIELDS` too."""
    if not records:
        raise ValueError(f"{path}: no records to write")
    shape = np.shape(records[0]["frames"])
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
        raise ValueError(f"{path}: frames must be T x S x S x 3, got {shape}")
    framed = FRAMED_FIELDS[0] in records[0]
    schema = rgb_schema(shape[0], shape[1], framed)
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with atomic_path(path) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema, options=options) as writer:
            for record in records:
                frames = np.ascontiguousarray(record["frames"])
                if frames.shape != shape or frames.dtype != np.uint8:
                    raise ValueError(f"{path}: {record['sample_id']}: frames {frames.shape} {frames.dtype}, "
                                     f"expected {shape} uint8 like the rest of the shard")
                if any((name in record) != framed for name in FRAMED_FIELDS):
                    raise ValueError(f"{path}: {record['sample_id']}: a shard's records carry all of "
                                     f"{FRAMED_FIELDS} or none, like its first record")
                boxes = [pa.array([[float(v) for v in record[name]]], pa.list_(pa.float64(), 4))
                         for name in FRAMED_FIELDS] if framed else []
                batch = pa.record_batch(
                    [
                        pa.array([record["sample_id"]], pa.string()),
                        pa.array([int(record["label"])], pa.int32()),
                        pa.array([record["split"]], pa.string()),
                        pa.array([[int(i) for i in record["frame_indices"]]], pa.list_(pa.int64())),
                        pa.array([[float(v) for v in record["box"]]], pa.list_(pa.float64(), 4)),
                        pa.FixedShapeTensorArray.from_numpy_ndarray(frames.reshape(1, *shape)),  # 1 x T x S x S x 3
                        *boxes,
                    ],
                    schema=schema,
                )
                writer.write_batch(batch)


class RgbClips(ShardedSamples):
    """Random access by sample id across all shards of a directory.

    Shards are memory-mapped lazily and per process, so the object can be pickled into DataLoader
    workers. Returned frames are read-only views: copy before editing them in place.
    """

    glob, what, stage = SHARD_GLOB, "RGB clip", "decode_rgb"

    @property
    def framed(self) -> bool:
        """Whether the shards hold framed clips (`FRAMED_FIELDS`); an error if some do and some not."""
        kinds = set()
        for path in self.paths:
            with pa.memory_map(str(path), "r") as source:
                kinds.add(FRAMED_FIELDS[0] in pa.ipc.open_file(source).schema.names)
        if len(kinds) > 1:
            raise ValueError(f"{self.directory}: framed and box-cut RGB shards mixed in one folder")
        return kinds.pop()

    def _read_ids(self, path: Path) -> list[str]:
        ids_only = pa.ipc.IpcReadOptions(included_fields=[0], use_threads=False)  # never decompress frames here
        with pa.memory_map(str(path), "r") as source:
            reader = pa.ipc.open_file(source, options=ids_only)
            return [reader.get_batch(row).column(0)[0].as_py() for row in range(reader.num_record_batches)]

    def _read_metadata(self, path: Path) -> list[tuple[str, str, int]]:
        with pa.memory_map(str(path), "r") as source:
            names = pa.ipc.open_file(source).schema.names
            small_columns = [names.index(name) for name in ("sample_id", "split", "label")]
            reader = pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(included_fields=small_columns))
            rows = []
            for row in range(reader.num_record_batches):
                batch = reader.get_batch(row).to_pydict()
                rows += [(sid, split, int(label)) for sid, split, label
                         in zip(batch["sample_id"], batch["split"], batch["label"])]
            return rows

    def _open(self, path: Path) -> pa.ipc.RecordBatchFileReader:
        return pa.ipc.open_file(pa.memory_map(str(path), "r"), options=pa.ipc.IpcReadOptions(use_threads=False))

    def _read(self, reader: pa.ipc.RecordBatchFileReader, row: int, sample_id: str) -> dict:
        batch = reader.get_batch(row)
        record = {
            "sample_id": sample_id,
            "frames": batch.column("frames").to_numpy_ndarray()[0],  # T x S x S x 3 uint8, no copy
            "label": batch.column("label")[0].as_py(),
            "split": batch.column("split")[0].as_py(),
            "box": np.array(batch.column("box")[0].as_py(), dtype=np.float64),
            "frame_indices": np.array(batch.column("frame_indices")[0].as_py(), dtype=np.int64),
        }
        for name in FRAMED_FIELDS:
            if name in batch.schema.names:
                record[name] = np.array(batch.column(name)[0].as_py(), dtype=np.float64)
        return record
