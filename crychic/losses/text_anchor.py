"""Text-anchored contrast: pull each sample's feature towards its class's sentence embedding.

Layouts: ``z`` is ``N x D`` (one feature per sample, already projected into the text space),
``prototypes`` is ``K x D`` (row k: class k's text embedding, `data/text/class_text.h5`),
``labels`` is ``N`` int64 in [0, K); logits are ``N x K``.

Both sides are L2-normalised, so only the direction of a feature matters: the text anchors are
fixed unit vectors and a feature must not win by growing its norm. The loss is cross-entropy over
cosine / temperature, i.e. an InfoNCE whose negatives are the other classes' sentences, which
makes classes with similar descriptions (cup vs food) push apart only as far as the text does.
Pure functions, no parameters: the projection head and the prototypes' gradients (usually none,
the text is frozen) are the caller's business.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check(z: Tensor, prototypes: Tensor) -> None:
    if z.dim() != 2:
        raise ValueError(f"z must be N x D, got shape {tuple(z.shape)}")
    if prototypes.dim() != 2:
        raise ValueError(f"prototypes must be K x D, got shape {tuple(prototypes.shape)}")
    if z.shape[1] != prototypes.shape[1]:
        raise ValueError(f"feature dims differ: z is N x {z.shape[1]}, prototypes K x {prototypes.shape[1]}")


def text_logits(z: Tensor, prototypes: Tensor, temperature: float = 1.0) -> Tensor:
    """N x K cosine logits; argmax over classes is zero-shot classification by the nearest sentence."""
    _check(z, prototypes)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    prototypes = prototypes.to(dtype=z.dtype, device=z.device)
    return F.normalize(z, dim=1) @ F.normalize(prototypes, dim=1).T / temperature


def text_anchor_loss(z: Tensor, prototypes: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Mean cross-entropy of the cosine logits against the labels (a scalar)."""
    _check(z, prototypes)
    if labels.dim() != 1 or labels.shape[0] != z.shape[0]:
        raise ValueError(f"labels must be N = {z.shape[0]} (one per row of z), got shape {tuple(labels.shape)}")
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be integer class indices, got {labels.dtype}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= prototypes.shape[0]):
        raise ValueError(f"labels must lie in [0, K = {prototypes.shape[0]}), got "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return F.cross_entropy(text_logits(z, prototypes, temperature), labels.long())
