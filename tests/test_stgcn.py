"""The ST-GCN keypoint baseline on tiny CPU inputs: shapes, the partition adjacency, gradients, persons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crychic.core.coco17 import NUM_JOINTS, SKELETON_EDGES
from crychic.models import GCN_MODELS, STGCN, create_model, list_models
from crychic.models.stgcn import spatial_adjacency


def test_gcn_family_is_registered_and_the_video_tests_skip_it():
    assert set(GCN_MODELS) <= set(list_models())
    assert all(isinstance(create_model(name, num_classes=3), STGCN) for name in GCN_MODELS)


@pytest.mark.parametrize("name", GCN_MODELS)
def test_registered_gcn_shapes_and_gradients(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5)
    x = torch.randn(2, 3, 8, NUM_JOINTS, 2)  # N x C x T x V x M
    out = model(x)
    assert out["logits"].shape == (2, 5)
    assert out["embedding"].shape == (2, model.embed_dim) == (2, model.config.channels[-1])
    assert torch.isfinite(out["logits"]).all()
    out["logits"].square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.fc.weight.grad.abs().sum() > 0 and model.blocks[0].gcn.weight.grad.abs().sum() > 0


def test_adjacency_partitions_are_row_normalised_and_cover_the_skeleton():
    A = spatial_adjacency()
    assert A.shape == (3, NUM_JOINTS, NUM_JOINTS)
    rows = A.sum(axis=2)
    assert np.allclose(rows[rows > 0], 1.0)
    assert np.allclose(rows[0], 1.0)  # every joint has itself in the first partition
    support = (A > 0).any(axis=0)
    for a, b in SKELETON_EDGES:
        assert support[a, b] and support[b, a]
    assert support.sum() == NUM_JOINTS + 2 * len(SKELETON_EDGES)
    # the nose (root) only hears from farther joints; a wrist (leaf) only from nearer ones
    assert A[2, 0].sum() == 0 and A[1, 9].sum() == 0 and A[2, 9].sum() == 1


def test_swapping_persons_gives_the_same_logits_in_eval_mode():
    torch.manual_seed(0)
    model = create_model("stgcn_tiny", num_classes=4).eval()
    x = torch.randn(3, 3, 8, NUM_JOINTS, 2)
    with torch.no_grad():
        assert torch.allclose(model(x)["logits"], model(x.flip(-1))["logits"], atol=1e-5)


def test_wrong_number_of_persons_is_an_error():
    model = create_model("stgcn_tiny", num_classes=4, num_persons=1)
    with pytest.raises(ValueError, match="C x T x V x M"):
        model(torch.randn(1, 3, 4, NUM_JOINTS, 2))


def test_the_graph_conv_networks_share_one_forward():
    from crychic.models import MSG3D
    from crychic.models.keypoint_input import KeypointGCN

    for network in (STGCN, MSG3D):
        assert issubclass(network, KeypointGCN)
        assert "forward" not in vars(network) and "embed_dim" not in vars(network)
    with pytest.raises(ValueError, match="^STGCN expects"):  # the error still names the network
        create_model("stgcn_tiny", num_classes=3)(torch.zeros(1, 3, 4, NUM_JOINTS, 1))
