"""Articulated figures: per-subject bodies, forward kinematics, and projection to image pixels.

Layouts: body-space points are ``T x P x 3`` (frames, the named points of `POINTS`, (x, y, z)) in
units of a standing height of about 1, with y up, z toward the camera and x toward the image's
right, so a figure facing the camera has its *left* side at +x (the COCO convention: a front view
shows the left shoulder on the image's right). Projected points are ``T x P x 2`` pixels (x right,
y down) and their depths ``T x P`` (larger is nearer the camera).

Kinematics is 3D (then orthographic) so that a forward reach foreshortens and a turned camera
narrows the torso, as in a real front-ish view. Arms and legs are placed by two-bone inverse
kinematics from wrist and ankle targets: motions say where the hands go, not joint angles, which
keeps them readable and makes a hand reach the mouth whatever the subject's proportions.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from crychic.core.coco17 import JOINT_INDEX, NUM_JOINTS

# The first 17 points are COCO-17 in its order; the rest are drawing helpers.
POINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
    "neck", "head", "mouth", "left_hand", "right_hand", "pelvis",
)
P = {name: i for i, name in enumerate(POINTS)}  # point name -> index along the P axis
assert all(P[name] == JOINT_INDEX[name] for name in JOINT_INDEX) and len(JOINT_INDEX) == NUM_JOINTS


@dataclass(frozen=True)
class Body:
    """One subject: segment lengths (units of standing height), limb widths and clothing (RGB)."""

    upper_arm: float
    forearm: float
    hand: float
    thigh: float
    shin: float
    ankle_height: float
    torso: float  # hip centre to shoulder centre
    neck: float  # shoulder centre to head centre
    head_radius: float
    shoulder_half: float
    hip_half: float
    arm_width: float
    leg_width: float
    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    hair: tuple[int, int, int]
    shoes: tuple[int, int, int]
    long_sleeves: bool

    @property
    def standing_pelvis_height(self) -> float:
        # Knees slightly soft, so the leg IK never sits exactly on its singular straight pose.
        return self.ankle_height + 0.985 * (self.thigh + self.shin)

    def shoulder(self, side: int) -> np.ndarray:
        """Shoulder in the torso frame (origin at the pelvis); side +1 = left, -1 = right."""
        return np.array([side * self.shoulder_half, self.torso, 0.0])

    def mouth(self) -> np.ndarray:
        """Mouth in the torso frame with the head upright."""
        return np.array([0.0, self.torso + self.neck - 0.45 * self.head_radius, 0.9 * self.head_radius])


def hsv_colour(hue_deg: float, sat: float, val: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, float(np.clip(sat, 0, 1)), float(np.clip(val, 0, 1)))
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def muted_colour(rng: np.random.Generator, max_sat: float = 0.45) -> tuple[int, int, int]:
    """A clothing/background colour: any hue, low saturation, so held objects stand out by colour."""
    return hsv_colour(rng.uniform(0, 360), rng.uniform(0.0, max_sat), rng.uniform(0.2, 0.95))


def sample_body(rng: np.random.Generator) -> Body:
    """A subject: anthropometric means (Drillis & Contini) varied by up to about 8% per segment."""

    def vary(mean: float, spread: float = 0.08) -> float:
        return float(mean * rng.uniform(1 - spread, 1 + spread))

    return Body(
        upper_arm=vary(0.186), forearm=vary(0.146), hand=vary(0.09), thigh=vary(0.245), shin=vary(0.246),
        ankle_height=0.04, torso=vary(0.29, 0.06), neck=vary(0.095, 0.06), head_radius=vary(0.066, 0.06),
        shoulder_half=vary(0.125, 0.1), hip_half=vary(0.085, 0.12), arm_width=vary(0.05, 0.15),
        leg_width=vary(0.07, 0.15),
        skin=hsv_colour(rng.uniform(15, 32), rng.uniform(0.25, 0.6), rng.uniform(0.35, 0.95)),
        shirt=muted_colour(rng), trousers=muted_colour(rng), hair=muted_colour(rng, 0.5),
        shoes=hsv_colour(rng.uniform(0, 360), rng.uniform(0, 0.3), rng.uniform(0.1, 0.4)),
        long_sleeves=bool(rng.random() < 0.4),
    )


def rotation_x(angle: np.ndarray) -> np.ndarray:
    """T -> T x 3 x 3; positive angles tip +y toward +z (lean toward the camera, or look down)."""
    c, s, o, i = np.cos(angle), np.sin(angle), np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([i, o, o], -1), np.stack([o, c, -s], -1), np.stack([o, s, c], -1)], -2)


def rotation_y(angle: np.ndarray) -> np.ndarray:
    """T -> T x 3 x 3; a turn about the vertical axis (head yaw, camera viewpoint)."""
    c, s, o, i = np.cos(angle), np.sin(angle), np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, o, s], -1), np.stack([o, i, o], -1), np.stack([-s, o, c], -1)], -2)


def rotation_z(angle: np.ndarray) -> np.ndarray:
    """T -> T x 3 x 3; a sideways tilt in the image plane."""
    c, s, o, i = np.cos(angle), np.sin(angle), np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


def _rotate(rot: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """(T x 3 x 3, T x 3 or 3) -> T x 3."""
    return np.einsum("tij,tj->ti", rot, np.broadcast_to(vec, (rot.shape[0], 3)))


def _unit(vec: np.ndarray) -> np.ndarray:
    return vec / np.maximum(np.linalg.norm(vec, axis=-1, keepdims=True), 1e-9)


def two_bone_ik(root: np.ndarray, target: np.ndarray, len_a: float, len_b: float,
                pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle joint and reached end of a two-segment limb (T x 3 each).

    A target out of reach is pulled in along the root-target line; the middle joint bends toward
    `pole` (the elbow goes down and out, the knee forward), which fixes the one free rotation.
    """
    offset = target - root
    dist = np.linalg.norm(offset, axis=-1, keepdims=True)
    reach = np.clip(dist, abs(len_a - len_b) + 1e-3, len_a + len_b - 1e-3)
    along = _unit(offset)
    end = root + along * reach
    cos_a = (len_a**2 + reach**2 - len_b**2) / (2 * len_a * reach)
    sin_a = np.sqrt(np.clip(1 - cos_a**2, 0, 1))
    pole = np.broadcast_to(pole, offset.shape)
    bend = pole - np.sum(pole * along, axis=-1, keepdims=True) * along
    middle = root + len_a * (cos_a * along + sin_a * _unit(bend))
    return middle, end


def forward_kinematics(body: Body, pose) -> np.ndarray:
    """Pose track (see `motions.PoseTrack`) -> T x P x 3 body-space points."""
    frames = len(pose.pelvis)
    pts = np.zeros((frames, len(POINTS), 3))
    torso_rot = rotation_z(pose.torso_tilt) @ rotation_x(pose.torso_lean)

    def from_torso(vec: np.ndarray) -> np.ndarray:
        return pose.pelvis + _rotate(torso_rot, vec)

    pts[:, P["pelvis"]] = pose.pelvis
    pts[:, P["neck"]] = from_torso(np.array([0.0, body.torso, 0.0]))
    head_rot = torso_rot @ rotation_x(pose.head_pitch) @ rotation_y(pose.head_yaw)
    head = pts[:, P["neck"]] + _rotate(torso_rot, np.array([0.0, body.neck, 0.0]))
    r = body.head_radius
    face = {  # offsets in the head frame (facing +z)
        "head": (0, 0, 0), "nose": (0, -0.15 * r, 1.0 * r), "mouth": (0, -0.45 * r, 0.9 * r),
        "left_eye": (0.35 * r, 0.15 * r, 0.85 * r), "right_eye": (-0.35 * r, 0.15 * r, 0.85 * r),
        "left_ear": (1.0 * r, 0.0, -0.1 * r), "right_ear": (-1.0 * r, 0.0, -0.1 * r),
    }
    for name, offset in face.items():
        pts[:, P[name]] = head + _rotate(head_rot, np.array(offset, dtype=float))

    for side, prefix in ((1, "left"), (-1, "right")):
        k = 0 if side == 1 else 1  # index into the motion's (left, right) pairs
        shoulder = from_torso(body.shoulder(side))
        wrist_target = from_torso(pose.wrists[:, k])
        # Elbows point down, out and a little back, in the torso's frame.
        elbow_pole = _rotate(torso_rot, np.array([0.6 * side, -1.0, -0.3]))
        elbow, wrist = two_bone_ik(shoulder, wrist_target, body.upper_arm, body.forearm, elbow_pole)
        pts[:, P[f"{prefix}_shoulder"]], pts[:, P[f"{prefix}_elbow"]], pts[:, P[f"{prefix}_wrist"]] = (
            shoulder, elbow, wrist)
        pts[:, P[f"{prefix}_hand"]] = wrist + 0.5 * body.hand * _unit(wrist - elbow)

        hip = pose.pelvis + _rotate(rotation_z(pose.torso_tilt), np.array([side * body.hip_half, 0.0, 0.0]))
        knee, ankle = two_bone_ik(hip, pose.ankles[:, k], body.thigh, body.shin, np.array([0.3 * side, 0.0, 1.0]))
        pts[:, P[f"{prefix}_hip"]], pts[:, P[f"{prefix}_knee"]], pts[:, P[f"{prefix}_ankle"]] = hip, knee, ankle
    return pts


def project(points: np.ndarray, yaw: float, px_per_unit: float, origin_px: tuple[float, float]
            ) -> tuple[np.ndarray, np.ndarray]:
    """T x P x 3 -> (T x P x 2 pixels, T x P depth): turn the camera by `yaw`, project orthographically.

    `origin_px` is where the body-space origin (the ground between the feet) lands in the image.
    """
    turned = points @ rotation_y(np.array([yaw]))[0].T
    pixels = np.stack([origin_px[0] + px_per_unit * turned[..., 0], origin_px[1] - px_per_unit * turned[..., 1]], -1)
    return pixels, turned[..., 2]
