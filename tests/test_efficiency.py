"""Parameter and FLOP counts against hand-computed values; timings only for sane numbers."""

import math

import torch
from torch import nn

from crychic.evaluation.efficiency import count_flops, count_parameters, measure_latency, measure_throughput


def test_linear_flops_are_two_per_multiply_add():
    linear = nn.Linear(10, 20)
    # 3 rows x 20 outputs x 10 multiply-adds each, 2 FLOPs per multiply-add (bias not counted)
    assert count_flops(linear, torch.randn(3, 10)) == 2 * 3 * 10 * 20


def test_conv3d_flops_match_hand_count_and_kwargs_pass_through():
    conv = nn.Conv3d(4, 6, kernel_size=(1, 3, 3), padding=(0, 1, 1))
    heatmap = torch.randn(2, 4, 5, 8, 8)  # N x C x T x H x W, output 2 x 6 x 5 x 8 x 8

    def model(*, heatmap):
        return {"logits": conv(heatmap)}

    output_elements = 2 * 6 * 5 * 8 * 8
    assert count_flops(model, heatmap=heatmap) == 2 * output_elements * 4 * 1 * 3 * 3


def test_parameter_count_of_known_module():
    module = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 5))
    expected = (3 * 8 * 9 + 8) + (8 + 8) + (8 * 5 + 5)  # conv, BN affine (not running stats), linear
    assert count_parameters(module) == expected
    module[0].requires_grad_(False)
    assert count_parameters(module, trainable_only=True) == expected - (3 * 8 * 9 + 8)


def test_latency_and_throughput_are_positive_and_finite():
    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    batch = torch.randn(8, 16)
    calls = []

    def forward():
        calls.append(torch.is_inference_mode_enabled())
        return model(batch)

    latency = measure_latency(forward, warmup=1, repeats=5)
    assert set(latency) == {"median_ms", "p90_ms"}
    assert all(math.isfinite(v) and v > 0 for v in latency.values())
    assert latency["p90_ms"] >= latency["median_ms"]
    assert len(calls) == 6 and all(calls)

    clips_per_second = measure_throughput(forward, batch_size=8, warmup=1, repeats=3)
    assert math.isfinite(clips_per_second) and clips_per_second > 0
