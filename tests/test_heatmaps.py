"""PoseConv3D heatmaps: the shared reference vectors, and agreement with PYSKL's loop on random inputs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from crychic.core.coco17 import SKELETON_EDGES
from crychic.heatmaps.render import EPS, generate_pose_target, heatmap_size
from crychic.heatmaps.shards import from_uint8, to_uint8

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
TOLERANCE = 1e-5


def _load_loop_port():
    """The PYSKL loop port that the benchmark times (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("pyskl_reference", ROOT / "benchmarks" / "pyskl_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_pose_target_loop


generate_pose_target_loop = _load_loop_port()


def _reference_cases() -> list[dict]:
    cases_file = REFERENCE / "posec3d_heatmaps.json"
    return json.loads(cases_file.read_text()) if cases_file.exists() else []


@pytest.fixture(scope="module")
def reference_arrays():
    archive = REFERENCE / "posec3d_heatmaps.npz"
    if not archive.exists():
        pytest.skip(f"reference vectors not found at {archive} (../shared is absent in this checkout)")
    with np.load(archive) as arrays:
        return {key: arrays[key] for key in arrays.files}


@pytest.mark.parametrize("case", _reference_cases() or [None], ids=lambda case: case["name"] if case else "absent")
def test_reproduces_reference_case(case, reference_arrays):
    if case is None:
        pytest.skip("no reference case list found")
    name = case["name"]
    heatmap = generate_pose_target(
        reference_arrays[f"{name}__keypoint"],
        reference_arrays[f"{name}__keypoint_score"],
        tuple(case["img_shape"]),
        sigma=case["sigma"],
        with_limb=case["with_limb"],
        scaling=case["scaling"],
    )
    expected = reference_arrays[f"{name}__heatmap"]
    max_diff = float(np.abs(heatmap - expected).max())
    print(f"{name}: max abs diff {max_diff:.2e}")
    assert heatmap.shape == expected.shape == tuple(case["heatmap_shape"])
    assert heatmap.dtype == np.float32
    assert max_diff <= TOLERANCE


def _random_inputs(rng: np.random.Generator, num_persons: int, num_frames: int, img_shape: tuple[int, int]):
    """Keypoints that hit every rule: off-map points, scores under EPS, degenerate limbs,
    coordinates on a 0.2 grid (mu +- 3 sigma lands on integers: the truncation rule), and
    overlapping persons (the max merge)."""
    img_h, img_w = img_shape
    keypoint = rng.uniform([-5, -5], [img_w + 5, img_h + 5], size=(num_persons, num_frames, 17, 2))
    on_grid = rng.random((num_persons, num_frames, 17)) < 0.3
    keypoint[on_grid] = np.round(keypoint[on_grid] * 5) / 5
    # Degenerate limbs: move some end points within 1 px of their start point.
    for start, end in SKELETON_EDGES[::3]:
        near = rng.random((num_persons, num_frames)) < 0.4
        keypoint[near, end] = keypoint[near, start] + rng.uniform(-0.6, 0.6, size=(near.sum(), 2))
    # Overlap: person 1 shadows person 0 closely, so their windows collide.
    if num_persons > 1:
        keypoint[1] = keypoint[0] + rng.normal(0, 0.7, size=keypoint[0].shape)
    score = rng.uniform(0, 1, size=(num_persons, num_frames, 17))
    score[rng.random(score.shape) < 0.15] = 0.0
    score[rng.random(score.shape) < 0.1] = EPS / 2
    return keypoint.astype(np.float32), score.astype(np.float32)


@pytest.mark.parametrize("with_limb", [False, True], ids=["joint", "limb"])
@pytest.mark.parametrize(
    "num_persons, img_shape, sigma, scaling",
    [
        (1, (56, 56), 0.6, 1.0),
        (2, (48, 64), 0.6, 1.0),
        (3, (64, 40), 1.0, 1.0),
        (2, (120, 90), 0.6, 0.5),
        (1, (3, 4), 0.6, 1.0),  # a map narrower than a joint window
    ],
)
def test_agrees_with_pyskl_loop_on_random_inputs(with_limb, num_persons, img_shape, sigma, scaling):
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(3):
        keypoint, score = _random_inputs(rng, num_persons, 6, img_shape)
        keypoint *= np.float32(1 / scaling)  # so that scaled keypoints cover the scaled map
        fast = generate_pose_target(keypoint, score, img_shape, sigma=sigma, with_limb=with_limb, scaling=scaling)
        loop = generate_pose_target_loop(keypoint, score, img_shape, sigma=sigma, with_limb=with_limb, scaling=scaling)
        assert fast.shape == loop.shape == (6, 17) + heatmap_size(img_shape, scaling)
        assert loop.max() > 0  # the inputs do draw something
        worst = max(worst, float(np.abs(fast - loop).max()))
    print(f"max abs diff vs loop port: {worst:.2e}")
    assert worst <= TOLERANCE


def test_persons_merge_by_max_not_sum():
    keypoint = np.full((2, 1, 17, 2), 20.0, dtype=np.float32)
    score = np.full((2, 1, 17), 0.5, dtype=np.float32)
    score[1] = 0.8
    heatmap = generate_pose_target(keypoint, score, (40, 40))
    assert heatmap[0, :, 20, 20] == pytest.approx(0.8)


def test_joint_peak_sits_on_the_keypoint_and_is_its_score():
    keypoint = np.array([[[[10.0, 30.0]] * 17]], dtype=np.float32)  # 1 x 1 x 17 x 2
    score = np.linspace(0.1, 1.0, 17, dtype=np.float32)[None, None]
    heatmap = generate_pose_target(keypoint, score, (56, 56))
    for channel in range(17):
        row, column = np.unravel_index(heatmap[0, channel].argmax(), (56, 56))
        assert (column, row) == (10, 30)
        assert heatmap[0, channel, 30, 10] == pytest.approx(score[0, 0, channel])


def test_low_scores_and_nan_keypoints_draw_nothing():
    keypoint = np.full((1, 2, 17, 2), 20.0, dtype=np.float32)
    keypoint[0, 1] = np.nan
    score = np.full((1, 2, 17), 0.9, dtype=np.float32)
    score[0, 0] = EPS * 0.99
    for with_limb in (False, True):
        assert not generate_pose_target(keypoint, score, (40, 40), with_limb=with_limb).any()


def test_no_person_gives_zero_volume_and_input_is_not_modified():
    empty = generate_pose_target(np.zeros((0, 5, 17, 2)), np.zeros((0, 5, 17)), (56, 56), with_limb=True)
    assert empty.shape == (5, 17, 56, 56) and not empty.any()
    keypoint = np.full((1, 3, 17, 2), 100.0, dtype=np.float32)
    original = keypoint.copy()
    generate_pose_target(keypoint, np.ones((1, 3, 17)), (224, 224), scaling=0.25)
    np.testing.assert_array_equal(keypoint, original)  # PYSKL scales in place; we must not


def test_uint8_round_trip_is_within_half_a_level():
    rng = np.random.default_rng(0)
    keypoint, score = _random_inputs(rng, 2, 4, (56, 56))
    heatmap = generate_pose_target(keypoint, score, (56, 56))
    quantised = to_uint8(heatmap)
    assert quantised.dtype == np.uint8 and quantised.shape == heatmap.shape
    restored = from_uint8(quantised)
    assert restored.dtype == np.float32
    assert np.abs(restored - heatmap).max() <= 0.5 / 255 + 1e-7
    assert to_uint8(np.array([-0.2, 0.0, 1.0, 1.7])).tolist() == [0, 0, 255, 255]
