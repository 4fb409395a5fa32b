"""NTU RGB+D Kinect v2 ``.skeleton`` files, read and mapped to COCO-17.

Layouts:
- ``NtuSkeleton``: per tracked body (B bodies, in order of first appearance), per frame (T),
  the 25 Kinect joints: ``color_xy`` is ``B x T x 25 x 2`` (colour-frame pixels, 1920 x 1080),
  ``tracking_state`` ``B x T x 25``, ``present`` ``B x T``.
- ``skeleton_to_coco17`` returns ``M x T x 17 x 3`` float32 (x, y, score), COCO-17 order
  (``crychic.core.coco17``), one entry per frame of the file.

The text format, per file: the frame count; per frame the body count; per body one line of 10
body fields (bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
handRightState isRestricted leanX leanY trackingState), the joint count (25), then one line of 12
values per joint (x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crychic.core.coco17 import JOINT_NAMES, NUM_JOINTS
from crychic.keypoints import KeypointSourceError

KINECT_JOINT_NAMES: tuple[str, ...] = (
    "spine_base", "spine_mid", "neck", "head",
    "shoulder_left", "elbow_left", "wrist_left", "hand_left",
    "shoulder_right", "elbow_right", "wrist_right", "hand_right",
    "hip_left", "knee_left", "ankle_left", "foot_left",
    "hip_right", "knee_right", "ankle_right", "foot_right",
    "spine_shoulder", "hand_tip_left", "thumb_left", "hand_tip_right", "thumb_right",
)
NUM_KINECT_JOINTS = len(KINECT_JOINT_NAMES)

# The Kinect joint behind each COCO-17 joint (None: Kinect has no such joint, score 0).
# The nose comes from Kinect's Head joint (the centre of the head, a few pixels above the nose).
# Left and right are crossed on purpose: in NTU's colour video, Kinect's "Left" joints land on the
# side that image-based estimators (MediaPipe, the HRNet behind PYSKL's NTU annotations) call right.
# Measured on S001C001P001R001A001: median 13 px against MediaPipe crossed, 45 px uncrossed.
COCO17_FROM_KINECT: dict[str, str | None] = {
    "nose": "head",
    "left_eye": None,
    "right_eye": None,
    "left_ear": None,
    "right_ear": None,
    "left_shoulder": "shoulder_right",
    "right_shoulder": "shoulder_left",
    "left_elbow": "elbow_right",
    "right_elbow": "elbow_left",
    "left_wrist": "wrist_right",
    "right_wrist": "wrist_left",
    "left_hip": "hip_right",
    "right_hip": "hip_left",
    "left_knee": "knee_right",
    "right_knee": "knee_left",
    "left_ankle": "ankle_right",
    "right_ankle": "ankle_left",
}

# Keypoint score from Kinect's per-joint trackingState: 2 = tracked (seen), 1 = inferred (guessed
# by the SDK from neighbouring joints, often wrong under occlusion), 0 = not tracked.
TRACKING_STATE_SCORE = np.array([0.0, 0.5, 1.0], dtype=np.float32)

_BODY_FIELDS = 10
_JOINT_FIELDS = 12
_COLOR_X, _COLOR_Y, _TRACKING_STATE = 5, 6, 11


@dataclass(frozen=True)
class NtuSkeleton:
    """The colour-frame joints of one ``.skeleton`` file, one track per Kinect body id.

    Kept per body id rather than per frame slot because Kinect's order of bodies within a frame
    is not stable, while the id follows one person for as long as the sensor tracks them.
    """

    source: str  # file name, so later errors can name the file
    body_ids: tuple[int, ...]  # B, in order of first appearance
    present: np.ndarray  # B x T bool: body seen in that frame
    color_xy: np.ndarray  # B x T x 25 x 2 float32, colour-frame pixels (0 where absent)
    tracking_state: np.ndarray  # B x T x 25 int8 (0 where absent)

    @property
    def num_frames(self) -> int:
        return self.present.shape[1]

    @property
    def bodies_per_frame(self) -> np.ndarray:
        """T int: how many bodies the file lists in each frame."""
        return self.present.sum(axis=0)


def read_skeleton(path: str | Path) -> NtuSkeleton:
    """Parse a Kinect v2 ``.skeleton`` file; any deviation from the format raises.

    Raises ``KeypointSourceError`` naming the file and the 1-based line of the problem.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise KeypointSourceError(f"{path.name}: cannot read skeleton file: {error}") from error
    if not any(line.strip() for line in lines):
        raise KeypointSourceError(f"{path.name}: empty skeleton file")

    reader = _SkeletonLines(path.name, lines)
    num_frames = reader.next_count("frame count")
    frames: list[list[tuple[int, np.ndarray]]] = []  # per frame: (body id, 25 x 12 joint values)
    for _ in range(num_frames):
        frames.append([_read_body(reader) for _ in range(reader.next_count("body count"))])
    if any(line.strip() for line in lines[reader.cursor:]):
        raise KeypointSourceError(f"{path.name}: line {reader.cursor + 1}: unexpected content after the "
                                  f"{num_frames} frames the file announces")
    return _tracks_by_body_id(path.name, frames)


class _SkeletonLines:
    """The lines of one ``.skeleton`` file, read one after the other; each read checks the line's
    shape and raises ``KeypointSourceError`` naming the file (`name`) and the 1-based line."""

    def __init__(self, name: str, lines: list[str]):
        self.name, self.lines = name, lines
        self.cursor = 0  # index of the next line to read

    def next_fields(self, expected: int, what: str) -> list[str]:
        if self.cursor >= len(self.lines):
            raise KeypointSourceError(
                f"{self.name}: line {self.cursor + 1}: file ends early, expected a line of {expected} values {what}"
            )
        fields = self.lines[self.cursor].split()
        self.cursor += 1
        if len(fields) != expected:
            raise KeypointSourceError(
                f"{self.name}: line {self.cursor}: expected {expected} values {what}, got {len(fields)}"
            )
        return fields

    def next_count(self, what: str) -> int:
        if self.cursor >= len(self.lines):
            raise KeypointSourceError(f"{self.name}: line {self.cursor + 1}: file ends early, expected the {what}")
        line = self.lines[self.cursor].strip()
        self.cursor += 1
        if not line.isdigit():
            raise KeypointSourceError(
                f"{self.name}: line {self.cursor}: expected the {what} (one integer), got {line!r}"
            )
        return int(line)

    def to_numbers(self, fields: list[str], what: str) -> np.ndarray:
        """The fields of the line just read, as float64."""
        try:
            return np.array(fields, dtype=np.float64)
        except ValueError:
            bad = next(f for f in fields if not _is_number(f))
            raise KeypointSourceError(f"{self.name}: line {self.cursor}: non-numeric value {bad!r} {what}") from None


def _read_body(reader: _SkeletonLines) -> tuple[int, np.ndarray]:
    """(body id, 25 x 12 joint values) of the body whose body line is the next line."""
    body_fields = reader.next_fields(_BODY_FIELDS, "per body line")
    if not body_fields[0].isdigit():
        raise KeypointSourceError(f"{reader.name}: line {reader.cursor}: body id is not an integer: {body_fields[0]!r}")
    reader.to_numbers(body_fields[1:], "in the body line")
    joint_count = reader.next_count("joint count")
    if joint_count != NUM_KINECT_JOINTS:
        raise KeypointSourceError(
            f"{reader.name}: line {reader.cursor}: expected {NUM_KINECT_JOINTS} joints per body, got {joint_count}"
        )
    joints = np.stack(
        [reader.to_numbers(reader.next_fields(_JOINT_FIELDS, "per joint"), "in a joint line")
         for _ in range(joint_count)]
    )  # 25 x 12
    states = joints[:, _TRACKING_STATE]
    if not np.isin(states, (0, 1, 2)).all():
        raise KeypointSourceError(
            f"{reader.name}: lines {reader.cursor - joint_count + 1}-{reader.cursor}: trackingState outside {{0, 1, 2}}"
        )
    return int(body_fields[0]), joints


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _tracks_by_body_id(source: str, frames: list[list[tuple[int, np.ndarray]]]) -> NtuSkeleton:
    body_ids = list(dict.fromkeys(body_id for bodies in frames for body_id, _ in bodies))
    slot_of = {body_id: slot for slot, body_id in enumerate(body_ids)}
    num_bodies, num_frames = len(body_ids), len(frames)
    present = np.zeros((num_bodies, num_frames), dtype=bool)
    color_xy = np.zeros((num_bodies, num_frames, NUM_KINECT_JOINTS, 2), dtype=np.float32)
    tracking_state = np.zeros((num_bodies, num_frames, NUM_KINECT_JOINTS), dtype=np.int8)
    for t, bodies in enumerate(frames):
        for body_id, joints in bodies:  # joints: 25 x 12
            b = slot_of[body_id]
            present[b, t] = True
            color_xy[b, t] = joints[:, [_COLOR_X, _COLOR_Y]]
            tracking_state[b, t] = joints[:, _TRACKING_STATE]
    return NtuSkeleton(source, tuple(body_ids), present, color_xy, tracking_state)


def _coco17_kinect_indices() -> tuple[np.ndarray, np.ndarray]:
    """(COCO indices that Kinect provides, the Kinect joint for each), from COCO17_FROM_KINECT."""
    pairs = [
        (JOINT_NAMES.index(coco), KINECT_JOINT_NAMES.index(kinect))
        for coco, kinect in COCO17_FROM_KINECT.items()
        if kinect is not None
    ]
    coco_idx, kinect_idx = zip(*pairs)
    return np.array(coco_idx), np.array(kinect_idx)


def select_bodies(skel: NtuSkeleton, max_persons: int) -> np.ndarray:
    """Indices of the bodies to keep, at most ``max_persons``, in order of first appearance.

    Kinect sometimes tracks a second "body" for a few frames (a chair, a reflection). Real
    performers are tracked for longer, so bodies rank by frames present; ties (e.g. both people of
    a two-person action, tracked throughout) go to the body that moves more, the "energy" criterion
    of NTU/PYSKL preprocessing (summed per-joint standard deviation over time).
    """
    frames_present = skel.present.sum(axis=1)  # B
    motion = np.array(
        [skel.color_xy[b, skel.present[b]].std(axis=0).sum() for b in range(len(skel.body_ids))]
    )  # B; std over the frames a body is present, summed over joints and x/y
    ranking = np.lexsort((-motion, -frames_present))  # last key is the primary one
    return np.sort(ranking[:max_persons])


def skeleton_to_coco17(skel: NtuSkeleton, max_persons: int = 2) -> np.ndarray:
    """COCO-17 keypoints ``M x T x 17 x 3`` (x, y, score) in colour-frame pixels.

    One person slot per kept body id (see ``select_bodies``); frames where a body is absent have
    score 0. Score is ``TRACKING_STATE_SCORE[trackingState]``; eyes and ears (absent from Kinect)
    have score 0. A file with no body at all gives one all-zero slot, so callers reject it on its
    scores, as they would a video where no person was found.
    """
    if max_persons < 1:
        raise ValueError(f"max_persons must be at least 1, got {max_persons}")
    kept = select_bodies(skel, max_persons)
    keypoints = np.zeros((max(len(kept), 1), skel.num_frames, NUM_JOINTS, 3), dtype=np.float32)
    if len(kept) == 0:
        return keypoints
    coco_idx, kinect_idx = _coco17_kinect_indices()
    xy = skel.color_xy[kept][:, :, kinect_idx]  # M x T x J x 2, J = joints Kinect provides
    score = TRACKING_STATE_SCORE[skel.tracking_state[kept][:, :, kinect_idx]]  # M x T x J
    score = score * skel.present[kept][:, :, None] * np.isfinite(xy).all(axis=-1)
    keypoints[:, :, coco_idx, :2] = np.where(score[..., None] > 0, xy, 0)
    keypoints[:, :, coco_idx, 2] = score
    return keypoints
