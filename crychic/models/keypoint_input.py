"""What every network on raw keypoints does first (ST-GCN, MS-G3D, STA-LSTM), and the forward the
two graph-conv networks share (`KeypointGCN`).

Layouts: keypoints ``N x C x T x V x M`` (C = 3: x, y, score; V = 17 COCO joints; M persons). A
data BatchNorm normalises each of the ``M * V * C`` input channels over the batch and time (the
coordinates of a wrist and of a hip live in different ranges); then the persons are folded into
the batch, ``N*M x C x T x V``, and averaged again after the network (`average_persons`).
"""

from __future__ import annotations

import torch
from torch import nn


def normalise_and_fold(keypoint: torch.Tensor, data_bn: nn.BatchNorm1d, *, model: str, in_channels: int,
                       num_joints: int, num_persons: int) -> torch.Tensor:
    """``N x C x T x V x M`` -> ``N*M x C x T x V``, normalised per (person, joint, channel)."""
    n, c, t, v, m = keypoint.shape
    if (c, v, m) != (in_channels, num_joints, num_persons):
        raise ValueError(f"{model} expects N x {in_channels} x T x {num_joints} x {num_persons} (C x T x V x M), "
                         f"got {tuple(keypoint.shape)}")
    x = keypoint.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t)  # N x (M V C) x T
    return data_bn(x).view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)  # N*M x C x T x V


def average_persons(per_person: torch.Tensor, num_persons: int) -> torch.Tensor:
    """``N*M x ...`` -> ``N x ...``: the mean over the persons folded into the batch."""
    return per_person.view(-1, num_persons, *per_person.shape[1:]).mean(dim=1)


class KeypointGCN(nn.Module):
    """ST-GCN and MS-G3D differ in their blocks only: both normalise and fold the persons, run the
    blocks on ``N*M x C x T x V``, pool over T and V, average the persons and classify. A subclass
    builds `config` (with `in_channels`, `num_persons`, `channels`), `num_joints`, `data_bn`,
    `blocks`, `dropout` (before the classifier; `nn.Identity()` for none) and `fc`.

    Output ``{"logits": N x classes, "embedding": N x D}``, D = the last block's width."""

    @property
    def embed_dim(self) -> int:
        return self.config.channels[-1]

    def forward(self, keypoint: torch.Tensor) -> dict[str, torch.Tensor]:
        x = normalise_and_fold(keypoint, self.data_bn, model=type(self).__name__, in_channels=self.config.in_channels,
                               num_joints=self.num_joints, num_persons=self.config.num_persons)  # N*M x C x T x V
        for block in self.blocks:
            x = block(x)
        embedding = average_persons(x.mean(dim=(2, 3)), self.config.num_persons)  # pool T and V: N x D
        return {"logits": self.fc(self.dropout(embedding)), "embedding": embedding}
