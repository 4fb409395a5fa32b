"""Multi-scale temporal modelling (CRYCHIC innovation 3) on a video feature map ``N x C x T x H x W``.

Fine motions (a finger tap) live in a few frames, long actions (sitting down) in many. One block
looks at both: a 1x1x1 bottleneck, then parallel temporal convolutions (``k x 1 x 1``) with
different kernel sizes / dilations, each writing its own slice of the hidden channels, then a
1x1x1 expansion added back to the input (residual, so the block keeps ``N x C x T x H x W``).

Every branch reads all hidden channels and writes ``hidden / branches`` of them, so the temporal
convolutions together hold exactly the weights of one ``k x 1 x 1`` convolution on the hidden
channels. ``multiscale=False`` swaps in that single plain convolution (dilation 1): the ablation
"without multi-scale temporal modelling", with the same parameter count when one kernel size is
used (with several, the plain conv takes the first).
"""

from __future__ import annotations

from itertools import product

import torch
from torch import nn


def _split(total: int, parts: int) -> list[int]:
    """``total`` channels in ``parts`` near-equal slices (the first ones one larger)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _temporal_conv(c_in: int, c_out: int, kernel: int, dilation: int) -> nn.Conv3d:
    if kernel % 2 == 0:
        raise ValueError(f"temporal kernel sizes must be odd to keep T, got {kernel}")
    return nn.Conv3d(c_in, c_out, (kernel, 1, 1), padding=(dilation * (kernel - 1) // 2, 0, 0),
                     dilation=(dilation, 1, 1), bias=False)


class MultiScaleTemporal(nn.Module):
    """Residual temporal block; ``N x C x T x H x W`` in and out, T unchanged."""

    def __init__(self, channels: int, kernel_sizes=(3,), dilations=(1, 2, 3), *,
                 bottleneck_ratio: int = 4, multiscale: bool = True):
        super().__init__()
        hidden = max(channels // bottleneck_ratio, 1)
        scales = list(product(kernel_sizes, dilations)) if multiscale else [(kernel_sizes[0], 1)]
        widths = _split(hidden, len(scales))
        if min(widths) < 1:
            raise ValueError(f"{hidden} hidden channels cannot feed {len(scales)} temporal branches")
        self.reduce = nn.Sequential(nn.Conv3d(channels, hidden, 1, bias=False),
                                    nn.BatchNorm3d(hidden), nn.ReLU(inplace=True))
        self.branches = nn.ModuleList(_temporal_conv(hidden, width, k, d)
                                      for (k, d), width in zip(scales, widths))
        self.temporal_norm = nn.Sequential(nn.BatchNorm3d(hidden), nn.ReLU(inplace=True))
        self.expand = nn.Sequential(nn.Conv3d(hidden, channels, 1, bias=False), nn.BatchNorm3d(channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.reduce(x)  # N x C/r x T x H x W
        hidden = torch.cat([branch(hidden) for branch in self.branches], dim=1)  # slices of C/r, one per scale
        return self.relu(x + self.expand(self.temporal_norm(hidden)))
