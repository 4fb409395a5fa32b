"""One shared epoch and one per-item seeding for both training datasets (`crychic.core.epoch_seeds`)."""

from __future__ import annotations

import numpy as np
import pytest

from crychic.core.epoch_seeds import EpochSeeded
from crychic.keypoints.clips import KeypointClips
from crychic.training.data import PoseRgbDataset


@pytest.mark.parametrize("dataset", [KeypointClips, PoseRgbDataset])
def test_both_datasets_take_the_epoch_and_the_seeding_from_one_place(dataset):
    assert issubclass(dataset, EpochSeeded)
    assert not {"set_epoch", "epoch", "item_rng"} & set(vars(dataset))  # no copy of their own


def test_an_item_draws_from_seed_epoch_and_index_and_the_epoch_is_shared():
    items = EpochSeeded(seed=3)
    assert items.epoch == 0
    items.set_epoch(2)
    assert items.epoch == 2 and items._epoch.is_shared()  # what persistent DataLoader workers read
    np.testing.assert_array_equal(items.item_rng(5).random(4), np.random.default_rng([3, 2, 5]).random(4))
    np.testing.assert_array_equal(items.item_rng(5, 1).random(4), np.random.default_rng([3, 2, 5, 1]).random(4))
    assert items.item_rng(5).random() != items.item_rng(6).random()
