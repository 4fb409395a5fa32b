"""NTU RGB+D 60/120 layout: `SsssCcccPpppRrrrAaaa` file names, the official splits and our val split.

A name encodes setup (S), camera (C), performer (P, the subject), replication (R) and action (A,
1-based). The benchmarks' protocols split on these fields alone:
- NTU-60 X-Sub: 20 listed performers train, the other 20 test.   X-View: cameras 2, 3 train; 1 tests.
- NTU-120 X-Sub: 53 listed performers train, the rest test.      X-Set: even setups train; odd test.
The benchmarks define no validation split, and papers that choose epochs or fusion weights on the
test split report an optimistic figure. So every choice here is made on a `val` split carved out of
the official *training* part (`carve_validation`): a few training subjects (X-Sub, X-View) or
training setups (X-Set), drawn with a seed, move from train to val. The test split stays exactly
the official one and is touched once, at the end; val is disjoint from train in subjects (setups
for X-Set), so it measures generalisation the way test does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crychic.sources.ntu_labels import NTU120_ACTIONS

NAME_PATTERN = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

NTU60_XSUB_TRAIN = frozenset(
    {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
)
NTU60_XVIEW_TRAIN = frozenset({2, 3})
NTU120_XSUB_TRAIN = NTU60_XSUB_TRAIN | frozenset(
    {45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
     89, 91, 92, 93, 94, 95, 97, 98, 100, 103}
)

PROTOCOLS = {"ntu60": ("xsub", "xview"), "ntu120": ("xsub", "xset")}
# NTU-60 is setups 1-17 and actions 1-60 of NTU-120.
LIMITS = {"ntu60": (17, 60), "ntu120": (32, 120)}

# What a val split is carved from, per protocol: the name field that the protocol keeps apart
# between train and test, so val is kept apart from train the same way. X-View splits on cameras,
# but the cameras all film the same subjects; carving training subjects makes val subject-disjoint
# from train (its clips are from the training cameras, as train's are).
VAL_UNIT = {"xsub": "subjects", "xview": "subjects", "xset": "setups"}

VIDEO_SUFFIX = "_rgb.avi"
SKELETON_SUFFIX = ".skeleton"


class NtuNameError(ValueError):
    """A file name that is not an NTU RGB+D sample name."""


@dataclass(frozen=True)
class NtuName:
    setup: int
    camera: int
    performer: int
    replication: int
    action: int  # 1-based, as in the file name

    @property
    def sample_id(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    @property
    def label(self) -> int:
        return self.action - 1

    @property
    def label_name(self) -> str:
        return NTU120_ACTIONS[self.label]


def parse_ntu_name(path: str | Path) -> NtuName:
    name = Path(path).name
    match = NAME_PATTERN.match(name)
    if not match:
        raise NtuNameError(f"{path}: not an NTU RGB+D sample name (expected SsssCcccPpppRrrrAaaa...)")
    parsed = NtuName(*(int(g) for g in match.groups()))
    if not 1 <= parsed.action <= 120:
        raise NtuNameError(f"{path}: action A{parsed.action:03d} is outside NTU RGB+D 120's A001-A120")
    return parsed


def check_version(name: NtuName, version: str, path: str | Path) -> None:
    if version not in LIMITS:
        raise ValueError(f"unknown NTU version {version!r}: expected one of {sorted(LIMITS)}")
    max_setup, max_action = LIMITS[version]
    if name.setup > max_setup or name.action > max_action:
        raise NtuNameError(f"{path}: S{name.setup:03d}/A{name.action:03d} is not part of {version}")


def ntu_split(name: NtuName, version: str, protocol: str) -> str:
    """'train' or 'test' under an official protocol (`carve_validation` then takes val out of train)."""
    if protocol not in PROTOCOLS.get(version, ()):
        raise ValueError(
            f"protocol {protocol!r} is not defined for {version!r}: "
            f"expected one of {PROTOCOLS.get(version, ())} (versions: {sorted(PROTOCOLS)})"
        )
    if protocol == "xsub":
        train = NTU60_XSUB_TRAIN if version == "ntu60" else NTU120_XSUB_TRAIN
        is_train = name.performer in train
    elif protocol == "xview":
        is_train = name.camera in NTU60_XVIEW_TRAIN
    else:  # xset
        is_train = name.setup % 2 == 0
    return "train" if is_train else "test"


def list_ntu_samples(
    root: str | Path | None,
    *,
    version: str = "ntu60",
    protocol: str = "xsub",
    skeleton_root: str | Path | None = None,
) -> tuple[list[dict], list[dict]]:
    """Manifest rows and rejects for an NTU download.

    Samples are the `*_rgb.avi` videos under `root`; each is paired with its `.skeleton` file
    from `skeleton_root` when given (`annotation`). With no `root`, the `.skeleton` files
    themselves are the samples (skeleton-only training). Names that do not parse, or that fall
    outside `version`, are rejects, not errors: one stray file must not stop an NTU-sized ingest.
    """
    if version not in PROTOCOLS:
        raise ValueError(f"unknown NTU version {version!r}: expected one of {sorted(PROTOCOLS)}")
    ntu_split(NtuName(1, 1, 1, 1, 1), version, protocol)  # validates the protocol up front
    if root is None and skeleton_root is None:
        raise ValueError("the ntu source needs data.root (videos) and/or data.ntu.skeleton_root")
    for folder in (root, skeleton_root):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: NTU folder not found")

    skeletons: dict[str, Path] = {}
    if skeleton_root is not None:
        for path in sorted(Path(skeleton_root).rglob(f"*{SKELETON_SUFFIX}")):
            skeletons[path.name[: -len(SKELETON_SUFFIX)]] = path
    if root is not None:
        candidates = sorted(p for p in Path(root).rglob("*") if p.is_file() and not p.name.startswith("."))
    else:
        candidates = sorted(skeletons.values())

    rows, rejects = [], []
    for path in candidates:
        try:
            name = parse_ntu_name(path)
            check_version(name, version, path)
            if root is not None and not path.name.endswith(VIDEO_SUFFIX):
                raise NtuNameError(f"{path}: not an NTU RGB video (expected a name ending in {VIDEO_SUFFIX})")
        except NtuNameError as err:
            rejects.append({"sample_id": None, "path": str(path), "stage": "ingest", "reason": str(err)})
            continue
        skeleton = skeletons.get(name.sample_id)
        rows.append({
            "sample_id": name.sample_id,
            "path": str(path),
            "label": name.label,
            "label_name": name.label_name,
            "subject": name.performer,
            "camera": name.camera,
            "split": ntu_split(name, version, protocol),
            "annotation": str(skeleton) if skeleton is not None else None,
        })
    if not rows:
        raise ValueError(f"{root or skeleton_root}: no NTU RGB+D samples found ({len(rejects)} files rejected)")
    return rows, rejects


def _val_unit_of(row: dict, protocol: str) -> int:
    """The subject (X-Sub, X-View) or setup (X-Set) of a manifest row."""
    name = parse_ntu_name(row["sample_id"])
    return name.setup if VAL_UNIT[protocol] == "setups" else name.performer


def carve_validation(rows: list[dict], *, protocol: str, count: int, seed: int) -> list[int]:
    """Move `count` training subjects (X-Sub, X-View) or setups (X-Set) from 'train' to 'val'.

    They are drawn with `seed` from those the training rows hold (a partial download still gets a
    val split), and every training row of a drawn subject (setup) goes to val, so val and train share
    none. Test rows are never touched. Rows are changed in place; returns the drawn ids, sorted.
    `count` 0 carves nothing (the official train/test only: training stages then refuse to run).
    """
    if protocol not in VAL_UNIT:
        raise ValueError(f"protocol {protocol!r}: expected one of {sorted(VAL_UNIT)}")
    unit = VAL_UNIT[protocol]
    param = f"data.ntu.val_{unit}"
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"params.yaml: {param} = {count!r} must be a whole number >= 0")
    if count == 0:
        return []
    train_rows = [row for row in rows if row["split"] == "train"]
    pool = sorted({_val_unit_of(row, protocol) for row in train_rows})
    if count >= len(pool):
        raise ValueError(
            f"params.yaml: {param} = {count}, but the {protocol} training split holds only {len(pool)} "
            f"{unit} ({pool}): keep at least one for training (0 carves no val split)"
        )
    drawn = sorted(int(u) for u in np.random.default_rng(seed).permutation(pool)[:count])
    for row in train_rows:
        if _val_unit_of(row, protocol) in drawn:
            row["split"] = "val"
    return drawn
