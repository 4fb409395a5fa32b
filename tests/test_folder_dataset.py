"""Folder-per-class ingest on real clips laid out in a temporary directory."""

from __future__ import annotations

import collections

import pytest

from crychic.sources.folder import list_folder_samples, stratified_split


@pytest.fixture()
def folder_dataset(shared_data, tmp_path):
    clips = sorted((shared_data / "misc-real-action-clips").glob("*.*[4ivy]"))  # mp4, avi, mkv
    root = tmp_path / "ucf_like"
    for i, clip in enumerate(clips):
        class_dir = root / ("ArmsAndHands" if i % 2 else "FullBody")
        class_dir.mkdir(parents=True, exist_ok=True)
        (class_dir / f"v_{class_dir.name}_g{i + 1:02d}_c01{clip.suffix}").symlink_to(clip)
    return root, len(clips)


def test_real_clips_ingest(folder_dataset):
    root, n = folder_dataset
    assert n == 6
    rows, rejects = list_folder_samples(root, val_fraction=0.0, test_fraction=0.34, seed=3)
    assert len(rows) == 6 and not rejects
    assert {r["label_name"]: r["label"] for r in rows} == {"ArmsAndHands": 0, "FullBody": 1}
    per_class = collections.Counter((r["label"], r["split"]) for r in rows)
    assert per_class[(0, "test")] == 1 and per_class[(0, "train")] == 2
    assert sorted(r["subject"] for r in rows) == [1, 2, 3, 4, 5, 6]  # UCF group numbers
    again, _ = list_folder_samples(root, val_fraction=0.0, test_fraction=0.34, seed=3)
    assert again == rows


def test_bad_files_are_rejected_with_reasons(folder_dataset):
    root, n = folder_dataset
    (root / "FullBody" / "notes.txt").write_text("hello")
    (root / "FullBody" / "broken.mp4").write_bytes(b"\x00\x01garbage" * 100)
    (root / "FullBody" / "empty.avi").write_bytes(b"")
    rows, rejects = list_folder_samples(root)
    assert len(rows) == n
    reasons = {r["path"].rsplit("/", 1)[1]: r["reason"] for r in rejects}
    assert set(reasons) == {"notes.txt", "broken.mp4", "empty.avi"}
    assert "not a video file" in reasons["notes.txt"]
    assert "broken.mp4: cannot be decoded" in reasons["broken.mp4"]
    assert "empty.avi: empty file" in reasons["empty.avi"]
    assert all(r["stage"] == "ingest" for r in rejects)


def test_split_file(folder_dataset, tmp_path):
    root, _ = folder_dataset
    clips = sorted(p.relative_to(root).as_posix() for p in root.rglob("v_*"))
    split_file = tmp_path / "split.txt"
    split_file.write_text("# official split\n" + "".join(
        f"{c} {'test' if i < 2 else 'train'}\n" for i, c in enumerate(clips[:-1])))
    rows, rejects = list_folder_samples(root, split_file=split_file)
    assert collections.Counter(r["split"] for r in rows) == {"test": 2, "train": 3}
    assert len(rejects) == 1 and "not listed in split file" in rejects[0]["reason"]
    split_file.write_text("a.avi training\n")
    with pytest.raises(ValueError, match="split.txt: line 1"):
        list_folder_samples(root, split_file=split_file)


def test_layout_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_root"):
        list_folder_samples(tmp_path / "missing_root")
    (tmp_path / "root" / "EmptyClass").mkdir(parents=True)
    with pytest.raises(ValueError, match="EmptyClass: empty class folder"):
        list_folder_samples(tmp_path / "root")


def test_stratified_split_keeps_a_training_clip_per_class():
    splits = stratified_split([0] * 10 + [1] * 2 + [2], val_fraction=0.2, test_fraction=0.3, seed=0)
    assert collections.Counter(splits[:10]) == {"train": 5, "test": 3, "val": 2}
    assert "train" in splits[10:12] and splits[12] == "train"
