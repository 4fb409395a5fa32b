"""Throughput of `crychic.heatmaps.render.generate_pose_target` against PYSKL's per-keypoint loop,
and the bytes a heatmap volume takes on disk as compressed uint8 HDF5.

Run: ``.venv/bin/python benchmarks/bench_heatmaps.py`` (one core, a minute or so).
Inputs: one person, T=48 frames x V=17 COCO joints, 56 x 56 maps: a body ~36 px tall whose
centre random-walks inside the map and whose joints jitter around a standing pose, scores
uniform in [0.3, 1]. Volumes are ``T x C x H x W`` float32 (``C`` = 17 joints or 17 limbs).
Acceptance bars: >= 30x (joints) and >= 10x (limbs) the loop's throughput; compressed uint8
<= 1/20 of raw float32. The script fails (non-zero exit) if the two renderers disagree by
more than 1e-5 or a bar is missed.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy loads: one core, no BLAS threads
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # crychic, when run as a script
sys.path.insert(0, str(Path(__file__).resolve().parent))  # pyskl_reference

from crychic.heatmaps.render import generate_pose_target  # noqa: E402
from crychic.heatmaps.shards import to_uint8  # noqa: E402
from pyskl_reference import generate_pose_target_loop  # noqa: E402

NUM_FRAMES, MAP_SIZE, SIGMA = 48, 56, 0.6
NUM_SAMPLES = 8  # distinct inputs, cycled through by both renderers

# A standing person facing the camera, height 1, x centred on 0 (COCO-17 order).
STANDING_POSE = np.array(
    [
        [0.00, 0.08], [0.03, 0.06], [-0.03, 0.06], [0.06, 0.08], [-0.06, 0.08],
        [0.12, 0.22], [-0.12, 0.22], [0.16, 0.38], [-0.16, 0.38], [0.18, 0.52], [-0.18, 0.52],
        [0.08, 0.55], [-0.08, 0.55], [0.09, 0.77], [-0.09, 0.77], [0.10, 0.97], [-0.10, 0.97],
    ],
    dtype=np.float32,
) - [0.0, 0.5]  # centre vertically too


def realistic_keypoints(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One person's ``1 x T x 17 x 2`` keypoints and ``1 x T x 17`` scores, as a tracker gives them."""
    body_height = 36.0
    centre = MAP_SIZE / 2 + np.cumsum(rng.normal(0, 0.6, size=(NUM_FRAMES, 2)), axis=0)  # T x 2
    centre = np.clip(centre, body_height / 2 + 1, MAP_SIZE - body_height / 2 - 1)
    jitter = np.cumsum(rng.normal(0, 0.4, size=(NUM_FRAMES, 17, 2)), axis=0)  # T x V x 2 joint drift
    jitter = np.clip(jitter, -4, 4)
    keypoint = centre[:, None, :] + body_height * STANDING_POSE[None] + jitter  # T x V x 2
    score = rng.uniform(0.3, 1.0, size=(NUM_FRAMES, 17))
    return keypoint[None].astype(np.float32), score[None].astype(np.float32)


def volumes_per_second(render, inputs, min_seconds: float) -> float:
    """Best of 3 timed passes over the inputs, each repeated until it lasts `min_seconds`."""
    best = np.inf
    for _ in range(3):
        count, started = 0, time.perf_counter()
        while True:
            for keypoint, score in inputs:
                render(keypoint, score)
            count += len(inputs)
            elapsed = time.perf_counter() - started
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / count)
    return 1.0 / best


def disk_bytes_per_sample(heatmaps: list[np.ndarray], compression: str) -> float:
    """Stored size of uint8 ``C x T x H x W`` volumes, one HDF5 chunk per sample."""
    volumes = np.stack([to_uint8(h.transpose(1, 0, 2, 3)) for h in heatmaps])  # N x C x T x H x W
    with tempfile.TemporaryDirectory() as folder:
        with h5py.File(Path(folder) / "heatmaps.h5", "w") as store:
            dataset = store.create_dataset(
                "heatmap", data=volumes, chunks=(1,) + volumes.shape[1:], compression=compression
            )
            return dataset.id.get_storage_size() / len(volumes)


def main() -> int:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = np.random.default_rng(0)
    inputs = [realistic_keypoints(rng) for _ in range(NUM_SAMPLES)]
    img_shape = (MAP_SIZE, MAP_SIZE)
    ok = True
    print(f"one person, {NUM_FRAMES} frames x 17 joints, {MAP_SIZE}x{MAP_SIZE} maps, sigma {SIGMA}, one core")
    for mode, with_limb, bar in (("joint", False, 30.0), ("limb", True, 10.0)):

        def fast(k, s):
            return generate_pose_target(k, s, img_shape, sigma=SIGMA, with_limb=with_limb)

        def loop(k, s):
            return generate_pose_target_loop(k, s, img_shape, sigma=SIGMA, with_limb=with_limb)

        max_diff = max(float(np.abs(fast(k, s) - loop(k, s)).max()) for k, s in inputs)
        assert max_diff <= 1e-5, f"{mode}: fast and loop renderers differ by {max_diff}"
        loop_rate = volumes_per_second(loop, inputs, min_seconds=2.0)
        fast_rate = volumes_per_second(fast, inputs, min_seconds=2.0)
        ratio = fast_rate / loop_rate
        ok &= ratio >= bar
        print(
            f"{mode:5s}: vectorised {fast_rate:8.1f} vol/s | PYSKL loop port {loop_rate:6.1f} vol/s | "
            f"ratio {ratio:5.1f}x (bar {bar:.0f}x) | max abs diff {max_diff:.1e}"
        )

        heatmaps = [fast(k, s) for k, s in inputs]
        raw = heatmaps[0].nbytes
        for compression in ("gzip", "lzf"):
            stored = disk_bytes_per_sample(heatmaps, compression)
            ok &= stored <= raw / 20
            print(
                f"       uint8 HDF5 {compression:4s}: {stored / 1024:7.1f} KiB/sample vs float32 raw "
                f"{raw / 1024:7.1f} KiB = 1/{raw / stored:.0f} (bar 1/20)"
            )
    print("PASS" if ok else "FAIL: a bar was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
