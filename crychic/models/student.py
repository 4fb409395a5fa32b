"""The dense-modality student: a ResNet18-family 2D network per frame, with temporal blocks.

Input RGB clips ``N x 3 x T x H x W``. Frames go through the 2D ResNet as ``N*T`` images; after
layer2, layer3 and layer4 the maps are viewed as ``N x C x T x h x w`` and a multi-scale block
(multi-scale, single-scale, or none: the ablation switch) mixes frames; spatial scales are
available (`spatial_dilations`, `global_spatial`) but off, chosen on val (see the config). The stem (7x7 stride 2 + max-pool)
is ResNet18's, so layer2..layer4 are 28/14/7 for 224 and 14/7/4 for 112: one-to-one with the
teacher's 28/14/7 stages on its 56 x 56 heatmaps. Random init: no ImageNet weights here.

Teacher guidance: ``attention_weights`` holds one ``N x 1 x T x h x w`` map per stage (already
aligned to this student's T and h x w, values in [0, 1]); a stage's output F becomes
``F * (1 + A)`` before it feeds the next stage, so the guidance shapes every later feature while a
zero map leaves F as is. The returned ``features`` are each stage's maps *before* that weighting:
the student's own attention, the one the attention-transfer loss pulls toward the teacher's,
and the one that must stand alone at pose-free inference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from crychic.models.multiscale import MultiScaleScales, MultiScaleSpatioTemporal
from crychic.models.attention import spatial_attention
from crychic.models.registry import register_model

TEMPORAL_MODES = ("multiscale", "plain", "none")


@dataclass(frozen=True)
class StudentConfig:
    num_classes: int = 60
    in_channels: int = 3
    width: int = 64  # layer1 channels; layers 2..4 double it each time
    stage_blocks: tuple = (2, 2, 2, 2)
    temporal: str = "multiscale"  # one of TEMPORAL_MODES, after layer2, layer3, layer4
    # Scales of the multi-scale blocks (crychic.models.multiscale). Temporal only, dilations 1/2/3,
    # chosen on val: with 4-frame clips the dilation-2 and -3 kernels read padding at the clip's
    # ends, but they are what links its first and last frames in order; scales matched to the clip
    # (3 frames + the whole clip read in order) and added spatial scales (dilated 3x3, whole frame)
    # both lost on val (15-epoch rgb_only runs: docs/REPORT.md, Protocol, "Multi-scale scales of the RGB
    # student").
    temporal_dilations: tuple = (1, 2, 3)
    spatial_dilations: tuple = ()
    global_temporal: bool = False
    global_spatial: bool = False
    dropout: float = 0.5


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Student(nn.Module):
    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = c = config
        if c.temporal not in TEMPORAL_MODES:
            raise ValueError(f"student temporal must be one of {TEMPORAL_MODES}, got {c.temporal!r}")
        self.stem = nn.Sequential(nn.Conv2d(c.in_channels, c.width, 7, 2, 3, bias=False), nn.BatchNorm2d(c.width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        self.layers, self.temporal, c_in = nn.ModuleList(), nn.ModuleList(), c.width
        for i, blocks in enumerate(c.stage_blocks):
            c_out = c.width * 2**i
            self.layers.append(nn.Sequential(*(BasicBlock(c_in if b == 0 else c_out, c_out, 2 if i and not b else 1)
                                               for b in range(blocks))))
            if i >= 1:  # layer2..layer4
                scales = MultiScaleScales(3, tuple(c.temporal_dilations), tuple(c.spatial_dilations),
                                          c.global_temporal, c.global_spatial)
                self.temporal.append(nn.Identity() if c.temporal == "none" else MultiScaleSpatioTemporal(
                    c_out, scales, multiscale=c.temporal == "multiscale"))
            c_in = c_out
        self.embed_dim = c_in
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(c_in, c.num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if isinstance(m, nn.Conv2d):
                # Channels-last frames (N*T, H, W, C in memory): faster oneDNN 2D convolutions on
                # CPU, as the teacher's 3D ones.
                m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def feature_sizes(height: int, width: int) -> list[tuple[int, int]]:
        """``(h, w)`` of layer2, layer3, layer4 for a ``height x width`` frame (each stride 2 is ceil(s/2))."""
        sizes, h, w = [], height, width
        for step in range(5):  # stem conv, max-pool, layer2, layer3, layer4
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
            if step >= 2:
                sizes.append((h, w))
        return sizes

    def forward(self, x: torch.Tensor, attention_weights=None) -> dict:
        """`attention_weights`: None, a list of 3 maps (N x 1 x T x h x w, the teacher's, aligned), or
        "self" (weight each stage by the student's own attention: pose-free inference)."""
        n, _, t, height, width = x.shape
        frames = x.transpose(1, 2).reshape(n * t, -1, height, width).contiguous(memory_format=torch.channels_last)
        x = self.stem(frames)  # N*T x 3 x H x W -> N*T x C x h x w
        features = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == 0:
                continue
            _, channels, h, w = x.shape
            clip = x.reshape(n, t, channels, h, w).transpose(1, 2)  # N x C x T x h x w
            clip = self.temporal[i - 1](clip)
            features.append(clip)
            if isinstance(attention_weights, str) and attention_weights == "self":
                # Pose-free guidance: the student's own attention (pulled toward the teacher's by the
                # attention-transfer loss in training) stands in for the teacher's.
                clip = clip * (1 + spatial_attention(clip).detach())
            elif attention_weights is not None and attention_weights[i - 1] is not None:
                clip = clip * (1 + attention_weights[i - 1])  # N x 1 x T x h x w broadcast over C
            x = clip.transpose(1, 2).reshape(n * t, channels, h, w)  # back to N*T frames
        embedding = clip.mean(dim=(2, 3, 4))  # N x D
        return {"logits": self.fc(self.dropout(embedding)), "embedding": embedding, "features": features}


RESNET18_TEMPORAL = StudentConfig()
RESNET18_TINY = StudentConfig(width=16)
STUDENT_MODELS = ("resnet18_temporal", "resnet18_tiny")  # registry names (inputs N x 3 x T x H x W)


@register_model("resnet18_temporal")
def resnet18_temporal(**overrides) -> Student:
    return Student(replace(RESNET18_TEMPORAL, **overrides))


@register_model("resnet18_tiny")
def resnet18_tiny(**overrides) -> Student:
    return Student(replace(RESNET18_TINY, **overrides))
