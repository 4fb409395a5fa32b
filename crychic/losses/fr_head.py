"""FR-Head's prototype contrastive refinement (Zhou et al., CVPR 2023, "Learning Discriminative
Representations for Skeleton Based Action Recognition"), on one clip embedding.

Layouts: ``embedding`` ``N x D`` (e.g. the student's projected clip embedding), ``labels`` ``N``
(int64 class ids), ``logits`` ``N x K`` (the classifier output on the same samples); the module
holds ``prototypes`` ``K x D``.

Why: a cross-entropy head separates classes only as far as the decision boundary needs. FR-Head
also clusters each class's embeddings round a prototype, and gives the ambiguous samples, the
ones the classifier currently gets wrong, a calibrated extra push. In a batch, per class c:
- true positives (TP): label c, predicted c, with softmax probability of c above
  ``confidence_threshold``. Only they update prototype c, by EMA:
  ``p_c <- momentum * p_c + (1 - momentum) * mean(TP embeddings of c)`` (detached, train mode only);
- false negatives (FN): label c, predicted otherwise; their mean is ``fn_c``;
- false positives (FP): predicted c, label not c; their mean is ``fp_c``.

The loss, with cosines ``cos`` (all vectors L2-normalised), for sample i of class c and
calibration weight ``w_i = alpha * (1 - softmax(logits_i)[c])`` (detached: it only says how
unsure the classifier is about i):

    s_ij = cos(z_i, p_j)                                      for every class j
    FN row: s_ic += w_i * [class c has FN] * (cos(z_i, fn_c) - 1)     (pull class c and its FN together)
    FP row: s_ic += w_i * [class c has FP] * (-cos(z_i, fp_c) - 1)    (push class c and its FP apart)
    loss = mean_i [ CE(FN row_i / tau, c) + CE(FP row_i / tau, c) ]

Each penalty lowers the true-class score by between 0 and 2 w_i, so CE wants it small: the FN
term is zero when z_i points at its class's misclassified members, the FP term when it points
away from the impostors. Gradients flow into ``fn_c`` and ``fp_c`` as well, so the FN samples
themselves are pulled toward their class and the FP samples pushed away from class c.
With no FN and no FP in the batch, the loss is 2 x the plain prototype cross-entropy.

Kept from FR-Head (its default "V0" with ``use_p_map``): the TP/FN/FP masks with a confidence
threshold, EMA prototypes updated from TPs *before* scoring the batch, the FN/FP means as
calibration anchors with the ``cos - 1`` / ``-cos - 1`` scores, the (1 - p) calibration weight
scaled by alpha, the temperature, and the sum of the FN and FP cross-entropies.
Left out: FR-Head's learnt linear projection before the loss (our input is already a projected
embedding), its spatial/temporal split per GCN stage (our embedding is one clip vector), and
gradients through the prototype update and through the calibration weight (FR-Head lets both
flow; here prototypes are memory and w_i a weight). Prototypes start at zero, not random: a
class never seen as a TP scores cosine 0 with everything (neutral), and its first TP batch sets
its direction (cosine ignores the EMA's shrunken norm).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PrototypeRefinement(nn.Module):
    """The refinement loss above; ``prototypes`` is a buffer, saved with the model and moved with it."""

    def __init__(
        self,
        num_classes: int,
        dim: int,
        momentum: float = 0.9,
        temperature: float = 0.125,
        calibration_weight: float = 0.125,
        confidence_threshold: float = 0.0,
    ):
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.num_classes = num_classes
        self.momentum = momentum
        self.temperature = temperature
        self.calibration_weight = calibration_weight  # FR-Head's alpha
        self.confidence_threshold = confidence_threshold
        self.register_buffer("prototypes", torch.zeros(num_classes, dim))

    @torch.no_grad()
    def _update_prototypes(self, embedding: torch.Tensor, true_positive: torch.Tensor) -> None:
        """EMA toward the mean TP embedding, only for classes with at least one TP in the batch."""
        tp_count = true_positive.sum(dim=0)  # K
        tp_mean = (true_positive.T @ embedding) / tp_count.clamp(min=1).unsqueeze(1)  # K x D
        has_tp = (tp_count > 0).unsqueeze(1)  # K x 1
        updated = self.momentum * self.prototypes + (1 - self.momentum) * tp_mean
        self.prototypes.copy_(torch.where(has_tp, updated, self.prototypes))

    def forward(self, embedding: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if embedding.ndim != 2 or logits.shape != (embedding.shape[0], self.num_classes):
            raise ValueError(
                f"expected N x D embedding and N x {self.num_classes} logits, "
                f"got {tuple(embedding.shape)} and {tuple(logits.shape)}"
            )
        label_onehot = F.one_hot(labels, self.num_classes).to(embedding.dtype)  # N x K
        predicted_onehot = F.one_hot(logits.argmax(dim=1), self.num_classes).to(embedding.dtype)  # N x K
        probability = logits.detach().softmax(dim=1)  # N x K
        correct = label_onehot * predicted_onehot
        false_negative = label_onehot - correct  # N x K: column c = samples of c predicted otherwise
        false_positive = predicted_onehot - correct  # N x K: column c = samples predicted c, not of c
        if self.training:
            confident = (probability > self.confidence_threshold).to(embedding.dtype)
            self._update_prototypes(embedding.detach(), correct * confident)

        # Mean embedding of each class's FN (FP) samples, K x D; zero rows where a class has none.
        fn_mean = F.normalize(false_negative, p=1, dim=0).T @ embedding
        fp_mean = F.normalize(false_positive, p=1, dim=0).T @ embedding
        has_fn = (false_negative.sum(dim=0) > 0).to(embedding.dtype)  # K
        has_fp = (false_positive.sum(dim=0) > 0).to(embedding.dtype)  # K

        unit = F.normalize(embedding, dim=1)
        prototype_cosine = unit @ F.normalize(self.prototypes, dim=1).T  # N x K
        fn_cosine = unit @ F.normalize(fn_mean, dim=1).T  # N x K
        fp_cosine = unit @ F.normalize(fp_mean, dim=1).T  # N x K
        # Non-zero only in the true-class column of each row.
        weight = self.calibration_weight * (1 - probability) * label_onehot  # N x K
        fn_scores = prototype_cosine + weight * has_fn * (fn_cosine - 1)
        fp_scores = prototype_cosine + weight * has_fp * (-fp_cosine - 1)
        return (
            F.cross_entropy(fn_scores / self.temperature, labels)
            + F.cross_entropy(fp_scores / self.temperature, labels)
        )
