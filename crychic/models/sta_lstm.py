"""STA-LSTM (Song et al., AAAI 2017): a recurrent skeleton baseline with spatial and temporal attention.

Layouts: input ``N x C x T x V x M`` (C = 3: x, y, score; V = 17 COCO joints; M persons), output
``{"logits": N x classes, "embedding": N x D, "spatial_attention": N x T x V, "temporal_attention":
N x T}`` with D = the main LSTM's width: the contract of `crychic.models.stgcn`, so the GCN training
code takes either. As there, a data BatchNorm runs over the C * V * M input channels and persons are
folded into the batch (``N*M x T x V*C``, one frame a vector); their embeddings, and their
attention weights, are averaged.

The paper's idea: not every joint, nor every frame, matters for an action (the hands for drinking;
the few frames of the actual kick). A spatial attention module weighs the joints of each frame,
``alpha_t = softmax_V(U tanh(W_x x_t + W_h h^s_{t-1} + b) + b_u)``, where ``h^s`` is the hidden state of
the module's own LSTM over the frames, so the weights depend on the current frame and what came
before; the main LSTM reads the weighted joints. A temporal attention module, likewise with its own
LSTM, gives one weight ``beta_t`` per frame, and the clip's class scores are the ``beta``-weighted sum of
the per-frame scores ``W h_t + b`` of the main LSTM's last layer (equal to the classifier on the
``beta``-weighted sum of the ``h_t``, the embedding, because the weights sum to 1). Two departures from
the paper, both to keep the scale of things fixed: ``beta`` is a softmax over the frames (the paper
uses an unnormalised ReLU gate, so its clip score grows with T), and the weighted joints are
``V * alpha_{t,v} * x_{t,v}`` (uniform attention leaves the input as it is). The paper's attention
regularisers in the loss are left to the training code.
Because each attention LSTM only reads the input, its hidden states for all frames come from one
`nn.LSTM` call; ``h^s_{t-1}`` is that sequence shifted by one frame (zeros before the first).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from crychic.core.coco17 import NUM_JOINTS
from crychic.models.keypoint_input import average_persons, normalise_and_fold
from crychic.models.registry import register_model


@dataclass(frozen=True)
class STALSTMConfig:
    num_classes: int = 60
    in_channels: int = 3
    num_persons: int = 2             # M: the data BatchNorm has C * V * M channels
    hidden_size: int = 96            # main LSTM width: the embedding size D
    num_layers: int = 2              # main LSTM depth
    attention_hidden_size: int = 48  # width of the spatial and of the temporal attention LSTM
    dropout: float = 0.0             # between the main LSTM's layers and before the classifier


def previous_states(hidden: torch.Tensor) -> torch.Tensor:
    """``B x T x H`` hidden states -> those of the frame before (``h_{t-1}``; zeros at t = 0)."""
    return F.pad(hidden, (0, 0, 1, 0))[:, :-1]


class SpatialAttention(nn.Module):
    """Weights over the joints of each frame: ``B x T x V*C`` frames -> ``B x T x V`` (each row sums to 1)."""

    def __init__(self, num_joints: int, in_channels: int, hidden_size: int):
        super().__init__()
        frame_size = num_joints * in_channels
        self.lstm = nn.LSTM(frame_size, hidden_size, batch_first=True)
        self.from_input = nn.Linear(frame_size, hidden_size)               # W_x, b
        self.from_hidden = nn.Linear(hidden_size, hidden_size, bias=False)  # W_h
        self.joint_scores = nn.Linear(hidden_size, num_joints)             # U, b_u

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(frames)  # B x T x H: h^s_t
        scores = self.joint_scores(torch.tanh(self.from_input(frames) + self.from_hidden(previous_states(hidden))))
        return scores.softmax(dim=-1)  # B x T x V


class TemporalAttention(nn.Module):
    """One weight per frame: ``B x T x V*C`` frames -> ``B x T`` (each row sums to 1)."""

    def __init__(self, frame_size: int, hidden_size: int):
        super().__init__()
        self.lstm = nn.LSTM(frame_size, hidden_size, batch_first=True)
        self.from_input = nn.Linear(frame_size, 1, bias=False)  # no bias: a softmax over T ignores a constant
        self.from_hidden = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(frames)  # B x T x H: h~_t
        scores = self.from_input(frames) + self.from_hidden(previous_states(hidden))  # B x T x 1
        return scores.squeeze(-1).softmax(dim=-1)  # B x T


class STALSTM(nn.Module):
    def __init__(self, config: STALSTMConfig):
        super().__init__()
        self.config = cfg = config
        self.num_joints = NUM_JOINTS
        frame_size = cfg.in_channels * self.num_joints
        self.data_bn = nn.BatchNorm1d(frame_size * cfg.num_persons)
        self.spatial_attention = SpatialAttention(self.num_joints, cfg.in_channels, cfg.attention_hidden_size)
        self.temporal_attention = TemporalAttention(frame_size, cfg.attention_hidden_size)
        self.lstm = nn.LSTM(frame_size, cfg.hidden_size, cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(cfg.hidden_size, cfg.num_classes)

    @property
    def embed_dim(self) -> int:
        return self.config.hidden_size

    def forward(self, keypoint: torch.Tensor) -> dict[str, torch.Tensor]:
        n, c, t, v, m = keypoint.shape
        x = normalise_and_fold(keypoint, self.data_bn, model="STALSTM", in_channels=self.config.in_channels,
                               num_joints=self.num_joints, num_persons=self.config.num_persons)  # N*M x C x T x V
        x = x.permute(0, 2, 3, 1)  # N*M x T x V x C
        frames = x.reshape(n * m, t, v * c)  # N*M x T x V*C: one vector per frame
        alpha = self.spatial_attention(frames)  # N*M x T x V
        weighted = (x * (v * alpha).unsqueeze(-1)).reshape(n * m, t, v * c)  # each joint's C values times V alpha
        hidden, _ = self.lstm(weighted)  # N*M x T x D: the last layer's h_t
        beta = self.temporal_attention(frames)  # N*M x T
        embedding = torch.einsum("bt,btd->bd", beta, hidden)  # sum_t beta_t h_t: N*M x D
        embedding = average_persons(embedding, m)  # N x D
        return {"logits": self.fc(self.dropout(embedding)), "embedding": embedding,
                "spatial_attention": average_persons(alpha, m), "temporal_attention": average_persons(beta, m)}


# A 2-CPU-sized default and the paper's layout: a main LSTM of three 100-unit layers, 100-unit
# attention LSTMs (dropout 0.5 is this project's choice).
STA_LSTM_SMALL = STALSTMConfig()
STA_LSTM_PAPER = STALSTMConfig(hidden_size=100, num_layers=3, attention_hidden_size=100, dropout=0.5)
STA_LSTM_MODELS = ("sta_lstm", "sta_lstm_paper")  # registry names (inputs N x C x T x V x M)


@register_model("sta_lstm")
def sta_lstm(**overrides) -> STALSTM:
    return STALSTM(replace(STA_LSTM_SMALL, **overrides))


@register_model("sta_lstm_paper")
def sta_lstm_paper(**overrides) -> STALSTM:
    return STALSTM(replace(STA_LSTM_PAPER, **overrides))
