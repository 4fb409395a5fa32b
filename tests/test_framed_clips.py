"""Framed RGB clips (the pose-free path's framing, no keypoint box) joined with box-frame heatmaps.

Each synthetic sample has its person box at its own place `PERSON[k]` of a framed clip (S = 80),
half the clip a side. The heatmap (H = 40, box frame) has the left wrist at a box position; the
framed clip has a red dot where that point lies in the clip. After any crop or flip of the clip,
the heat peak at s of the heatmap, carried by `heatmap_in_rgb` to u0 + s (u1 - u0), must be the
dot's position.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crychic.core.coco17 import JOINT_INDEX
from crychic.heatmaps.render import generate_pose_target
from crychic.heatmaps.shards import to_uint8, write_heatmap_shard
from crychic.heatmaps.volume import channel_names
from crychic.models.attention import carry_to_frame
from crychic.rgb.decode import FRAMINGS, box_in_frame, framing_box
from crychic.rgb.shards import RgbClips, shard_name, write_rgb_shard
from crychic.training.data import IDENTITY, RGB_MEAN, RGB_STD, Augmentation, PoseRgbDataset, heatmap_in_rgb

HEATMAP_SIZE, RGB_SIZE, FRAMES = 40, 80, 3
LEFT_WRIST, RIGHT_WRIST = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
SOURCE_BOX = np.array([30.0, 10.0, 130.0, 110.0])  # the person box in source pixels (the heatmaps' box)


def person_in_clip(k: int) -> np.ndarray:
    return np.array([0.2 + 0.03 * k, 0.15 + 0.02 * k, 0.7 + 0.03 * k, 0.65 + 0.02 * k])


def wrists(k: int) -> dict[int, tuple[float, float]]:
    """Box positions (u, v) of the wrists, on heatmap pixels."""
    return {LEFT_WRIST: ((12 + k) / HEATMAP_SIZE, (15 + k) / HEATMAP_SIZE),
            RIGHT_WRIST: ((27 - k) / HEATMAP_SIZE, (22 - k) / HEATMAP_SIZE)}


def in_clip(k: int, u_v) -> np.ndarray:
    box = person_in_clip(k)
    return box[:2] + np.asarray(u_v) * (box[2:] - box[:2])


def heatmap_record(k: int, split: str) -> dict:
    keypoint, score = np.zeros((1, FRAMES, 17, 2)), np.zeros((1, FRAMES, 17))
    for joint, (u, v) in wrists(k).items():
        keypoint[0, :, joint] = (u * HEATMAP_SIZE, v * HEATMAP_SIZE)
        score[0, :, joint] = 1.0
    volume = generate_pose_target(keypoint, score, (HEATMAP_SIZE, HEATMAP_SIZE)).transpose(1, 0, 2, 3)
    return {"sample_id": f"s{k:02d}", "label": k % 3, "split": split, "box": SOURCE_BOX,
            "frame_indices": np.arange(FRAMES), "heatmap": to_uint8(volume)}


def framed_record(k: int, split: str) -> dict:
    """A framed clip: black, a red dot at the left wrist, a green one at the right wrist."""
    yy, xx = np.mgrid[0:RGB_SIZE, 0:RGB_SIZE]
    frame = np.zeros((RGB_SIZE, RGB_SIZE, 3))
    for joint, channel in ((LEFT_WRIST, 0), (RIGHT_WRIST, 1)):
        u, v = in_clip(k, wrists(k)[joint])
        frame[..., channel] = 255 * np.exp(-((xx - u * RGB_SIZE) ** 2 + (yy - v * RGB_SIZE) ** 2) / (2 * 1.5**2))
    frames = np.repeat(frame.round().astype(np.uint8)[None], FRAMES, axis=0)
    return {"sample_id": f"s{k:02d}", "label": k % 3, "split": split, "box": SOURCE_BOX,
            "frame_indices": np.arange(FRAMES), "frames": frames,
            "framing_box": [0.0, 0.0, 200.0, 200.0], "person_in_clip": person_in_clip(k)}


@pytest.fixture
def dirs(tmp_path):
    attrs = {"with_joint": True, "with_limb": False, "channels": channel_names(True, False),
             "size": HEATMAP_SIZE, "sigma": 0.6}
    write_heatmap_shard(tmp_path / "heatmaps" / shard_name(0).replace(".arrow", ".h5"),
                        [heatmap_record(k, "train") for k in range(5)], attrs)
    write_rgb_shard(tmp_path / "rgb_framed" / shard_name(0), [framed_record(k, "train") for k in range(5)])
    box_cut = [{key: value for key, value in framed_record(k, "train").items()
                if key not in ("framing_box", "person_in_clip")} for k in range(5)]
    write_rgb_shard(tmp_path / "rgb" / shard_name(0), box_cut)
    return tmp_path


def centroid(plane: torch.Tensor) -> np.ndarray:
    """(u, v) position of a blob in an N x N map: centroid of its pixels above half the max."""
    plane = plane.numpy()
    weights = np.where(plane >= plane.max() / 2, plane, 0.0)
    yy, xx = np.mgrid[0 : plane.shape[0], 0 : plane.shape[1]]
    return np.array([(weights * xx).sum(), (weights * yy).sum()]) / weights.sum() / plane.shape[0]


def red(rgb: torch.Tensor) -> torch.Tensor:
    return rgb[0, 0] * RGB_STD[0] + RGB_MEAN[0]


def augmented(u_v, augmentation: Augmentation) -> np.ndarray:
    u0, v0, u1, v1 = augmentation.crop
    u, v = (u_v[0] - u0) / (u1 - u0), (u_v[1] - v0) / (v1 - v0)
    return np.array([1 - u if augmentation.flip else u, v])


# --- framing and shards ------------------------------------------------------------------------


def test_framing_is_the_evaluation_s_and_box_in_frame_maps_source_points():
    from crychic.evaluation import end_to_end

    assert end_to_end.FRAMINGS == FRAMINGS
    for framing in FRAMINGS:
        for shape in ((240, 320), (320, 240), (144, 176), (100, 100)):
            np.testing.assert_array_equal(framing_box(framing, *shape), end_to_end.framing_box(framing, *shape))
    frame = framing_box("centre", 240, 320)  # (40, 0, 280, 240)
    np.testing.assert_allclose(box_in_frame([40.0, 60.0, 160.0, 180.0], frame), [0.0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(box_in_frame([0.0, -24.0, 100.0, 76.0], frame), [-1 / 6, -0.1, 0.25, 76 / 240])
    with pytest.raises(ValueError, match="unknown framing"):
        framing_box("person", 240, 320)


def test_framed_shards_roundtrip_and_refuse_mixed_records(dirs, tmp_path):
    clips = RgbClips(dirs / "rgb_framed")
    assert clips.framed and not RgbClips(dirs / "rgb").framed
    got = clips.get("s03")
    np.testing.assert_array_equal(got["person_in_clip"], person_in_clip(3))
    np.testing.assert_array_equal(got["framing_box"], [0.0, 0.0, 200.0, 200.0])
    np.testing.assert_array_equal(got["box"], SOURCE_BOX)
    assert "person_in_clip" not in RgbClips(dirs / "rgb").get("s03")
    records = [framed_record(0, "train"), framed_record(1, "train")]
    del records[1]["person_in_clip"]
    with pytest.raises(ValueError, match="s01"):
        write_rgb_shard(tmp_path / "mixed" / shard_name(0), records)


# --- the dataset -------------------------------------------------------------------------------


def test_heatmap_in_rgb_composes_the_box_the_crops_and_the_flip():
    person = np.array([0.2, 0.1, 0.6, 0.5])
    np.testing.assert_allclose(heatmap_in_rgb(person, IDENTITY, IDENTITY), person)
    crop = Augmentation(crop=np.array([0.1, 0.0, 0.6, 0.5]), flip=False)
    np.testing.assert_allclose(heatmap_in_rgb(person, crop, IDENTITY), [0.2, 0.2, 1.0, 1.0])
    flipped = Augmentation(crop=crop.crop, flip=True)
    heat_flip = Augmentation(crop=IDENTITY.crop, flip=True)
    np.testing.assert_allclose(heatmap_in_rgb(person, flipped, heat_flip), [0.0, 0.2, 0.8, 1.0])
    heat_crop = Augmentation(crop=np.array([0.5, 0.25, 1.0, 0.75]), flip=False)
    np.testing.assert_allclose(heatmap_in_rgb(person, IDENTITY, heat_crop), [0.4, 0.2, 0.6, 0.4])
    with pytest.raises(ValueError, match="flipped together"):
        heatmap_in_rgb(person, flipped, IDENTITY)


def test_unaugmented_items_put_the_heat_peak_on_the_dot(dirs):
    dataset = PoseRgbDataset(dirs / "heatmaps", dirs / "rgb_framed", split="train", framed=True)
    for index, sample_id in enumerate(dataset.sample_ids):
        item, k = dataset[index], int(sample_id[1:])
        np.testing.assert_allclose(item["heatmap_in_rgb"].numpy(), person_in_clip(k), atol=1e-6)
        assert item["heatmap_in_rgb"].dtype == torch.float32
        assert item["rgb"].shape == (3, FRAMES, RGB_SIZE, RGB_SIZE)
        heat = centroid(item["heatmap"][LEFT_WRIST, 0])
        np.testing.assert_allclose(heat, wrists(k)[LEFT_WRIST], atol=1e-6)  # the box frame, untouched
        np.testing.assert_allclose(in_clip(k, heat), centroid(red(item["rgb"])), atol=0.5 / RGB_SIZE)


@pytest.mark.parametrize("heatmap_crop", [False, True])
def test_augmented_items_carry_the_heat_peak_onto_the_dot(dirs, heatmap_crop):
    dataset = PoseRgbDataset(dirs / "heatmaps", dirs / "rgb_framed", split="train", framed=True, augment=True,
                             heatmap_crop=heatmap_crop)
    checked, flips = 0, 0
    for seed in range(8):
        dataset.seed = seed
        for index, sample_id in enumerate(dataset.sample_ids):
            k = int(sample_id[1:])
            augmentation = dataset.augmentation(index)
            target = augmented(in_clip(k, wrists(k)[LEFT_WRIST]), augmentation)
            if not ((0.1 < target) & (target < 0.9)).all():
                continue  # cropped away, or too near the edge for a clean centroid
            item = dataset[index]
            # A flip moves the left wrist's heat into the right wrist's channel (in the box frame).
            plane = item["heatmap"][RIGHT_WRIST if augmentation.flip else LEFT_WRIST, 0]
            if heatmap_crop and plane.max() < 0.5:
                continue  # the heatmap's own crop cut the wrist off
            u0, v0, u1, v1 = item["heatmap_in_rgb"].numpy()
            s = centroid(plane)
            carried = np.array([u0 + s[0] * (u1 - u0), v0 + s[1] * (v1 - v0)])
            dot = centroid(red(item["rgb"]))
            np.testing.assert_allclose(dot, target, atol=0.5 / RGB_SIZE)
            np.testing.assert_allclose(carried, dot, atol=1.0 / RGB_SIZE)  # within one RGB pixel
            if not heatmap_crop:  # the heatmap was only flipped: its box frame kept
                expected_heat = wrists(k)[LEFT_WRIST]
                expected_heat = (1 - expected_heat[0], expected_heat[1]) if augmentation.flip else expected_heat
                np.testing.assert_allclose(s, expected_heat, atol=1e-6)
            checked, flips = checked + 1, flips + augmentation.flip
    assert checked >= 15 and 0 < flips < checked


def test_teacher_map_carried_to_the_student_grid_lands_on_the_dot(dirs):
    """The whole chain the guided student will use: heatmap (box frame) -> carry_to_frame with the
    item's heatmap_in_rgb -> a map on the framed clip's grid, peaked where the RGB shows the wrist."""
    dataset = PoseRgbDataset(dirs / "heatmaps", dirs / "rgb_framed", split="train", framed=True, augment=True,
                             seed=5, crop_scale=(0.6, 0.6), flip_prob=1.0)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    maps = batch["heatmap"][:, [RIGHT_WRIST]]  # flipped: the left wrist's heat (N x 1 x T x H x W)
    on_grid = carry_to_frame(maps, batch["heatmap_in_rgb"], FRAMES, (RGB_SIZE, RGB_SIZE))
    checked = 0
    for n in range(len(dataset)):
        dot = centroid(red(batch["rgb"][n]))
        if not ((0.1 < dot) & (dot < 0.9)).all():
            continue
        np.testing.assert_allclose(centroid(on_grid[n, 0, 0]), dot, atol=1.0 / RGB_SIZE)
        checked += 1
    assert checked >= 3


def test_rgb_only_framed_items_carry_the_box_too(dirs):
    dataset = PoseRgbDataset(None, dirs / "rgb_framed", split="train", framed=True, modalities=("rgb",))
    item = dataset[2]
    assert "heatmap" not in item
    np.testing.assert_allclose(item["heatmap_in_rgb"].numpy(), person_in_clip(2), atol=1e-6)


def test_framed_and_box_cut_folders_are_not_confused(dirs):
    with pytest.raises(ValueError, match="framed=True"):
        PoseRgbDataset(dirs / "heatmaps", dirs / "rgb_framed", split="train")
    with pytest.raises(ValueError, match="box-cut"):
        PoseRgbDataset(dirs / "heatmaps", dirs / "rgb", split="train", framed=True)
    with pytest.raises(ValueError, match="'rgb' must be among"):
        PoseRgbDataset(dirs / "heatmaps", dirs / "rgb_framed", split="train", framed=True, modalities=("heatmap",))
    empty = dirs / "rgb_framed_off"
    empty.mkdir()
    (empty / "framing.json").write_text(json.dumps({"enabled": False, "framing": "centre"}))
    with pytest.raises(FileNotFoundError, match="research.deployment_framing"):
        PoseRgbDataset(dirs / "heatmaps", empty, split="train", framed=True)
