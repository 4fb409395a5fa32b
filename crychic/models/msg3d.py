"""MS-G3D (Liu et al., CVPR 2020): a skeleton baseline with multi-scale and cross-frame graph convolutions.

Layouts: input ``N x C x T x V x M`` (C = 3: x, y, score; V = 17 COCO joints; M persons), output
``{"logits": N x classes, "embedding": N x D}`` with D = the last block's width: the contract of
`crychic.models.stgcn`, so the GCN training code takes either (both are `KeypointGCN`s, with one
forward, in `crychic.models.keypoint_input`). As there, a data BatchNorm runs over the C * V * M
input channels, persons are folded into the batch (``N*M x C x T x V``) through the blocks, and
their pooled features are averaged.

The paper's two ideas. (1) Disentangled multi-scale aggregation: powers of the adjacency let a joint
hear far joints, but ``A^k`` is dominated by the near ones (every walk of length k counts), so
MS-G3D gives each hop distance its own graph instead: scale k links the joints exactly k hops apart
(plus self-loops; k = 0 is the identity), each symmetrically normalised ``D^-1/2 A D^-1/2``, and a
1x1 convolution over the stacked scales learns how much each distance matters. (2) G3D, unified
spatial-temporal graph convolution: ST-GCN's factorised "graph conv per frame, then temporal conv"
cannot pass a message from joint i at frame t straight to joint j at frame t+1. G3D slides a window
of tau frames over the clip, treats the window's tau * V joints as one graph whose adjacency is the
skeleton's (with self-loops) tiled tau x tau (so joint i at any frame of the window is linked to itself
and its neighbours at every frame), runs the multi-scale graph conv on it, and collapses the window
with a ``1 x tau x 1`` convolution. Each block (the paper's STGC block) sums a factorised pathway
(multi-scale graph conv, then two multi-scale temporal convs) and the G3D pathway(s), one per window
size, then applies one more multi-scale temporal conv. A multi-scale temporal conv (MS-TCN) runs
parallel branches, each a 1x1 bottleneck and one dilated ``k x 1`` temporal conv, plus a max-pool
and a 1x1 branch, each branch writing its own slice of the output channels, plus a residual.
As in the paper, each normalised adjacency gets a learnt residual mask (initialised near zero).
Blocks widen where `channels` grows and halve T there (stride 2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from crychic.core.coco17 import NUM_JOINTS, SKELETON_EDGES
from crychic.models.keypoint_input import KeypointGCN
from crychic.models.registry import register_model


@dataclass(frozen=True)
class MSG3DConfig:
    num_classes: int = 60
    in_channels: int = 3
    num_persons: int = 2               # M: the data BatchNorm has C * V * M channels
    channels: tuple = (32, 64, 128)    # one STGC block per entry
    gcn_scales: int = 4                # factorised pathway: hop distances 0 (self) .. gcn_scales - 1
    g3d_scales: int = 3                # G3D pathway: hop distances 0 .. g3d_scales - 1 on the window graph
    g3d_windows: tuple = (3,)          # tau, frames per G3D window (odd); several windows run in parallel, summed
    temporal_kernel: int = 3           # of each dilated MS-TCN branch
    temporal_dilations: tuple = (1, 2)  # one MS-TCN branch each, plus a max-pool and a 1x1 branch
    learnable_mask: bool = True        # the paper's A_res: a learnt residual on every normalised adjacency
    dropout: float = 0.0               # before the classifier

    def __post_init__(self):  # lists from a checkpoint's asdict / YAML become tuples again
        for name in ("channels", "g3d_windows", "temporal_dilations"):
            object.__setattr__(self, name, tuple(int(c) for c in getattr(self, name)))
        if any(w % 2 == 0 for w in self.g3d_windows) or self.temporal_kernel % 2 == 0:
            raise ValueError(f"G3D windows and the temporal kernel must be odd to keep T, got "
                             f"{self.g3d_windows} and {self.temporal_kernel}")


# --- graphs ---------------------------------------------------------------------------------------------------

def skeleton_graph(num_nodes: int = NUM_JOINTS, edges=SKELETON_EDGES) -> np.ndarray:
    """``V x V`` binary, symmetric, no self-loops: 1 where two joints share a bone."""
    A = np.zeros((num_nodes, num_nodes), dtype=np.float32)
    for a, b in edges:
        A[a, b] = A[b, a] = 1.0
    return A


def k_hop_graph(A: np.ndarray, k: int) -> np.ndarray:
    """Binary: nodes exactly ``k`` hops apart in the graph ``A``, plus self-loops (``k = 0``: the identity)."""
    eye = np.eye(len(A), dtype=np.float32)
    if k == 0:
        return eye
    within_k = np.linalg.matrix_power(A + eye, k) > 0        # reachable in <= k hops
    within_k_minus_1 = np.linalg.matrix_power(A + eye, k - 1) > 0
    return (within_k & ~within_k_minus_1).astype(np.float32) + eye


def normalise_symmetric(A: np.ndarray) -> np.ndarray:
    """``D^-1/2 A D^-1/2`` with D the row sums (every row of a k-hop graph has its self-loop, so D > 0)."""
    inv_sqrt_degree = 1.0 / np.sqrt(A.sum(axis=1))
    return (inv_sqrt_degree[:, None] * A * inv_sqrt_degree[None, :]).astype(np.float32)


def multiscale_adjacency(A: np.ndarray, num_scales: int) -> np.ndarray:
    """``S x V x V``: scale k is the normalised graph of the nodes exactly k hops apart (with self-loops)."""
    return np.stack([normalise_symmetric(k_hop_graph(A, k)) for k in range(num_scales)])


def window_graph(A: np.ndarray, window: int) -> np.ndarray:
    """``tau V x tau V`` binary graph of a G3D window: node ``t * V + i`` is joint i at window frame t.
    The skeleton with self-loops is tiled tau x tau, so joint i at frame t is linked to joint i and its
    neighbours at every frame of the window (cross-frame edges); a node's link to itself is dropped
    (self-loops come back in every scale of `k_hop_graph`)."""
    eye = np.eye(len(A), dtype=np.float32)
    return np.tile(A + eye, (window, window)) - np.eye(window * len(A), dtype=np.float32)


# --- layers ---------------------------------------------------------------------------------------------------

def split_channels(total: int, parts: int) -> list[int]:
    """``total`` channels in ``parts`` near-equal slices (the first ones one larger)."""
    widths = [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
    if min(widths) < 1:
        raise ValueError(f"{total} channels cannot feed {parts} branches")
    return widths


class MultiScaleGCN(nn.Module):
    """Disentangled multi-scale graph conv: ``N x C x T x V`` -> ``N x C' x T x V`` (V: the graph's nodes)."""

    def __init__(self, c_in: int, c_out: int, A_scales: torch.Tensor, learnable_mask: bool):
        super().__init__()
        self.register_buffer("A_scales", A_scales, persistent=False)  # S x V x V
        self.mask = nn.Parameter(torch.empty_like(A_scales).uniform_(-1e-6, 1e-6)) if learnable_mask else None
        self.mlp = nn.Sequential(nn.Conv2d(c_in * len(A_scales), c_out, 1, bias=False), nn.BatchNorm2d(c_out),
                                 nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        A = self.A_scales if self.mask is None else self.A_scales + self.mask
        n, c, t, v = x.shape
        support = torch.einsum("sij,nctj->nscti", A, x)  # N x S x C x T x V: each scale's aggregate
        return self.mlp(support.reshape(n, -1, t, v))  # scales stacked as channels: N x S*C x T x V


class G3D(nn.Module):
    """Unified spatial-temporal graph conv over windows of tau frames: ``N x C x T x V`` -> ``N x C' x T' x V``
    (T' = ceil(T / stride)); output frame t' sees input frames ``t' * stride +- (tau - 1) / 2``."""

    def __init__(self, c_in: int, c_out: int, embed_channels: int, skeleton: np.ndarray, window: int, stride: int,
                 num_scales: int, learnable_mask: bool):
        super().__init__()
        self.window, self.embed_channels = window, embed_channels
        self.unfold = nn.Unfold(kernel_size=(window, 1), stride=(stride, 1), padding=((window - 1) // 2, 0))
        A_window = torch.from_numpy(multiscale_adjacency(window_graph(skeleton, window), num_scales))
        self.gcn = MultiScaleGCN(c_in, embed_channels, A_window, learnable_mask)
        self.collapse = nn.Conv3d(embed_channels, c_out, (1, window, 1), bias=False)  # the window's tau frames -> 1
        self.norm = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, _, v = x.shape
        windows = self.unfold(x)  # N x (C tau) x (T' V): window frames of each channel, then windows x joints
        windows = windows.view(n, c, self.window, -1, v).permute(0, 1, 3, 2, 4)  # N x C x T' x tau x V
        windows = windows.reshape(n, c, -1, self.window * v)  # N x C x T' x tau V: one graph per window
        y = self.gcn(windows).view(n, self.embed_channels, -1, self.window, v)  # N x C_e x T' x tau x V
        return self.norm(self.collapse(y).squeeze(3))  # N x C' x T' x V


class MultiScaleTCN(nn.Module):
    """Parallel temporal branches, each writing a slice of the C' channels, plus a residual:
    ``N x C x T x V`` -> ``N x C' x T' x V`` (T' = ceil(T / stride))."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilations, stride: int = 1, activation: bool = True):
        super().__init__()
        widths = split_channels(c_out, len(dilations) + 2)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                          nn.Conv2d(width, width, (kernel, 1), (stride, 1), (dilation * (kernel - 1) // 2, 0),
                                    (dilation, 1), bias=False),
                          nn.BatchNorm2d(width))
            for dilation, width in zip(dilations, widths))
        max_width, point_width = widths[-2:]
        self.branches.append(nn.Sequential(
            nn.Conv2d(c_in, max_width, 1, bias=False), nn.BatchNorm2d(max_width), nn.ReLU(inplace=True),
            nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(max_width)))
        self.branches.append(nn.Sequential(nn.Conv2d(c_in, point_width, 1, (stride, 1), bias=False),
                                           nn.BatchNorm2d(point_width)))
        if c_in == c_out and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1), bias=False), nn.BatchNorm2d(c_out))
        self.activation = nn.ReLU(inplace=True) if activation else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([branch(x) for branch in self.branches], dim=1)  # N x C' x T' x V
        return self.activation(out + self.residual(x))


class MSG3DBlock(nn.Module):
    """The paper's STGC block: factorised pathway + G3D pathway(s), summed, then an MS-TCN."""

    def __init__(self, c_in: int, c_out: int, stride: int, skeleton: np.ndarray, cfg: MSG3DConfig, first: bool):
        super().__init__()
        tcn = dict(kernel=cfg.temporal_kernel, dilations=cfg.temporal_dilations)
        A_scales = torch.from_numpy(multiscale_adjacency(skeleton, cfg.gcn_scales))
        self.factorised = nn.Sequential(
            MultiScaleGCN(c_in, c_out, A_scales, cfg.learnable_mask),
            MultiScaleTCN(c_out, c_out, stride=stride, **tcn),
            MultiScaleTCN(c_out, c_out, activation=False, **tcn))
        # As in the paper, the window graph conv keeps the block's input width and the window collapse
        # widens; the first block widens at once (3 input channels are too few to aggregate).
        embed_channels = c_out if first else c_in
        self.g3d = nn.ModuleList(G3D(c_in, c_out, embed_channels, skeleton, window, stride, cfg.g3d_scales,
                                     cfg.learnable_mask) for window in cfg.g3d_windows)
        self.relu = nn.ReLU(inplace=True)
        self.tcn = MultiScaleTCN(c_out, c_out, **tcn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N x C x T x V -> N x C' x T' x V
        y = self.factorised(x)
        for pathway in self.g3d:
            y = y + pathway(x)
        return self.tcn(self.relu(y))


class MSG3D(KeypointGCN):
    def __init__(self, config: MSG3DConfig):
        super().__init__()
        self.config = cfg = config
        skeleton = skeleton_graph()
        self.num_joints = len(skeleton)
        self.data_bn = nn.BatchNorm1d(cfg.in_channels * self.num_joints * cfg.num_persons)
        widths = (cfg.in_channels, *cfg.channels)
        self.blocks = nn.ModuleList(
            MSG3DBlock(c_in, c_out, 2 if i > 0 and c_out > c_in else 1, skeleton, cfg, first=i == 0)
            for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])))
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.channels[-1], cfg.num_classes)


# A 2-CPU-sized default, and the paper's layout (widths 96/192/384, windows 3 and 5, 6 G3D scales,
# 4 dilations) with the factorised pathway covering every hop distance of COCO-17 (its diameter is 6;
# the paper's 13 scales cover NTU's 25-joint graph).
MSG3D_SMALL = MSG3DConfig(channels=(16, 32, 64))  # 0.08 M parameters, ST-GCN tiny's size
MSG3D_PAPER = MSG3DConfig(channels=(96, 192, 384), gcn_scales=7, g3d_scales=6, g3d_windows=(3, 5),
                          temporal_dilations=(1, 2, 3, 4))
MSG3D_MODELS = ("msg3d", "msg3d_paper")  # registry names (inputs N x C x T x V x M)


@register_model("msg3d")
def msg3d(**overrides) -> MSG3D:
    return MSG3D(replace(MSG3D_SMALL, **overrides))


@register_model("msg3d_paper")
def msg3d_paper(**overrides) -> MSG3D:
    return MSG3D(replace(MSG3D_PAPER, **overrides))
