"""Spatial attention maps (Zagoruyko & Komodakis attention transfer) and their alignment.

Layouts: features ``N x C x T x H x W``; attention ``N x 1 x T x H x W``, one map per frame.

A map is the channel mean of ``|F|^p``, scaled per frame so its maximum is 1: values in [0, 1]
are what the student's ``F * (1 + A)`` weighting needs (a sum-to-1 map would be ~1/(H*W) and
weight nothing). The attention-transfer loss compares directions, not scales: `attention_vectors`
gives the L2-normalised flat map per frame that it wants, the same whichever scaling came first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


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
