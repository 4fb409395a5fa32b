"""The overlay picture: panel layout, heat drawn where the keypoint is, nearest-in-time pairing, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from crychic.heatmaps.shards import write_heatmap_shard
from crychic.heatmaps.volume import channel_names
from crychic.heatmaps.render import generate_pose_target
from crychic.heatmaps.shards import to_uint8
from crychic.reporting.figures import GAP, overlay_sample, save_png
from crychic.rgb.shards import write_rgb_shard

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HEATMAP_SIZE, RGB_SIZE = 40, 80
HEATMAP_FRAME_INDICES = np.array([0, 10, 20, 30])
# Each heatmap frame puts the nose at its own column, so a panel shows which frame it was paired with.
NOSE_COLUMNS = np.array([8, 16, 24, 32])  # heatmap pixels; RGB pixels are twice these
NOSE_ROW = 20


def moving_nose_heatmap() -> np.ndarray:
    keypoint = np.zeros((1, len(HEATMAP_FRAME_INDICES), 17, 2))
    score = np.zeros((1, len(HEATMAP_FRAME_INDICES), 17))
    keypoint[0, :, 0] = np.column_stack([NOSE_COLUMNS, np.full(4, NOSE_ROW)])
    score[0, :, 0] = 1.0
    return to_uint8(generate_pose_target(keypoint, score, (HEATMAP_SIZE, HEATMAP_SIZE)).transpose(1, 0, 2, 3))


def grey_frames(count: int) -> np.ndarray:
    return np.full((count, RGB_SIZE, RGB_SIZE, 3), 60, dtype=np.uint8)


def panel(image: np.ndarray, index: int, side: int = RGB_SIZE) -> np.ndarray:
    start = index * (side + GAP)
    return image[:, start : start + side]


@pytest.mark.parametrize("panel_size", [None, 160])
def test_panels_show_heat_at_the_keypoint_of_the_nearest_heatmap_frame(panel_size):
    rgb_frame_indices = np.array([1, 5, 9, 14, 21, 26, 29])  # nearest heatmap frames: 0, 0/10, 10, 10, 20, 30, 30
    image = overlay_sample(grey_frames(7), rgb_frame_indices, moving_nose_heatmap(), HEATMAP_FRAME_INDICES,
                           num_panels=4, panel_size=panel_size)
    side = panel_size or RGB_SIZE
    assert image.shape == (side, 4 * side + 3 * GAP, 3) and image.dtype == np.uint8
    zoom = side // HEATMAP_SIZE  # panel pixels per heatmap pixel
    # Panels at RGB frames 0, 2, 4, 6 (source 1, 9, 21, 29) pair with heatmap frames 0, 1, 2, 3.
    for index, heat_frame in enumerate([0, 1, 2, 3]):
        shown = panel(image, index, side).astype(int)
        brightness = shown.sum(axis=-1)
        brightness[: side // 5] = 0  # ignore the caption
        row, column = np.unravel_index(brightness.argmax(), brightness.shape)
        assert (row, column) == (zoom * NOSE_ROW, zoom * NOSE_COLUMNS[heat_frame])
        assert brightness[row, column] > 2 * 3 * 60  # inferno's hot end is pale yellow, far brighter than the grey
        # Far from the keypoint the RGB is untouched.
        assert (shown[3 * side // 4 :, :] == 60).all()
    assert (image[:, side : side + GAP] == 255).all()


def test_float_heatmaps_and_short_clips():
    heatmap = moving_nose_heatmap().astype(np.float32) / 255.0
    image = overlay_sample(grey_frames(2), [0, 30], heatmap, HEATMAP_FRAME_INDICES, num_panels=4)
    assert image.shape == (RGB_SIZE, 2 * RGB_SIZE + GAP, 3)
    brightness = panel(image, 1)[14:].astype(int).sum(axis=-1)
    assert np.unravel_index(brightness.argmax(), brightness.shape)[1] == 2 * NOSE_COLUMNS[3]


def test_save_png_round_trips(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = save_png(image, tmp_path / "sub" / "x.png")
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), image)


def test_show_sample_cli_writes_a_png(tmp_path):
    heatmap = moving_nose_heatmap()
    records = [
        {"sample_id": sample_id, "label": 1, "split": split, "box": [0.0, 0.0, 100.0, 100.0],
         "frame_indices": HEATMAP_FRAME_INDICES, "heatmap": heatmap}
        for sample_id, split in (("b", "test"), ("a", "train"), ("c", "test"))
    ]
    write_heatmap_shard(tmp_path / "heatmaps" / "shard-00000.h5", records,
                        {"with_joint": True, "with_limb": False, "channels": channel_names(True, False)})
    rgb = [{**{k: v for k, v in r.items() if k != "heatmap"}, "frames": grey_frames(4),
            "frame_indices": np.array([0, 10, 20, 30])} for r in records]
    write_rgb_shard(tmp_path / "rgb" / "shard-00000.arrow", rgb)
    out = tmp_path / "plots" / "first.png"
    result = subprocess.run(
        [sys.executable, "-m", "stages.show_sample", "--split", "test", "--heatmaps", str(tmp_path / "heatmaps"),
         "--rgb", str(tmp_path / "rgb"), "--out", str(out)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    image = cv2.imread(str(out))
    assert image.shape == (224, 4 * 224 + 3 * GAP, 3)  # the CLI enlarges panels to 224 by default

    # Without --out: plots/sample_<id>.png under the working directory, <id> the split's first sample.
    result = subprocess.run(
        [sys.executable, "-m", "stages.show_sample", "--heatmaps", str(tmp_path / "heatmaps"),
         "--rgb", str(tmp_path / "rgb"), "--panels", "2", "--panel-size", "80"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(Path("plots") / "sample_b.png")
    assert cv2.imread(str(tmp_path / "plots" / "sample_b.png")).shape == (RGB_SIZE, 2 * RGB_SIZE + GAP, 3)
