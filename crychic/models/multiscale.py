"""Multi-scale spatiotemporal modelling (CRYCHIC innovation 3) on a video feature map ``N x C x T x H x W``.

Fine motions (a finger tap) live in a few frames and a few pixels, long actions (sitting down) in
many frames and the whole body. One residual block looks at several scales of both at once: a
1x1x1 bottleneck to ``C/r`` hidden channels, then parallel temporal branches, each writing its
own slice of the hidden channels, then (factorised in time and space, as R(2+1)D) parallel
spatial branches over all of those channels, again one slice each, then a 1x1x1 expansion added
back to the input (``N x C x T x H x W`` in and out). Factorised rather than side by side: every
hidden channel keeps a temporal kernel, so ordered motion (raise vs lower the arms) is not
diluted by the spatial scales (side by side, the 4-frame student lost 35 points of val top-1).

Branches (`MultiScaleScales`):
- temporal ``k x 1 x 1`` convolutions with dilations ``temporal_dilations`` (3, 5, 7 frames for
  dilations 1, 2, 3 with k = 3);
- spatial ``1 x 3 x 3`` convolutions with dilations ``spatial_dilations``;
- ``global_temporal``: the whole clip, pooled to 4 steps and read in order by a ``4 x 1 x 1``
  convolution, broadcast back over T (the scale of the whole clip, however short it is);
- ``global_spatial``: the mean over the frame, a 1x1x1 convolution, broadcast back over H x W.

Scales must fit the maps they see: a dilation-3 temporal kernel over a 4-frame clip, or a
dilation-2 3x3 kernel over a 3 x 3 map, mostly reads padding. So each network's preset picks
dilations for its clip length and map sizes, and the global branches give the coarsest scale at
any size. Which scales a network gets was chosen on val (README, Protocol): the teacher takes
temporal dilations 1/2/3, a 3x3 and the whole frame; the 4-frame RGB student keeps temporal
dilations 1/2/3 only, since every alternative tried there lost on val.

``multiscale=False`` is the ablation "without multi-scale": one temporal and one spatial
convolution, dilation 1, over all hidden channels. Every dilated branch reads all hidden channels
and writes a slice, so the temporal (spatial) branches together hold exactly the weights of one
temporal (spatial) convolution: the two forms have the same parameter count, up to the global
branches' 1x1x1 weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MultiScaleScales:
    temporal_kernel: int = 3
    temporal_dilations: tuple = (1, 2, 3)
    spatial_dilations: tuple = (1,)
    global_temporal: bool = False
    global_spatial: bool = True


def _split(total: int, parts: int) -> list[int]:
    """``total`` channels in ``parts`` near-equal slices (the first ones one larger)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _temporal_conv(c_in: int, c_out: int, kernel: int, dilation: int) -> nn.Conv3d:
    if kernel % 2 == 0:
        raise ValueError(f"temporal kernel sizes must be odd to keep T, got {kernel}")
    return nn.Conv3d(c_in, c_out, (kernel, 1, 1), padding=(dilation * (kernel - 1) // 2, 0, 0),
                     dilation=(dilation, 1, 1), bias=False)


def _spatial_conv(c_in: int, c_out: int, dilation: int) -> nn.Conv3d:
    return nn.Conv3d(c_in, c_out, (1, 3, 3), padding=(0, dilation, dilation), dilation=(1, dilation, dilation),
                     bias=False)


class GlobalContext(nn.Module):
    """The coarsest scale: the whole frame (mean over H x W) or the whole clip, a 1x1x1 / ``L x 1 x 1``
    conv, broadcast back. Over time the clip is first pooled to ``CLIP_STEPS`` steps and read in
    order (a kernel over all of them), not averaged: the whole-clip scale must still tell raising
    the arms from lowering them, which a mean over T cannot."""

    CLIP_STEPS = 4

    def __init__(self, c_in: int, c_out: int, over: str):
        super().__init__()
        if over not in ("clip", "frame"):
            raise ValueError(f"global context is over the 'clip' or the 'frame', got {over!r}")
        self.over = over
        kernel = (self.CLIP_STEPS, 1, 1) if over == "clip" else 1
        self.conv = nn.Conv3d(c_in, c_out, kernel, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.over == "frame":
            context = x.mean(dim=(3, 4), keepdim=True)  # N x C x T x 1 x 1
        else:  # N x C x T x H x W -> N x C x L x H x W (steps in order) -> N x C' x 1 x H x W
            context = F.adaptive_avg_pool3d(x, (self.CLIP_STEPS, *x.shape[3:]))
        return self.conv(context).expand(-1, -1, *x.shape[2:])


class MultiScaleSpatioTemporal(nn.Module):
    """Residual block; ``N x C x T x H x W`` in and out, T, H and W unchanged."""

    def __init__(self, channels: int, scales: MultiScaleScales = MultiScaleScales(), *,
                 bottleneck_ratio: int = 4, multiscale: bool = True):
        super().__init__()
        hidden = max(channels // bottleneck_ratio, 1)
        s = scales
        temporal = [("temporal", d) for d in s.temporal_dilations] + [("global_temporal", None)] * s.global_temporal
        spatial = [("spatial", d) for d in s.spatial_dilations] + [("global_spatial", None)] * s.global_spatial
        if not temporal:
            raise ValueError("a multi-scale block needs at least one temporal scale")
        # (temporal first, then spatial: see the module docstring for the factorisation)
        if not multiscale:  # one scale each: dilation 1
            temporal, spatial = [("temporal", 1)], [("spatial", 1)] if spatial else []
        self.reduce = nn.Sequential(nn.Conv3d(channels, hidden, 1, bias=False),
                                    nn.BatchNorm3d(hidden), nn.ReLU(inplace=True))
        self.temporal = self._branches(temporal, hidden, s.temporal_kernel, channels)
        self.spatial = self._branches(spatial, hidden, s.temporal_kernel, channels)
        self.branch_kinds = [f"{kind}{'' if d is None else f'_d{d}'}" for kind, d in temporal + spatial]
        self.temporal_norm = nn.Sequential(nn.BatchNorm3d(hidden), nn.ReLU(inplace=True))
        self.spatial_norm = nn.Sequential(nn.BatchNorm3d(hidden), nn.ReLU(inplace=True)) if spatial else None
        self.expand = nn.Sequential(nn.Conv3d(hidden, channels, 1, bias=False), nn.BatchNorm3d(channels))
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _branches(kinds, hidden: int, kernel: int, channels: int) -> nn.ModuleList:
        widths = _split(hidden, len(kinds)) if kinds else []
        if widths and min(widths) < 1:
            raise ValueError(f"{hidden} hidden channels cannot feed {len(kinds)} branches ({channels} channels)")
        branches = nn.ModuleList()
        for (kind, dilation), width in zip(kinds, widths):
            if kind == "temporal":
                branches.append(_temporal_conv(hidden, width, kernel, dilation))
            elif kind == "spatial":
                branches.append(_spatial_conv(hidden, width, dilation))
            else:
                branches.append(GlobalContext(hidden, width, "clip" if kind == "global_temporal" else "frame"))
        return branches

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.reduce(x)  # N x C/r x T x H x W
        # temporal scales, each a slice of C/r, then (factorised, as R(2+1)D) the spatial scales
        hidden = self.temporal_norm(torch.cat([branch(hidden) for branch in self.temporal], dim=1))
        if self.spatial_norm is not None:
            hidden = self.spatial_norm(torch.cat([branch(hidden) for branch in self.spatial], dim=1))
        return self.relu(x + self.expand(hidden))
