"""The preprocessing stages on the real NTU RGB+D sample: Kinect skeleton + 1080p video -> aligned clips."""

from __future__ import annotations

import pytest

import subprocess
import sys

import cv2
import decord
import numpy as np
import pyarrow.parquet as pq
import yaml

from conftest import PROJECT_ROOT
from crychic.heatmaps.shards import HeatmapShards
from crychic.heatmaps.volume import channel_names
from crychic.keypoints.store import KeypointStore
from crychic.rgb.shards import RgbClips

pytestmark = pytest.mark.slow  # every preprocessing stage on the real NTU sample

SAMPLE = "S001C001P001R001A001"


def run_stage(module: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_ntu_sample_heatmaps_and_rgb_share_one_box(shared_data, tmp_path):
    ntu = shared_data / "ntu-rgbd-samples-mmaction2"
    videos = tmp_path / "nturgb+d_rgb"
    videos.mkdir()
    (videos / f"{SAMPLE}_rgb.avi").symlink_to(ntu / f"{SAMPLE}_rgb.avi")
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["data"].update({"source": "ntu", "root": str(videos),
                           "ntu": {"version": "ntu60", "protocol": "xsub", "skeleton_root": str(ntu),
                                   "val_subjects": 0}, "preprocess_only": True})  # one sample: no val split
    params["heatmap"]["size"], params["rgb"]["size"], params["rgb"]["clip_len"] = 56, 112, 8  # NTU-like shapes
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p, out = ["--params", str(tmp_path / "params.yaml")], tmp_path / "data"

    run_stage("stages.ingest", *p, "--out", str(out / "ingest"), "--metrics", str(tmp_path / "m1.json"))
    manifest = pq.read_table(out / "ingest" / "manifest.parquet").to_pylist()
    assert [(r["sample_id"], r["label_name"], r["split"]) for r in manifest] == [(SAMPLE, "drink water", "train")]
    run_stage("stages.extract_keypoints", *p, "--manifest", str(out / "ingest" / "manifest.parquet"),
              "--out", str(out / "keypoints"), "--metrics", str(tmp_path / "m2.json"))
    run_stage("stages.sample_clips", *p, "--manifest", str(out / "ingest" / "manifest.parquet"),
              "--keypoints", str(out / "keypoints" / "keypoints.h5"), "--out", str(out / "clips" / "clips.parquet"))
    run_stage("stages.render_heatmaps", *p, "--keypoints", str(out / "keypoints" / "keypoints.h5"),
              "--clips", str(out / "clips" / "clips.parquet"), "--out", str(out / "heatmaps"),
              "--metrics", str(tmp_path / "m3.json"))
    run_stage("stages.decode_rgb", *p, "--clips", str(out / "clips" / "clips.parquet"), "--out", str(out / "rgb"),
              "--metrics", str(tmp_path / "m4.json"))

    heatmap = HeatmapShards(out / "heatmaps").get(SAMPLE)
    rgb = RgbClips(out / "rgb").get(SAMPLE)
    np.testing.assert_array_equal(heatmap["box"], rgb["box"])  # both stores name the planned box...
    # ... and both modalities were really cut by it, checked against source-frame pixels here:
    # each well-seen Kinect joint, moved into the box by this test's own arithmetic, is where its
    # heatmap channel peaks; the stored RGB frame is the source frame warped by that same box.
    box = np.asarray(heatmap["box"], dtype=np.float64)
    side = box[2] - box[0]
    with KeypointStore(out / "keypoints" / "keypoints.h5") as store:
        keypoint = store[SAMPLE].keypoint[0]  # T x V x 3, source pixels
    t = len(heatmap["frame_indices"]) // 2
    frame = int(heatmap["frame_indices"][t])
    errors = []
    for joint in np.flatnonzero(keypoint[frame, :, 2] > 0.5):
        expected = (keypoint[frame, joint, :2] - box[:2]) / side * 56
        peak = np.unravel_index(heatmap["heatmap"][joint, t].argmax(), (56, 56))[::-1]
        errors.append(np.hypot(*(np.array(peak) - expected)))
    assert len(errors) >= 10 and np.median(errors) < 1.0, errors

    source = decord.VideoReader(str(videos / f"{SAMPLE}_rgb.avi"))[int(rgb["frame_indices"][0])].asnumpy()

    def cut(b):
        scale = 112 / (b[2] - b[0])
        matrix = np.array([[scale, 0, -scale * b[0]], [0, scale, -scale * b[1]]])
        return cv2.warpAffine(source, matrix, (112, 112), flags=cv2.INTER_AREA).astype(float)

    stored = rgb["frames"][0].astype(float)
    same = np.abs(stored - cut(box)).mean()
    shifted = np.abs(stored - cut(box + np.array([1, 0, 1, 0]) * side / 4)).mean()
    assert same < 12 and shifted > 2 * same, (same, shifted)
    x0, y0, x1, y1 = heatmap["box"]
    assert abs((x1 - x0) - (y1 - y0)) < 1e-6 and 300 < x1 - x0 < 1080  # a square around one person in 1080p
    channels = len(channel_names(params["heatmap"]["with_joint"], params["heatmap"]["with_limb"]))
    assert heatmap["heatmap"].shape == (channels, params["heatmap"]["clip_len"], 56, 56)
    assert rgb["frames"].shape == (params["rgb"]["clip_len"], 112, 112, 3)
    # The person is in the middle of the box: the heat sits in the centre, the RGB there is not padding.
    heat = heatmap["heatmap"].max(axis=(0, 1)).astype(float)  # H x W
    ys, xs = np.nonzero(heat)
    assert 0.2 < xs.mean() / 56 < 0.8 and 0.1 < ys.mean() / 56 < 0.9
    assert rgb["frames"][:, 28:84, 28:84].mean() > 20

    png = tmp_path / "ntu_sample.png"
    run_stage("stages.show_sample", "--split", "train", "--heatmaps", str(out / "heatmaps"), "--rgb", str(out / "rgb"),
              "--out", str(png))
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] == 224
