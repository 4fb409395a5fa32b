"""The compiled renderer reproduces the previous pure-NumPy one (tests/reference_render.py) bit for bit.

Stored heatmap shards were rendered by the previous renderer; a renderer that changed any value,
even in the last bit of a float32, would make them stale. So every case compares the two outputs'
bit patterns (float32 viewed as uint32: NaN, inf and signed zeros count too), on random inputs that
hit every rule: body-shaped and scattered keypoints, 0 to 3 persons (overlapping, for the max
merge), joints and limbs, scores below, at and above EPS (and NaN, inf, huge), NaN / inf / huge
coordinates, keypoints off the map (by less and by more than 3 sigma), coordinates on the 3 sigma
grid (the `int()` truncation), degenerate limbs (endpoints under 1 px apart, or equal), odd and
tiny maps, scaling != 1 and sigmas other than 0.6.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from crychic.core.coco17 import SKELETON_EDGES
from crychic.heatmaps.render import EPS, generate_pose_target

_spec = importlib.util.spec_from_file_location("reference_render", Path(__file__).with_name("reference_render.py"))
reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference)

# A standing person, height 1, centred on 0 (COCO-17 order): the benchmark's body shape.
STANDING_POSE = np.array(
    [
        [0.00, 0.08], [0.03, 0.06], [-0.03, 0.06], [0.06, 0.08], [-0.06, 0.08],
        [0.12, 0.22], [-0.12, 0.22], [0.16, 0.38], [-0.16, 0.38], [0.18, 0.52], [-0.18, 0.52],
        [0.08, 0.55], [-0.08, 0.55], [0.09, 0.77], [-0.09, 0.77], [0.10, 0.97], [-0.10, 0.97],
    ]
) - [0.0, 0.5]
MAP_SHAPES = [(56, 56), (56, 56), (57, 43), (31, 64), (64, 40), (120, 90), (7, 9), (3, 4), (1, 1), (2, 30)]
SIGMAS = [0.6, 0.6, 0.6, 0.25, 0.4, 1.0, 1.3, 2.5]
SCALINGS = [1.0, 1.0, 1.0, 0.5, 0.25, 1 / 3, 1.7]


def _keypoints(rng: np.random.Generator, kind: str, num_persons: int, num_frames: int, map_shape):
    """``M x T x 17 x 2`` float32 keypoints in map pixels (before scaling) of one kind."""
    img_h, img_w = map_shape
    if kind == "body":
        height = rng.uniform(0.3, 1.0) * img_h
        centre = rng.uniform([0, 0], [img_w, img_h], size=(num_persons, 1, 1, 2))
        centre = centre + np.cumsum(rng.normal(0, 0.6, size=(num_persons, num_frames, 1, 2)), axis=1)
        jitter = rng.normal(0, rng.choice([0.0, 0.5, 2.0]), size=(num_persons, num_frames, 17, 2))
        keypoint = centre + height * STANDING_POSE + jitter
    else:  # scattered over the map and a margin around it: long limbs, boxes cut by the map edge
        margin = rng.choice([0.0, 5.0, 20.0])
        keypoint = rng.uniform([-margin, -margin], [img_w + margin, img_h + margin],
                               size=(num_persons, num_frames, 17, 2))
    if num_persons > 1 and rng.random() < 0.5:  # person 1 shadows person 0: windows collide
        keypoint[1] = keypoint[0] + rng.normal(0, rng.choice([0.0, 0.3, 1.5]), size=keypoint[0].shape)
    return keypoint


def _perturb(rng: np.random.Generator, keypoint: np.ndarray, sigma: float, map_shape):
    """Move some keypoints onto the rules' edges, in place."""
    img_h, img_w = map_shape
    points = keypoint.reshape(-1, 2)
    count = len(points)

    def some(fraction):
        return rng.random(count) < fraction

    # On the 3 sigma grid: mu +- 3 sigma lands on integers (the truncation rule).
    grid = some(0.1)
    points[grid] = np.round(points[grid] - 3 * sigma) + 3 * sigma * rng.choice([1, -1], size=(grid.sum(), 1))
    whole = some(0.05)
    points[whole] = np.round(points[whole])
    # Just off the map: up to 3 sigma + 1 px left / above still lights row or column 0.
    off = some(0.05)
    points[off] = rng.uniform(-3 * sigma - 2, 0, size=(off.sum(), 2)) + rng.choice([0, 1], size=(off.sum(), 2)) * (
        np.array([img_w, img_h]) + 3 * sigma + 2)
    far = some(0.02)
    points[far] = rng.choice([-1e30, -1e4, -60.0, 1e3, 1e30, 3e38], size=(far.sum(), 2))
    bad = some(0.02)
    points[bad, rng.integers(0, 2, size=bad.sum())] = rng.choice([np.nan, np.inf, -np.inf], size=bad.sum())
    # Degenerate limbs: end points under 1 px from (or exactly on) their start point.
    for start, end in SKELETON_EDGES:
        near = rng.random(keypoint.shape[:2]) < 0.1
        if near.any():
            offset = rng.uniform(-0.75, 0.75, size=(near.sum(), 2)) * rng.choice([0.0, 1.0], size=(near.sum(), 1))
            keypoint[near, end] = keypoint[near, start] + offset


def _scores(rng: np.random.Generator, shape) -> np.ndarray:
    score = rng.uniform(0, 1, size=shape)
    special = rng.random(shape)
    eps32 = np.float32(EPS)
    score[special < 0.10] = 0.0
    score[(special >= 0.10) & (special < 0.15)] = EPS / 2
    score[(special >= 0.15) & (special < 0.18)] = eps32  # exactly at the threshold
    score[(special >= 0.18) & (special < 0.20)] = np.nextafter(eps32, np.float32(0))  # just below it
    score[(special >= 0.20) & (special < 0.23)] = rng.uniform(1, 5)  # peaks above 1
    return score


def _case(seed: int):
    """One random input and the render options; rare extremes (inf / NaN / huge scores) by seed."""
    rng = np.random.default_rng(seed)
    num_persons = int(rng.choice([1, 1, 2, 2, 3, 0]))
    num_frames = int(rng.integers(1, 7))
    map_shape = MAP_SHAPES[rng.integers(len(MAP_SHAPES))]
    sigma = float(rng.choice(SIGMAS))
    scaling = float(rng.choice(SCALINGS))
    kind = "body" if rng.random() < 0.5 else "scattered"
    keypoint = _keypoints(rng, kind, num_persons, num_frames, map_shape)
    if rng.random() < 0.7:
        _perturb(rng, keypoint, sigma, map_shape)
    score = _scores(rng, keypoint.shape[:3])
    if seed % 5 == 3 and score.size:  # non-finite and huge scores: the limb cutoff must then skip nothing wrongly
        score.reshape(-1)[rng.integers(0, score.size, size=3)] = rng.choice([np.nan, np.inf, 1e30, 3e38], size=3)
        # A whole skeleton too, so that limbs (the weaker endpoint's score) get such a peak.
        score[rng.integers(num_persons), rng.integers(num_frames)] = rng.choice([np.inf, 1e30, 3e38])
    with np.errstate(over="ignore"):  # 3e38 / 0.25 overflows float32 to inf: one more non-finite input
        keypoint = (keypoint / scaling).astype(np.float32)  # so that the scaled keypoints cover the scaled map
    if rng.random() < 0.2:  # M x T x V x 3, score last, is accepted too
        keypoint = np.concatenate([keypoint, score[..., None].astype(np.float32)], axis=-1)
    return keypoint, score.astype(np.float32), map_shape, sigma, scaling


def _assert_same_bits(new: np.ndarray, old: np.ndarray, label: str) -> None:
    assert new.dtype == old.dtype == np.float32 and new.shape == old.shape, label
    differ = new.view(np.uint32) != old.view(np.uint32)
    assert not differ.any(), f"{label}: {differ.sum()} of {differ.size} values differ, e.g. at {np.argwhere(differ)[0]}"


@pytest.mark.parametrize("with_limb", [False, True], ids=["joint", "limb"])
def test_random_inputs_render_bit_for_bit_as_before(with_limb):
    drawn = 0
    for seed in range(300):
        keypoint, score, map_shape, sigma, scaling = _case(seed)
        options = dict(sigma=sigma, with_limb=with_limb, scaling=scaling)
        with np.errstate(all="ignore"):  # huge * scaling overflows; inf * 0 on infinite scores
            old = reference.generate_pose_target(keypoint, score, map_shape, **options)
            new = generate_pose_target(keypoint, score, map_shape, **options)
        _assert_same_bits(new, old, f"seed {seed}, map {map_shape}, sigma {sigma}, scaling {scaling}")
        drawn += bool(old.any())
    assert drawn > 200  # the cases do draw


@pytest.mark.parametrize("with_limb", [False, True], ids=["joint", "limb"])
@pytest.mark.parametrize("num_persons", [1, 2])
@pytest.mark.parametrize("kind", ["body", "scattered"])
def test_benchmark_shaped_volumes_render_bit_for_bit_as_before(kind, num_persons, with_limb):
    """The pipeline's own shape: 48 frames of 56 x 56, sigma 0.6, unperturbed keypoints."""
    rng = np.random.default_rng(num_persons)
    for _ in range(2):
        keypoint = _keypoints(rng, kind, num_persons, 48, (56, 56)).astype(np.float32)
        score = rng.uniform(0.3, 1.0, size=keypoint.shape[:3]).astype(np.float32)
        old = reference.generate_pose_target(keypoint, score, (56, 56), with_limb=with_limb)
        new = generate_pose_target(keypoint, score, (56, 56), with_limb=with_limb)
        _assert_same_bits(new, old, f"{kind}, {num_persons} persons")
