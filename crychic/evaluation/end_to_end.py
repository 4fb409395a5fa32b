"""From a video file to class scores, the two ways CRYCHIC can be deployed, with the time of each part.

- pose-free: decode the sampled frames, frame them without any keypoints (`framing_box`: the
  centred square, or the whole frame padded to a square; the evaluate stage chooses on val), resize
  to the student's size, run the student. Input ``rgb 1 x 3 x T x S x S``.
- full: decode every frame and run MediaPipe Pose on it (the keypoints), the person box of the
  sampled frames, render the heatmap volume ``1 x K x T_h x H x W``, decode the RGB clip cut by
  that box ``1 x 3 x T x S x S``, then both networks and the fusion head.

Each clip is processed on its own (batch 1, as a stream of videos arrives), and every part is
timed separately so the report says where the full path spends its time (usually the pose
estimator, which is the cost the pose-free student removes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from crychic.clips.sampling import uniform_sample_indices
from crychic.heatmaps.volume import render_volume
from crychic.keypoints.mediapipe_pose import estimate_keypoints
from crychic.clips.person_box import compact_box
from crychic.rgb.decode import FRAMINGS, cut_clip, decode_clip, framing_box
from crychic.training.data import normalise_rgb
from crychic.core.video import open_video, read_frames


@dataclass(frozen=True)
class ClipSettings:
    """What the trained models expect (params: heatmap.* and rgb.*)."""

    rgb_clip_len: int = 8
    rgb_size: int = 112
    heatmap_clip_len: int = 16
    heatmap_size: int = 56
    sigma: float = 0.6
    with_joint: bool = True
    with_limb: bool = False
    box_padding: float = 0.25
    rgb_decode_max_side: int | None = 640  # rgb.decode_max_side
    pose_frame_size: int | None = 640  # keypoints.mediapipe_frame_size
    framing: str = "centre"  # the pose-free path's crop (see FRAMINGS)


@dataclass
class PartTimes:
    """Seconds spent per part, summed over clips."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, started: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - started


# How a clip is framed with no keypoints (`centre`: the largest centred square; `full`: the whole
# frame in a centred square): defined once in crychic.rgb.decode, which the framed data stage shares.


@torch.no_grad()
def pose_free_scores(model: torch.nn.Module, path: str | Path, settings: ClipSettings, times: PartTimes) -> torch.Tensor:
    started = time.perf_counter()
    num_frames = len(open_video(path))
    frames = read_frames(path, uniform_sample_indices(num_frames, settings.rgb_clip_len))  # T x H x W x 3
    clip = cut_clip(frames, framing_box(settings.framing, *frames.shape[1:3]), settings.rgb_size)  # T x S x S x 3
    rgb = normalise_rgb(clip)[None]  # 1 x 3 x T x S x S
    times.add("decode", started)
    started = time.perf_counter()
    logits = model(rgb=rgb)["student_logits"]
    times.add("networks", started)
    return logits[0]


@torch.no_grad()
def full_scores(model: torch.nn.Module, path: str | Path, settings: ClipSettings, times: PartTimes) -> torch.Tensor:
    started = time.perf_counter()
    keypoint = estimate_keypoints(path, frame_size=settings.pose_frame_size)  # 1 x T_all x 17 x 3 (decodes all frames)
    times.add("pose", started)
    started = time.perf_counter()
    num_frames = keypoint.shape[1]
    reader = open_video(path)
    img_shape = reader[0].shape[:2]
    heatmap_frames = uniform_sample_indices(num_frames, settings.heatmap_clip_len)
    sampled = keypoint[:, heatmap_frames]
    box = compact_box(sampled[..., :2], sampled[..., 2], img_shape, padding=settings.box_padding)
    volume = render_volume(keypoint, box, heatmap_frames, size=settings.heatmap_size, sigma=settings.sigma,
                           with_joint=settings.with_joint, with_limb=settings.with_limb)  # K x T x H x W uint8
    heatmap = torch.from_numpy(volume).float()[None] / 255.0  # 1 x K x T x H x W
    times.add("heatmaps", started)
    started = time.perf_counter()
    rgb_frames = uniform_sample_indices(num_frames, settings.rgb_clip_len)
    clip = decode_clip(path, rgb_frames, box, img_shape, settings.rgb_size, decode_max_side=settings.rgb_decode_max_side)
    rgb = normalise_rgb(clip)[None]  # 1 x 3 x T x S x S
    times.add("decode", started)
    started = time.perf_counter()
    logits = model(heatmap=heatmap, rgb=rgb)["fused_logits"]
    times.add("networks", started)
    return logits[0]


def end_to_end_throughput(model: torch.nn.Module, videos: Sequence[str | Path], settings: ClipSettings,
                          *, warmup: int = 1) -> dict:
    """Clips per second of both paths over the same `videos`, measured one after the other in this
    call (same machine, same load), with each path's seconds per part and its predictions."""
    if not videos:
        raise ValueError("end_to_end_throughput needs at least one video")
    model.eval()
    report = {}
    for name, path_fn in (("pose_free", pose_free_scores), ("full", full_scores)):
        for video in list(videos)[:warmup]:  # MediaPipe graph start, allocator, lazy imports
            path_fn(model, video, settings, PartTimes())
        times = PartTimes()
        started = time.perf_counter()
        predictions = [int(path_fn(model, video, settings, times).argmax()) for video in videos]
        total = time.perf_counter() - started
        report[name] = {"clips": len(videos), "seconds": round(total, 3),
                        "clips_per_second": round(len(videos) / total, 3),
                        "seconds_per_clip": {part: round(s / len(videos), 4) for part, s in times.seconds.items()},
                        "predictions": predictions}
    report["speedup"] = round(report["pose_free"]["clips_per_second"] / report["full"]["clips_per_second"], 2)
    return report
