"""Logits gathered over a whole loader: `name -> N x C` float32 on the CPU, with `labels` (N) and
`sample_ids` in loader order. The one place logits are gathered (training's validation, evaluate's
predictions, the graph baselines'), below both training and evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def collect_logits(heads: Callable[[dict], dict[str, torch.Tensor]], loader) -> dict:
    """Run `heads(batch)` (name -> N x C outputs of that batch) over a whole loader: every name's
    outputs concatenated as CPU float32, with `labels` (N) and `sample_ids` in loader order. The one
    place logits are gathered: training's validation, evaluate's predictions, the GCN's."""
    collected: dict[str, list] = {}
    labels, sample_ids = [], []
    for batch in loader:
        for name, value in heads(batch).items():
            collected.setdefault(name, []).append(value.float().cpu())
        labels.append(batch["label"])
        sample_ids += list(batch["sample_id"])
    return {**{name: torch.cat(values) for name, values in collected.items()}, "labels": torch.cat(labels),
            "sample_ids": sample_ids}
