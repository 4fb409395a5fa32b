"""ST-GCN (Yan et al. 2018): the graph-convolution skeleton baseline on raw COCO-17 keypoints.

Layouts: input ``N x C x T x V x M`` (C = 3: x, y, score; V = 17 COCO joints; M persons), output
``{"logits": N x classes, "embedding": N x D}`` with D = the last block's width. As in ST-GCN, a
data BatchNorm runs over the C * V * M input channels, persons are folded into the batch
(``N*M x C x T x V``) through the blocks and their pooled features are averaged (the forward
MS-G3D shares: `crychic.models.keypoint_input.KeypointGCN`).

Each block is a spatial graph conv (one 1x1 conv per partition, aggregated over the joints by the
partition's adjacency, optionally times a learnt edge importance) then a temporal conv
(``temporal_kernel x 1``), both with BatchNorm, plus a residual. The adjacency is the spatial
partition of the COCO-17 skeleton (`crychic.core.coco17.SKELETON_EDGES`) rooted at the nose: per joint
i, its neighbours j at the same hop distance from the root (and i itself), those nearer the root,
and those farther, each partition row-normalised (a mean over that group of neighbours).
Blocks widen where `channels` grows and halve T there (stride 2).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from crychic.core.coco17 import NUM_JOINTS, SKELETON_EDGES
from crychic.models.keypoint_input import KeypointGCN
from crychic.models.registry import register_model

ROOT_JOINT = 0  # nose: PYSKL's centre of the COCO graph


@dataclass(frozen=True)
class STGCNConfig:
    num_classes: int = 60
    in_channels: int = 3
    num_persons: int = 2           # M: the data BatchNorm has C * V * M channels
    channels: tuple = (32, 64, 64)
    temporal_kernel: int = 9
    dropout: float = 0.0           # inside each block, after the temporal conv (ST-GCN: 0.5 on NTU)
    edge_importance: bool = True   # learnt per-block weights on the adjacency (ST-GCN's "adaptive" edges)

    def __post_init__(self):  # lists from a checkpoint's asdict / YAML become tuples again
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))


def hop_distance(num_nodes: int, edges, root: int) -> np.ndarray:
    neighbours = [[] for _ in range(num_nodes)]
    for a, b in edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    hops, queue = np.full(num_nodes, -1), deque([root])
    hops[root] = 0
    while queue:
        i = queue.popleft()
        for j in neighbours[i]:
            if hops[j] < 0:
                hops[j] = hops[i] + 1
                queue.append(j)
    if (hops < 0).any():
        raise ValueError(f"skeleton graph is not connected: joints {np.flatnonzero(hops < 0).tolist()} unreachable")
    return hops


def spatial_adjacency(num_nodes: int = NUM_JOINTS, edges=SKELETON_EDGES, root: int = ROOT_JOINT) -> np.ndarray:
    """``3 x V x V``: A[k, i, j] is the weight of joint j's message to joint i in partition k
    (0: self and same hop, 1: inward, from j farther from the root, 2: outward, from j nearer)."""
    hops = hop_distance(num_nodes, edges, root)
    A = np.zeros((3, num_nodes, num_nodes), dtype=np.float32)
    A[0] = np.eye(num_nodes)
    for a, b in edges:
        for i, j in ((a, b), (b, a)):
            A[0 if hops[j] == hops[i] else 1 if hops[j] > hops[i] else 2, i, j] = 1.0
    rows = A.sum(axis=2, keepdims=True)
    return np.divide(A, rows, out=np.zeros_like(A), where=rows > 0)


class STGCNBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, A: torch.Tensor, stride: int, cfg: STGCNConfig, residual: bool = True):
        super().__init__()
        self.register_buffer("A", A, persistent=False)
        self.importance = nn.Parameter(torch.ones_like(A)) if cfg.edge_importance else None
        self.gcn = nn.Conv2d(c_in, c_out * len(A), 1)
        k = cfg.temporal_kernel
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, (k, 1), (stride, 1), ((k - 1) // 2, 0)), nn.BatchNorm2d(c_out),
            nn.Dropout(cfg.dropout, inplace=True))
        if not residual:
            self.residual = None
        elif c_in == c_out and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N x C x T x V
        A = self.A if self.importance is None else self.A * self.importance
        n, _, t, v = x.shape
        y = self.gcn(x).view(n, len(A), -1, t, v)
        y = self.tcn(torch.einsum("nkctj,kij->ncti", y, A))
        return self.relu(y if self.residual is None else y + self.residual(x))


class STGCN(KeypointGCN):
    def __init__(self, config: STGCNConfig):
        super().__init__()
        self.config = cfg = config
        A = torch.from_numpy(spatial_adjacency())
        self.num_joints = A.shape[-1]
        self.data_bn = nn.BatchNorm1d(cfg.in_channels * self.num_joints * cfg.num_persons)
        widths = (cfg.in_channels, *cfg.channels)
        self.blocks = nn.ModuleList(
            STGCNBlock(c_in, c_out, A, 2 if i > 0 and c_out > c_in else 1, cfg, residual=i > 0)
            for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])))
        self.dropout = nn.Identity()  # none before the classifier: ST-GCN's is inside the blocks
        self.fc = nn.Linear(cfg.channels[-1], cfg.num_classes)


# ST-GCN's published layout (10 blocks, stride 2 where the width doubles) and a 2-CPU-sized one.
STGCN_PAPER = STGCNConfig(channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256), dropout=0.5)
STGCN_TINY = STGCNConfig(channels=(32, 64, 64))
GCN_MODELS = ("stgcn", "stgcn_tiny")  # the registry names of this family (inputs N x C x T x V x M)


@register_model("stgcn")
def stgcn(**overrides) -> STGCN:
    return STGCN(replace(STGCN_PAPER, **overrides))


@register_model("stgcn_tiny")
def stgcn_tiny(**overrides) -> STGCN:
    return STGCN(replace(STGCN_TINY, **overrides))
