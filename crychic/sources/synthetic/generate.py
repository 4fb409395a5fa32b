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
from crychic.sources.synthetic.classes import CLASSES, ActionClass
from crychic.sources.synthetic.figure import P, Body, forward_kinematics, muted_colour, project, sample_body
from crychic.sources.synthetic.keypoints import estimator_like
from crychic.sources.synthetic.motions import MOTIONS
from crychic.sources.synthetic.render import (Desk, ObjectStyle, draw_desk, draw_desk_object, draw_figure,
                                              draw_held_object, sample_object_style)

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


@dataclass(frozen=True)
class _View:
    """Where the camera puts the figure, in canvas pixels: the frame plus `margin` on every side
    (room for the camera jitter)."""
    camera: int
    px_per_unit: float
    margin: int
    pixels: np.ndarray  # T x P x 2, canvas pixels of every figure point
    depth: np.ndarray  # T x P


@dataclass(frozen=True)
class _Scene:
    """Everything around the figure, drawn from `scene_rng` alone: the same draws for every class."""
    background: np.ndarray  # canvas (H + 2 margin) x (W + 2 margin) x 3 uint8, distractors drawn
    wrist_mean: np.ndarray  # (x, y) canvas pixels, the wrists' mean over the clip: where the desk goes
    desk: Desk
    has_desk: bool  # drawn (and hiding the joints behind it) only for the `at_desk` motion
    occluders: scene.Occluders
    jitter: np.ndarray  # T x 2 (dx, dy)
    gain: np.ndarray
    bias: np.ndarray


def _acting_hand(points: np.ndarray) -> int:
    """0 (left) or 1 (right): the wrist that travels further, read off the keypoints only."""
    wrists = points[:, [P["left_wrist"], P["right_wrist"]]]  # T x 2 x 3
    return int(np.argmax(np.linalg.norm(np.diff(wrists, axis=0), axis=-1).sum(axis=0)))


def generate_clip(config: SyntheticConfig, subject: int, label: int, repetition: int) -> SyntheticClip:
    """One sample in memory (subject and repetition from 1, label from 0); pure: same arguments, same arrays."""
    action = CLASSES[label]
    seeds = np.random.SeedSequence(config.seed, spawn_key=(1, subject, label, repetition))
    motion_rng, camera_rng, scene_rng, noise_rng, object_rng = (np.random.default_rng(s) for s in seeds.spawn(5))

    body = subject_body(config, subject)
    times = np.arange(config.num_frames) / config.fps
    points = forward_kinematics(body, MOTIONS[action.motion](body, times, motion_rng))
    view = _place_camera(config, body, points, camera_rng)
    setting = _sample_scene(config, view, action.motion == "at_desk", scene_rng)
    style = sample_object_style(object_rng, scene.OBJECT_HUES[action.held_object]) if action.held_object else None
    hand_point = P["left_hand"] if _acting_hand(points) == 0 else P["right_hand"]

    video = _render_video(config, action, body, view, setting, style, hand_point)
    keypoint, score, exact = _estimator_keypoints(config, view, setting, noise_rng)
    return SyntheticClip(frames=video, keypoint=keypoint[None], keypoint_score=score[None],
                         exact_keypoint=exact.astype(np.float32), camera=view.camera)


def _place_camera(config: SyntheticConfig, body: Body, points: np.ndarray, camera_rng: np.random.Generator) -> _View:
    """A viewpoint, then a scale and position that keep the whole action in view."""
    height, width = config.height, config.width
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
    return _View(camera=camera, px_per_unit=px_per_unit, margin=margin, pixels=pixels, depth=depth)


def _sample_scene(config: SyntheticConfig, view: _View, has_desk: bool, scene_rng: np.random.Generator) -> _Scene:
    """Background, distractors, desk, occluders, camera jitter and lighting; the same draws for
    every class, so nothing here depends on the label (`has_desk` only says whether the desk is drawn)."""
    pixels, px_per_unit, margin = view.pixels, view.px_per_unit, view.margin
    canvas_hw = (config.height + 2 * margin, config.width + 2 * margin)
    background = scene.sample_background(scene_rng, *canvas_hw)
    hands = pixels[:, [P["left_wrist"], P["right_wrist"], P["left_hand"], P["right_hand"]]].reshape(-1, 2)
    scene.draw_distractors(background, scene_rng, hands, 0.2 * px_per_unit)
    wrist_mean = pixels[:, [P["left_wrist"], P["right_wrist"]]].mean(axis=(0, 1))
    desk = Desk(centre_x=float(wrist_mean[0]), top_y=float(wrist_mean[1] - 0.05 * px_per_unit),
                top_height=0.1 * px_per_unit, front_height=0.3 * px_per_unit,
                half_width=scene_rng.uniform(0.35, 0.5) * px_per_unit,
                top_colour=muted_colour(scene_rng), front_colour=muted_colour(scene_rng))
    occluders = scene.sample_occluders(scene_rng, config.num_frames, *canvas_hw)
    jitter = scene.sample_jitter(scene_rng, config.num_frames, margin)  # T x 2 (dx, dy)
    gain, bias = scene.sample_lighting(scene_rng)
    return _Scene(background=background, wrist_mean=wrist_mean, desk=desk, has_desk=has_desk, occluders=occluders,
                  jitter=jitter, gain=gain, bias=bias)


def _render_video(config: SyntheticConfig, action: ActionClass, body: Body, view: _View, setting: _Scene,
                  style: ObjectStyle | None, hand_point: int) -> np.ndarray:
    """T x H x W x 3 uint8: each frame drawn on the canvas, then cut out at its jitter and lit."""
    frames, height, width, margin = config.num_frames, config.height, config.width, view.margin
    video = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        canvas = setting.background.copy()
        extras = _depth_sorted_extras(canvas, t, action, view, setting, style, hand_point)
        draw_figure(canvas, body, view.pixels[t], view.depth[t], view.px_per_unit, extras)
        scene.draw_occluders(canvas, setting.occluders, t)
        dx, dy = setting.jitter[t]
        window = canvas[margin + dy: margin + dy + height, margin + dx: margin + dx + width]
        video[t] = np.clip(window.astype(np.float32) * setting.gain + setting.bias, 0, 255).astype(np.uint8)
    return video


def _depth_sorted_extras(canvas: np.ndarray, t: int, action: ActionClass, view: _View, setting: _Scene,
                         style: ObjectStyle | None, hand_point: int) -> list:
    """Frame t's (depth, draw) pairs besides the figure (the desk, the object), which `draw_figure`
    draws among the body parts in depth order."""
    desk, px_per_unit = setting.desk, view.px_per_unit
    extras = []
    if setting.has_desk:
        extras.append((desk.depth, lambda: draw_desk(canvas, desk)))
    if action.held_object in DESK_OBJECTS:
        centre = np.array([setting.wrist_mean[0], desk.top_y + 0.5 * desk.top_height])
        extras.append((desk.depth + 1e-3,
                       lambda: draw_desk_object(canvas, action.held_object, style, centre, px_per_unit)))
    elif action.held_object:
        extras.append((view.depth[t, hand_point] + 0.02, lambda: draw_held_object(
            canvas, action.held_object, style, view.pixels[t, hand_point], px_per_unit)))
    return extras


def _estimator_keypoints(config: SyntheticConfig, view: _View, setting: _Scene,
                         noise_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoint T x V x 2, score T x V, exact T x V x 2) in frame pixels: the projected joints, and
    what an estimator would report for them (joints hidden by an occluder or the desk are lost)."""
    joints = view.pixels[:, :NUM_JOINTS]  # canvas pixels, T x V x 2
    occluded = scene.occluded_by_boxes(joints, setting.occluders.boxes)
    if setting.has_desk:
        occluded |= setting.desk.contains(joints) & (view.depth[:, :NUM_JOINTS] < setting.desk.depth)
    exact = joints - (view.margin + setting.jitter)[:, None, :]  # frame pixels
    keypoint, score = estimator_like(exact, occluded, view.px_per_unit, (config.height, config.width), noise_rng)
    return keypoint, score, exact


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
