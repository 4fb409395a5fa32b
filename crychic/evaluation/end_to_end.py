"""From a video file to class scores, the two ways CRYCHIC is deployed: one code path for the
evaluate stage's end-to-end figures and for `crychic predict`.

- pose-free: decode the sampled frames, frame them without any keypoints (`framing_box`: the
  centred square, or the whole frame padded to a square; evaluate chooses on val), resize to the
  student's size, run the student kept by its own pose-free val score. Input ``rgb 1 x 3 x T x S x S``.
- full: MediaPipe Pose on the frames the clip samples (the heatmap frames, and every frame until it
  first finds the person; `pose_every_frame` runs it on every frame, as extraction does, to measure
  what that costs), the person box of those
  frames, the heatmap volume ``1 x K x T_h x H x W``, the RGB clip cut by that box
  ``1 x 3 x T x S x S``, then both networks fused by the rule and the guidance evaluate chose on val.

Each clip is processed on its own (batch 1, as a stream of videos arrives), and every part is timed
separately (`PartTimes`) so the report says where each path spends its time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from crychic.clips.person_box import compact_box
from crychic.clips.sampling import uniform_sample_indices
from crychic.core.video import open_video
from crychic.evaluation.scoring import fuse
from crychic.heatmaps.render import DEFAULT_SIGMA
from crychic.heatmaps.volume import render_volume
from crychic.keypoints.mediapipe_pose import estimate_keypoints
from crychic.rgb.decode import FRAMINGS, decode_clip, framing_box
from crychic.training.data import normalise_rgb

__all__ = ["FRAMINGS", "ClipSettings", "Deployment", "ClipOutput", "NoPersonError", "PartTimes", "clip_settings",
           "pose_free_forward", "full_forward", "end_to_end_throughput", "framing_box"]


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


@torch.no_grad()
def full_forward(deployment: Deployment, path: str | Path, settings: ClipSettings, times: PartTimes,
                 *, pose_every_frame: bool = False) -> ClipOutput:
    if deployment.joint is None:
        raise ValueError("the full path needs the stage-3 model (train_joint): only it trains the fusion head")
    started = time.perf_counter()
    reader = open_video(path)
    num_frames, img_shape = len(reader), reader[0].shape[:2]  # one open: the header and frame 0's size
    heatmap_frames = uniform_sample_indices(num_frames, settings.heatmap_clip_len)
    keypoint = estimate_keypoints(path, frame_size=settings.pose_frame_size, min_visibility=settings.pose_min_visibility,
                                  frames=None if pose_every_frame else heatmap_frames)  # 1 x T_all x 17 x 3
    times.add("pose", started)
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
    rgb_frames = uniform_sample_indices(num_frames, settings.rgb_clip_len)
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


PATHS = {  # name in the reports -> (forward, keyword arguments)
    "pose_free": (pose_free_forward, {}),
    "full": (full_forward, {}),
    "full_every_frame": (full_forward, {"pose_every_frame": True}),
}


def end_to_end_throughput(deployment: Deployment, videos: Sequence[str | Path], settings: ClipSettings,
                          *, warmup: int = 1) -> dict:
    """Clips per second of each path over the same `videos`, measured one after the other in this
    call (same machine, same load), with each path's seconds per part and its predictions."""
    if not videos:
        raise ValueError("end_to_end_throughput needs at least one video")
    deployment.joint.eval(), deployment.posefree.eval()
    report = {}
    for name, (forward, options) in PATHS.items():
        for video in list(videos)[:warmup]:  # MediaPipe graph start, allocator, lazy imports
            forward(deployment, video, settings, PartTimes(), **options)
        times = PartTimes()
        started = time.perf_counter()
        predictions = []
        for video in videos:
            try:
                predictions.append(int(forward(deployment, video, settings, times, **options).logits.argmax()))
            except NoPersonError:  # scored as a miss: the full path has no answer for this clip
                predictions.append(-1)
        total = time.perf_counter() - started
        report[name] = {"clips": len(videos), "seconds": round(total, 3),
                        "clips_per_second": round(len(videos) / total, 3),
                        "seconds_per_clip": {part: round(s / len(videos), 4) for part, s in times.seconds.items()},
                        "predictions": predictions}
    report["speedup"] = round(report["pose_free"]["clips_per_second"] / report["full"]["clips_per_second"], 2)
    report["sampled_pose_speedup"] = round(report["full"]["clips_per_second"]
                                           / report["full_every_frame"]["clips_per_second"], 2)
    return report
