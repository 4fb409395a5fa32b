"""Statistics behind the claims: intervals have the right width, CKA and R@1 invariances."""

import numpy as np
import pytest

from crychic.evaluation.statistics import (
    bootstrap_ci,
    hierarchical_bootstrap_ci,
    hierarchical_paired_ci,
    linear_cka,
    paired_difference,
    retrieval_r1,
    summarise_draws,
)


def half(n: int) -> np.ndarray:
    return np.arange(n) % 2 == 0


def test_bootstrap_of_all_correct_is_a_point():
    assert bootstrap_ci(np.ones(50, bool)) == (1.0, 1.0)


def test_bootstrap_brackets_half_with_the_expected_width():
    low, high = bootstrap_ci(half(400))
    assert low < 0.5 < high
    assert 0.08 <= high - low <= 0.12  # 2 * 1.96 * sqrt(0.25 / 400) = 0.098


def test_more_clips_narrow_the_interval():
    small, large = bootstrap_ci(half(100)), bootstrap_ci(half(1600))
    assert large[1] - large[0] < 0.5 * (small[1] - small[0])


def test_bootstrap_rejects_empty_input():
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci([])


def test_paired_difference_of_identical_scores_is_zero():
    correct = np.random.default_rng(0).random(200) < 0.7
    expected = {"difference": 0.0, "ci95": [0.0, 0.0], "a_only": 0, "b_only": 0}
    assert paired_difference(correct, correct) == expected


def test_paired_difference_counts_disagreements():
    a = np.array([1, 1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 0, 1, 0, 1], bool)
    result = paired_difference(a, b)
    assert (result["a_only"], result["b_only"]) == (2, 1)
    assert result["difference"] == pytest.approx(1 / 6, abs=1e-4)
    assert result["ci95"][0] <= result["difference"] <= result["ci95"][1]


def test_paired_difference_rejects_different_clips():
    with pytest.raises(ValueError, match="same clips"):
        paired_difference(np.ones(5), np.ones(6))


def test_hierarchical_interval_covers_spread_between_draws():
    rng = np.random.default_rng(1)
    groups = [rng.random(200) < p for p in (0.3, 0.6, 0.9)]
    pooled = bootstrap_ci(np.concatenate(groups))
    low, high = hierarchical_bootstrap_ci(groups)
    assert high - low > 2 * (pooled[1] - pooled[0])
    assert low < np.mean([g.mean() for g in groups]) < high


def test_hierarchical_with_one_draw_is_the_plain_bootstrap():
    values = half(300)
    assert hierarchical_bootstrap_ci([values], seed=3) == bootstrap_ci(values, seed=3)


def test_hierarchical_paired_keeps_the_pairing():
    rng = np.random.default_rng(2)
    a = [rng.random(100) < 0.5 for _ in range(3)]
    assert hierarchical_paired_ci([(x, x) for x in a]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="different clips"):
        hierarchical_paired_ci([(np.ones(4), np.ones(5))])


def test_summarise_draws():
    assert summarise_draws([0.5, 0.7]) == {"mean": 0.6, "std": 0.1414, "values": [0.5, 0.7], "n": 2}
    assert summarise_draws([0.5])["std"] == 0.0


def test_cka_is_invariant_to_rotation_and_scale():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert linear_cka(x, x @ rotation) == pytest.approx(1.0)
    assert linear_cka(x, 3 * x) == pytest.approx(1.0)


def test_cka_of_independent_noise_is_small_and_symmetric():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    assert linear_cka(x, y) < 0.2
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))


def test_cka_handles_different_widths_and_rejects_different_items():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    wider = np.concatenate([x, rng.normal(size=(200, 12)) * 0.01], axis=1)
    assert 0.9 < linear_cka(x, wider) <= 1.0
    with pytest.raises(ValueError, match="same N"):
        linear_cka(x, wider[:-1])


def test_retrieval_finds_itself_and_not_a_permutation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16))
    assert retrieval_r1(x, x) == {"r1_a_to_b": 1.0, "r1_b_to_a": 1.0, "chance": 0.02}
    shuffled = retrieval_r1(x, x[np.roll(np.arange(50), 1)])
    assert shuffled["r1_a_to_b"] == 0.0 and shuffled["r1_b_to_a"] == 0.0
