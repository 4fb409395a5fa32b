"""Spatial attention maps (Zagoruyko & Komodakis attention transfer) and their alignment.

Layouts: features ``N x C x T x H x W``; attention ``N x 1 x T x H x W``, one map per frame.

A map is the channel mean of ``|F|^p``, scaled per frame so its maximum is 1: values in [0, 1]
are what the student's ``F * (1 + A)`` weighting needs (a sum-to-1 map would be ~1/(H*W) and
weight nothing). The attention-transfer loss compares directions, not scales: `attention_vectors`
gives the L2-normalised flat map per frame that it wants, the same whichever scaling came first.

Carrying maps into another frame (`carry_to_frame`, for students trained on clips framed without
keypoints, stage `decode_rgb_framed`): the teacher's maps cover the heatmap's square, the person
box; the student's cover its own clip. Both use the data's convention: pixel j of an N-pixel side
sits at u = j / N of what the grid covers (`crychic.training.data`; a stride-2 convolution with
symmetric padding keeps it, output j at input 2j). A per-item box (u0, v0, u1, v1) says where the
map's [0, 1] square lies in the student clip's [0, 1] coordinates; u1 < u0 would mean a mirrored
map (the dataset never gives one: it flips the heatmap with the clip, so its boxes run forward).
`align_attention` resizes with half-pixel centres (`F.interpolate`), so when the grids differ in
size the two functions disagree by up to half a teacher pixel even for the box (0, 0, 1, 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from crychic.core.coco17 import JOINT_INDEX

EPS = 1e-6
WRISTS = (JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"])
MAX_SUPERSAMPLE = 8  # sub-samples per output pixel and axis when a map shrinks onto the grid


def _max_normalise(att: torch.Tensor) -> torch.Tensor:
    peak = att.amax(dim=(3, 4), keepdim=True)  # N x 1 x T x 1 x 1
    return att / peak.clamp_min(EPS)


def spatial_attention(features: torch.Tensor, p: float = 2) -> torch.Tensor:
    """``N x C x T x H x W`` -> ``N x 1 x T x H x W`` in [0, 1], each frame's peak at 1 (0 where F is 0)."""
    return _max_normalise(features.abs().pow(p).mean(dim=1, keepdim=True))


def align_attention(att: torch.Tensor, frames: int, size: tuple[int, int], renormalise: bool = True) -> torch.Tensor:
    """Teacher map ``N x 1 x T_t x H_t x W_t`` onto a student stage ``N x 1 x T_s x H_s x W_s``.

    Time: each student frame gets the mean of the teacher frames in its segment (adaptive average
    pooling; when T_t < T_s a teacher frame is repeated). Both modalities sample the same source
    frames over the same span, so segment i of one is segment i of the other. Space: bilinear,
    antialiased when shrinking (28 -> 14 must average, not pick pixels); both maps cover the same
    person box. Renormalised so each frame's peak is 1 again.
    """
    n, _, _, h_t, w_t = att.shape
    att = F.adaptive_avg_pool3d(att, (frames, h_t, w_t))  # N x 1 x T_s x H_t x W_t
    if (h_t, w_t) != tuple(size):
        att = F.interpolate(att.reshape(n * frames, 1, h_t, w_t), size=tuple(size), mode="bilinear",
                            align_corners=False, antialias=True)  # N*T_s x 1 x H_s x W_s
        att = att.reshape(n, 1, frames, *size).clamp_min(0)
    return _max_normalise(att) if renormalise else att


def attention_vectors(att: torch.Tensor) -> torch.Tensor:
    """``N x 1 x T x H x W`` -> ``N x T x (H*W)``, each frame's map as a unit L2 vector (for the AT loss)."""
    n, _, t, h, w = att.shape
    return F.normalize(att.reshape(n, t, h * w), dim=-1, eps=EPS)


def carry_to_frame(att: torch.Tensor, box: torch.Tensor, frames: int, size: tuple[int, int],
                   renormalise: bool = True) -> torch.Tensor:
    """Maps ``N x 1 x T_t x h x w`` over the heatmap's square onto a student stage ``N x 1 x T_s x H_s x W_s``
    of a clip in which that square lies at `box` (``N x 4``: u0, v0, u1, v1 in the clip's [0, 1]
    coordinates, `heatmap_in_rgb` of `crychic.training.data`); zeros outside the box.

    Time as `align_attention` (mean over each student frame's segment). Space: output pixel (i, j)
    sits at (u, v) = (j / W_s, i / H_s) of the clip, so at s = (u - u0) / (u1 - u0) of the map, its
    pixel s * w (bilinear, the border replicated inside the box; s outside [0, 1) is outside the
    box: 0). Where the box is smaller than the map on the grid, each output pixel averages k x k
    sub-samples (k up to `MAX_SUPERSAMPLE`), so a shrink averages instead of picking pixels, and
    the box's edge is covered in proportion. Renormalised so each frame's peak is 1 (0 for a frame
    whose box lies outside the clip).
    """
    if att.dim() != 5 or att.shape[1] != 1:
        raise ValueError(f"expected N x 1 x T x h x w maps, got {tuple(att.shape)}")
    n, _, _, h_t, w_t = att.shape
    height, width = (int(v) for v in size)
    box = torch.as_tensor(box, dtype=att.dtype, device=att.device).reshape(n, 4)
    att = F.adaptive_avg_pool3d(att, (frames, h_t, w_t))  # N x 1 x T_s x h x w
    extent = (box[:, 2:] - box[:, :2])  # N x 2: (width, height) of the box in clip units
    if bool((extent == 0).any()):
        raise ValueError("carry_to_frame: a box of zero width or height")
    # Output pixels per map pixel along each axis; below 1 the map shrinks: supersample.
    scale = extent.abs() * torch.tensor([width / w_t, height / h_t], dtype=att.dtype, device=att.device)
    k = int(min(MAX_SUPERSAMPLE, max(1, math.ceil(1 / float(scale.min()) - 1e-6))))

    def axis(points: int, low: torch.Tensor, span: torch.Tensor, pixels: int):
        """Normalised grid_sample coordinates (N x points*k) and inside-the-box mask along one axis."""
        offsets = (torch.arange(k, dtype=att.dtype, device=att.device) + 0.5) / k - 0.5
        u = ((torch.arange(points, dtype=att.dtype, device=att.device)[:, None] + offsets).reshape(-1)) / points
        s = (u[None] - low[:, None]) / span[:, None]  # N x points*k: position in the map's [0, 1]
        inside = (s >= 0) & (s < 1)
        p = s.clamp(0, 1) * pixels  # map pixel; s in [(pixels - 1) / pixels, 1) replicates the border
        return (p + 0.5) / pixels * 2 - 1, inside  # grid_sample, align_corners=False

    x, inside_x = axis(width, box[:, 0], extent[:, 0], w_t)  # N x W*k
    y, inside_y = axis(height, box[:, 1], extent[:, 1], h_t)  # N x H*k
    grid = torch.stack(torch.broadcast_tensors(x[:, None, :], y[:, :, None]), dim=-1)  # N x H*k x W*k x 2
    mask = (inside_y[:, :, None] & inside_x[:, None, :]).to(att.dtype)  # N x H*k x W*k
    planes = att.permute(0, 2, 1, 3, 4).reshape(n * frames, 1, h_t, w_t)
    sampled = F.grid_sample(planes, grid.repeat_interleave(frames, dim=0), mode="bilinear",
                            padding_mode="border", align_corners=False)  # N*T_s x 1 x H*k x W*k
    sampled = sampled * mask.repeat_interleave(frames, dim=0)[:, None]
    if k > 1:
        sampled = F.avg_pool2d(sampled, k)
    out = sampled.reshape(n, frames, 1, height, width).permute(0, 2, 1, 3, 4).clamp_min(0)
    return _max_normalise(out) if renormalise else out


def hand_mask(heatmap: torch.Tensor, joints: Sequence[int] = WRISTS, reach: int | None = None) -> torch.Tensor:
    """The oracle hand mask of heatmap volumes ``N x K x T x H x W`` (joint channels first, COCO-17):
    ``N x 1 x T x H x W`` in the heatmap's own frame, in [0, 1], each frame's peak at 1.

    The wrists' heat (max over `joints`), grown by a `reach x reach` max filter to the hand and what
    it holds (default: about an eighth of the box a side, the reach of `guidance_source:
    keypoints` in `crychic.models.crychic_model`). A flipped volume has its channels swapped, so
    both wrists stay both wrists. Carry it to a student's grid with `carry_to_frame` (framed
    clips) or `align_attention` (box-cut clips), like the teacher's maps.
    """
    if heatmap.dim() != 5 or heatmap.shape[1] <= max(joints):
        raise ValueError(f"hand_mask reads joint channels {tuple(joints)} of N x K x T x H x W heatmaps, "
                         f"got {tuple(heatmap.shape)}")
    hands = heatmap[:, list(joints)].amax(1, keepdim=True).float()  # N x 1 x T x H x W
    if reach is None:
        reach = max(1, heatmap.shape[-1] // 16) * 2 + 1
    if reach % 2 == 0:
        raise ValueError(f"hand_mask: reach must be odd (centred on the joint), got {reach}")
    if reach > 1:
        hands = F.max_pool3d(hands, (1, reach, reach), stride=1, padding=(0, reach // 2, reach // 2))
    return _max_normalise(hands)
