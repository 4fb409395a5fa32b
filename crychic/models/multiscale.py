"""Multi-scale spatiotemporal modelling (CRYCHIC innovation 3) on a video feature map ``N x C x T x H x W``.

Fine motions (a finger tap) live in a few frames and a few pixels, long actions (sitting down) in
many frames and the whole body. One residual block looks at several scales of both at once: a
1x1x1 bottleneck to ``C/r`` hidden channels, then parallel branches, each writing its own slice
of the hidden channels, then a 1x1x1 expansion added back to the input (``N x C x T x H x W`` in
and out).

Branches (`MultiScaleScales`):
- temporal ``k x 1 x 1`` convolutions with dilations ``temporal_dilations`` (3, 5, 7 frames for
  dilations 1, 2, 3 with k = 3);
- spatial ``1 x 3 x 3`` convolutions with dilations ``spatial_dilations``;
- ``global_temporal``: the mean over the clip, a 1x1x1 convolution, broadcast back over T (the
  scale of the whole clip, however short it is);
- ``global_spatial``: the mean over the frame, a 1x1x1 convolution, broadcast back over H x W.

Scales must fit the maps they see: a dilation-3 temporal kernel over a 4-frame clip, or a
dilation-2 3x3 kernel over a 3 x 3 map, mostly reads padding. So each network's preset picks
dilations for its clip length and map sizes, and the global branches give the coarsest scale at
any size (README: the default RGB clip has 4 frames, so the student's temporal scales are 3
frames and the whole clip).

``multiscale=False`` is the ablation "without multi-scale": one temporal and one spatial branch,
dilation 1, holding the same hidden slices (the global branches' slices go to the temporal one).
Every dilated branch reads all hidden channels and writes a slice, so the temporal (spatial)
branches together hold exactly the weights of one temporal (spatial) convolution: the two forms
have the same parameter count, up to the global branches' 1x1x1 weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
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
    """Mean over ``dims`` (T: (2,), H x W: (3, 4)), a 1x1x1 conv, broadcast back: the coarsest scale."""

    def __init__(self, c_in: int, c_out: int, dims: tuple):
        super().__init__()
        self.dims = dims
        self.conv = nn.Conv3d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.mean(dim=self.dims, keepdim=True)).expand(-1, -1, *x.shape[2:])


class MultiScaleSpatioTemporal(nn.Module):
    """Residual block; ``N x C x T x H x W`` in and out, T, H and W unchanged."""

    def __init__(self, channels: int, scales: MultiScaleScales = MultiScaleScales(), *,
                 bottleneck_ratio: int = 4, multiscale: bool = True):
        super().__init__()
        hidden = max(channels // bottleneck_ratio, 1)
        s = scales
        kinds = ([("temporal", d) for d in s.temporal_dilations] + [("spatial", d) for d in s.spatial_dilations]
                 + [("global_temporal", None)] * s.global_temporal + [("global_spatial", None)] * s.global_spatial)
        widths = _split(hidden, len(kinds))
        if min(widths) < 1:
            raise ValueError(f"{hidden} hidden channels cannot feed {len(kinds)} branches ({channels} channels)")
        if not multiscale:  # one temporal and one spatial branch, dilation 1, same slices
            spatial = sum(w for (kind, _), w in zip(kinds, widths) if kind in ("spatial", "global_spatial"))
            kinds, widths = [("temporal", 1), ("spatial", 1)], [hidden - spatial, spatial]
        self.reduce = nn.Sequential(nn.Conv3d(channels, hidden, 1, bias=False),
                                    nn.BatchNorm3d(hidden), nn.ReLU(inplace=True))
        self.branches = nn.ModuleList()
        for (kind, dilation), width in zip(kinds, widths):
            if kind == "temporal":
                self.branches.append(_temporal_conv(hidden, width, s.temporal_kernel, dilation))
            elif kind == "spatial":
                self.branches.append(_spatial_conv(hidden, width, dilation))
            else:
                self.branches.append(GlobalContext(hidden, width, (2,) if kind == "global_temporal" else (3, 4)))
        self.branch_kinds = [f"{kind}{'' if d is None else f'_d{d}'}" for kind, d in kinds]
        self.norm = nn.Sequential(nn.BatchNorm3d(hidden), nn.ReLU(inplace=True))
        self.expand = nn.Sequential(nn.Conv3d(hidden, channels, 1, bias=False), nn.BatchNorm3d(channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.reduce(x)  # N x C/r x T x H x W
        hidden = torch.cat([branch(hidden) for branch in self.branches], dim=1)  # one slice of C/r per scale
        return self.relu(x + self.expand(self.norm(hidden)))
