"""The manifest and rejects tables: one row per sample, keyed by `sample_id`.

Every later table and shard is joined to the manifest by `sample_id`, never by position.
`path` is relative to the project root when the file lives inside it (so a DVC cache stays
portable) and absolute otherwise (a user's NTU download). `annotation` points at a sample's
keypoint source when the dataset brings one (a synthetic ground-truth `.npz`, an NTU
`.skeleton` file); it is null when keypoints must be estimated from the video.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from crychic.core.atomic_write import atomic_path

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("label", pa.int32(), nullable=False),
        pa.field("label_name", pa.string(), nullable=False),
        pa.field("subject", pa.int32()),
        pa.field("camera", pa.int32()),
        pa.field("split", pa.string(), nullable=False),
        pa.field("annotation", pa.string()),
    ]
)

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string()),
        pa.field("path", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)

SPLITS = ("train", "val", "test")


class NoValidationSplitError(ValueError):
    """The data has no `val` split, and choices are never made on `test`."""


class EmptySplitError(ValueError):
    """A split a stage needs holds no clips; the message names it and the clips per split."""


# Where clips leave the pipeline, each with its reason: where to look when a split came out empty.
REJECTS_FILES = ("data/ingest/rejects.parquet", "data/keypoints/rejects.parquet", "data/rgb/rejects.parquet")


def require_splits(counts: Mapping[str, int], needed: Iterable[str], *, where: str) -> None:
    """Raise `EmptySplitError` unless every `needed` split has clips in `counts` ({split: clips}).

    A stage calls this at its start on the data it reads, so that a split emptied after ingest (its
    clips rejected by a later stage) stops it with the split's name instead of an error from deep
    inside a library call (an empty `torch.cat`, a metric over no samples).
    """
    empty = [split for split in needed if not counts.get(split)]
    if empty:
        per_split = ", ".join(f"{split} {counts.get(split, 0)}" for split in SPLITS)
        raise EmptySplitError(
            f"{where}: no clips in split {' or '.join(map(repr, empty))} (clips per split: {per_split}). "
            f"Clips leave with a reason in {', '.join(REJECTS_FILES)}; metrics/ingest.json has what the "
            "dataset held per class and split")


def validation_split(splits: Iterable[str]) -> str:
    """The split every choice is made on (kept epoch, fusion rule, regularisation): always `val`.

    `splits` are the split names of the samples at hand (a clip plan's, a shard store's). With no
    `val` among them this raises rather than fall back to `test`: a test split that chose an epoch
    or a fusion weight no longer gives an unbiased figure. Every source brings a val split (NTU's
    is carved from its training subjects or setups at ingest); it can only be missing when a
    setting turned it off or the dataset is too small for one.
    """
    present = sorted(set(splits))
    if "val" not in present:
        raise NoValidationSplitError(
            f"the data has no 'val' split (splits present: {present}), and choices are never made on "
            "'test'. Re-run ingest with a val split: data.ntu.val_subjects / data.ntu.val_setups or "
            "data.folder.val_fraction above 0, or 'val' lines in data.folder.split_file"
        )
    return "val"


def write_table(rows: Iterable[Mapping], schema: pa.Schema, path: str | Path) -> pa.Table:
    """Write rows as a Parquet table atomically; rows are dicts with exactly the schema's columns."""
    rows = list(rows)
    for row in rows:
        extra = set(row) - set(schema.names)
        if extra:
            raise ValueError(f"{path}: unexpected columns {sorted(extra)}")
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return table


def write_manifest(rows: Iterable[Mapping], path: str | Path) -> pa.Table:
    rows = sorted(rows, key=lambda r: r["sample_id"])
    ids = [r["sample_id"] for r in rows]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"{path}: duplicate sample ids {dup}")
    bad = sorted({r["split"] for r in rows} - set(SPLITS))
    if bad:
        raise ValueError(f"{path}: unknown split names {bad} (expected one of {SPLITS})")
    rows = [{name: r.get(name) for name in MANIFEST_SCHEMA.names} for r in rows]
    return write_table(rows, MANIFEST_SCHEMA, path)


def write_rejects(rows: Iterable[Mapping], path: str | Path) -> pa.Table:
    rows = [{name: r.get(name) for name in REJECTS_SCHEMA.names} for r in rows]
    return write_table(rows, REJECTS_SCHEMA, path)


def read_manifest(path: str | Path) -> pa.Table:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: manifest not found (run the ingest stage first)")
    table = pq.read_table(path)
    missing = set(MANIFEST_SCHEMA.names) - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: not a CRYCHIC manifest, missing columns {sorted(missing)}")
    return table


def project_relative(path: str | Path, root: str | Path = ".") -> str:
    """`path` relative to `root` when inside it, else absolute: see the module docstring."""
    path, root = Path(path).resolve(), Path(root).resolve()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_label_names(path: str | Path) -> list[str]:
    """Class names indexed by label, from a manifest (labels missing from it are named by number)."""
    rows = pq.read_table(path, columns=["label", "label_name"]).to_pylist()
    if not rows:
        raise ValueError(f"{path}: the manifest has no samples")
    names = {row["label"]: row["label_name"] for row in rows}
    return [names.get(i, str(i)) for i in range(max(names) + 1)]
