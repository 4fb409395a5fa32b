"""Stage `extract_keypoints`: keypoint sources (readers and estimators) -> COCO-17 keypoints, and their HDF5 store.

Every source returns ``M x T x 17 x 3`` float32 arrays (persons, frames, COCO-17 joints,
(x, y, score)) in the source video's pixel frame, one entry per source frame, with
``score == 0`` (and x = y = 0) where a joint was not seen. The joint order is
``crychic.core.coco17.JOINT_NAMES``.

- ``ntu_skeleton``: NTU RGB+D Kinect v2 ``.skeleton`` text files (colour-frame joints).
- ``mediapipe_pose``: MediaPipe Pose run on the video itself (one person per frame).
- ``pyskl_annotations``: PYSKL annotation pickles (2D keypoints already in COCO-17).

The submodules are imported on demand (``from crychic.keypoints import ntu_skeleton``)
so that importing this package never loads MediaPipe.
"""

from __future__ import annotations


class KeypointSourceError(ValueError):
    """A source file that cannot be turned into keypoints.

    The message always names the file (and, where it applies, the line, sample or field), because
    a pipeline stage writes it verbatim into its rejects table, where it must say what to fix.
    """
