"""One sample's keypoints from whichever source the dataset offers (the `extract_keypoints` stage).

Layout: `SampleKeypoints.keypoint` is `M x T x V x 3` float32 (persons, every source frame,
COCO-17 joints, (x, y, score)) in source-frame pixels; `img_shape` is the source frame's (H, W).

Sources (`keypoints.source` in params.yaml):
- `annotations`: the synthetic benchmark's ground truth (`.npz` beside each video).
- `ntu`: the sample's Kinect `.skeleton` file (manifest column `annotation`).
- `pyskl`: a PYSKL annotation pickle, matched by `frame_dir == sample_id`.
- `mediapipe`: MediaPipe Pose run on the video (one person).
- `auto`: the annotation when the manifest has one (by its suffix), MediaPipe otherwise.
A sample where no joint of any frame was seen is rejected: there is no person to crop around.

Partial videos: a video whose decode stops before the frame count its container declares (an
interrupted upload) is judged by `min_decoded_fraction` of that count (`keypoints.min_decoded_fraction`).
Below it the sample is rejected (`PartialVideoError`); at or above it the sample is kept, cut to
its decoded frames less the last one (often half-decoded: its packet is cut off), whatever the
source: annotation keypoints longer than that are cut too, so keypoints, heatmaps and RGB clips
all come from frames the video really has. Either way the sample's `PartialVideo` record goes
into the stage's `partial_videos.parquet` (layout `PARTIAL_VIDEOS_SCHEMA`). The decoded count is
decord's (for MediaPipe, the frames it is given), judged before any keypoints are read or
estimated; the probe (`crychic.core.video.frame_counts`) opens the container twice and decodes
nothing (its time on a 1080p NTU video: docs/REPORT.md, Truncated videos). A sample whose `path`
is not a video (NTU skeleton-only) is not probed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from crychic.core.video import VIDEO_EXTENSIONS, FrameCounts, VideoInfo, frame_counts, probe_video
from crychic.keypoints import KeypointSourceError
from crychic.keypoints.store import SampleKeypoints

KEYPOINT_SOURCES = ("auto", "annotations", "ntu", "pyskl", "mediapipe")
NTU_COLOR_FRAME = (1080, 1920)  # Kinect v2 colour camera: where .skeleton colorX/colorY live


class NoPersonError(ValueError):
    """A clip in which the keypoint source saw nobody."""


PARTIAL_VIDEOS_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("declared_frames", pa.int64(), nullable=False),  # the container header's count
        pa.field("decoded_frames", pa.int64(), nullable=False),   # the frames decord reads
        pa.field("kept", pa.bool_(), nullable=False),
        pa.field("kept_frames", pa.int64()),  # the frames the sample keeps; null when rejected
    ]
)


@dataclass(frozen=True)
class PartialVideo:
    """One row of `PARTIAL_VIDEOS_SCHEMA`."""
    sample_id: str
    path: str
    declared_frames: int
    decoded_frames: int
    kept: bool
    kept_frames: int | None


class PartialVideoError(KeypointSourceError):
    """A video that decodes too few of its declared frames; `reject_details` is its `PartialVideo`
    row, which `pipeline.fan_out` carries into the reject."""

    def __init__(self, message: str, record: PartialVideo):
        super().__init__(message)
        self.reject_details = asdict(record)


@dataclass(frozen=True)
class ExtractedKeypoints(SampleKeypoints):
    """A sample's keypoints with its partial-video record (None for a complete video)."""
    partial: PartialVideo | None = None


def judge_partial_video(row: dict, counts: FrameCounts, min_decoded_fraction: float) -> PartialVideo | None:
    """None for a complete video; the `PartialVideo` kept for one that decodes at least
    `min_decoded_fraction` of its declared frames (and two frames, one being dropped); else
    `PartialVideoError` naming the file and both counts."""
    if not counts.cut_off:
        return None
    fraction = counts.decoded / counts.declared
    record = PartialVideo(sample_id=row["sample_id"], path=row["path"], declared_frames=counts.declared,
                          decoded_frames=counts.decoded, kept=True, kept_frames=counts.decoded - 1)
    if fraction >= min_decoded_fraction and record.kept_frames >= 1:
        return record
    raise PartialVideoError(
        f"{row['path']}: truncated video, {counts.decoded} of the {counts.declared} frames its header declares "
        f"decode ({fraction:.1%}; keypoints.min_decoded_fraction = {min_decoded_fraction:.1%})",
        PartialVideo(**{**asdict(record), "kept": False, "kept_frames": None}))


def resolve_source(row: dict, source: str) -> str:
    if source not in KEYPOINT_SOURCES:
        raise ValueError(f"params.yaml: keypoints.source = {source!r} is unknown; expected one of {KEYPOINT_SOURCES}")
    if source != "auto":
        return source
    annotation = row.get("annotation") or ""
    if annotation.endswith(".npz"):
        return "annotations"
    if annotation.endswith(".skeleton"):
        return "ntu"
    return "mediapipe"


def _resolve(path: str, root: Path) -> Path:
    return Path(path) if Path(path).is_absolute() else root / path


def extract_sample_keypoints(
    row: dict,
    *,
    source: str = "auto",
    project_root: str | Path = ".",
    pyskl_annotations: dict[str, dict] | None = None,
    mediapipe_frame_size: int | None = 640,
    mediapipe_min_visibility: float = 0.5,
    max_persons: int = 2,
    min_decoded_fraction: float = 0.9,
) -> ExtractedKeypoints:
    if not 0.0 <= min_decoded_fraction <= 1.0:
        raise ValueError(f"params.yaml: keypoints.min_decoded_fraction = {min_decoded_fraction} is not a fraction in [0, 1]")
    root = Path(project_root)
    source = resolve_source(row, source)
    video = _resolve(row["path"], root)
    partial, info = _judge_video(row, source, video, min_decoded_fraction)

    if source == "annotations":
        keypoint, img_shape = _annotation_keypoints(row, root)
    elif source == "ntu":
        keypoint, img_shape = _ntu_keypoints(row, root, max_persons)
    elif source == "pyskl":
        keypoint, img_shape = _pyskl_keypoints(row, pyskl_annotations)
    else:
        from crychic.keypoints.mediapipe_pose import estimate_keypoints

        keypoint = estimate_keypoints(video, frame_size=mediapipe_frame_size, min_visibility=mediapipe_min_visibility)
        img_shape = (info.height, info.width)
    return _checked_keypoints(row, source, keypoint, img_shape, partial)


def _judge_video(row: dict, source: str, video: Path,
                 min_decoded_fraction: float) -> tuple[PartialVideo | None, VideoInfo | None]:
    """(the sample's `PartialVideo` record, None for a complete video or a `path` that is not a
    video; decord's `VideoInfo` for MediaPipe, else None), judged before any keypoints are read."""
    partial = info = None
    if source == "mediapipe":
        info = probe_video(video)  # decord's count: the frames MediaPipe will be given
        partial = judge_partial_video(row, frame_counts(video, decoded=info.num_frames), min_decoded_fraction)
    elif video.suffix.lower() in VIDEO_EXTENSIONS:  # an unreadable video is this sample's reject, too
        partial = judge_partial_video(row, frame_counts(video), min_decoded_fraction)
    return partial, info


def _annotation_keypoints(row: dict, root: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """Source `annotations`: the synthetic benchmark's `.npz` (keypoint and score joined)."""
    if not row.get("annotation"):
        raise KeypointSourceError(f"{row['path']}: no annotation file in the manifest for source 'annotations'")
    path = _resolve(row["annotation"], root)
    try:
        with np.load(path) as npz:
            keypoint = np.concatenate([npz["keypoint"], npz["keypoint_score"][..., None]], axis=-1)
            img_shape = tuple(int(v) for v in npz["img_shape"])
    except (OSError, KeyError, ValueError) as err:
        raise KeypointSourceError(f"{path}: not a keypoint annotation ({err})") from err
    return keypoint, img_shape


def _ntu_keypoints(row: dict, root: Path, max_persons: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Source `ntu`: the sample's Kinect `.skeleton` file, in colour-frame pixels."""
    from crychic.keypoints.ntu_skeleton import read_skeleton, skeleton_to_coco17

    if not row.get("annotation"):
        raise KeypointSourceError(f"{row['path']}: no .skeleton file for this sample (data.ntu.skeleton_root)")
    keypoint = skeleton_to_coco17(read_skeleton(_resolve(row["annotation"], root)), max_persons=max_persons)
    return keypoint, NTU_COLOR_FRAME


def _pyskl_keypoints(row: dict, pyskl_annotations: dict[str, dict] | None) -> tuple[np.ndarray, tuple[int, int]]:
    """Source `pyskl`: the annotation whose `frame_dir` is the sample id."""
    from crychic.keypoints.pyskl_annotations import annotation_to_keypoints

    ann = (pyskl_annotations or {}).get(row["sample_id"])
    if ann is None:
        raise KeypointSourceError(f"{row['path']}: sample {row['sample_id']} is not in the PYSKL annotation file")
    return annotation_to_keypoints(ann), tuple(int(v) for v in ann["img_shape"])


def _checked_keypoints(row: dict, source: str, keypoint: np.ndarray, img_shape: tuple[int, int],
                       partial: PartialVideo | None) -> ExtractedKeypoints:
    """The source's keypoints as contiguous float32, cut to a partial video's kept frames; a wrong
    shape or a clip where nobody was seen raises."""
    keypoint = np.ascontiguousarray(keypoint, dtype=np.float32)
    if keypoint.ndim != 4 or keypoint.shape[-1] != 3 or keypoint.shape[1] == 0:
        raise KeypointSourceError(f"{row['path']}: keypoints have shape {keypoint.shape}, expected M x T x 17 x 3")
    if partial is not None:
        keypoint = np.ascontiguousarray(keypoint[:, : partial.kept_frames])
    if not (keypoint[..., 2] > 0).any():
        raise NoPersonError(f"{row['path']}: no person found in any of its {keypoint.shape[1]} frames ({source})")
    return ExtractedKeypoints(keypoint=keypoint, img_shape=img_shape, partial=partial)
