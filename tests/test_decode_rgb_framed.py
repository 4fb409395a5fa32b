"""Stage `decode_rgb_framed` on synthetic-benchmark videos: off by default (a marker, nothing decoded);
on, every clip cut by the deployment framing with the person box located in it, so that a clip
resampled at that box is the box-cut clip of `decode_rgb`, and a joint's heat peak carried by the
dataset's `heatmap_in_rgb` lands where the generator drew the joint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from crychic.clips.person_box import compact_box
from crychic.clips.plan import CLIP_PLAN_SCHEMA, sample_frames
from crychic.core.coco17 import JOINT_INDEX
from crychic.core.manifest import write_table
from crychic.core.params_schema import ParamsError
from crychic.heatmaps.shards import write_heatmap_shard
from crychic.heatmaps.volume import channel_names, render_volume
from crychic.rgb.decode import box_in_frame, decode_clip, decode_planned_clip, framing_box
from crychic.rgb.shards import RgbClips
from crychic.sources.synthetic.generate import SyntheticConfig, generate_clip, write_video
from crychic.training.data import PoseRgbDataset
from stages import decode_rgb_framed

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG = SyntheticConfig(seed=2, num_subjects=4, val_subjects=1, test_subjects=1, clips_per_subject=1,
                         num_frames=12, height=96, width=128)
RGB = {"clip_len": 3, "size": 64, "shard_size": 2, "decode_max_side": 640, "max_reject_fraction": 0.5}
HEATMAP_SIZE = 48
LEFT_WRIST, RIGHT_WRIST = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]


def write_params(path: Path, **research) -> Path:
    path.write_text(yaml.safe_dump({"seed": 1, "rgb": RGB,
                                    "research": {"deployment_framing": True, "framing": "centre", **research}}))
    return path


def run_stage(tmp_path: Path, params: Path, clips: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stages.decode_rgb_framed", "--params", str(params), "--clips", str(clips),
         "--out", str(tmp_path / "rgb_framed"), "--metrics", str(tmp_path / "metrics" / "decode_rgb_framed.json")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )


def test_off_by_default_writes_a_marker_and_nothing_else(tmp_path):
    out = tmp_path / "rgb_framed"
    out.mkdir()
    (out / "shard-00000.arrow").write_bytes(b"stale")
    params = write_params(tmp_path / "params.yaml", deployment_framing=False)
    metrics = tmp_path / "metrics" / "decode_rgb_framed.json"
    decode_rgb_framed.main(["--params", str(params), "--clips", str(tmp_path / "absent.parquet"),
                            "--out", str(out), "--metrics", str(metrics)])
    assert sorted(p.name for p in out.iterdir()) == ["framing.json", "rejects.parquet"]
    assert json.loads((out / "framing.json").read_text()) == {"enabled": False, "framing": "centre"}
    assert pq.read_table(out / "rejects.parquet").num_rows == 0
    assert json.loads(metrics.read_text())["samples"] == 0
    with pytest.raises(FileNotFoundError, match="research.deployment_framing"):
        PoseRgbDataset(None, out, split="train", framed=True, modalities=("rgb",))
    with pytest.raises(ParamsError, match='research.framing = "person": must be one of: centre, full'):
        decode_rgb_framed.main(["--params", str(write_params(tmp_path / "bad.yaml", framing="person")),
                                "--out", str(out), "--metrics", str(metrics)])


def test_the_project_params_keep_it_off_and_dvc_yaml_lists_what_it_reads():
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    assert params["research"]["deployment_framing"] is False
    stage = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]["decode_rgb_framed"]
    assert stage["params"] == decode_rgb_framed.PARAM_KEYS
    from stages import decode_rgb

    assert decode_rgb_framed.PARAM_KEYS[: len(decode_rgb.PARAM_KEYS)] == decode_rgb.PARAM_KEYS
    assert stage["outs"] == ["data/rgb_framed"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Three synthetic clips (train, val, test) as video files, their clip plan, and the exact joints."""
    root = tmp_path_factory.mktemp("framed")
    plan, exact = [], {}
    for label, (subject, split) in enumerate([(1, "train"), (3, "val"), (4, "test")]):
        clip = generate_clip(CONFIG, subject, label, 1)
        sample_id = f"syn_{label}"
        path = root / f"{sample_id}.mp4"
        write_video(path, clip.frames, CONFIG.fps)
        heatmap_frames = sample_frames(CONFIG.num_frames, 4, split=split, seed=1, sample_id=sample_id,
                                       purpose="heatmap")
        box = compact_box(clip.exact_keypoint[None, heatmap_frames], np.ones((1, 4, 17)), (96, 128))
        plan.append({"sample_id": sample_id, "path": str(path), "label": label, "split": split,
                     "num_frames": CONFIG.num_frames, "img_shape": [96, 128], "box": box.tolist(),
                     "frame_indices": heatmap_frames.tolist()})
        exact[sample_id] = clip.exact_keypoint  # T x V x 2, source pixels
    broken = root / "broken.mp4"
    broken.write_bytes(b"not a video")
    plan.append({**plan[0], "sample_id": "syn_broken", "path": str(broken)})
    clips = root / "clips.parquet"
    write_table(plan, CLIP_PLAN_SCHEMA, clips)
    return root, clips, plan[:3], exact


@pytest.mark.slow  # the stage through Prefect on real videos
def test_stage_cuts_every_split_by_the_framing_and_locates_the_person(synthetic, tmp_path):
    _, clips_path, plan, exact = synthetic
    run = run_stage(tmp_path, write_params(tmp_path / "params.yaml"), clips_path)
    assert run.returncode == 0, run.stdout + run.stderr
    out = tmp_path / "rgb_framed"
    assert json.loads((out / "framing.json").read_text()) == {"enabled": True, "framing": "centre"}
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    assert [r["sample_id"] for r in rejects] == ["syn_broken"] and rejects[0]["stage"] == "decode_rgb_framed"
    metrics = json.loads((tmp_path / "metrics" / "decode_rgb_framed.json").read_text())
    assert metrics["samples"] == 3 and metrics["framing"] == "centre"

    clips = RgbClips(out)
    assert clips.framed and clips.ids() == ["syn_0", "syn_1", "syn_2"]
    frame = framing_box("centre", 96, 128)  # (16, 0, 112, 96)
    for row in plan:
        got = clips.get(row["sample_id"])
        # What decode_rgb writes for the sample, but cut by the framing box.
        box_cut = decode_planned_clip(row, clip_len=3, size=64, seed=1, decode_max_side=640)
        np.testing.assert_array_equal(got["frame_indices"], box_cut["frame_indices"])
        np.testing.assert_array_equal(got["box"], row["box"])
        np.testing.assert_array_equal(got["framing_box"], frame)
        np.testing.assert_allclose(got["person_in_clip"], box_in_frame(row["box"], frame))
        expected = decode_clip(row["path"], got["frame_indices"], frame, row["img_shape"], 64, decode_max_side=640)
        np.testing.assert_array_equal(got["frames"], expected)  # what evaluate's pose-free rows decode

        # The framed clip resampled at person_in_clip is the box-cut clip; one pixel off is worse.
        u0, v0, u1, v1 = got["person_in_clip"]
        errors = {}
        for shift in (-2, -1, 0, 1, 2):
            to_box = np.array([[1 / (u1 - u0), 0, -u0 * 64 / (u1 - u0) + shift],
                               [0, 1 / (v1 - v0), -v0 * 64 / (v1 - v0)]])
            inside = cv2.warpAffine(np.ones((64, 64), np.float32), to_box, (64, 64)) > 0.999
            warped = np.stack([cv2.warpAffine(f, to_box, (64, 64)) for f in got["frames"]]).astype(float)
            errors[shift] = np.abs(warped - box_cut["frames"])[:, inside].mean()
        assert min(errors, key=errors.get) == 0 and errors[0] < 8, errors  # measured: 1.9 to 6.5 at 0

    # The dataset on these clips: heatmaps rendered from the generator's exact joints in the box
    # frame; after crop and flip, a wrist's heat peak carried by heatmap_in_rgb is that joint's
    # position in the augmented framed clip, within one RGB pixel.
    heatmap_dir = tmp_path / "heatmaps"
    records = []
    for row in plan:
        indices = clips.get(row["sample_id"])["frame_indices"]
        keypoint = np.concatenate([exact[row["sample_id"]], np.ones((CONFIG.num_frames, 17, 1))], axis=-1)[None]
        volume = render_volume(keypoint, row["box"], indices, size=HEATMAP_SIZE, sigma=1.0)
        records.append({"sample_id": row["sample_id"], "label": row["label"], "split": row["split"],
                        "box": np.array(row["box"]), "frame_indices": indices, "heatmap": volume})
    write_heatmap_shard(heatmap_dir / "shard-00000.h5", records,
                        {"with_joint": True, "with_limb": False, "channels": channel_names(True, False),
                         "size": HEATMAP_SIZE, "sigma": 1.0})
    checked, flips = 0, 0
    for row in plan:
        dataset = PoseRgbDataset(heatmap_dir, out, split=row["split"], framed=True, augment=True)
        first_frame = int(clips.get(row["sample_id"])["frame_indices"][0])
        for seed in range(6):
            dataset.seed = seed
            augmentation = dataset.augmentation(0)
            item = dataset[0]
            for joint in (LEFT_WRIST, RIGHT_WRIST):
                x, y = exact[row["sample_id"]][first_frame, joint]
                u, v = (x - frame[0]) / (frame[2] - frame[0]), (y - frame[1]) / (frame[3] - frame[1])
                c0, d0, c1, d1 = augmentation.crop
                target = np.array([(u - c0) / (c1 - c0), (v - d0) / (d1 - d0)])
                if augmentation.flip:
                    target[0] = 1 - target[0]
                channel = {LEFT_WRIST: RIGHT_WRIST, RIGHT_WRIST: LEFT_WRIST}[joint] if augmentation.flip else joint
                plane = item["heatmap"][channel, 0].numpy()
                if plane.max() < 0.5 or not ((0.05 < target) & (target < 0.95)).all():
                    continue
                weights = np.where(plane >= plane.max() / 2, plane, 0.0)
                yy, xx = np.mgrid[0:HEATMAP_SIZE, 0:HEATMAP_SIZE]
                s = np.array([(weights * xx).sum(), (weights * yy).sum()]) / weights.sum() / HEATMAP_SIZE
                b = item["heatmap_in_rgb"].numpy()
                carried = b[:2] + s * (b[2:] - b[:2])
                np.testing.assert_allclose(carried, target, atol=1.0 / 64, err_msg=row["sample_id"])
                checked, flips = checked + 1, flips + augmentation.flip
    assert checked >= 12 and 0 < flips < checked
