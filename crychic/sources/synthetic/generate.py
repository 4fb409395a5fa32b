"""Generating the synthetic benchmark: one clip in memory, or a whole dataset on disk.

Layouts: a clip's `frames` are ``T x H x W x 3`` uint8 RGB; `keypoint` is ``M x T x V x 2``
float32 source-frame pixels with M = 1 person and V = 17 COCO joints, `keypoint_score`
``M x T x V`` float32. On disk (under `out_dir`): `videos/<sample_id>.mp4` (mp4v, decodable by
decord) and `annotations/<sample_id>.npz` with keys `keypoint`, `keypoint_score` and `img_shape`
(H, W).

Reproducibility: each subject's body comes from `SeedSequence(seed, spawn_key=(0, subject))` and
each clip from `SeedSequence(seed, spawn_key=(1, subject, label, repetition))`, split into one
stream per concern (motion, camera, scene, estimator noise, object). So a seed fixes the dataset
whatever the order or the process a clip is made in, and an object group's keypoints never see
the object's random draws. Subjects, repetitions and cameras are numbered from 1, and sample ids
carry the action number label + 1 (NTU's A001 is label 0): `syn_s003_c02_a07_r1`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from crychic.core.atomic_write import atomic_path
from crychic.core.coco17 import NUM_JOINTS
from crychic.sources.synthetic import scene
from crychic.sources.synthetic.classes import CLASSES
from crychic.sources.synthetic.figure import P, Body, forward_kinematics, muted_colour, project, sample_body
from crychic.sources.synthetic.keypoints import estimator_like
from crychic.sources.synthetic.motions import MOTIONS
from crychic.sources.synthetic.render import (Desk, draw_desk, draw_desk_object, draw_figure, draw_held_object,
                                      sample_object_style)

DESK_OBJECTS = ("book", "keyboard")


@dataclass(frozen=True)
class SyntheticConfig:
    seed: int = 0
    num_subjects: int = 12
    val_subjects: int = 2  # subjects are split disjointly: train / val / test
    test_subjects: int = 3
    clips_per_subject: int = 2  # clips per class per subject
    num_frames: int = 48
    height: int = 120
    width: int = 160
    fps: int = 25

    def __post_init__(self) -> None:
        if self.num_subjects < self.val_subjects + self.test_subjects + 1:
            raise ValueError(f"synthetic: num_subjects={self.num_subjects} leaves no training subject after "
                             f"val_subjects={self.val_subjects} and test_subjects={self.test_subjects}")
        if self.num_frames < 2 or self.height < 32 or self.width < 32 or self.clips_per_subject < 1 or self.fps < 1:
            raise ValueError(f"synthetic: config out of range: {self}")


@dataclass(frozen=True)
class SyntheticClip:
    frames: np.ndarray  # T x H x W x 3 uint8 RGB
    keypoint: np.ndarray  # 1 x T x V x 2, as an estimator would give (noise, lost joints at 0)
    keypoint_score: np.ndarray  # 1 x T x V
    exact_keypoint: np.ndarray  # T x V x 2, the projected joints before any noise
    camera: int


def subject_split(config: SyntheticConfig, subject: int) -> str:
    """Subjects 1..N: the last `test_subjects` are test, the `val_subjects` before them val."""
    if subject > config.num_subjects - config.test_subjects:
        return "test"
    if subject > config.num_subjects - config.test_subjects - config.val_subjects:
        return "val"
    return "train"


def subject_body(config: SyntheticConfig, subject: int) -> Body:
    return sample_body(np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(0, subject))))


def sample_id(config: SyntheticConfig, subject: int, camera: int, label: int, repetition: int) -> str:
    rep_digits = len(str(config.clips_per_subject))
    return f"syn_s{subject:03d}_c{camera:02d}_a{label + 1:02d}_r{repetition:0{rep_digits}d}"


def _acting_hand(points: np.ndarray) -> int:
    """0 (left) or 1 (right): the wrist that travels further, read off the keypoints only."""
    wrists = points[:, [P["left_wrist"], P["right_wrist"]]]  # T x 2 x 3
    return int(np.argmax(np.linalg.norm(np.diff(wrists, axis=0), axis=-1).sum(axis=0)))


def generate_clip(config: SyntheticConfig, subject: int, label: int, repetition: int) -> SyntheticClip:
    """One sample in memory (subject and repetition from 1, label from 0); pure: same arguments, same arrays."""
    action = CLASSES[label]
    seeds = np.random.SeedSequence(config.seed, spawn_key=(1, subject, label, repetition))
    motion_rng, camera_rng, scene_rng, noise_rng, object_rng = (np.random.default_rng(s) for s in seeds.spawn(5))
    frames, height, width = config.num_frames, config.height, config.width

    body = subject_body(config, subject)
    points = forward_kinematics(body, MOTIONS[action.motion](body, np.arange(frames) / config.fps, motion_rng))

    # Camera: a viewpoint, then a scale and position that keep the whole action in view.
    camera = int(camera_rng.integers(1, 4))
    yaw = scene.CAMERA_YAW[camera] + camera_rng.uniform(-0.08, 0.08)
    unit, _ = project(points, yaw, 1.0, (0.0, 0.0))
    pad = np.array([0.06, body.head_radius * 1.3])  # hands and shoes, hair
    low, high = unit.reshape(-1, 2).min(0) - pad, unit.reshape(-1, 2).max(0) + pad
    px_per_unit = min(camera_rng.uniform(0.55, 0.85) * height, *(0.94 * np.array([width, height]) / (high - low)))
    lo_origin = 0.03 * np.array([width, height]) - low * px_per_unit
    hi_origin = 0.97 * np.array([width, height]) - high * px_per_unit
    origin = camera_rng.uniform(np.minimum(lo_origin, hi_origin), np.maximum(lo_origin, hi_origin))
    margin = max(4, round(0.04 * height))
    pixels, depth = project(points, yaw, px_per_unit, tuple(origin + margin))  # canvas pixels, T x P x 2

    # Scene: the same draws for every class, so nothing here depends on the label.
    canvas_hw = (height + 2 * margin, width + 2 * margin)
    background = scene.sample_background(scene_rng, *canvas_hw)
    hands = pixels[:, [P["left_wrist"], P["right_wrist"], P["left_hand"], P["right_hand"]]].reshape(-1, 2)
    scene.draw_distractors(background, scene_rng, hands, 0.2 * px_per_unit)
    wrist_mean = pixels[:, [P["left_wrist"], P["right_wrist"]]].mean(axis=(0, 1))
    desk = Desk(centre_x=float(wrist_mean[0]), top_y=float(wrist_mean[1] - 0.05 * px_per_unit),
                top_height=0.1 * px_per_unit, front_height=0.3 * px_per_unit,
                half_width=scene_rng.uniform(0.35, 0.5) * px_per_unit,
                top_colour=muted_colour(scene_rng), front_colour=muted_colour(scene_rng))
    has_desk = action.motion == "at_desk"
    occluders = scene.sample_occluders(scene_rng, frames, *canvas_hw)
    jitter = scene.sample_jitter(scene_rng, frames, margin)  # T x 2 (dx, dy)
    gain, bias = scene.sample_lighting(scene_rng)

    style = sample_object_style(object_rng, scene.OBJECT_HUES[action.held_object]) if action.held_object else None
    hand_point = P["left_hand"] if _acting_hand(points) == 0 else P["right_hand"]

    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        canvas = background.copy()
        extras = []
        if has_desk:
            extras.append((desk.depth, lambda: draw_desk(canvas, desk)))
        if action.held_object in DESK_OBJECTS:
            centre = np.array([wrist_mean[0], desk.top_y + 0.5 * desk.top_height])
            extras.append((desk.depth + 1e-3,
                           lambda: draw_desk_object(canvas, action.held_object, style, centre, px_per_unit)))
        elif action.held_object:
            extras.append((depth[t, hand_point] + 0.02, lambda: draw_held_object(
                canvas, action.held_object, style, pixels[t, hand_point], px_per_unit)))
        draw_figure(canvas, body, pixels[t], depth[t], px_per_unit, extras)
        scene.draw_occluders(canvas, occluders, t)
        dx, dy = jitter[t]
        window = canvas[margin + dy: margin + dy + height, margin + dx: margin + dx + width]
        video[t] = np.clip(window.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)

    joints = pixels[:, :NUM_JOINTS]  # canvas pixels, T x V x 2
    occluded = scene.occluded_by_boxes(joints, occluders.boxes)
    if has_desk:
        occluded |= desk.contains(joints) & (depth[:, :NUM_JOINTS] < desk.depth)
    exact = joints - (margin + jitter)[:, None, :]  # frame pixels
    keypoint, score = estimator_like(exact, occluded, px_per_unit, (height, width), noise_rng)
    return SyntheticClip(frames=video, keypoint=keypoint[None], keypoint_score=score[None],
                         exact_keypoint=exact.astype(np.float32), camera=camera)


def write_video(path: Path, frames: np.ndarray, fps: int) -> None:
    """T x H x W x 3 RGB -> an mp4v `.mp4`, atomically (the temporary keeps `.mp4`: cv2 picks the container by it)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1]))
        if not writer.isOpened():
            raise RuntimeError(f"{path}: cv2.VideoWriter cannot open an mp4v writer")
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_annotation(path: Path, clip: SyntheticClip) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, keypoint=clip.keypoint, keypoint_score=clip.keypoint_score,
                            img_shape=np.array(clip.frames.shape[1:3], np.int64))


def generate_dataset(out_dir: Path, config: SyntheticConfig, *, progress: bool = False) -> list[dict]:
    """Write every clip's video and annotation under `out_dir`; one row per sample, sorted by id."""
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    (out_dir / "annotations").mkdir(parents=True, exist_ok=True)
    jobs = [(subject, action.label, repetition) for subject in range(1, config.num_subjects + 1)
            for action in CLASSES for repetition in range(1, config.clips_per_subject + 1)]
    rows = []
    for subject, label, repetition in tqdm(jobs, desc="synthetic clips", unit="clip", disable=not progress):
        clip = generate_clip(config, subject, label, repetition)
        sid = sample_id(config, subject, clip.camera, label, repetition)
        write_video(out_dir / "videos" / f"{sid}.mp4", clip.frames, config.fps)
        write_annotation(out_dir / "annotations" / f"{sid}.npz", clip)
        rows.append({"sample_id": sid, "video": f"videos/{sid}.mp4", "annotation": f"annotations/{sid}.npz",
                     "label": label, "label_name": CLASSES[label].name, "subject": subject, "camera": clip.camera,
                     "split": subject_split(config, subject)})
    return sorted(rows, key=lambda row: row["sample_id"])
