"""Cross-modal contrastive loss (symmetric InfoNCE) and the alignment figures evaluation reports.

Layouts: ``z_a``, ``z_b`` are ``N x D`` clip embeddings of the same N samples in two modalities
(row i of both is sample i), e.g. the projected teacher (heatmap) and student (RGB) embeddings.
They are L2-normalised here, so callers pass raw projections.

Why symmetric: CLIP's loss averages the a->b and b->a cross-entropies, so each modality is
asked both to find its partner among the other's embeddings and to be found by it; one
direction alone lets the other modality collapse onto a few points.

Negatives are the other samples of this batch only: under DDP each process sees its own
batch, so gather embeddings across processes first if more negatives are wanted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _cosine_matrix(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """N x N cosine similarities, row i = sample i of ``z_a`` against every sample of ``z_b``."""
    if z_a.ndim != 2 or z_a.shape != z_b.shape:
        raise ValueError(f"expected two N x D embeddings of one shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    return F.normalize(z_a, dim=1) @ F.normalize(z_b, dim=1).T


def info_nce(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float,
             weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the a->b and b->a cross-entropies over cosine / temperature, positives on the diagonal.

    The value lies in [0, inf); a batch of identical embeddings gives log N (chance). `weights`
    (``N``, optional) scales sample i's two terms (a mean over samples of weight x term).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = _cosine_matrix(z_a, z_b) / temperature  # N x N, row = a, column = b
    targets = torch.arange(logits.shape[0], device=logits.device)
    if weights is None:
        return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    per_sample = (F.cross_entropy(logits, targets, reduction="none")
                  + F.cross_entropy(logits.T, targets, reduction="none")) / 2  # N
    return (per_sample * weights).mean()


def _recall_at_1(similarity_rows, num_rows: int, chunk: int) -> float:
    """Fraction of rows i whose largest similarity is at column i (ties go to the lower column)."""
    hits = 0
    for start in range(0, num_rows, chunk):
        rows = similarity_rows(start, min(start + chunk, num_rows))  # chunk x N
        expected = torch.arange(start, start + rows.shape[0], device=rows.device)
        hits += int((rows.argmax(dim=1) == expected).sum())
    return hits / num_rows


@torch.no_grad()
def alignment_stats(z_a: torch.Tensor, z_b: torch.Tensor, chunk: int = 4096) -> dict[str, float]:
    """How well the two modalities agree on a set of N >= 2 samples.

    matched_cosine: mean cosine of the N matched pairs (i, i); mismatched_cosine: mean over the
    N (N - 1) pairs (i, j != i); gap: their difference (the figure that says the embeddings are
    aligned *and* discriminative: all-equal embeddings have cosine 1 everywhere and gap 0).
    r1_a_to_b: fraction of samples whose nearest ``z_b`` (by cosine) to ``z_a[i]`` is ``z_b[i]``;
    r1_b_to_a the other way. The similarity matrix is built ``chunk`` rows at a time so a test
    set of tens of thousands of clips does not need an N x N matrix in memory.
    """
    if z_a.ndim != 2 or z_a.shape != z_b.shape:
        raise ValueError(f"expected two N x D embeddings of one shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    num_samples = z_a.shape[0]
    if num_samples < 2:
        raise ValueError("alignment_stats needs at least 2 samples (mismatched pairs and retrieval need negatives)")
    unit_a, unit_b = F.normalize(z_a.double(), dim=1), F.normalize(z_b.double(), dim=1)
    matched_sum = (unit_a * unit_b).sum()
    # The sum over all N x N cosines is (sum of a) . (sum of b): no N x N matrix needed.
    all_pairs_sum = unit_a.sum(dim=0) @ unit_b.sum(dim=0)
    matched = float(matched_sum / num_samples)
    mismatched = float((all_pairs_sum - matched_sum) / (num_samples * (num_samples - 1)))
    return {
        "matched_cosine": matched,
        "mismatched_cosine": mismatched,
        "gap": matched - mismatched,
        "r1_a_to_b": _recall_at_1(lambda lo, hi: unit_a[lo:hi] @ unit_b.T, num_samples, chunk),
        "r1_b_to_a": _recall_at_1(lambda lo, hi: unit_b[lo:hi] @ unit_a.T, num_samples, chunk),
    }
