"""Training-loader throughput at NTU shapes: samples/s of `PoseRgbDataset` with augmentation on.

Run: ``.venv/bin/python benchmarks/bench_loader.py`` (about a minute; nothing else running).
Inputs, written to a temporary folder in the pipeline's own formats: 48 samples of PoseConv3D's
NTU shapes, heatmaps ``17 x 48 x 56 x 56`` uint8 (rendered from a walking skeleton by
`generate_pose_target`, stored gzip HDF5 as `render_heatmaps` stores them) and RGB clips
``8 x 224 x 224 x 3`` uint8 (smooth frames with sensor noise, zstd Arrow as `decode_rgb` stores
them). Each item is read back, turned to float, cropped, resized and flipped (PoseConv3D's
`RandomResizedCrop` + flip, both modalities), as training does.

It prints samples/s in the main process and with 1 and 2 DataLoader workers (each worker one
thread), for both transports (`crychic.training.data`): float32 batches (the CPU path: the workers
normalise) and uint8 batches (the CUDA path, `loader_transport: auto` on a GPU: the device turns a
batch to float, microseconds there; here the main process only receives it). Beside them:
- the anchor: PYSKL's own loader makes each training heatmap at load time with `GeneratePoseTarget`
  (imported from ../shared/reference/pyskl/, as benchmarks/bench_heatmaps.py does); its rendering of
  one NTU-shaped volume, alone, per core (no RGB, no augmentation);
- the physical limit: a loader that did nothing but write each sample's output once into fresh
  memory (allocate, touch every page, fill), per core, for each transport;
- against what one GPU consumes in PoseConv3D's published training (about 75 clips/s on one RTX
  3090, the figure issue 13 cites), how many workers one GPU needs on cores like these.
Issue 26's bar: at least 75 samples/s with 2 workers (the uint8 transport: the GPU's loader).
"""

from __future__ import annotations

import math
import mmap
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # crychic, when run as a script

from crychic.heatmaps.render import DEFAULT_SIGMA, generate_pose_target  # noqa: E402
from crychic.heatmaps.shards import to_uint8, write_heatmap_shard  # noqa: E402
from crychic.rgb.shards import write_rgb_shard  # noqa: E402
from crychic.training.data import PoseRgbDataset, make_loader  # noqa: E402

SAMPLES, HEATMAP = 48, (17, 48, 56, 56)  # K x T x H x W
RGB = (8, 224, 224, 3)  # T x S x S x 3
GPU_CLIPS_PER_SECOND = 75.0  # PoseConv3D training on one RTX 3090 (issue 13)


def write_inputs(root: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    from bench_heatmaps import realistic_keypoints  # the heatmap benchmark's skeleton (48 frames, 56 x 56)

    heatmaps, clips = [], []
    for k in range(SAMPLES):
        keypoint, score = realistic_keypoints(rng)
        volume = generate_pose_target(keypoint, score, HEATMAP[2:], sigma=DEFAULT_SIGMA)  # T x K x H x W
        common = {"sample_id": f"s{k:03d}", "label": k % 60, "split": "train", "box": np.array([0.0, 0.0, 1.0, 1.0]),
                  "frame_indices": np.arange(HEATMAP[1])}
        heatmaps.append({**common, "heatmap": to_uint8(volume.transpose(1, 0, 2, 3))})  # K x T x H x W
        yy, xx = np.mgrid[0:RGB[1], 0:RGB[2]]
        base = (127 + 60 * np.sin(xx / 17.0 + k) * np.cos(yy / 23.0))[None, :, :, None]  # smooth scene
        frames = np.clip(base + rng.normal(0, 6, size=RGB), 0, 255).astype(np.uint8)  # + sensor noise
        clips.append({**common, "frame_indices": np.arange(RGB[0]) * 6, "frames": frames})
    write_heatmap_shard(root / "heatmaps" / "shard-00000.h5", heatmaps, {"with_joint": True, "with_limb": False})
    write_rgb_shard(root / "rgb" / "shard-00000.arrow", clips)
    return root / "heatmaps", root / "rgb"


def write_bound(transport: str, fresh: bool) -> float:
    """Samples/s of writing one sample's output once on one core: into memory already mapped (the
    memory bandwidth: the physical limit), or into fresh pages, as each new shared-memory batch is."""
    nbytes = (int(np.prod(HEATMAP)) + int(np.prod(RGB))) * (1 if transport == "uint8" else 4)
    reused = np.empty(nbytes, dtype=np.uint8)
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < 1.0:
        if fresh:
            with mmap.mmap(-1, nbytes) as pages:  # anonymous and untouched: every page faults once
                np.frombuffer(pages, dtype=np.uint8).fill(1)
        else:
            reused.fill(1)
        count += 1
    return count / (time.perf_counter() - started)


def pyskl_rate(rng: np.random.Generator) -> float:
    """Samples/s of PYSKL's `GeneratePoseTarget` rendering one NTU-shaped volume, one core."""
    from bench_heatmaps import load_pyskl, realistic_keypoints

    render = load_pyskl()(sigma=DEFAULT_SIGMA, use_score=True, with_kp=True, with_limb=False)
    inputs = [realistic_keypoints(rng) for _ in range(4)]
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < 2.0:
        for keypoint, score in inputs:
            render.gen_an_aug({"keypoint": keypoint.copy(), "keypoint_score": score, "img_shape": HEATMAP[2:]})
        count += len(inputs)
    return count / (time.perf_counter() - started)


def samples_per_second(dataset: PoseRgbDataset, workers: int, epochs: int = 2) -> float:
    loader = make_loader(dataset, batch_size=8, shuffle=True, workers=workers, seed=0)
    dataset.set_epoch(0)
    next(iter(loader))  # start the workers (persistent) outside the timing
    started, count = time.perf_counter(), 0
    for epoch in range(epochs):
        dataset.set_epoch(epoch + 1)
        for batch in loader:
            count += len(batch["label"])
    return count / (time.perf_counter() - started)


def main() -> int:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        heatmap_dir, rgb_dir = write_inputs(Path(folder), rng)
        rates = {}
        for transport in ("float32", "uint8"):
            dataset = PoseRgbDataset(heatmap_dir, rgb_dir, split="train", augment=True, transport=transport)
            if transport == "float32":
                item = dataset[0]
                print(f"{SAMPLES} samples: heatmap {tuple(item['heatmap'].shape)}, rgb {tuple(item['rgb'].shape)}, "
                      f"augmentation on, batch 8, {os.cpu_count()} cores")
            rates[transport] = {workers: samples_per_second(dataset, workers) for workers in (0, 1, 2)}
    print(f"{'samples/s':27s} {'main process':>13s} {'1 worker':>9s} {'2 workers':>10s} | writing the output once, "
          "one core: limit (mapped memory), fresh pages")
    for transport, label in (("float32", "float32 (CPU path)"), ("uint8", "uint8 (GPU path)")):
        row = rates[transport]
        print(f"{label:27s} {row[0]:13.1f} {row[1]:9.1f} {row[2]:10.1f} | {write_bound(transport, False):7.1f}, "
              f"{write_bound(transport, True):7.1f}")
    print(f"anchor: PYSKL's GeneratePoseTarget renders {pyskl_rate(rng):.1f} heatmap volumes/s per core "
          f"(17 x {HEATMAP[1]} x {HEATMAP[2]} x {HEATMAP[3]}; its loader makes every training heatmap so)")
    per_worker, best = rates["uint8"][1], rates["uint8"][2]
    print(f"2 workers, uint8: {best:.1f} samples/s ({'meets' if best >= GPU_CLIPS_PER_SECOND else 'short of'} "
          f"issue 26's bar of {GPU_CLIPS_PER_SECOND:.0f})")
    needed = math.ceil(GPU_CLIPS_PER_SECOND / per_worker)
    print(f"one GPU at PoseConv3D's ~{GPU_CLIPS_PER_SECOND:.0f} clips/s needs about {needed} loader worker(s) "
          f"of {per_worker:.1f} samples/s each (cores like these)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_heatmaps
    sys.exit(main())
