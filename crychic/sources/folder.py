"""Folder-per-class datasets (UCF101 / HMDB51 / Kinetics style): `root/<class name>/<clip>`.

Labels are the class folders in sorted order. The split is either given by a split file (one
`<path relative to root> <train|val|test>` pair per line) or drawn per class with a seeded
shuffle, so every class appears in every split in proportion. UCF101-style names
(`v_<Class>_g08_c01.avi`) give the group number as `subject`; a user wanting a group-disjoint
split should pass the official split file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from crychic.core.manifest import SPLITS
from crychic.core.video import VIDEO_EXTENSIONS, VideoError, probe_video
from crychic.sources.dataset_checks import DatasetError

UCF_GROUP = re.compile(r"_g(\d+)_c(\d+)", re.IGNORECASE)
SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


def _sample_id(class_name: str, clip: Path) -> str:
    # HDF5 treats '/' as a group separator, so ids stay flat.
    return SAFE_ID.sub("-", f"{class_name}__{clip.stem}")


def read_split_file(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: split file not found")
    splits = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in SPLITS:
            raise ValueError(f"{path}: line {lineno}: expected '<relative path> <train|val|test>', got {line!r}")
        splits[Path(parts[0]).as_posix()] = parts[1]
    return splits


def _share(n: int, fraction: float) -> int:
    """round(n * fraction), but at least one clip when the fraction asks for any."""
    return max(round(n * fraction), 1 if fraction > 0 else 0)


def stratified_split(labels: list[int], *, val_fraction: float, test_fraction: float, seed: int) -> list[str]:
    """Per class: shuffle with `seed`, then the first share is test, the next val, the rest train."""
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"split fractions must be >= 0 and sum below 1, got val={val_fraction} test={test_fraction}")
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels)
    splits = ["train"] * len(labels)
    for label in np.unique(labels_arr):
        members = rng.permutation(np.flatnonzero(labels_arr == label))
        n = len(members)
        n_test = min(_share(n, test_fraction), max(n - 1, 0))  # a class always keeps a training clip
        n_val = min(_share(n, val_fraction), max(n - 1 - n_test, 0))
        for i in members[:n_test]:
            splits[i] = "test"
        for i in members[n_test : n_test + n_val]:
            splits[i] = "val"
    return splits


def list_folder_samples(
    root: str | Path,
    *,
    split_file: str | Path | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    probe: bool = True,
) -> tuple[list[dict], list[dict]]:
    """Manifest rows and rejects; a file that is not a decodable video is a reject, not an error."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: dataset root not found")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"{root}: no class folders (expected one folder per class)")
    given_splits = read_split_file(split_file) if split_file else None
    files_of = _clips_per_class(class_dirs)
    if given_splits is not None:  # before probing every clip: a typo should not wait for minutes of decoding
        _check_listed_clips_exist(given_splits, {clip.relative_to(root).as_posix() for files in files_of.values()
                                                 for clip in files}, split_file, root)

    rows, rejects = [], []
    for label, (class_dir, files) in enumerate(files_of.items()):
        for clip in files:
            rel = clip.relative_to(root).as_posix()
            reason = _reject_reason(clip, rel, given_splits, split_file, probe)
            sample_id = _sample_id(class_dir.name, clip)
            if reason is not None:
                rejects.append({"sample_id": sample_id, "path": str(clip), "stage": "ingest", "reason": reason})
                continue
            rows.append(_manifest_row(sample_id, clip, label, class_dir.name,
                                      given_splits[rel] if given_splits is not None else None))
    if not rows:
        raise ValueError(f"{root}: no decodable videos found ({len(rejects)} files rejected)")
    if given_splits is None:
        splits = stratified_split([r["label"] for r in rows], val_fraction=val_fraction,
                                  test_fraction=test_fraction, seed=seed)
        for row, split in zip(rows, splits):
            row["split"] = split
    ids = [r["sample_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{root}: two clips map to one sample id; rename clips that differ only in extension")
    return rows, rejects


def _clips_per_class(class_dirs: list[Path]) -> dict[Path, list[Path]]:
    """Every file under each class folder (hidden ones left out), sorted; an empty class raises."""
    files_of = {}
    for class_dir in class_dirs:
        files_of[class_dir] = sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files_of[class_dir]:
            raise ValueError(f"{class_dir}: empty class folder (class {class_dir.name!r} has no clips)")
    return files_of


def _reject_reason(clip: Path, rel: str, given_splits: dict[str, str] | None, split_file, probe: bool) -> str | None:
    """Why `clip` (`rel`: its path under the root) cannot be a sample, or None when it can."""
    reason = None
    if clip.suffix.lower() not in VIDEO_EXTENSIONS:
        reason = f"{clip}: not a video file (extension {clip.suffix or 'none'!r})"
    elif probe:
        try:
            probe_video(clip)
        except VideoError as err:
            reason = str(err)
    if reason is None and given_splits is not None and rel not in given_splits:
        reason = f"{clip}: not listed in split file {split_file}"
    return reason


def _manifest_row(sample_id: str, clip: Path, label: int, class_name: str, split: str | None) -> dict:
    """One manifest row; `split` None until the stratified split is drawn."""
    group = UCF_GROUP.search(clip.stem)
    return {
        "sample_id": sample_id,
        "path": str(clip),
        "label": label,
        "label_name": class_name,
        "subject": int(group.group(1)) if group else None,
        "camera": None,
        "split": split,
        "annotation": None,
    }


def _check_listed_clips_exist(given_splits: dict[str, str], seen: set[str], split_file, root: Path) -> None:
    """A split file naming a clip that is not there is a typo or a partial copy: the split the user
    meant is not the one they would get, so ingest stops (a clip on disk that the file leaves out is
    only a reject)."""
    missing = sorted(rel for rel in given_splits if rel not in seen)
    if missing:
        per_split = {split: sum(given_splits[rel] == split for rel in missing) for split in SPLITS}
        shown = ", ".join(f"{rel} ({given_splits[rel]})" for rel in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DatasetError(
            f"{split_file}: names {len(missing)} of its {len(given_splits)} clips that are not under {root} "
            f"(missing per split: {per_split}): {shown}{more}. Fix the paths (relative to data.root, "
            "'<class folder>/<clip>') or copy the clips")
