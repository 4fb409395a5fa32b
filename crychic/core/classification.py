"""Classification figures from logits: top-k, per-class and mean class accuracy, confusion matrix.

Layouts: `logits` N x K (scores, any scale), `labels` N int. All functions take numpy or torch and
return plain Python numbers / numpy arrays, ready for MLflow and DVC metrics files.
"""

from __future__ import annotations

import numpy as np


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def top_k_accuracy(logits, labels, k: int = 1) -> float:
    logits, labels = _np(logits), _np(labels)
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]  # N x k
    return float((top == labels[:, None]).any(axis=1).mean()) if len(labels) else 0.0


def confusion_matrix(predictions, labels, num_classes: int) -> np.ndarray:
    """K x K counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (_np(labels), _np(predictions)), 1)
    return matrix


def per_class_accuracy(logits, labels, num_classes: int) -> np.ndarray:
    """Recall of each class; NaN for a class absent from `labels`."""
    matrix = confusion_matrix(_np(logits).argmax(axis=1), labels, num_classes)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / support, np.nan)


def classification_report(logits, labels, num_classes: int) -> dict[str, float]:
    per_class = per_class_accuracy(logits, labels, num_classes)
    return {
        "top1": top_k_accuracy(logits, labels, 1),
        "top5": top_k_accuracy(logits, labels, 5),
        "mean_class_accuracy": float(np.nanmean(per_class)) if np.isfinite(per_class).any() else 0.0,
    }
