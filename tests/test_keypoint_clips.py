"""KeypointClips (box coordinates, flip, errors) and a 1-epoch run of the train_gcn stage."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from crychic.clips.plan import CLIP_PLAN_SCHEMA
from crychic.core.coco17 import JOINT_INDEX, LEFT_KP, NUM_JOINTS, RIGHT_KP
from crychic.keypoints.clips import KeypointClips
from crychic.keypoints.store import SampleKeypoints
from crychic.keypoints.store import write_keypoints

FRAMES, T_ALL = 4, 10
BOX = [20.0, 10.0, 120.0, 110.0]  # square, 100 px
SPLITS = {"train": 4, "val": 2}
LEFT_WRIST, RIGHT_WRIST = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]


def sample_keypoints(k: int) -> np.ndarray:
    """M=1 x T_ALL x V x 3, joints spread inside the box; frame t has x shifted by t."""
    rng = np.random.default_rng(k)
    kp = np.zeros((1, T_ALL, NUM_JOINTS, 3), dtype=np.float32)
    kp[..., 0] = rng.uniform(30, 110, size=(1, 1, NUM_JOINTS)) + np.arange(T_ALL)[None, :, None]
    kp[..., 1] = rng.uniform(20, 100, size=(1, 1, NUM_JOINTS))
    kp[..., 2] = 0.9
    kp[0, :, LEFT_WRIST, :2] = (BOX[0], BOX[1])   # left wrist at the box's top-left corner
    kp[0, :, RIGHT_WRIST, :2] = (BOX[2], BOX[3])  # right wrist at its bottom-right corner
    return kp


@pytest.fixture()
def tiny_data(tmp_path):
    rows, samples = [], {}
    for split, count in SPLITS.items():
        for k in range(count):
            sid = f"{split}_{k}"
            samples[sid] = SampleKeypoints(keypoint=sample_keypoints(len(samples)), img_shape=(120, 160))
            rows.append({"sample_id": sid, "path": f"{sid}.mp4", "label": k % 3, "split": split,
                         "num_frames": T_ALL, "img_shape": [120, 160], "box": BOX,
                         "frame_indices": [0, 3, 6, 9][:FRAMES]})
    h5, plan = tmp_path / "keypoints.h5", tmp_path / "clips.parquet"
    write_keypoints(h5, samples)
    pq.write_table(pa.Table.from_pylist(rows, schema=CLIP_PLAN_SCHEMA), plan)
    return h5, plan, rows


def test_box_corners_map_to_minus_one_and_one(tiny_data):
    h5, plan, _ = tiny_data
    data = KeypointClips(h5, plan, "train")
    item = data[0]
    kp = item["keypoint"]
    assert kp.shape == (3, FRAMES, NUM_JOINTS, 2) and kp.dtype == torch.float32
    assert item["label"].dtype == torch.int64 and item["sample_id"] == "train_0" and item["index"] == 0
    assert torch.allclose(kp[:2, :, LEFT_WRIST, 0], torch.tensor(-1.0))
    assert torch.allclose(kp[:2, :, RIGHT_WRIST, 0], torch.tensor(1.0))
    assert torch.allclose(kp[2, :, :, 0], torch.tensor(0.9))
    assert (kp[:, :, :, 1] == 0).all()  # the second person is zero padding
    # the plan's frames, in order: frame t is shifted by t px = 2t/100 box units
    source = sample_keypoints(0)[0, [0, 3, 6, 9], 0, 0]
    assert torch.allclose(kp[0, :, 0, 0], torch.from_numpy(2 * (source - BOX[0]) / 100 - 1))


def test_flip_swaps_left_right_and_mirrors_x(tiny_data):
    h5, plan, _ = tiny_data
    plain = KeypointClips(h5, plan, "train")
    flipped = KeypointClips(h5, plan, "train", augment=True, seed=0)
    flipped.flip_prob = 1.0
    a, b = plain[1]["keypoint"], flipped[1]["keypoint"]
    for left, right in zip(LEFT_KP, RIGHT_KP):
        assert torch.allclose(b[0, :, left], -a[0, :, right]) and torch.allclose(b[1:, :, left], a[1:, :, right])
    assert torch.allclose(b[0, :, 0], -a[0, :, 0])  # the nose stays, mirrored
    # seeded by (seed, epoch, index): repeatable, and varies with the epoch
    coin = KeypointClips(h5, plan, "train", augment=True, seed=0)
    assert [coin.flips(i) for i in range(4)] == [coin.flips(i) for i in range(4)]
    per_epoch = []
    for epoch in range(8):
        coin.set_epoch(epoch)
        per_epoch.append(tuple(coin.flips(i) for i in range(4)))
    assert len(set(per_epoch)) > 1


def test_missing_sample_names_the_file(tiny_data, tmp_path):
    h5, plan, rows = tiny_data
    rows = rows + [{**rows[0], "sample_id": "ghost"}]
    bad_plan = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=CLIP_PLAN_SCHEMA), bad_plan)
    with pytest.raises(KeyError, match="keypoints.h5.*ghost"):
        KeypointClips(h5, bad_plan, "train")


@pytest.mark.parametrize("stage, model_name", [("gcn", "stgcn_tiny"), ("msg3d", "msg3d"), ("sta_lstm", "sta_lstm")])
def test_keypoint_baseline_stage_writes_metrics(tiny_data, tmp_path, stage, model_name):
    import importlib

    from crychic.training.stage import PARAM_KEYS

    main = importlib.import_module(f"stages.train_{stage}").main

    h5, plan, rows = tiny_data
    manifest = tmp_path / "manifest.parquet"
    pq.write_table(pa.Table.from_pylist([{"label": i, "label_name": f"class{i}"} for i in range(3)]), manifest)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "seed": 0, stage: {"model": model_name, "epochs": 1, "lr": 0.003, "weight_decay": 0.0001},
        "train": {"device": "cpu", "batch_size": 2}}))
    assert {f"{stage}.model", f"{stage}.epochs"} <= set(PARAM_KEYS[stage])
    out, metrics, plots = tmp_path / f"{stage}.pt", tmp_path / f"train_{stage}.json", tmp_path / "plots.json"
    timing = tmp_path / "timing.json"
    main(["--no-mlflow", "--params", str(params), "--keypoints", str(h5), "--clips", str(plan),
          "--manifest", str(manifest), "--out", str(out), "--metrics", str(metrics), "--plots", str(plots),
          "--timing", str(timing)])
    figures = json.loads(metrics.read_text())
    assert figures["val_split"] == "val" and figures["epochs"] == 1 and figures["best_epoch"] == 0
    assert json.loads(timing.read_text())["mlflow_run_id"] is None and "seconds" not in figures
    assert 0 <= figures[f"val_{stage}_top1"] <= 1 and figures["val_top1"] == figures[f"val_{stage}_top1"]
    assert len(json.loads(plots.read_text())) == 1

    from crychic.training.baselines import load_baseline, predict_baseline

    model = load_baseline(out)
    assert model.stage == stage
    assert model.label_names == ["class0", "class1", "class2"]
    logits, labels, ids = predict_baseline(model, keypoints_path=h5, clip_plan_path=plan, rgb_dir=None, split="val")
    assert logits.shape == (2, 3) and labels.tolist() == [0, 1] and ids == ["val_0", "val_1"]


def test_flips_draw_from_seed_epoch_and_index(tiny_data):
    """The seeds the flips had before the epoch counter was shared (`crychic.core.epoch_seeds`): a
    change here changes every trained keypoint baseline."""
    h5, plan, _ = tiny_data
    coin = KeypointClips(h5, plan, "train", augment=True, seed=5)
    for epoch in (0, 3):
        coin.set_epoch(epoch)
        assert [coin.flips(i) for i in range(4)] == [
            bool(np.random.default_rng([5, epoch, i]).random() < 0.5) for i in range(4)]
