"""I3D (Carreira & Zisserman, CVPR 2017), ResNet flavour: the RGB baseline, a 2D ResNet18 inflated to 3D.

Layouts: input RGB clips ``N x 3 x T x H x W`` (e.g. T = 4 or 8, H = W = 96), output ``{"logits":
N x classes, "embedding": N x D, "features": [layer2, layer3, layer4 maps, each N x C x T x h x w]}``
with D = the last stage's width: the student's (`crychic.models.student`) interface. The stem
(stride 2 then a 3x3 max-pool of stride 2) and the stride-2 stages are the student's, so h x w =
12/6/3 for 96 x 96 and 28/14/7 for 224; T is never strided (clips here have 4 to 8 frames), as in
the student.

The paper's idea: a strong image network becomes a video network by inflation. Every ``k x k``
kernel becomes ``t x k x k``, so the network sees motion from its first layer to its last while
keeping the 2D design. Here the 2D design is the student's ResNet18 (4 stages x 2 BasicBlocks, the
same depth), and *every* spatial kernel is inflated: the stem's 7x7 and both 3x3 convolutions of
every BasicBlock get temporal kernel ``temporal_kernel`` (3): ``3 x 7 x 7`` and ``3 x 3 x 3``. The
1x1 projection shortcuts stay ``1 x 1 x 1`` (pointwise, as I3D keeps its 1x1 convolutions). The
stem is ``3 x 7 x 7`` rather than I3D's ``7 x 7 x 7`` (with a temporal stride of 2): the clips have
4 (NTU: 8) frames, so a 7-frame kernel would mostly read the temporal zero padding, and striding T
would leave one or two steps. ``temporal_kernel=1`` gives the 2D network applied frame by frame.

Size: the width is chosen so that the network matches its student's parameter count (the student
as the `rgb_only` stage builds it, its multi-scale temporal blocks included), within 10 %:
the 3D kernels hold three times the 2D ones' weights, so the widths are about the student's over
sqrt(3) (`I3D_R18_TINY` against `resnet18_tiny`, `I3D_R18` against `resnet18_temporal`).

Two candidates for the default (issue 23: at 21-25 % top-1 against `rgb_only`'s 77 % the all-3D
network underfits: its train loss stays near chance for six epochs; a reading of the code found no
bug, and the likely causes are that 4 frames sampled across a whole action share little content for
the stem's and layer1's temporal taps to combine, and the width the 3x taps cost). Both keep every
convolution a ``t x k x k`` Conv3d; to be chosen on val, not yet run:
- `i3d_r18_tiny_slow`: inflated as SlowOnly / I3D-ResNet inflate selectively, t = 1 in the stem,
  layer1 and layer2, and in layers 3-4 only each block's first conv ``3 x 3 x 3`` (`inflate`,
  `inflate_second`), width 12 (708,024 parameters, -1.5 %);
- `i3d_r18_tiny_centre`: every conv inflated, width 10 (815,682, +13.4 %), its temporal taps but the
  centre one initialised to zero (`centre_init`): it starts as the 2D network frame by frame and
  learns its temporal taps.

Weights: random init, trained from scratch. I3D bootstraps from ImageNet (`inflate_2d_weights`: the
2D kernel repeated over the t frames and divided by t, so on a "boring" clip of one repeated frame
every layer gives the 2D network's activations, apart from the frames the temporal zero padding
reaches) and then pre-trains on Kinetics; neither set of weights can be had offline here, so the
baseline gets the same from-scratch training as the student (stage `train_i3d`: `rgb_only`'s
epochs and learning rate).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from crychic.models.registry import register_model


@dataclass(frozen=True)
class I3DConfig:
    num_classes: int = 60
    in_channels: int = 3
    width: int = 38               # layer1 channels; layers 2..4 double it each time
    stage_blocks: tuple = (2, 2, 2, 2)  # ResNet18's depth, the student's
    temporal_kernel: int = 3      # t of the stem and of every 3x3 conv (1: the 2D network, frame by frame)
    dropout: float = 0.5          # before the classifier
    inflate: tuple = (1, 1, 1, 1, 1)  # per stem, layer1..layer4: 1 inflates its kernels to t, 0 keeps t = 1
    inflate_second: bool = True   # whether a block's second 3x3 conv is inflated too (else only its first)
    centre_init: bool = False     # temporal taps other than the centre one start at zero

    def __post_init__(self):  # lists from a checkpoint's asdict / YAML become tuples again
        object.__setattr__(self, "stage_blocks", tuple(int(b) for b in self.stage_blocks))
        object.__setattr__(self, "inflate", tuple(int(b) for b in self.inflate))
        if len(self.inflate) != len(self.stage_blocks) + 1:
            raise ValueError(f"inflate needs one flag for the stem and each stage, got {self.inflate}")
        if self.temporal_kernel % 2 == 0:
            raise ValueError(f"the temporal kernel must be odd to keep T, got {self.temporal_kernel}")


def conv3d(c_in: int, c_out: int, t: int, k: int, stride: int = 1) -> nn.Conv3d:
    """A ``t x k x k`` conv, spatial stride ``stride``, temporal stride 1, padding that keeps T."""
    return nn.Conv3d(c_in, c_out, (t, k, k), (1, stride, stride), (t // 2, k // 2, k // 2), bias=False)


class BasicBlock3d(nn.Module):
    """ResNet's BasicBlock inflated, ``t x 3 x 3`` twice (1x1x1 projection shortcut):
    ``N x C x T x h x w`` -> ``N x C' x T x h/s x w/s`` (s: the spatial stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int, temporal_kernel: int, second_kernel: int | None = None):
        super().__init__()
        second_kernel = temporal_kernel if second_kernel is None else second_kernel
        self.body = nn.Sequential(
            conv3d(c_in, c_out, temporal_kernel, 3, stride), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True),
            conv3d(c_out, c_out, second_kernel, 3), nn.BatchNorm3d(c_out))
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(conv3d(c_in, c_out, 1, 1, stride), nn.BatchNorm3d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class I3D(nn.Module):
    def __init__(self, config: I3DConfig):
        super().__init__()
        self.config = c = config
        t = [c.temporal_kernel if flag else 1 for flag in c.inflate]  # stem, layer1..layer4
        self.stem = nn.Sequential(
            conv3d(c.in_channels, c.width, t[0], 7, 2), nn.BatchNorm3d(c.width), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        self.layers, c_in = nn.ModuleList(), c.width
        for i, blocks in enumerate(c.stage_blocks):
            c_out = c.width * 2**i
            self.layers.append(nn.Sequential(*(
                BasicBlock3d(c_in if b == 0 else c_out, c_out, 2 if i and not b else 1, t[i + 1],
                             t[i + 1] if c.inflate_second else 1)
                for b in range(blocks))))
            c_in = c_out
        self.embed_dim = c_in
        self.dropout = nn.Dropout(c.dropout)
        self.fc = nn.Linear(c_in, c.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if c.centre_init and m.kernel_size[0] > 1:  # C' x C x t x k x k: only the centre frame's tap
                    centre = m.kernel_size[0] // 2
                    with torch.no_grad():
                        m.weight[:, :, :centre].zero_()
                        m.weight[:, :, centre + 1:].zero_()
        self.to(memory_format=torch.channels_last_3d)  # faster 3D convolutions on CPU (as the teacher)

    def forward(self, rgb: torch.Tensor) -> dict:
        if rgb.dim() != 5 or rgb.shape[1] != self.config.in_channels:
            raise ValueError(f"I3D expects N x {self.config.in_channels} x T x H x W, got {tuple(rgb.shape)}")
        x = self.stem(rgb.contiguous(memory_format=torch.channels_last_3d))  # N x width x T x H/4 x W/4
        features = []
        for i, layer in enumerate(self.layers):
            x = layer(x)  # N x C_i x T x h_i x w_i
            if i >= 1:
                features.append(x)  # layer2..layer4, as the student returns them
        embedding = x.mean(dim=(2, 3, 4))  # pool T, h, w: N x D
        return {"logits": self.fc(self.dropout(embedding)), "embedding": embedding, "features": features}


@torch.no_grad()
def inflate_2d_weights(model_3d: I3D, state_dict_2d: dict) -> None:
    """Load a 2D network's weights into ``model_3d`` (I3D's bootstrapping). ``state_dict_2d`` has
    ``model_3d``'s names, with 4-D ``C' x C x k x k`` kernels (e.g. the ``temporal_kernel=1`` network's
    kernels squeezed, or a 2D ResNet renamed to these names); each becomes ``C' x C x t x k x k``: repeated
    over t and divided by t. Every other tensor (BatchNorm, fc) is copied; names must match exactly."""
    target = model_3d.state_dict()
    inflated = {}
    for name, value in state_dict_2d.items():
        if name not in target:
            raise KeyError(f"2D weight {name!r} has no counterpart in the 3D network")
        if value.dim() == 4 and target[name].dim() == 5:
            t = target[name].shape[2]
            value = value.unsqueeze(2).repeat(1, 1, t, 1, 1) / t  # C' x C x t x k x k
        if value.shape != target[name].shape:
            raise ValueError(f"{name}: 2D shape {tuple(value.shape)} does not inflate to {tuple(target[name].shape)}")
        inflated[name] = value
    model_3d.load_state_dict(inflated)  # strict: every 3D tensor must come from the 2D network


# The student's depth (ResNet18: 4 stages x 2 BasicBlocks) with every kernel inflated, each width
# set to match its student's parameter count as built for `rgb_only` (multi-scale temporal blocks
# included): `i3d_r18_tiny` against `resnet18_tiny` (default profile, 12 classes: 719,100),
# `i3d_r18` against `resnet18_temporal` (NTU preset, 60 classes: 11,446,524).
I3D_R18_TINY = I3DConfig(width=9)   # 661,323 parameters with 12 classes: -8.0 %
I3D_R18 = I3DConfig(width=38)        # 11,719,830 with 60 classes: +2.4 %
# The candidates for the default (module docstring), at resnet18_tiny's size and at resnet18_temporal's.
I3D_R18_TINY_SLOW = I3DConfig(width=12, inflate=(0, 0, 0, 1, 1), inflate_second=False)  # 708,024: -1.5 %
I3D_R18_TINY_CENTRE = I3DConfig(width=10, centre_init=True)  # 815,682: +13.4 %
I3D_R18_SLOW = I3DConfig(width=48, inflate=(0, 0, 0, 1, 1), inflate_second=False)  # 11,290,092 with 60: -1.4 %
I3D_R18_CENTRE = I3DConfig(width=38, centre_init=True)  # i3d_r18's size (its init alone differs): +2.4 %
# Registry name -> configuration; each is buildable as `create_model(name, **overrides)`.
I3D_CONFIGS = {"i3d_r18_tiny": I3D_R18_TINY, "i3d_r18": I3D_R18, "i3d_r18_tiny_slow": I3D_R18_TINY_SLOW,
               "i3d_r18_tiny_centre": I3D_R18_TINY_CENTRE, "i3d_r18_slow": I3D_R18_SLOW,
               "i3d_r18_centre": I3D_R18_CENTRE}
I3D_MODELS = tuple(I3D_CONFIGS)  # registry names (inputs N x 3 x T x H x W)


def _builder(config: I3DConfig):
    def build(**overrides) -> I3D:
        return I3D(replace(config, **overrides))
    return build


for _name, _config in I3D_CONFIGS.items():
    register_model(_name)(_builder(_config))
