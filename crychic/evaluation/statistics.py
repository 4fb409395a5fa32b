"""The statistics behind CRYCHIC's claims: intervals, paired comparisons, representation alignment.

Layouts: `correct: N bool` (or any per-clip values `N float`), one entry per evaluation clip;
`groups: list of N_g arrays`, one per data draw (a re-sampled train/test split or seed);
`x: N x D1`, `y: N x D2`, embeddings of the same N clips, row i of each being clip i.

Why these methods: a single accuracy number hides how much it would move on other clips, so every
score carries a percentile bootstrap interval over clips. Two models scored on the same clips are
compared on their paired per-clip difference, which cancels the shared clip difficulty and is far
tighter than two separate intervals. When several data draws exist, the clip-level interval alone
understates the uncertainty (draws differ more than clips within a draw), so the hierarchical
bootstrap resamples draws and then clips within them. Results are plain floats rounded to 4 places
so they go straight into JSON metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_CHUNK = 4_000_000  # most indices drawn at once, bounding memory of the resamples x N matrix


def _r(value: float) -> float:
    return round(float(value), 4)


def _values(values, name: str = "values") -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{name} is empty: a bootstrap needs at least one clip")
    return array


def _boot_means(values: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` means of `values` resampled with replacement, drawn in memory-bounded chunks."""
    n, out = len(values), np.empty(count)
    step = max(1, _CHUNK // n)
    for start in range(0, count, step):
        stop = min(count, start + step)
        out[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def _interval(means: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return _r(low), _r(high)


def bootstrap_ci(
    correct, *, resamples=2000, level=0.95, seed=0
) -> tuple[float, float]:
    """Percentile interval of the mean over clips: assumes no shape for the score's spread."""
    values = _values(correct, "correct")
    return _interval(_boot_means(values, np.random.default_rng(seed), resamples), level)


def paired_difference(correct_a, correct_b, *, resamples=2000, level=0.95, seed=0) -> dict:
    """a minus b on the same clips; resampling clip indices jointly keeps each clip's pairing."""
    a, b = _values(correct_a, "correct_a"), _values(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same clips: {len(a)} != {len(b)} clips")
    # Same indices for a and b: the mean of resampled (a - b) is the resampled difference of means.
    low, high = bootstrap_ci(a - b, resamples=resamples, level=level, seed=seed)
    a_bool, b_bool = a.astype(bool), b.astype(bool)
    return {
        "difference": _r(a.mean() - b.mean()),
        "ci95": [low, high],
        "a_only": int(np.sum(a_bool & ~b_bool)),
        "b_only": int(np.sum(b_bool & ~a_bool)),
    }


def hierarchical_bootstrap_ci(
    groups: Sequence, *, resamples=2000, level=0.95, seed=0
) -> tuple[float, float]:
    """Interval over data draws AND clips: resample draws, then clips within each chosen draw.

    The mean of per-draw means weights draws equally, as each draw is one replicate of the
    experiment. With one draw there is nothing to resample at the top level, so it is exactly
    `bootstrap_ci` of that draw.
    """
    if len(groups) == 0:
        raise ValueError("groups is empty: a hierarchical bootstrap needs at least one draw")
    draws = [_values(g, f"groups[{i}]") for i, g in enumerate(groups)]
    if len(draws) == 1:
        return bootstrap_ci(draws[0], resamples=resamples, level=level, seed=seed)
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(draws), size=(resamples, len(draws)))  # resamples x G
    slot_means = np.empty(chosen.shape)
    for g, draw in enumerate(draws):  # every slot that picked draw g gets its own clip resample
        hits = chosen == g
        slot_means[hits] = _boot_means(draw, rng, int(hits.sum()))
    return _interval(slot_means.mean(axis=1), level)


def hierarchical_paired_ci(
    pairs: Sequence, *, resamples=2000, level=0.95, seed=0
) -> tuple[float, float]:
    """Hierarchical interval of a minus b; differencing per clip first keeps the pairing."""
    diffs = []
    for i, (a, b) in enumerate(pairs):
        a, b = _values(a, f"pairs[{i}][0]"), _values(b, f"pairs[{i}][1]")
        if a.shape != b.shape:
            raise ValueError(f"pairs[{i}] scores different clips: {len(a)} != {len(b)} clips")
        diffs.append(a - b)
    return hierarchical_bootstrap_ci(diffs, resamples=resamples, level=level, seed=seed)


def t_interval(values, level: float = 0.95) -> list[float | None]:
    """Student-t interval of the mean of per-draw values (draws as the unit: what a new draw of the
    data would give, with none of the clip-level resampling's optimism); None below two draws."""
    from scipy import stats

    array = _values(values)
    if array.size < 2:
        return [None, None]
    half = stats.t.ppf((1 + level) / 2, array.size - 1) * array.std(ddof=1) / np.sqrt(array.size)
    return [_r(array.mean() - half), _r(array.mean() + half)]


def summarise_draws(values) -> dict:
    """Spread across draws (sample std) is the honest error bar when only per-draw scores exist."""
    array = _values(values)
    std = array.std(ddof=1) if array.size > 1 else 0.0
    values_out = [_r(v) for v in array]
    return {"mean": _r(array.mean()), "std": _r(std), "values": values_out, "n": int(array.size)}


def linear_cka(x, y) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019) of two representations of N items.

    CKA compares embeddings of different widths and is invariant to rotation and isotropic
    scaling, so it measures how aligned two backbones are even for variants whose projection
    heads never trained. The feature-space form costs D1 x D2, not N x N; float64 avoids the
    cancellation of large squared norms.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"CKA needs N x D1 and N x D2 for the same N items: {x.shape}, {y.shape}")
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    denominator = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    if denominator == 0:
        raise ValueError("CKA is undefined for a constant representation (zero variance)")
    return float(np.clip(np.linalg.norm(y.T @ x) ** 2 / denominator, 0.0, 1.0))


def retrieval_r1(a, b) -> dict:
    """Recall@1 by cosine in a shared space: does each clip's embedding find its own partner?

    This tests the shared space directly (unlike CKA, it needs trained projection heads);
    `chance` is what a random space would score, 1/N.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or len(a) == 0:
        raise ValueError(f"retrieval needs two N x D embeddings in one space: {a.shape}, {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    similarity, target = a @ b.T, np.arange(len(a))
    return {
        "r1_a_to_b": _r(np.mean(similarity.argmax(axis=1) == target)),
        "r1_b_to_a": _r(np.mean(similarity.argmax(axis=0) == target)),
        "chance": _r(1 / len(a)),
    }
