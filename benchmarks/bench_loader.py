"""Training-loader throughput at NTU shapes: samples/s of `PoseRgbDataset` with augmentation on.

Run: ``.venv/bin/python benchmarks/bench_loader.py`` (about a minute; nothing else running).
Inputs, written to a temporary folder in the pipeline's own formats: 48 samples of PoseConv3D's
NTU shapes, heatmaps ``17 x 48 x 56 x 56`` uint8 (rendered from a walking skeleton by
`generate_pose_target`, stored gzip HDF5 as `render_heatmaps` stores them) and RGB clips
``8 x 224 x 224 x 3`` uint8 (smooth frames with sensor noise, zstd Arrow as `decode_rgb` stores
them). Each item is read back, turned to float, cropped, resized and flipped (PoseConv3D's
`RandomResizedCrop` + flip, both modalities), as training does.

It prints samples/s in the main process and with 1 and 2 DataLoader workers (each worker one
thread), and against what one GPU consumes in PoseConv3D's published training (about 75 clips/s
on one RTX 3090, the figure issue 13 cites), how many workers one GPU needs on cores like these.
"""

from __future__ import annotations

import math
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
        dataset = PoseRgbDataset(heatmap_dir, rgb_dir, split="train", augment=True)
        item = dataset[0]
        print(f"{SAMPLES} samples: heatmap {tuple(item['heatmap'].shape)}, rgb {tuple(item['rgb'].shape)}, "
              f"augmentation on, batch 8, {os.cpu_count()} cores")
        rates = {workers: samples_per_second(dataset, workers) for workers in (0, 1, 2)}
    per_worker = rates[1]
    for workers, rate in rates.items():
        where = "main process" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}"
        print(f"  {where:13s} {rate:7.1f} samples/s")
    print(f"  2 workers / 1 worker: {rates[2] / rates[1]:.2f}x (2 cores here)")
    needed = math.ceil(GPU_CLIPS_PER_SECOND / per_worker)
    print(f"one GPU at PoseConv3D's ~{GPU_CLIPS_PER_SECOND:.0f} clips/s needs about {needed} loader worker(s) "
          f"of {per_worker:.1f} samples/s each (cores like these)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_heatmaps
    sys.exit(main())
