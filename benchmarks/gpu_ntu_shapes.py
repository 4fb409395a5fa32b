"""The NTU projection's assumptions, checked on the GPU at hand (issue 26 D; `gpu_check.sh` runs it).

`benchmarks/bench_ntu_shapes.py` projects NTU-60 training from CPU measurements and the share of a
GPU's dense FP16 tensor peak a training step sustains (`gpu_utilisation`: first an assumed 30 % of an
A100's, now the share this script measured on an H200, `metrics/gpu_ntu_shapes.json`), and the cores
that feed each GPU's loader (`cores_per_gpu`) at the loader's samples/s per core measured on the CPU. This runs each training stage's
work at the preset's shapes on this machine's GPU and prints the measured figures beside those
assumptions, so that the first GPU run confirms the projection or says by how much it was off.

Per stage (the projection's `STAGE_WORK`: networks trained, networks run frozen, what the loader
reads), with AMP, on 48 NTU-shaped samples written in the pipeline's formats (`bench_loader`):
heatmaps ``B x 17 x 48 x 56 x 56``, RGB ``B x 3 x 8 x 224 x 224``, through `PoseRgbDataset` with
augmentation on, the uint8 transport, pinned memory and `loader_workers`' workers for CUDA, sampled
with replacement into one long epoch (so the workers prefetch while the GPU computes). It times
`--steps` steps after 3 untimed ones: the median compute time of a step (the batch on the device,
forward, backward, update, synchronised), and the time spent waiting for the next batch. From
them: the GPU's clips/s, the utilisation it implies on this GPU's peak (known names in `PEAKS`, or
`--peak-tflops`), and the loader's share of the wall time.

Layouts: a batch's `heatmap` ``B x K x T x H x W`` and `rgb` ``B x 3 x T x S x S`` leave the loader
as uint8 and are turned to float32 on the device (`crychic.training.data.model_input`).

`--device cpu --steps 1 --batch 2` runs the same code on the CPU (no AMP) to test it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS.parent))  # crychic, when run as a script
sys.path.insert(0, str(BENCHMARKS))  # bench_loader, bench_ntu_shapes

from bench_loader import write_inputs  # noqa: E402
from bench_ntu_shapes import OUTPUT, STAGE_WORK, build_networks, preset_params  # noqa: E402
from crychic.core.execution import loader_workers  # noqa: E402
from crychic.training.data import PoseRgbDataset, make_loader, model_input  # noqa: E402

WARMUP_STEPS = 3  # cuDNN picks its kernels and the workers start on the first steps
# Dense FP16/BF16 tensor peaks (FP32 accumulate), by a pattern of torch.cuda.get_device_name: the
# first that matches wins, so the more specific names (PCIe, NVL, L40S) come before their families.
PEAKS = [
    (r"H100 PCIe", 756e12, "NVIDIA H100 datasheet: 756 TFLOPS dense FP16 tensor, PCIe (1,513 with sparsity)"),
    (r"H100 NVL", 835e12, "NVIDIA H100 NVL datasheet: 1,671 TFLOPS FP16 tensor with sparsity, half of it dense"),
    (r"H100", 989e12, "NVIDIA H100 datasheet: 989 TFLOPS dense FP16 tensor, SXM (1,979 with sparsity)"),
    (r"H200 NVL", 835e12, "NVIDIA H200 datasheet: 1,671 TFLOPS FP16 tensor with sparsity, NVL; half of it dense"),
    (r"H200", 989e12, "NVIDIA H200 datasheet: 989 TFLOPS dense FP16 tensor, SXM (1,979 with sparsity)"),
    (r"A100", 312e12, "NVIDIA A100 datasheet: 312 TFLOPS dense FP16 tensor (624 with sparsity)"),
    (r"RTX 3090", 71e12, "NVIDIA GA102 whitepaper: about 71 TFLOPS FP16 tensor with FP32 accumulate, dense"),
    (r"L40S", 362e12, "NVIDIA L40S datasheet: 362 TFLOPS dense FP16 tensor (733 with sparsity)"),
    (r"L40\b", 181e12, "NVIDIA L40 datasheet: 181 TFLOPS dense FP16 tensor (362 with sparsity)"),
    (r"L4\b", 121e12, "NVIDIA L4 datasheet: 121 TFLOPS dense FP16 tensor (242 with sparsity)"),
]


def peak_flops(device: torch.device, override_tflops: float | None) -> tuple[float | None, str]:
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    if device.type != "cuda":
        return None, "no GPU"
    name = torch.cuda.get_device_name(device)
    for pattern, value, source in PEAKS:
        if re.search(pattern, name):
            return value, source
    return None, f"{name}: peak unknown (give --peak-tflops)"


def _batches(loader, dataset):
    """Batches forever, epoch after epoch (each epoch's augmentation its own)."""
    for epoch in itertools.count():
        dataset.set_epoch(epoch)
        yield from loader


def long_loader(dataset, batch: int, batches: int, workers: int, pin: bool):
    """`batches` batches of `batch` items drawn with replacement from the 48 samples: one epoch, so
    the workers prefetch through it as in training (an epoch of one batch would restart them every step)."""
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=batch * batches,
                                             generator=torch.Generator().manual_seed(0))
    return make_loader(dataset, batch_size=batch, shuffle=False, workers=workers, seed=0, drop_last=True,
                       sampler=sampler, pin_memory=pin)


def measure_stage(stage: str, networks: dict, batches, device: torch.device, steps: int, amp: bool,
                  warmup: int = WARMUP_STEPS) -> dict:
    """Median compute seconds per step and seconds waiting for each batch, over `steps` timed steps after
    `warmup` untimed ones."""
    work = STAGE_WORK[stage]
    trained = [networks[name][0].to(device).train() for name in work["trained"]]
    frozen = [networks[name][0].to(device).eval() for name in work["frozen"]]
    inputs_of = {"teacher": "heatmap", "student": "rgb"}
    optimizer = torch.optim.AdamW([p for net in trained for p in net.parameters()], lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    compute, waits, clips = [], [], 0
    for step in range(warmup + steps):
        started = time.perf_counter()
        batch = next(batches)
        fetched = time.perf_counter()
        inputs = {name: model_input(name, batch[name], device) for name in work["reads"]}
        labels = batch["label"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            with torch.no_grad():
                for name, net in zip(work["frozen"], frozen):
                    net(inputs[inputs_of[name]])
            loss = sum(F.cross_entropy(net(inputs[inputs_of[name]])["logits"], labels)
                       for name, net in zip(work["trained"], trained))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= warmup:
            compute.append(time.perf_counter() - fetched)
            waits.append(fetched - started)
            clips += len(labels)
    for net in (*trained, *frozen):
        net.cpu()
    batch_size = clips / steps
    median = statistics.median(compute)
    wall = sum(compute) + sum(waits)
    return {"steps": steps, "batch": batch_size, "median_step_s": median, "gpu_clips_per_s": batch_size / median,
            "loader_wait_share": sum(waits) / wall, "wall_clips_per_s": clips / wall}


def compare(stage: str, measured: dict, flops_per_clip: float, peak: float | None, projection: dict) -> str:
    assumed = projection["projection"]["sizes"][0]["stages"][stage]
    utilisation = projection["projection"]["assumptions"]["gpu_utilisation"]["value"]
    achieved = measured["gpu_clips_per_s"] * flops_per_clip
    line = (f"{stage:14s} measured {measured['gpu_clips_per_s']:7.1f} clips/s computing "
            f"({measured['median_step_s'] * 1000:6.1f} ms a step of {measured['batch']:.0f}, "
            f"{achieved / 1e12:6.1f} TFLOP/s), {measured['wall_clips_per_s']:7.1f} with the loader "
            f"(waiting {measured['loader_wait_share']:5.1%} of the wall time)")
    if peak:
        line += (f" | implied utilisation {achieved / peak:5.1%} of this GPU's peak (projection assumed "
                 f"{utilisation:.1%}: {achieved / peak / utilisation:4.2f}x)")
    gpu = projection["projection"]["assumptions"]["gpu"]["value"]["name"]
    return line + f" | the projection's {gpu}: {assumed['gpu_clips_per_s']:.0f} clips/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per stage (after --warmup untimed)")
    parser.add_argument("--warmup", type=int, default=WARMUP_STEPS,
                        help="untimed steps first (a CPU test of the code needs none: no kernels to pick)")
    parser.add_argument("--batch", type=int, default=None, help="clips per step (default: the preset's batch_size)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=None, help="this GPU's dense FP16 tensor peak")
    parser.add_argument("--stages", nargs="+", default=list(STAGE_WORK), choices=list(STAGE_WORK))
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    parser.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false",
                        help="do not let cuDNN time its algorithms for each shape first (training does: "
                             "crychic.core.devices.resolve_device)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if device.type == "cuda" and not torch.cuda.is_available():
        print("[gpu_ntu_shapes] no CUDA device: nothing was run")
        return 1
    params, projection = preset_params(), json.loads(OUTPUT.read_text())
    batch = args.batch or int(params["train"]["batch_size"])
    amp = device.type == "cuda"
    peak, peak_source = peak_flops(device, args.peak_tflops)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"[gpu_ntu_shapes] {name}, batch {batch}, AMP {'on' if amp else 'off'}, "
          f"cuDNN benchmark {'on' if args.cudnn_benchmark else 'off'}, peak: "
          f"{'n/a' if peak is None else f'{peak / 1e12:.0f} TFLOPS'} ({peak_source})")
    networks = build_networks(params)
    flops = {net: sum(projection["measured"]["flops_per_clip"][net].values()) for net in networks}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        heatmap_dir, rgb_dir = write_inputs(Path(folder), np.random.default_rng(0))
        for stage in args.stages:
            work = STAGE_WORK[stage]
            dataset = PoseRgbDataset(heatmap_dir, rgb_dir if "rgb" in work["reads"] else None, split="train",
                                     augment=True, modalities=work["reads"], transport="uint8")
            workers = loader_workers(None, device.type)
            loader = long_loader(dataset, batch, args.warmup + args.steps + 2 * workers, workers, device.type == "cuda")
            measured = measure_stage(stage, networks, _batches(loader, dataset), device, args.steps, amp, args.warmup)
            # A training clip costs forward + backward of each trained network, forward of each frozen one.
            cost = sum(flops[n] for n in work["trained"]) + sum(
                projection["measured"]["flops_per_clip"][n]["forward"] for n in work["frozen"])
            results[stage] = {**measured, "loader_workers": workers, "flops_per_clip": cost,
                              "implied_utilisation": None if peak is None else measured["gpu_clips_per_s"] * cost / peak}
            print("[gpu_ntu_shapes] " + compare(stage, measured, cost, peak, projection), flush=True)
    per_core = projection["measured"]["loader_samples_per_s_per_core"]
    cores = projection["projection"]["assumptions"]["cores_per_gpu"]["value"]
    print(f"[gpu_ntu_shapes] the projection's loader: {per_core['heatmap+rgb']:.0f} samples/s a core for heatmap+rgb "
          f"(measured on {projection['machine']['cpu']}), {per_core['heatmap+rgb'] * cores:.0f} a GPU from {cores} cores; "
          f"here {workers} workers: 'with the loader' above")
    if args.out:
        Path(args.out).write_text(json.dumps({"device": name, "peak_flops": peak, "batch": batch,
                                                "cudnn_benchmark": args.cudnn_benchmark, "stages": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
