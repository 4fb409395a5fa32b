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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crychic.keypoints import KeypointSourceError
from crychic.keypoints.store import SampleKeypoints

KEYPOINT_SOURCES = ("auto", "annotations", "ntu", "pyskl", "mediapipe")
NTU_COLOR_FRAME = (1080, 1920)  # Kinect v2 colour camera: where .skeleton colorX/colorY live


class NoPersonError(ValueError):
    """A clip in which the keypoint source saw nobody."""


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
) -> SampleKeypoints:
    root = Path(project_root)
    source = resolve_source(row, source)
    video = _resolve(row["path"], root)

    if source == "annotations":
        if not row.get("annotation"):
            raise KeypointSourceError(f"{row['path']}: no annotation file in the manifest for source 'annotations'")
        path = _resolve(row["annotation"], root)
        try:
            with np.load(path) as npz:
                keypoint = np.concatenate([npz["keypoint"], npz["keypoint_score"][..., None]], axis=-1)
                img_shape = tuple(int(v) for v in npz["img_shape"])
        except (OSError, KeyError, ValueError) as err:
            raise KeypointSourceError(f"{path}: not a keypoint annotation ({err})") from err
    elif source == "ntu":
        from crychic.keypoints.ntu_skeleton import read_skeleton, skeleton_to_coco17

        if not row.get("annotation"):
            raise KeypointSourceError(f"{row['path']}: no .skeleton file for this sample (data.ntu.skeleton_root)")
        keypoint = skeleton_to_coco17(read_skeleton(_resolve(row["annotation"], root)), max_persons=max_persons)
        img_shape = NTU_COLOR_FRAME
    elif source == "pyskl":
        from crychic.keypoints.pyskl_annotations import annotation_to_keypoints

        ann = (pyskl_annotations or {}).get(row["sample_id"])
        if ann is None:
            raise KeypointSourceError(f"{row['path']}: sample {row['sample_id']} is not in the PYSKL annotation file")
        keypoint = annotation_to_keypoints(ann)
        img_shape = tuple(int(v) for v in ann["img_shape"])
    else:
        from crychic.keypoints.mediapipe_pose import estimate_keypoints
        from crychic.core.video import probe_video

        info = probe_video(video)
        keypoint = estimate_keypoints(video, frame_size=mediapipe_frame_size, min_visibility=mediapipe_min_visibility)
        img_shape = (info.height, info.width)

    keypoint = np.ascontiguousarray(keypoint, dtype=np.float32)
    if keypoint.ndim != 4 or keypoint.shape[-1] != 3 or keypoint.shape[1] == 0:
        raise KeypointSourceError(f"{row['path']}: keypoints have shape {keypoint.shape}, expected M x T x 17 x 3")
    if not (keypoint[..., 2] > 0).any():
        raise NoPersonError(f"{row['path']}: no person found in any of its {keypoint.shape[1]} frames ({source})")
    return SampleKeypoints(keypoint=keypoint, img_shape=img_shape)
