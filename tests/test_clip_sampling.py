"""PoseConv3D's UniformSampleFrames for one clip: PYSKL's three regimes, train and test mode."""

from __future__ import annotations

import numpy as np
import pytest

from crychic.clips.sampling import TEST_SEED, uniform_sample_indices

CLIP_LEN = 48
LENGTHS = [1, 5, 47, 48, 49, 60, 95, 96, 97, 103, 300, 1000]


def _pyskl_test_clip(num_frames: int, clip_len: int) -> np.ndarray:
    """PYSKL's `_get_test_clips` (num_clips=1, p_interval=1) verbatim, on the global generator."""
    np.random.seed(TEST_SEED)
    ratio = np.random.rand() * (1 - 1) + 1
    sampled_frames = int(ratio * num_frames)
    off = np.random.randint(num_frames - sampled_frames + 1)
    if sampled_frames < clip_len:
        inds = np.arange(0, clip_len)
    elif clip_len <= sampled_frames < clip_len * 2:
        basic = np.arange(clip_len)
        inds = np.random.choice(clip_len + 1, sampled_frames - clip_len, replace=False)
        offset = np.zeros(clip_len + 1, dtype=np.int64)
        offset[inds] = 1
        inds = basic + np.cumsum(offset)[:-1]
    else:
        bids = np.array([i * sampled_frames // clip_len for i in range(clip_len + 1)])
        inds = bids[:clip_len] + np.random.randint(np.diff(bids))
    return np.mod(inds + off, num_frames)


@pytest.mark.parametrize("num_frames", LENGTHS)
@pytest.mark.parametrize("mode", ["train", "test"])
def test_shape_dtype_range(num_frames, mode):
    rng = np.random.default_rng(num_frames) if mode == "train" else None
    indices = uniform_sample_indices(num_frames, CLIP_LEN, rng=rng)
    assert indices.shape == (CLIP_LEN,) and indices.dtype == np.int64
    assert indices.min() >= 0 and indices.max() < num_frames


@pytest.mark.parametrize("num_frames", [n for n in LENGTHS if n >= CLIP_LEN])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_long_videos_give_distinct_sorted_frames_spanning_the_video(num_frames, mode):
    for seed in range(20):
        rng = np.random.default_rng(seed) if mode == "train" else None
        indices = uniform_sample_indices(num_frames, CLIP_LEN, rng=rng)
        assert (np.diff(indices) > 0).all()  # strictly increasing
        # The first and last segments are sampled: the clip covers the whole action.
        assert indices[0] < -(-num_frames // CLIP_LEN) + 1
        assert indices[-1] >= num_frames - 2 * (-(-num_frames // CLIP_LEN))


@pytest.mark.parametrize("num_frames", [96, 103, 300, 1000])
def test_one_frame_per_segment(num_frames):
    segment_start = np.arange(CLIP_LEN + 1) * num_frames // CLIP_LEN
    for seed in range(20):
        indices = uniform_sample_indices(num_frames, CLIP_LEN, rng=np.random.default_rng(seed))
        assert ((indices >= segment_start[:-1]) & (indices < segment_start[1:])).all()


@pytest.mark.parametrize("num_frames", LENGTHS)
def test_test_mode_is_deterministic_and_matches_pyskl(num_frames):
    global_state = np.random.get_state()
    try:
        expected = _pyskl_test_clip(num_frames, CLIP_LEN)
        np.random.seed(12345)
        first = uniform_sample_indices(num_frames, CLIP_LEN)
        after = np.random.rand()
        np.random.seed(12345)
        assert after == np.random.rand()  # our test mode leaves the global generator alone
    finally:
        np.random.set_state(global_state)
    np.testing.assert_array_equal(first, uniform_sample_indices(num_frames, CLIP_LEN))
    np.testing.assert_array_equal(first, expected)


@pytest.mark.parametrize("num_frames", [5, 60, 300])
def test_train_mode_is_random_but_reproducible_from_its_rng(num_frames):
    draws = [uniform_sample_indices(num_frames, CLIP_LEN, rng=np.random.default_rng(seed)) for seed in range(10)]
    assert len({d.tobytes() for d in draws}) > 1
    again = uniform_sample_indices(num_frames, CLIP_LEN, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(again, draws[3])


def test_train_mode_reaches_every_frame():
    rng = np.random.default_rng(0)
    seen = np.zeros(300, dtype=bool)
    for _ in range(200):
        seen[uniform_sample_indices(300, CLIP_LEN, rng=rng)] = True
    assert seen.all()


@pytest.mark.parametrize("num_frames", [1, 5, 20, 47])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_short_videos_loop_like_pyskl(num_frames, mode):
    rng = np.random.default_rng(num_frames) if mode == "train" else None
    indices = uniform_sample_indices(num_frames, CLIP_LEN, rng=rng)
    # Consecutive frames from some start, wrapping from the last frame back to frame 0.
    np.testing.assert_array_equal(indices, (indices[0] + np.arange(CLIP_LEN)) % num_frames)
    assert set(indices.tolist()) == set(range(num_frames))
    if mode == "test":
        assert indices[0] == 0


def test_rejects_empty_video():
    with pytest.raises(ValueError):
        uniform_sample_indices(0, CLIP_LEN)


def test_training_boxes_are_jittered_and_evaluation_boxes_are_not():
    from crychic.clips.plan import plan_clip

    rng = np.random.default_rng(0)
    keypoint = np.concatenate([rng.uniform(40, 80, (1, 30, 17, 2)), np.ones((1, 30, 17, 1))], axis=-1)
    rows = {split: {"sample_id": f"s-{split}", "label": 0, "split": split, "path": "x.mp4"} for split in ("train", "test")}
    plain = {s: plan_clip(r, keypoint, (120, 160), clip_len=8, padding=0.25, seed=0) for s, r in rows.items()}
    jittered = {s: plan_clip(r, keypoint, (120, 160), clip_len=8, padding=0.25, seed=0, train_box_scale=1.6,
                             train_box_shift=0.15) for s, r in rows.items()}
    assert jittered["test"]["box"] == plain["test"]["box"]
    side = lambda box: box[2] - box[0]  # noqa: E731
    assert side(plain["train"]["box"]) <= side(jittered["train"]["box"]) <= 1.6 * side(plain["train"]["box"]) + 1e-6
    assert jittered["train"]["box"] != plain["train"]["box"]
    again = plan_clip(rows["train"], keypoint, (120, 160), clip_len=8, padding=0.25, seed=0, train_box_scale=1.6,
                      train_box_shift=0.15)
    assert again["box"] == jittered["train"]["box"]  # seeded per sample
