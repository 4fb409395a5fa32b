"""From a video file to class scores, the two ways CRYCHIC is deployed: one code path for the
evaluate stage's end-to-end figures and for `crychic predict`.

- pose-free: decode the sampled frames, frame them without any keypoints (`framing_box`: the
  centred square, or the whole frame padded to a square; evaluate chooses on val), resize to the
  student's size, run the student kept by its own pose-free val score. Input ``rgb 1 x 3 x T x S x S``.
- full: MediaPipe Pose on the frames the clip samples (the heatmap frames; every frame when none of
  them shows a person; `pose_every_frame` runs it on every frame, as extraction does, to measure
  what that costs), the person box of those frames, the heatmap volume ``1 x K x T_h x H x W``, the
  RGB clip cut by that box ``1 x 3 x T x S x S``, then both networks fused by the rule and the
  guidance evaluate chose on val.

Each clip goes through the networks on its own (batch 1, as a stream of videos arrives), and every
part is timed separately (`PartTimes`) so the report says where each path spends its time. Over
many videos `estimate_poses` runs MediaPipe for the next videos in worker threads while the
networks take the current one: MediaPipe's graph keeps one core busy, and each thread has its own
graph, reset per video, so the keypoints do not depend on the number of threads.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from crychic.clips.person_box import compact_box
from crychic.clips.sampling import uniform_sample_indices
from crychic.core.machine import usable_cores
from crychic.core.video import open_video
from crychic.evaluation.scoring import fuse
from crychic.heatmaps.render import DEFAULT_SIGMA
from crychic.heatmaps.volume import render_volume
from crychic.keypoints.mediapipe_pose import estimate_keypoints
from crychic.rgb.decode import FRAMINGS, decode_clip, framing_box
from crychic.training.data import normalise_rgb

__all__ = ["FRAMINGS", "ClipSettings", "Deployment", "ClipOutput", "NoPersonError", "PartTimes", "PoseEstimate",
           "clip_settings", "estimate_pose", "estimate_poses", "networks_beside_pose_threads", "pose_free_forward",
           "full_forward", "end_to_end_throughput", "framing_box"]


class NoPersonError(ValueError):
    """The full path found no person in the clip's frames (the pose-free path needs none)."""


@dataclass(frozen=True)
class ClipSettings:
    """What the trained models expect (params: heatmap.* and rgb.*; `clip_settings` reads them)."""

    rgb_clip_len: int = 8
    rgb_size: int = 112
    heatmap_clip_len: int = 16
    heatmap_size: int = 56
    sigma: float = DEFAULT_SIGMA
    with_joint: bool = True
    with_limb: bool = False
    box_padding: float = 0.25
    rgb_decode_max_side: int | None = 640  # rgb.decode_max_side
    pose_frame_size: int | None = 640  # keypoints.mediapipe_frame_size
    pose_min_visibility: float = 0.5  # keypoints.mediapipe_min_visibility


def clip_settings(params: dict) -> ClipSettings:
    """The settings from params.yaml's `heatmap`, `rgb` and `keypoints` sections (what training read)."""
    heatmap, rgb = params["heatmap"], params["rgb"]
    return ClipSettings(
        rgb_clip_len=int(rgb["clip_len"]), rgb_size=int(rgb["size"]), heatmap_clip_len=int(heatmap["clip_len"]),
        heatmap_size=int(heatmap["size"]), sigma=float(heatmap["sigma"]), with_joint=bool(heatmap["with_joint"]),
        with_limb=bool(heatmap["with_limb"]), box_padding=float(heatmap["box_padding"]),
        rgb_decode_max_side=rgb["decode_max_side"], pose_frame_size=params["keypoints"]["mediapipe_frame_size"],
        pose_min_visibility=float(params["keypoints"]["mediapipe_min_visibility"]))


@dataclass
class Deployment:
    """The networks as deployed, with the choices evaluate made on val (`metrics/evaluate.json`'s
    protocol: the fusion rule and whose attention guides the student, the pose-free framing)."""

    joint: torch.nn.Module | None  # the full path: teacher, student and fusion head (joint.pt); None: none
    posefree: torch.nn.Module  # the pose-free path: the student kept by its own pose-free val score
    label_names: list[str]
    fusion_rule: str = "mean_all"  # crychic.evaluation.scoring.FUSION_RULES
    guidance: str = "student"  # student (its own attention) | teacher (the teacher's maps weight it)
    framing: str = "centre"  # FRAMINGS


@dataclass
class PartTimes:
    """Seconds spent per part, summed over clips."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, started: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - started


@dataclass
class ClipOutput:
    logits: torch.Tensor  # C
    frames: np.ndarray  # T x S x S x 3 uint8: what the student saw (overlays)
    student_attention: torch.Tensor  # T' x h x w, the student's last-stage spatial attention
    teacher_attention: torch.Tensor | None = None  # T'' x h x w in the box frame (full path only)


@torch.no_grad()
def pose_free_forward(deployment: Deployment, path: str | Path, settings: ClipSettings, times: PartTimes) -> ClipOutput:
    started = time.perf_counter()
    reader = open_video(path)
    num_frames, img_shape = len(reader), reader[0].shape[:2]
    # as the pose-free figure evaluate chose the framing by (`scoring.predict_without_keypoints`)
    clip = decode_clip(path, uniform_sample_indices(num_frames, settings.rgb_clip_len),
                       framing_box(deployment.framing, *img_shape), img_shape, settings.rgb_size,
                       decode_max_side=settings.rgb_decode_max_side)  # T x S x S x 3
    rgb = normalise_rgb(clip)[None]  # 1 x 3 x T x S x S
    times.add("decode", started)
    started = time.perf_counter()
    out = deployment.posefree(rgb=rgb)
    times.add("networks", started)
    return ClipOutput(out["student_logits"][0], clip, out["student_attention"][-1][0, 0])


@dataclass(frozen=True)
class PoseEstimate:
    """MediaPipe's keypoints of one video, with what the rest of the full path needs of its header."""

    keypoint: np.ndarray  # 1 x T_all x 17 x 3, zero on the frames not estimated
    num_frames: int
    img_shape: tuple[int, int]
    heatmap_frames: np.ndarray  # T_h: the clip's sampled frames, what the heatmaps and the box read
    seconds: float  # spent estimating (in whichever thread did it)


def estimate_pose(path: str | Path, settings: ClipSettings, *, every_frame: bool = False) -> PoseEstimate:
    started = time.perf_counter()
    reader = open_video(path)
    num_frames, img_shape = len(reader), reader[0].shape[:2]  # one open: the header and frame 0's size
    heatmap_frames = uniform_sample_indices(num_frames, settings.heatmap_clip_len)
    keypoint = estimate_keypoints(path, frame_size=settings.pose_frame_size, min_visibility=settings.pose_min_visibility,
                                  frames=None if every_frame else heatmap_frames)  # 1 x T_all x 17 x 3
    return PoseEstimate(keypoint, num_frames, tuple(img_shape), heatmap_frames, time.perf_counter() - started)


def estimate_poses(paths: Iterable[str | Path], settings: ClipSettings, *, every_frame: bool = False,
                   workers: int = 1) -> Iterator[PoseEstimate | Exception]:
    """Each video's `estimate_pose`, in order, computed up to ``2 x workers`` videos ahead in
    ``workers`` threads. A video that fails yields its exception (in its place), which `full_forward`
    raises when given it, so an error surfaces where it would without threads."""
    def attempt(path):
        try:
            return estimate_pose(path, settings, every_frame=every_frame)
        except Exception as error:  # handed to the consumer, not lost in the pool
            return error

    paths = iter(paths)
    if workers <= 1:
        yield from map(attempt, paths)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pose") as pool:
        pending = deque(pool.submit(attempt, path) for _, path in zip(range(2 * workers), paths))
        while pending:
            future = pending.popleft()
            for path in paths:  # keep the window full: one submitted per one taken
                pending.append(pool.submit(attempt, path))
                break
            yield future.result()


@torch.no_grad()
def full_forward(deployment: Deployment, path: str | Path, settings: ClipSettings, times: PartTimes,
                 *, pose_every_frame: bool = False, pose: PoseEstimate | Exception | None = None) -> ClipOutput:
    """``pose``: this video's `estimate_poses` item when it was estimated ahead; None: estimated here."""
    if deployment.joint is None:
        raise ValueError("the full path needs the stage-3 model (train_joint): only it trains the fusion head")
    if pose is None:
        pose = estimate_pose(path, settings, every_frame=pose_every_frame)
    if isinstance(pose, Exception):
        raise pose
    times.seconds["pose"] = times.seconds.get("pose", 0.0) + pose.seconds
    keypoint, img_shape, heatmap_frames = pose.keypoint, pose.img_shape, pose.heatmap_frames
    started = time.perf_counter()
    sampled = keypoint[:, heatmap_frames]  # 1 x T_h x 17 x 3
    if not (sampled[..., 2] > 0).any():
        raise NoPersonError(f"{path}: no person found in the {len(heatmap_frames)} sampled frames (MediaPipe Pose)")
    box = compact_box(sampled[..., :2], sampled[..., 2], img_shape, padding=settings.box_padding)
    volume = render_volume(keypoint, box, heatmap_frames, size=settings.heatmap_size, sigma=settings.sigma,
                           with_joint=settings.with_joint, with_limb=settings.with_limb)  # K x T_h x H x W uint8
    heatmap = torch.from_numpy(volume).float()[None] / 255.0  # 1 x K x T_h x H x W
    times.add("heatmaps", started)
    started = time.perf_counter()
    rgb_frames = uniform_sample_indices(pose.num_frames, settings.rgb_clip_len)
    clip = decode_clip(path, rgb_frames, box, img_shape, settings.rgb_size, decode_max_side=settings.rgb_decode_max_side)
    rgb = normalise_rgb(clip)[None]  # 1 x 3 x T x S x S
    times.add("decode", started)
    started = time.perf_counter()
    model = deployment.joint
    model.guide_at_inference = deployment.guidance == "teacher"
    try:
        out = model(heatmap=heatmap, rgb=rgb)
    finally:
        model.guide_at_inference = False
    logits = fuse(deployment.fusion_rule, out["fusion_head_logits"], out["teacher_logits"], out["student_logits"])
    times.add("networks", started)
    return ClipOutput(logits[0], clip, out["student_attention"][-1][0, 0], out["teacher_attention"][-1][0, 0])


def pose_workers() -> int:
    """Threads that estimate poses ahead: one per core (MediaPipe keeps one core busy per graph)."""
    return usable_cores()


PATHS = {  # name in the reports -> the full path's pose options (None: the pose-free path)
    "pose_free": None,
    "full": {"every_frame": False, "workers": None},  # None: pose_workers(), as `crychic predict` runs it
    "full_one_thread": {"every_frame": False, "workers": 1},  # what sampling alone gains
    "full_every_frame": {"every_frame": True, "workers": 1},  # extraction's pass, one video at a time: the old path
}


def _predict_all(deployment: Deployment, videos: Sequence[str | Path], settings: ClipSettings, times: PartTimes,
                 pose_options: dict | None) -> list[int]:
    """Each video's predicted class (-1 where the full path finds no person)."""
    if pose_options is None:
        return [int(pose_free_forward(deployment, video, settings, times).logits.argmax()) for video in videos]
    workers = pose_options["workers"] or pose_workers()
    poses = estimate_poses(videos, settings, every_frame=pose_options["every_frame"], workers=workers)
    predictions = []
    with networks_beside_pose_threads(workers):
        for video, pose in zip(videos, poses):
            try:
                predictions.append(int(full_forward(deployment, video, settings, times, pose=pose).logits.argmax()))
            except NoPersonError:  # scored as a miss: the full path has no answer for this clip
                predictions.append(-1)
    return predictions


@contextmanager
def networks_beside_pose_threads(workers: int):
    """Torch on one thread while more than one pose thread runs: its intra-op threads would otherwise
    spin on the cores MediaPipe is using, slowing both several times over. Torch's setting is restored
    afterwards."""
    before = torch.get_num_threads()
    if workers > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def end_to_end_throughput(deployment: Deployment, videos: Sequence[str | Path], settings: ClipSettings,
                          *, warmup: int = 1) -> dict:
    """Clips per second of each path over the same `videos`, measured one after the other in this
    call (same machine, same load), with each path's seconds per part and its predictions. The
    full path's "pose" seconds are summed over its threads, so with more than one they can add up to
    more than the wall time."""
    if not videos:
        raise ValueError("end_to_end_throughput needs at least one video")
    deployment.joint.eval(), deployment.posefree.eval()
    report = {}
    for name, pose_options in PATHS.items():
        _predict_all(deployment, list(videos)[:warmup], settings, PartTimes(), pose_options)  # graph start, imports
        times = PartTimes()
        started = time.perf_counter()
        predictions = _predict_all(deployment, videos, settings, times, pose_options)
        total = time.perf_counter() - started
        report[name] = {"clips": len(videos), "seconds": round(total, 3),
                        "clips_per_second": round(len(videos) / total, 3),
                        "seconds_per_clip": {part: round(s / len(videos), 4) for part, s in times.seconds.items()},
                        "predictions": predictions}
        if pose_options is not None:
            report[name]["pose_threads"] = pose_options["workers"] or pose_workers()
    full, every = report["full"]["clips_per_second"], report["full_every_frame"]["clips_per_second"]
    report["speedup"] = round(report["pose_free"]["clips_per_second"] / full, 2)
    report["sampled_pose_speedup"] = round(report["full_one_thread"]["clips_per_second"] / every, 2)
    report["full_speedup"] = round(full / every, 2)  # sampling and the pose threads together
    return report
