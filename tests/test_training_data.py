"""PoseRgbDataset: joined by sample id, both modalities in one frame through every augmentation.

Each synthetic sample has a left wrist and a right wrist at its own box positions. The heatmap is
rendered by `generate_pose_target` at H = 40; the RGB clip (S = 80) has a red dot at the left wrist
and a green one at the right wrist. A keypoint at box position u sits at heatmap pixel u * H and
RGB pixel u * S, so after any crop or flip the heat peak and the dot must share one position.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crychic.core.coco17 import JOINT_INDEX, SKELETON_EDGES, flip_permutation
from crychic.heatmaps.shards import write_heatmap_shard
from crychic.heatmaps.volume import channel_names
from crychic.heatmaps.render import generate_pose_target
from crychic.heatmaps.shards import to_uint8
from crychic.rgb.shards import write_rgb_shard
from crychic.training.data import (RGB_MEAN, RGB_STD, PoseRgbDataset, heatmap_flip_permutation, make_loader,
                                   random_resized_crop)

HEATMAP_SIZE, RGB_SIZE = 40, 80
HEATMAP_FRAMES, RGB_FRAMES = 4, 3
LEFT_WRIST, RIGHT_WRIST = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
LEFT_ELBOW, RIGHT_ELBOW = JOINT_INDEX["left_elbow"], JOINT_INDEX["right_elbow"]


def wrist_positions(k: int) -> dict[int, tuple[float, float]]:
    """Box positions (u, v) of sample k's scored joints: distinct per sample, left != right."""
    return {
        LEFT_WRIST: ((14 + k) / HEATMAP_SIZE, (16 + 2 * k) / HEATMAP_SIZE),
        RIGHT_WRIST: ((27 - k) / HEATMAP_SIZE, (22 - k) / HEATMAP_SIZE),
        LEFT_ELBOW: ((16 + k) / HEATMAP_SIZE, (10 + k) / HEATMAP_SIZE),
        RIGHT_ELBOW: ((24 - k) / HEATMAP_SIZE, (12 + k) / HEATMAP_SIZE),
    }


def heatmap_volume(k: int, *, with_joint: bool = True, with_limb: bool = False) -> np.ndarray:
    keypoint = np.zeros((1, HEATMAP_FRAMES, 17, 2))
    score = np.zeros((1, HEATMAP_FRAMES, 17))
    for joint, (u, v) in wrist_positions(k).items():
        keypoint[0, :, joint] = (u * HEATMAP_SIZE, v * HEATMAP_SIZE)
        score[0, :, joint] = 1.0
    parts = []
    if with_joint:
        parts.append(generate_pose_target(keypoint, score, (HEATMAP_SIZE, HEATMAP_SIZE)))
    if with_limb:
        parts.append(generate_pose_target(keypoint, score, (HEATMAP_SIZE, HEATMAP_SIZE), with_limb=True))
    return to_uint8(np.concatenate(parts, axis=1).transpose(1, 0, 2, 3))  # K x T x H x W


def rgb_frames(k: int) -> np.ndarray:
    """Black frames with a red dot at the left wrist and a green one at the right wrist."""
    yy, xx = np.mgrid[0:RGB_SIZE, 0:RGB_SIZE]
    frame = np.zeros((RGB_SIZE, RGB_SIZE, 3))
    for joint, channel in ((LEFT_WRIST, 0), (RIGHT_WRIST, 1)):
        u, v = wrist_positions(k)[joint]
        frame[..., channel] = 255 * np.exp(-((xx - u * RGB_SIZE) ** 2 + (yy - v * RGB_SIZE) ** 2) / (2 * 1.5**2))
    return np.repeat(frame.round().astype(np.uint8)[None], RGB_FRAMES, axis=0)


def record(k: int, split: str, **heatmap_kwargs) -> dict:
    box = np.array([10.0 + k, 5.0, 110.0 + k, 105.0])
    return {
        "sample_id": f"s{k:02d}", "label": k % 3, "split": split, "box": box,
        "frame_indices": np.arange(HEATMAP_FRAMES) * 2,
        "heatmap": heatmap_volume(k, **heatmap_kwargs),
    }


def write_dataset(root, *, heatmap_ks, rgb_ks, splits, with_joint=True, with_limb=False):
    """Heatmaps in two shards in the given order, RGB in one shard in reverse order."""
    attrs = {"with_joint": with_joint, "with_limb": with_limb, "channels": channel_names(with_joint, with_limb),
             "size": HEATMAP_SIZE, "sigma": 0.6}
    heatmaps = [record(k, splits[k], with_joint=with_joint, with_limb=with_limb) for k in heatmap_ks]
    half = len(heatmaps) // 2
    write_heatmap_shard(root / "heatmaps" / "shard-00000.h5", heatmaps[:half], attrs)
    write_heatmap_shard(root / "heatmaps" / "shard-00001.h5", heatmaps[half:], attrs)
    rgb = []
    for k in reversed(rgb_ks):
        r = record(k, splits[k])
        del r["heatmap"]
        rgb.append({**r, "frames": rgb_frames(k), "frame_indices": np.array([0, 3, 6])})
    write_rgb_shard(root / "rgb" / "shard-00000.arrow", rgb)
    return root / "heatmaps", root / "rgb"


def peak(plane: torch.Tensor) -> np.ndarray:
    """(u, v) box position of a blob in an N x N map: centroid of its pixels above half the max."""
    plane = plane.numpy()
    weights = np.where(plane >= plane.max() / 2, plane, 0.0)
    yy, xx = np.mgrid[0 : plane.shape[0], 0 : plane.shape[1]]
    return np.array([(weights * xx).sum(), (weights * yy).sum()]) / weights.sum() / plane.shape[0]


def red(rgb: torch.Tensor) -> torch.Tensor:
    """The red channel of a normalised 3 x T x S x S clip, back in 0-255 units (frame 0)."""
    return rgb[0, 0] * RGB_STD[0] + RGB_MEAN[0]


SPLITS = {k: ("train" if k < 7 else "test") for k in range(10)}


@pytest.fixture
def dirs(tmp_path):
    # Heatmaps lack s05 and s08, RGB lacks s02 and s09; orders differ between shards.
    return write_dataset(tmp_path, heatmap_ks=[6, 0, 3, 9, 1, 7, 4, 2], rgb_ks=[0, 1, 3, 4, 5, 6, 7, 8], splits=SPLITS)


def test_joins_by_sample_id_and_reports_the_unpaired(dirs):
    train = PoseRgbDataset(*dirs, split="train")
    assert train.sample_ids == ["s00", "s01", "s03", "s04", "s06"]
    assert train.missing == {"heatmap": ["s05"], "rgb": ["s02"]}
    test = PoseRgbDataset(*dirs, split="test")
    assert test.sample_ids == ["s07"]
    assert test.missing == {"heatmap": ["s08"], "rgb": ["s09"]}

    for index, sample_id in enumerate(train.sample_ids):
        item = train[index]
        k = int(sample_id[1:])
        assert item["sample_id"] == sample_id and item["index"] == index
        assert item["label"].dtype == torch.int64 and int(item["label"]) == k % 3
        assert item["heatmap"].shape == (17, HEATMAP_FRAMES, HEATMAP_SIZE, HEATMAP_SIZE)
        assert item["heatmap"].dtype == torch.float32 and 0 <= item["heatmap"].min() and item["heatmap"].max() <= 1
        assert item["rgb"].shape == (3, RGB_FRAMES, RGB_SIZE, RGB_SIZE) and item["rgb"].dtype == torch.float32
        expected = np.array(wrist_positions(k)[LEFT_WRIST])
        # Un-augmented: the peak is on a pixel in both, so the positions agree exactly.
        np.testing.assert_allclose(peak(item["heatmap"][LEFT_WRIST, 0]), expected, atol=1e-6)
        np.testing.assert_allclose(peak(red(item["rgb"])), expected, atol=1e-6)


def test_heatmap_only_mode_needs_no_rgb(dirs):
    heatmaps_only = PoseRgbDataset(dirs[0], None, split="train", modalities=("heatmap",))
    assert heatmaps_only.sample_ids == ["s00", "s01", "s02", "s03", "s04", "s06"]
    assert heatmaps_only.missing == {"heatmap": []}
    assert "rgb" not in heatmaps_only[0] and heatmaps_only[0]["heatmap"].shape[0] == 17


def test_disagreeing_labels_are_an_error(tmp_path):
    heatmap_dir, rgb_dir = write_dataset(tmp_path, heatmap_ks=[0, 1], rgb_ks=[0, 1], splits=SPLITS)
    r = record(1, "train")
    del r["heatmap"]
    write_rgb_shard(rgb_dir / "shard-00000.arrow", [{**r, "label": 2, "frames": rgb_frames(1)}])
    with pytest.raises(ValueError, match="s01"):
        PoseRgbDataset(heatmap_dir, rgb_dir, split="train")


def expected_position(u_v, augmentation) -> np.ndarray:
    u0, v0, u1, v1 = augmentation.crop
    u, v = (u_v[0] - u0) / (u1 - u0), (u_v[1] - v0) / (v1 - v0)
    return np.array([1 - u if augmentation.flip else u, v])


def test_augmentation_moves_heatmap_and_rgb_together(dirs):
    dataset = PoseRgbDataset(*dirs, split="train", augment=True)
    checked, flips = 0, 0
    for seed in range(6):
        dataset.seed = seed
        for index, sample_id in enumerate(dataset.sample_ids):
            augmentation = dataset.augmentation(index)
            target = expected_position(wrist_positions(int(sample_id[1:]))[LEFT_WRIST], augmentation)
            if not ((0.1 < target) & (target < 0.9)).all():
                continue  # cropped away, or too near the edge for a clean centroid
            item = dataset[index]
            # A flip moves the left wrist's heat into the right wrist's channel.
            channel = RIGHT_WRIST if augmentation.flip else LEFT_WRIST
            heat_at, dot_at = peak(item["heatmap"][channel, 0]), peak(red(item["rgb"]))
            np.testing.assert_allclose(heat_at, dot_at, atol=0.5 / HEATMAP_SIZE)
            np.testing.assert_allclose(heat_at, target, atol=0.5 / HEATMAP_SIZE)
            checked, flips = checked + 1, flips + augmentation.flip
    assert checked >= 20 and 0 < flips < checked


@pytest.mark.parametrize(("with_joint", "with_limb"), [(True, False), (True, True), (False, True)])
def test_flip_mirrors_both_modalities_and_swaps_left_right_channels(tmp_path, with_joint, with_limb):
    dirs = write_dataset(tmp_path, heatmap_ks=[0, 1], rgb_ks=[0, 1], splits=SPLITS,
                         with_joint=with_joint, with_limb=with_limb)
    plain = PoseRgbDataset(*dirs, split="train")
    flipped = PoseRgbDataset(*dirs, split="train", augment=True, crop_scale=(1, 1), crop_ratio=(1, 1), flip_prob=1)
    original, mirrored = plain[1], flipped[1]
    assert flipped.augmentation(1).flip

    # Flipping is u -> 1 - u: output pixel i shows input pixel N - i (i >= 1; pixel 0 repeats the border).
    def mirror(volume):
        return volume.flip(-1)[..., :-1]

    permutation = heatmap_flip_permutation(with_joint, with_limb)
    assert len(permutation) == len(original["heatmap"]) == 17 * (with_joint + with_limb)
    torch.testing.assert_close(mirrored["heatmap"][permutation][..., 1:], mirror(original["heatmap"]))
    torch.testing.assert_close(mirrored["rgb"][..., 1:], mirror(original["rgb"]))

    u, v = wrist_positions(1)[LEFT_WRIST]
    np.testing.assert_allclose(peak(red(mirrored["rgb"])), [1 - u, v], atol=1e-6)
    if with_joint:
        np.testing.assert_allclose(peak(mirrored["heatmap"][RIGHT_WRIST, 0]), [1 - u, v], atol=1e-6)
        np.testing.assert_allclose(peak(mirrored["heatmap"][LEFT_WRIST, 0]),
                                   [1 - wrist_positions(1)[RIGHT_WRIST][0], wrist_positions(1)[RIGHT_WRIST][1]],
                                   atol=1e-6)
    if with_limb:
        left_forearm = 17 * with_joint + SKELETON_EDGES.index((LEFT_ELBOW, LEFT_WRIST))
        right_forearm = 17 * with_joint + SKELETON_EDGES.index((RIGHT_ELBOW, RIGHT_WRIST))
        assert flip_permutation(with_limb=True)[left_forearm - 17 * with_joint] == right_forearm - 17 * with_joint
        torch.testing.assert_close(mirrored["heatmap"][right_forearm][..., 1:],
                                   mirror(original["heatmap"][left_forearm]))


def test_augmentation_is_reproducible_per_epoch_and_varies_across_epochs(dirs):
    first = PoseRgbDataset(*dirs, split="train", augment=True, seed=3)
    second = PoseRgbDataset(*dirs, split="train", augment=True, seed=3)
    first.set_epoch(2)
    second.set_epoch(2)
    for index in range(len(first)):
        a, b = first[index], second[index]
        assert torch.equal(a["heatmap"], b["heatmap"]) and torch.equal(a["rgb"], b["rgb"])
    crops = {epoch: [] for epoch in range(3)}
    for epoch in crops:
        first.set_epoch(epoch)
        crops[epoch] = np.array([first.augmentation(i).crop for i in range(len(first))])
    assert not np.allclose(crops[0], crops[1]) and not np.allclose(crops[1], crops[2])
    first.set_epoch(0)
    np.testing.assert_array_equal(crops[0], [first.augmentation(i).crop for i in range(len(first))])
    # Area and aspect stay in PoseConv3D's ranges.
    every = np.concatenate(list(crops.values()))
    width, height = every[:, 2] - every[:, 0], every[:, 3] - every[:, 1]
    assert ((width * height > 0.56 - 1e-9) & (width * height <= 1 + 1e-9)).all()
    assert ((every >= 0) & (every <= 1)).all()


def test_augmentation_draws_from_seed_epoch_and_index(dirs):
    """The seeds the crops and flips had before the epoch counter was shared (`crychic.core.epoch_seeds`):
    a change here changes every trained network."""
    dataset = PoseRgbDataset(*dirs, split="train", augment=True, seed=3)
    dataset.set_epoch(2)
    for index in range(len(dataset)):
        rng = np.random.default_rng([3, 2, index])
        crop = random_resized_crop(rng, (0.56, 1.0), (3 / 4, 4 / 3))
        augmentation = dataset.augmentation(index)
        np.testing.assert_array_equal(augmentation.crop, crop)
        assert augmentation.flip == bool(rng.random() < 0.5)


def test_loader_with_workers_gives_the_same_batches(dirs):
    def epochs(workers):
        dataset = PoseRgbDataset(*dirs, split="train", augment=True, seed=1)
        loader = make_loader(dataset, batch_size=2, shuffle=True, workers=workers, seed=7)
        batches = []
        for epoch in range(2):
            dataset.set_epoch(epoch)  # persistent workers must see it
            batches.append(list(loader))
        return batches

    serial, parallel = epochs(0), epochs(2)
    for serial_epoch, parallel_epoch in zip(serial, parallel):
        assert len(serial_epoch) == len(parallel_epoch) == 3
        for a, b in zip(serial_epoch, parallel_epoch):
            assert a["sample_id"] == b["sample_id"]
            assert a["heatmap"].shape[1:] == (17, HEATMAP_FRAMES, HEATMAP_SIZE, HEATMAP_SIZE)
            assert a["rgb"].shape[1:] == (3, RGB_FRAMES, RGB_SIZE, RGB_SIZE)
            assert a["label"].dtype == torch.int64
            for key in ("heatmap", "rgb", "label", "index"):
                assert torch.equal(a[key], b[key]), key
    # Two epochs differ (augmentation and order), as they should.
    assert not all(torch.equal(a["heatmap"], b["heatmap"]) for a, b in zip(serial[0], serial[1]))


@pytest.mark.parametrize("with_joint,with_limb", [(True, False), (True, True)])
def test_items_equal_the_dense_reference_resampling(tmp_path, with_joint, with_limb):
    """The loader's one-pass crop-and-resize from uint8 (crychic.training.resample) against the dense
    form it replaced (float32 volume, then `rows @ volume @ columns.T`, then the channel swap): the
    same seeded crop and flip per item, equal within float32 rounding (the issue allows 1/255)."""
    import crychic.training.data as data
    from crychic.heatmaps.shards import from_uint8

    dirs = write_dataset(tmp_path, heatmap_ks=list(range(6)), rgb_ks=list(range(6)),
                         splits={k: "train" for k in range(6)}, with_joint=with_joint, with_limb=with_limb)
    dataset = PoseRgbDataset(*dirs, split="train", augment=True, seed=3)
    checked = 0
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            augmentation = dataset.augmentation(index)
            if np.array_equal(augmentation.crop, data.IDENTITY.crop) and not augmentation.flip:
                continue
            item = dataset[index]
            sample_id = dataset.sample_ids[index]
            heatmap = data.apply_augmentation(torch.from_numpy(from_uint8(dataset.heatmaps.get(sample_id)["heatmap"])),
                                              augmentation)
            if augmentation.flip:
                heatmap = heatmap[dataset.channel_permutation]
            rgb = data.apply_augmentation(data.normalise_rgb(dataset.rgb_clips.get(sample_id)["frames"]), augmentation)
            assert (item["heatmap"] - heatmap).abs().max() < 1e-5  # values in [0, 1]
            assert (item["rgb"] - rgb).abs().max() < 1e-4  # normalised: values within a few units
            checked += 1
    assert checked >= 6


def _transported(dirs, transport: str, augment: bool) -> list[dict]:
    dataset = PoseRgbDataset(*dirs, split="train", augment=augment, seed=3, transport=transport)
    loader = make_loader(dataset, batch_size=2, shuffle=True, workers=2, seed=5)
    batches = []
    for epoch in range(3):
        dataset.set_epoch(epoch)
        batches += list(loader)
    return batches


@pytest.mark.parametrize("with_limb", [False, True])
def test_uint8_transport_batches_equal_the_float32_ones_within_half_a_level(tmp_path, with_limb):
    """Issue 26: the GPU path's uint8 batches, turned to float by `model_input`, against the CPU path's
    float32 batches for the same seed, through 2 DataLoader workers: augmented, every element within
    1/255 of a pixel (in fact half a level: the rounding); un-augmented, exactly equal."""
    from crychic.training.data import RGB_STD, model_input

    dirs = write_dataset(tmp_path, heatmap_ks=list(range(6)), rgb_ks=list(range(6)),
                         splits={k: "train" for k in range(6)}, with_limb=with_limb)
    std = torch.tensor(RGB_STD).view(1, 3, 1, 1, 1)
    for augment in (True, False):
        worst = 0.0
        for exact, quantised in zip(_transported(dirs, "float32", augment), _transported(dirs, "uint8", augment)):
            assert exact["sample_id"] == quantised["sample_id"]
            assert quantised["heatmap"].dtype == quantised["rgb"].dtype == torch.uint8
            heatmap = model_input("heatmap", quantised["heatmap"], torch.device("cpu"))
            rgb = model_input("rgb", quantised["rgb"], torch.device("cpu"))
            assert heatmap.dtype == rgb.dtype == torch.float32 and heatmap.shape == exact["heatmap"].shape
            worst = max(worst, (heatmap - exact["heatmap"]).abs().max().item(),
                        ((rgb - exact["rgb"]).abs() * std / 255).max().item())  # in pixel units, [0, 1]
        if augment:
            assert 0.1 / 255 < worst <= 0.5 / 255 + 1e-6, worst * 255  # rounded to uint8, by half a level at most
        else:
            assert worst == 0.0  # the stored levels, passed through


def test_model_input_passes_float_tensors_and_refuses_unknown_uint8():
    from crychic.training.data import model_input

    values = torch.rand(2, 3)
    assert model_input("keypoint", values, torch.device("cpu")) is values
    with pytest.raises(ValueError, match="keypoint"):
        model_input("keypoint", torch.zeros(2, dtype=torch.uint8), torch.device("cpu"))
    with pytest.raises(ValueError, match="transport must be one of"):
        PoseRgbDataset(None, None, split="train", modalities=("heatmap",), transport="float16")


def test_i3d_baseline_trains_on_the_rgb_clips_and_predicts(tmp_path):
    from crychic.training.baselines import load_baseline, predict_baseline, train_baseline

    splits = {k: ("train" if k < 6 else "val") for k in range(9)}
    _, rgb_dir = write_dataset(tmp_path, heatmap_ks=[0, 1], rgb_ks=list(range(9)), splits=splits)
    params = {"seed": 0, "i3d": {"model": "i3d_r18_tiny", "epochs": 2, "lr": 0.003, "weight_decay": 0.0001},
              "train": {"device": "cpu", "batch_size": 4}}
    result = train_baseline("i3d", params, keypoints_path=None, clip_plan_path=None, rgb_dir=rgb_dir,
                            out_checkpoint=tmp_path / "i3d.pt", label_names=["a", "b", "c"])
    assert result["val_split"] == "val" and len(result["history"]) == 2
    assert 0 <= result["final"]["i3d"]["top1"] <= 1
    model = load_baseline(tmp_path / "i3d.pt")
    assert model.stage == "i3d" and model.label_names == ["a", "b", "c"]
    logits, labels, ids = predict_baseline(model, keypoints_path=None, clip_plan_path=None, rgb_dir=rgb_dir,
                                           split="val", batch_size=2)
    assert logits.shape == (3, 3) and sorted(ids) == ["s06", "s07", "s08"]
    assert labels.tolist() == [int(i[1:]) % 3 for i in ids]


def test_samples_kept_in_memory_are_the_ones_on_disk_within_the_budget(dirs):
    from crychic.heatmaps.shards import HeatmapShards

    on_disk, cached = HeatmapShards(dirs[0]), HeatmapShards(dirs[0])
    one = on_disk.get(on_disk.ids()[0])["heatmap"].nbytes
    cached.cache_in_memory(2 * one + one // 2)  # room for two samples' volumes, not three
    for sample_id in on_disk.ids():
        first, second, reference = cached.get(sample_id), cached.get(sample_id), on_disk.get(sample_id)
        np.testing.assert_array_equal(first["heatmap"], reference["heatmap"])
        np.testing.assert_array_equal(second["heatmap"], reference["heatmap"])
        assert second["label"] == reference["label"]
    assert len(cached._cache) == 2
    kept = cached.get(on_disk.ids()[0])
    assert not kept["heatmap"].flags.writeable  # shared by later reads, so nobody may write into it
    kept["extra"] = 1
    assert "extra" not in cached.get(on_disk.ids()[0])
    # A dataset loading in the main process gives the same items with the cache on.
    plain = PoseRgbDataset(*dirs, split="train", augment=True, seed=3)
    with_cache = PoseRgbDataset(*dirs, split="train", augment=True, seed=3, cache_bytes=2**30)
    for index in range(len(plain)):
        for _ in range(2):
            a, b = plain[index], with_cache[index]
            assert torch.equal(a["heatmap"], b["heatmap"]) and torch.equal(a["rgb"], b["rgb"])
