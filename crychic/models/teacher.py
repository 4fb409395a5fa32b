"""The sparse-modality teacher: PoseConv3D's ResNet3d SlowOnly backbone over heatmap volumes.

Input ``N x K x T x H x W`` (K keypoint channels, PoseConv3D's NCTHW); output the logits, the
pooled clip embedding ``N x D`` and the three stage maps ``N x C_i x T_i x H_i x W_i``, whose
spatial attention guides the RGB student. The preset ``posec3d_slowonly_r50`` is the published
NTU configuration (PYSKL / mmaction2 ``slowonly_r50 ... keypoint``): stem conv 1x7x7 with no
spatial stride, then a 1x3x3 max-pool of stride 1 (``with_pool1``: it smooths, it does not
downsample), three stages of 4/6/3 Bottlenecks (128/256/512 channels), spatial strides 2/2/2
(28/14/7 for 56 x 56), temporal 3x1x1 conv1 only in the last two stages, temporal strides
1/1/2 (the last stage halves T, as published), global average pooling, dropout 0.5, linear.
About 2.0 M parameters with 60 classes, as PoseConv3D reports.

``multiscale`` appends a `MultiScaleSpatioTemporal` block to each inflated stage (off in the
published preset, on in the CPU presets): temporal dilations 1/2/3 (the heatmap clip has 16
frames, 8 after the last stage), 3x3 spatial kernels and the whole frame as spatial scales (the
maps are 16/8/4 pixels for the default 32 x 32 volumes, too small for a dilated 3x3).
``posec3d_small`` is the tiny teacher widened to the student's size (0.75 M parameters against
0.72 M), for the teacher-size comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from crychic.models.multiscale import MultiScaleScales, MultiScaleSpatioTemporal
from crychic.models.registry import register_model


@dataclass(frozen=True)
class TeacherConfig:
    in_channels: int = 17
    num_classes: int = 60
    base_channels: int = 32
    stage_blocks: tuple = (4, 6, 3)
    inflate: tuple = (0, 1, 1)  # 1: the stage's bottlenecks start with a 3x1x1 temporal conv
    spatial_strides: tuple = (2, 2, 2)
    temporal_strides: tuple = (1, 1, 2)
    stem_pool: bool = True  # PoseConv3D's stride-1 1x3x3 max-pool after the stem
    dropout: float = 0.5
    multiscale: bool = False  # a MultiScaleSpatioTemporal block ends each inflated stage
    multiscale_blocks: bool = True  # False (ablation): the same blocks with a single scale
    temporal_dilations: tuple = (1, 2, 3)
    spatial_dilations: tuple = (1,)
    global_temporal: bool = False
    global_spatial: bool = True


def conv_bn(c_in: int, c_out: int, kernel, stride=1, relu: bool = True) -> nn.Sequential:
    kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    layers = [nn.Conv3d(c_in, c_out, kernel, stride, padding=tuple(k // 2 for k in kernel), bias=False),
              nn.BatchNorm3d(c_out)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class Bottleneck3d(nn.Module):
    """mmaction2's Bottleneck3d, pytorch style: the stride sits on the 1x3x3 conv."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, spatial_stride: int, temporal_stride: int, inflate: bool):
        super().__init__()
        c_out, stride = planes * self.expansion, (temporal_stride, spatial_stride, spatial_stride)
        self.conv1 = conv_bn(c_in, planes, (3, 1, 1) if inflate else 1)
        self.conv2 = conv_bn(planes, planes, (1, 3, 3), stride)
        self.conv3 = conv_bn(planes, c_out, 1, relu=False)
        self.downsample = None
        if c_in != c_out or stride != (1, 1, 1):
            self.downsample = conv_bn(c_in, c_out, 1, stride, relu=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + identity)


class Teacher(nn.Module):
    def __init__(self, config: TeacherConfig):
        super().__init__()
        self.config = c = config
        self.stem = nn.Sequential(conv_bn(c.in_channels, c.base_channels, (1, 7, 7)),
                                  nn.MaxPool3d((1, 3, 3), 1, (0, 1, 1)) if c.stem_pool else nn.Identity())
        self.stages, c_in = nn.ModuleList(), c.base_channels
        for i, blocks in enumerate(c.stage_blocks):
            planes = c.base_channels * 2**i
            stage = [Bottleneck3d(c_in if b == 0 else planes * 4, planes,
                                  c.spatial_strides[i] if b == 0 else 1,
                                  c.temporal_strides[i] if b == 0 else 1, bool(c.inflate[i]))
                     for b in range(blocks)]
            if c.multiscale and c.inflate[i]:
                scales = MultiScaleScales(3, tuple(c.temporal_dilations), tuple(c.spatial_dilations),
                                          c.global_temporal, c.global_spatial)
                stage.append(MultiScaleSpatioTemporal(planes * 4, scales, multiscale=c.multiscale_blocks))
            self.stages.append(nn.Sequential(*stage))
            c_in = planes * 4
        self.embed_dim = c_in
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(c_in, c.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Channels-last memory (N, T, H, W, C order; shapes unchanged): oneDNN's 3D convolutions run
        # far faster on CPU so (the times: docs/REPORT.md, Design measurements).
        self.to(memory_format=torch.channels_last_3d)

    def forward(self, x: torch.Tensor) -> dict:
        x = self.stem(x.contiguous(memory_format=torch.channels_last_3d))  # N x K x T x H x W -> N x C0 x T x H x W
        features = []
        for stage in self.stages:
            x = stage(x)  # N x C_i x T_i x H_i x W_i
            features.append(x)
        embedding = x.mean(dim=(2, 3, 4))  # N x D
        return {"logits": self.fc(self.dropout(embedding)), "embedding": embedding, "features": features}


POSEC3D_SLOWONLY_R50 = TeacherConfig()
POSEC3D_TINY = TeacherConfig(base_channels=8, stage_blocks=(1, 1, 1), multiscale=True)
POSEC3D_SMALL = TeacherConfig(base_channels=30, stage_blocks=(1, 1, 1), multiscale=True)
TEACHER_MODELS = ("posec3d_slowonly_r50", "posec3d_tiny", "posec3d_small")  # registry names (inputs N x K x T x H x W)


@register_model("posec3d_slowonly_r50")
def posec3d_slowonly_r50(**overrides) -> Teacher:
    return Teacher(replace(POSEC3D_SLOWONLY_R50, **overrides))


@register_model("posec3d_tiny")
def posec3d_tiny(**overrides) -> Teacher:
    return Teacher(replace(POSEC3D_TINY, **overrides))


@register_model("posec3d_small")
def posec3d_small(**overrides) -> Teacher:
    return Teacher(replace(POSEC3D_SMALL, **overrides))
