"""Cost of a model: parameters, FLOPs of one call, latency and throughput.

Layouts: whatever the measured callable takes; for CRYCHIC models that is keyword inputs
``heatmap N x K x T x H x W`` and/or ``rgb N x 3 x T x S x S``, returning a dict. FLOPs take a
callable plus its inputs, timings a zero-argument callable (e.g. a lambda over fixed inputs), so the
caller decides which modality, batch size and device is measured.

FLOPs are counted by torch (``torch.utils.flop_counter.FlopCounterMode``), not by hand: one
multiply-add is 2 FLOPs, so ``nn.Linear(i, o)`` on ``N x i`` costs ``2 * N * i * o`` and a
convolution ``2 * output elements * C_in / groups * prod(kernel)``. Only the ops torch has
formulas for are counted (matmuls, convolutions, attention); element-wise ops, normalisation,
pooling and bias additions count 0, which is the usual convention for reported model FLOPs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """All parameters (shared ones once, as ``module.parameters()`` yields them); buffers such as
    BatchNorm running statistics are state, not parameters, and are not counted."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(fn: Callable, *args, **kwargs) -> int:
    """FLOPs of one call ``fn(*args, **kwargs)`` under inference mode (the cost at deployment,
    no backward). Nothing is printed."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def _synchronise() -> None:
    # CUDA calls return before the kernels finish; without a barrier a timer measures launch time.
    # CUDA is initialised exactly when some tensor lives there, so this is a no-op on CPU-only runs.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _timed_calls(fn: Callable[[], object], warmup: int, repeats: int) -> np.ndarray:
    """Seconds per call of `repeats` calls, after `warmup` untimed ones (allocator, cuDNN autotune)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    seconds = np.empty(repeats)
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        _synchronise()
        for i in range(repeats):
            start = time.perf_counter()
            fn()
            _synchronise()
            seconds[i] = time.perf_counter() - start
    return seconds


def measure_latency(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 10) -> dict[str, float]:
    """Wall time of one call of `fn` in milliseconds: median (typical) and 90th percentile (tail,
    which a deployed system must budget for). Batch size is whatever `fn` feeds the model."""
    milliseconds = _timed_calls(fn, warmup, repeats) * 1e3
    return {"median_ms": float(np.median(milliseconds)), "p90_ms": float(np.percentile(milliseconds, 90))}


def measure_throughput(fn: Callable[[], object], batch_size: int, *, warmup: int = 1, repeats: int = 5) -> float:
    """Clips per second when `fn` processes `batch_size` clips per call: total clips over total time."""
    seconds = _timed_calls(fn, warmup, repeats)
    return float(batch_size * repeats / seconds.sum())


def inference_cost(fn: Callable, make_inputs: Callable[[int], dict], *, parameters: int, throughput_batch: int = 32,
                   repeats: int = 10) -> dict[str, float]:
    """The efficiency row of one model: parameters, GFLOPs per clip, latency at batch 1 and
    clips/s at `throughput_batch`. `make_inputs(batch)` returns the keyword inputs of `fn` (on the
    device to measure), so a fused model and a single network are measured the same way."""
    one, many = make_inputs(1), make_inputs(throughput_batch)
    latency = measure_latency(lambda: fn(**one), repeats=repeats)
    return {
        "parameters": int(parameters),
        "gflops_per_clip": round(count_flops(fn, **one) / 1e9, 4),
        "latency_b1_ms": round(latency["median_ms"], 2),
        "latency_b1_p90_ms": round(latency["p90_ms"], 2),
        "throughput_batch": throughput_batch,
        "throughput_clips_per_s": round(
            measure_throughput(lambda: fn(**many), throughput_batch, repeats=max(1, repeats // 5)), 1),
    }


def model_costs(joint, teacher, rgb_only, baselines: dict, params, settings, device) -> dict:
    """One efficiency row per model, each measured on `device` with inputs of the pipeline's shapes
    (`baselines`: stage name -> network of `crychic.training.baselines`, keypoint or RGB input)."""
    from crychic.evaluation.methods import METHODS

    heatmap_channels = int(teacher.teacher.config.in_channels)  # 17 joints, 17 limbs, or both
    t_h, side = int(params["heatmap"]["clip_len"]), int(params["heatmap"]["size"])
    t_rgb, size = int(params["rgb"]["clip_len"]), int(params["rgb"]["size"])

    def heatmap(n):
        return torch.rand(n, heatmap_channels, t_h, side, side, device=device)

    def rgb(n):
        return torch.randn(n, 3, t_rgb, size, size, device=device)

    def keypoints(n, persons):
        return torch.randn(n, 3, t_h, 17, persons, device=device)

    for model in (joint, teacher, rgb_only, *baselines.values()):
        model.to(device).eval()
    repeats, batch = int(settings["latency_repeats"]), int(settings["throughput_batch"])
    cost = lambda fn, make, count: inference_cost(fn, make, parameters=count, throughput_batch=batch, repeats=repeats)
    student_params = count_parameters(rgb_only.student)
    table = {
        "teacher": cost(lambda heatmap: teacher.teacher(heatmap)["logits"], lambda n: {"heatmap": heatmap(n)},
                        count_parameters(teacher.teacher)),
        "rgb_only": cost(lambda rgb: rgb_only(rgb=rgb)["student_logits"], lambda n: {"rgb": rgb(n)}, student_params),
        "late_fusion": cost(lambda heatmap, rgb: (teacher.teacher(heatmap)["logits"], rgb_only(rgb=rgb)["student_logits"]),
                            lambda n: {"heatmap": heatmap(n), "rgb": rgb(n)},
                            count_parameters(teacher.teacher) + student_params),
        "crychic_posefree": cost(lambda rgb: joint(rgb=rgb)["student_logits"], lambda n: {"rgb": rgb(n)},
                                 count_parameters(joint.student)),
        "crychic_fused": cost(lambda heatmap, rgb: joint(heatmap=heatmap, rgb=rgb)["fused_logits"],
                              lambda n: {"heatmap": heatmap(n), "rgb": rgb(n)},
                              count_parameters(joint.teacher) + count_parameters(joint.student)
                              + count_parameters(joint.fusion_head)),
    }
    for name, network in baselines.items():
        if hasattr(network.config, "num_persons"):  # keypoint input N x 3 x T x V x M
            make = (lambda persons: lambda n: {"x": keypoints(n, persons)})(int(network.config.num_persons))
        else:
            make = lambda n: {"x": rgb(n)}
        table[name] = cost((lambda net: lambda x: net(x)["logits"])(network), make, count_parameters(network))
    table["student_guided"] = dict(table["crychic_posefree"])  # the same network
    table["crychic_text"] = dict(table["crychic_posefree"])  # the same network (plus a text head, unused)
    table["crychic_text_zeroshot"] = dict(table["crychic_posefree"])
    table["crychic_posefree_nokp"] = dict(table["crychic_posefree"])  # the same network, framed otherwise
    table["rgb_only_nokp"] = dict(table["rgb_only"])
    return {name: table[name] for name in METHODS if name in table}  # colour_cue: not a network
