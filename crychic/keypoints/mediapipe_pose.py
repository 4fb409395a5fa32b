"""MediaPipe Pose (legacy ``solutions.pose``) run over every frame of a video, mapped to COCO-17.

Layout: ``estimate_keypoints`` returns ``1 x T x 17 x 3`` float32 (x, y, score) in source-frame
pixels, COCO-17 order (``crychic.core.coco17``), one entry per frame of the video. The legacy Pose
graph tracks one person per frame (the most prominent), hence M = 1; multi-person data needs
skeleton files or annotations.

Score is the landmark's visibility, set to 0 (with x = y = 0) below ``min_visibility``, on
frames where no pose is found, and for landmarks placed outside the frame. The threshold
matters: MediaPipe returns all 33 landmarks whenever it finds a pose, guessing the hidden ones
at low visibility. Off-frame landmarks can have high visibility (the legacy API drops the
in-frame "presence" value): on close-ups it extrapolates legs to twice the frame height, which
would stretch any person box built from the keypoints.

One Pose graph per worker thread, kept for the life of the thread: the videos of a Prefect task,
and the next tasks the same worker runs, reuse it, reset between videos (its tracking state would
otherwise carry the last video's person into the first frames of the next one; with the reset the
keypoints are identical to those of a fresh graph). A video that fails drops its thread's graph,
so a graph in an error state is never reused. A Dask worker process with one thread therefore
builds one graph; `pose_graph_stats` counts them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import decord
import numpy as np

from crychic.core.coco17 import NUM_JOINTS
from crychic.keypoints import KeypointSourceError

# The MediaPipe landmark (of 33) behind each COCO-17 joint, in COCO order. Both use the person's
# own left/right, so no crossing is needed (unlike NTU's Kinect joints).
MEDIAPIPE_TO_COCO17: tuple[int, ...] = (
    0,  # nose
    2,  # left_eye (MediaPipe LEFT_EYE; 1 and 3 are its inner/outer corners)
    5,  # right_eye
    7,  # left_ear
    8,  # right_ear
    11,  # left_shoulder
    12,  # right_shoulder
    13,  # left_elbow
    14,  # right_elbow
    15,  # left_wrist
    16,  # right_wrist
    23,  # left_hip
    24,  # right_hip
    25,  # left_knee
    26,  # right_knee
    27,  # left_ankle
    28,  # right_ankle
)
NUM_MEDIAPIPE_LANDMARKS = 33

# Only the "full" landmark model (complexity 1) is inside the mediapipe 0.10.21 wheel; complexity
# 0 ("lite") and 2 ("heavy") are fetched from the internet when Pose() is built, which this
# project never allows at run time.
SHIPPED_MODEL_COMPLEXITY = 1

_local = threading.local()  # .pose: this thread's Pose graph, built on first use
_stats_lock = threading.Lock()
_stats = {"graphs_built": 0, "videos": 0}  # this process's: see `pose_graph_stats`


def pose_graph_stats() -> dict[str, int]:
    """This process's Pose graphs built and videos run through them (all threads together)."""
    with _stats_lock:
        return dict(_stats)


def _count(key: str) -> None:
    with _stats_lock:
        _stats[key] += 1


def _thread_pose():
    """This thread's Pose graph, reset for a new video (built on first use)."""
    import mediapipe as mp  # imported here: loading it takes seconds and starts native threads

    pose = getattr(_local, "pose", None)
    if pose is None:
        pose = _local.pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=SHIPPED_MODEL_COMPLEXITY)
        _count("graphs_built")
    else:
        pose.reset()  # a new video: forget the previous one's tracked person
    return pose


def _drop_thread_pose() -> None:
    pose = getattr(_local, "pose", None)
    _local.pose = None
    if pose is not None:
        try:
            pose.close()
        except Exception:  # a graph in an error state may refuse to close; it is dropped either way
            pass


def estimate_keypoints(
    video_path: str | Path,
    *,
    model_complexity: int = 1,
    min_visibility: float = 0.5,
    frame_size: int | None = None,
    frames: Sequence[int] | None = None,
) -> np.ndarray:
    """COCO-17 keypoints ``1 x T x 17 x 3`` of the most prominent person in every frame.

    ``frames``: run the estimator on these frame indices only (the other frames are decoded, as
    the codec needs, but neither converted nor estimated, and their keypoints stay zero). A clip's
    heatmaps and person box read only its sampled frames, so deployment estimates those (a third of
    a 48-frame synthetic video) instead of all. When no asked frame shows a person, the video is
    estimated again on every frame, as without ``frames``: MediaPipe's person detector can miss on
    all the sampled frames of a clip where one detection on another frame lets its tracker follow
    the person from there on.

    ``frame_size``: decode frames so that their longer side is at most this many pixels (never
    upscaled), then scale the keypoints back to source pixels. MediaPipe looks at the person
    through a 256 x 256 crop anyway, so on 1080p NTU video a 640 px decode loses no accuracy against
    the Kinect joints and runs faster, decoding 1080p being the bottleneck (the figures:
    docs/REPORT.md, Design measurements; the rate at 640 px: `python benchmarks/bench_extraction.py`).
    ``min_visibility``: 0.5 is the threshold MediaPipe's own drawing utilities use.

    Raises ``ValueError`` for a model complexity other than 1 and ``KeypointSourceError`` (naming
    the file) for a file that is not a decodable, non-empty video.
    """
    _check_settings(model_complexity, frame_size)
    video_path = Path(video_path)
    reader, source_height, source_width = _open_video(video_path, frame_size)
    num_frames = len(reader)

    wanted = None if frames is None else {int(t) for t in frames}
    if wanted and (min(wanted) < 0 or max(wanted) >= num_frames):
        raise ValueError(f"{video_path.name}: frames {min(wanted)}..{max(wanted)} outside the video's {num_frames}")
    landmarks, found = _estimate_landmarks(reader, video_path, num_frames, wanted)
    if wanted is not None and not found:  # the tracker may follow a person the detector misses here
        return estimate_keypoints(video_path, model_complexity=model_complexity, min_visibility=min_visibility,
                                  frame_size=frame_size)
    return _coco_keypoints(landmarks, source_height, source_width, min_visibility)


def _check_settings(model_complexity: int, frame_size: int | None) -> None:
    if model_complexity != SHIPPED_MODEL_COMPLEXITY:
        raise ValueError(
            f"model_complexity={model_complexity} is not available: only model_complexity=1 ships in the "
            "mediapipe 0.10.21 wheel; 0 and 2 would be downloaded at run time, and nothing may be downloaded"
        )
    if frame_size is not None and frame_size < 1:
        raise ValueError(f"frame_size must be a positive number of pixels, got {frame_size}")


def _estimate_landmarks(reader, video_path: Path, num_frames: int, wanted: set[int] | None) -> tuple[np.ndarray, bool]:
    """(MediaPipe's ``T x 33 x 3`` landmarks: x, y normalised, visibility; zero on frames not wanted
    or without a pose, whether any wanted frame had one), on this thread's Pose graph, which is
    dropped when anything fails (a graph in an error state is never reused)."""
    landmarks = np.zeros((num_frames, NUM_MEDIAPIPE_LANDMARKS, 3), dtype=np.float32)  # x, y normalised; visibility
    pose = _thread_pose()
    _count("videos")
    found = False
    try:
        for t in range(num_frames):
            try:
                if wanted is not None and t not in wanted:
                    reader.skip_frames(1)  # decoded (the codec needs it), not converted, not estimated
                    continue
                frame = reader.next().asnumpy()  # H x W x 3 RGB uint8
            except (decord.DECORDError, StopIteration) as error:
                raise KeypointSourceError(
                    f"{video_path.name}: frame {t}: cannot decode (container reports {num_frames} frames): {error}"
                ) from None
            frame.flags.writeable = False  # lets MediaPipe use the buffer without copying
            result = pose.process(frame)
            if result.pose_landmarks is not None:
                landmarks[t] = [(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark]
                found = True
    except BaseException:
        _drop_thread_pose()
        raise
    return landmarks, found


def _coco_keypoints(landmarks: np.ndarray, source_height: int, source_width: int, min_visibility: float) -> np.ndarray:
    """MediaPipe's ``T x 33 x 3`` normalised landmarks -> COCO-17 ``1 x T x 17 x 3`` in source pixels,
    joints unseen or outside the frame zeroed."""
    coco = landmarks[:, MEDIAPIPE_TO_COCO17]  # T x 17 x 3
    # Normalised coordinates are relative to the decoded frame, which spans the whole source frame.
    x, y, visibility = coco[..., 0] * source_width, coco[..., 1] * source_height, coco[..., 2]  # T x 17 each
    in_frame = (x >= 0) & (x < source_width) & (y >= 0) & (y < source_height)
    seen = (visibility >= min_visibility) & in_frame  # T x 17
    keypoints = np.zeros((1, len(landmarks), NUM_JOINTS, 3), dtype=np.float32)
    keypoints[0] = np.stack([x, y, visibility], axis=-1) * seen[..., None]
    return keypoints


def _open_video(video_path: Path, frame_size: int | None):
    """(decord reader positioned at frame 0, source height, source width).

    decord reports no frame size without decoding, so frame 0 is decoded at source size first.
    """
    try:
        reader = decord.VideoReader(str(video_path), ctx=decord.cpu(0))
        source_height, source_width = reader.next().shape[:2]
        reader.seek(0)
        scale = 1.0 if frame_size is None else min(1.0, frame_size / max(source_height, source_width))
        if scale < 1.0:
            width, height = round(source_width * scale), round(source_height * scale)
            reader = decord.VideoReader(str(video_path), ctx=decord.cpu(0), width=width, height=height)
    except (decord.DECORDError, RuntimeError, AssertionError, StopIteration) as error:  # decord raises all four
        raise KeypointSourceError(f"{video_path.name}: not a readable video: {error}") from None
    return reader, source_height, source_width
