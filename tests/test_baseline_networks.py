"""The MS-G3D, STA-LSTM and I3D baselines on tiny CPU inputs: shapes, gradients, size, and each paper's mechanism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import yaml

from conftest import PROJECT_ROOT
from crychic.core.coco17 import NUM_JOINTS, SKELETON_EDGES
from crychic.models import (I3D_MODELS, KEYPOINT_MODELS, MSG3D_MODELS, STA_LSTM_MODELS, create_model,
                            inflate_2d_weights, list_models)
from crychic.models.msg3d import G3D, multiscale_adjacency, skeleton_graph, window_graph
from crychic.models.stgcn import hop_distance
from crychic.sources.synthetic.classes import CLASSES
from crychic.models.checkpoints import build_model

BASELINES = MSG3D_MODELS + STA_LSTM_MODELS + I3D_MODELS
DEFAULT_PRESETS = ("msg3d", "sta_lstm")  # the keypoint baselines; the I3D one is sized to its student (below)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny_input(name: str, batch: int = 2, frames: int = 8, persons: int = 2) -> torch.Tensor:
    if name in KEYPOINT_MODELS:
        return torch.randn(batch, 3, frames, NUM_JOINTS, persons)  # N x C x T x V x M
    return torch.randn(batch, 3, frames // 2, 32, 32)  # N x 3 x T x H x W


def test_baselines_are_registered_once_with_their_families():
    assert set(BASELINES) <= set(list_models())
    assert len(set(BASELINES)) == len(BASELINES)
    assert set(MSG3D_MODELS + STA_LSTM_MODELS) <= set(KEYPOINT_MODELS)
    assert not set(I3D_MODELS) & set(KEYPOINT_MODELS)
    assert create_model("i3d_r18_tiny", num_classes=12).fc.out_features == 12


@pytest.mark.parametrize("name", BASELINES)
def test_forward_shapes_and_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5)
    out = model(tiny_input(name))
    assert out["logits"].shape == (2, 5)
    assert out["embedding"].shape == (2, model.embed_dim)
    assert all(torch.isfinite(v).all() for v in out.values() if isinstance(v, torch.Tensor))
    out["logits"].square().sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", DEFAULT_PRESETS)
def test_default_presets_fit_a_small_cpu_budget(name):
    count = n_params(create_model(name))  # the preset's own 60 classes
    print(f"{name}: {count:,} parameters")
    assert count < 500_000


@pytest.mark.parametrize("name", BASELINES)
def test_config_round_trips_through_a_checkpoint_dict(name):
    """training.gcn saves `dataclasses.asdict(model.config)` and rebuilds with `create_model(name, **it)`;
    tuples come back as lists from YAML / JSON."""
    model = create_model(name, num_classes=7)
    saved = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(model.config).items()}
    rebuilt = create_model(name, **saved)
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())


@pytest.mark.parametrize("name", MSG3D_MODELS + STA_LSTM_MODELS)
def test_keypoint_baselines_follow_the_gcn_person_contract(name):
    torch.manual_seed(0)
    single = create_model(name, num_classes=4, num_persons=1).eval()
    assert single.config.num_persons == 1
    assert single(tiny_input(name, persons=1))["logits"].shape == (2, 4)
    with pytest.raises(ValueError, match="C x T x V x M"):
        single(tiny_input(name, persons=2))
    model = create_model(name, num_classes=4).eval()
    x = tiny_input(name, batch=3)
    with torch.no_grad():  # persons are averaged: their order does not matter
        torch.testing.assert_close(model(x)["logits"], model(x.flip(-1))["logits"], atol=1e-5, rtol=1e-4)


# --- MS-G3D ----------------------------------------------------------------------------------------------------

def test_multiscale_adjacency_is_disentangled_by_hop_distance_and_normalised():
    scales = multiscale_adjacency(skeleton_graph(), 7)  # COCO-17's diameter is 6: every hop distance
    assert scales.shape == (7, NUM_JOINTS, NUM_JOINTS)
    np.testing.assert_allclose(scales[0], np.eye(NUM_JOINTS))
    hops = np.stack([hop_distance(NUM_JOINTS, SKELETON_EDGES, root) for root in range(NUM_JOINTS)])
    off_diagonal = ~np.eye(NUM_JOINTS, dtype=bool)
    for k, A in enumerate(scales):
        # scale k links exactly the joints k hops apart (not <= k, as a plain power A^k would), plus self-loops
        assert ((A > 0) & off_diagonal == (hops == k) & off_diagonal).all(), k
        assert (np.diag(A) > 0).all()
        # D^-1/2 A D^-1/2: symmetric, entry (i, j) = 1 / sqrt(d_i d_j), spectral radius 1
        degree = (A > 0).sum(axis=1)
        np.testing.assert_allclose(A, A.T)
        np.testing.assert_allclose(A[A > 0], (1 / np.sqrt(np.outer(degree, degree)))[A > 0], rtol=1e-6)
        assert np.isclose(np.abs(np.linalg.eigvalsh(A)).max(), 1.0, atol=1e-5)
    # every ordered pair of distinct joints is in exactly one scale
    assert (((scales > 0) & off_diagonal).sum(axis=0) == off_diagonal).all()


def test_g3d_window_graph_links_joints_across_frames():
    V, tau = NUM_JOINTS, 3
    graph = window_graph(skeleton_graph(), tau)
    assert graph.shape == (tau * V, tau * V)
    assert np.allclose(graph, graph.T) and np.diag(graph).sum() == 0
    wrist, elbow, ankle = 9, 7, 15
    for a in range(tau):
        for b in range(tau):
            block = graph[a * V:(a + 1) * V, b * V:(b + 1) * V]
            assert block[wrist, elbow] == 1 and block[wrist, ankle] == 0
            assert block[wrist, wrist] == (a != b)  # the same joint at another frame is a neighbour
            assert block.sum() == 2 * len(SKELETON_EDGES) + (V if a != b else 0)
    one_hop = multiscale_adjacency(graph, 2)[1]
    assert one_hop[0 * V + wrist, 2 * V + elbow] > 0 and one_hop[0 * V + wrist, 2 * V + wrist] > 0


@pytest.mark.parametrize("window", [3, 5])
def test_g3d_passes_messages_to_neighbouring_joints_of_other_frames_only_within_the_window(window):
    torch.manual_seed(0)
    scales = 2  # hop distances 0 and 1 of the window graph
    g3d = G3D(4, 8, 8, skeleton_graph(), window, stride=1, num_scales=scales, learnable_mask=False).eval()
    x = torch.randn(1, 4, 9, NUM_JOINTS)  # N x C x T x V
    bumped = x.clone()
    wrist, frame = 9, 4
    bumped[:, :, frame, wrist] += 10.0
    with torch.no_grad():
        changed = (g3d(bumped) - g3d(x)).abs().amax(dim=(0, 1)) > 1e-5  # T x V
    half = (window - 1) // 2
    hops = hop_distance(NUM_JOINTS, SKELETON_EDGES, wrist)
    for t in range(9):
        expected = (hops <= 1) if abs(t - frame) <= half else np.zeros(NUM_JOINTS, dtype=bool)
        assert changed[t].numpy().tolist() == expected.tolist(), t


def test_msg3d_halves_time_where_it_widens():
    model = create_model("msg3d", num_classes=3, channels=(8, 16, 16), temporal_dilations=(1,)).eval()
    x = torch.randn(2, 3, 9, NUM_JOINTS, 2)
    shapes = []
    hooks = [block.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for block in model.blocks]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    assert shapes == [(4, 8, 9, NUM_JOINTS), (4, 16, 5, NUM_JOINTS), (4, 16, 5, NUM_JOINTS)]


# --- STA-LSTM --------------------------------------------------------------------------------------------------

def test_sta_lstm_attention_is_a_distribution_over_joints_and_over_frames():
    torch.manual_seed(0)
    model = create_model("sta_lstm", num_classes=4)
    out = model(torch.randn(3, 3, 10, NUM_JOINTS, 2))
    alpha, beta = out["spatial_attention"], out["temporal_attention"]
    assert alpha.shape == (3, 10, NUM_JOINTS) and beta.shape == (3, 10)
    assert (alpha >= 0).all() and (beta >= 0).all()
    torch.testing.assert_close(alpha.sum(dim=-1), torch.ones(3, 10))
    torch.testing.assert_close(beta.sum(dim=-1), torch.ones(3))
    assert alpha.std(dim=-1).min() > 0 and beta.std(dim=-1).min() > 0  # not uniform


def test_sta_lstm_attention_reads_the_current_frame_and_only_the_past():
    torch.manual_seed(0)
    model = create_model("sta_lstm", num_classes=4, num_persons=1).eval()
    x = torch.randn(2, 3, 8, NUM_JOINTS, 1)
    bumped = x.clone()
    bumped[:, :, 5] += 3.0
    with torch.no_grad():
        a, b = model(x), model(bumped)
    spatial_change = (a["spatial_attention"] - b["spatial_attention"]).abs().amax(dim=(0, 2))  # per frame
    assert (spatial_change[:5] < 1e-6).all()  # frames before the change
    assert (spatial_change[5:] > 1e-4).all()  # the frame itself (x_t) and the next ones (h_{t-1})
    # the temporal weights are a softmax over the clip, so all of them move; their ratios before frame 5 do not
    log_ratio = [out["temporal_attention"].log() - out["temporal_attention"][:, :1].log() for out in (a, b)]
    ratio_change = (log_ratio[0] - log_ratio[1]).abs().amax(dim=0)
    assert (ratio_change[:5] < 1e-5).all() and (ratio_change[5:] > 1e-4).all()


def test_sta_lstm_logits_are_the_temporally_weighted_frame_scores():
    torch.manual_seed(0)
    model = create_model("sta_lstm", num_classes=4, num_persons=1).eval()
    hidden = []
    # the hook keeps the main LSTM's output (append returns None, so the output is left as it is)
    model.lstm.register_forward_hook(lambda module, inputs, output: hidden.append(output[0]))
    with torch.no_grad():
        out = model(torch.randn(2, 3, 6, NUM_JOINTS, 1))
        frame_scores = model.fc(hidden[0])  # N x T x classes: W h_t + b, from the main LSTM's last layer
    expected = torch.einsum("nt,ntk->nk", out["temporal_attention"], frame_scores)
    torch.testing.assert_close(out["logits"], expected)


# --- I3D -------------------------------------------------------------------------------------------------------

def _profile(preset: str | None) -> tuple[dict, int]:
    """params.yaml with a preset's keys over it (as `dvc exp run -S` sets them), and its class count."""
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    if preset is None:
        return params, len(CLASSES)  # the synthetic benchmark
    for section, values in yaml.safe_load((PROJECT_ROOT / "presets" / preset).read_text()).items():
        if isinstance(values, dict):
            params[section] = {**params.get(section, {}), **values}
    return params, 60  # NTU RGB+D 60


@pytest.mark.parametrize("preset", [None, "ntu60_xsub.yaml"], ids=["default", "ntu60_xsub"])
def test_i3d_matches_its_student_in_size_and_depth_with_3d_kernels_throughout(preset):
    """Issue 23 C: the I3D baseline against the student it is compared with (`rgb_only`, built the
    way that stage builds it, multi-scale temporal blocks included): parameters within +-20 %, the
    same depth, and every convolution a t x k x k Conv3d, with temporal taps (t > 1) in every stage
    its config inflates and t = 1 elsewhere (val chose the SlowOnly-style network, inflated in layers
    3-4 only: metrics/i3d_choice.json); the 1x1 projection shortcuts are 1x1x1, as I3D's 1x1 convolutions."""
    params, classes = _profile(preset)
    student = build_model(classes, params["model"]).student
    i3d = create_model(params["i3d"]["model"], num_classes=classes)
    student_count, i3d_count = n_params(student), n_params(i3d)
    print(f"{params['i3d']['model']}: {i3d_count:,} parameters, {params['model']['student']}: {student_count:,} "
          f"({i3d_count / student_count - 1:+.1%})")
    assert abs(i3d_count / student_count - 1) <= 0.2
    assert i3d.config.stage_blocks == student.config.stage_blocks
    assert [len(layer) for layer in i3d.layers] == [len(layer) for layer in student.layers]
    convs = [m for m in i3d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Conv1d)]
    assert not convs, "an I3D conv that is not 3D"
    named = {n: m.kernel_size for n, m in i3d.named_modules() if isinstance(m, torch.nn.Conv3d)}
    kernels = list(named.values())
    assert all(h == w for _, h, w in kernels), kernels  # t x k x k
    assert all(k == (1, 1, 1) for k in kernels if k[1] == 1), kernels  # 1x1 shortcuts only
    stage_of = {n: 0 if n.startswith("stem") else int(n.split(".")[1]) + 1 for n in named}  # stem, layer1..4
    for n, (t, h, _) in named.items():
        if h > 1:  # a spatial kernel: temporal taps exactly where the config inflates (the first conv of a block at least)
            assert (t > 1) == bool(i3d.config.inflate[stage_of[n]]) or (t == 1 and not i3d.config.inflate_second
                                                                        and ".body.3" in n), (n, t)
    assert any(t > 1 for t, _, _ in kernels) and i3d.config.inflate[-1]  # temporal modelling, the last stage at least
    assert named["stem.0"][1:] == (7, 7)
    assert sum(h > 1 for _, h, _ in kernels) == 1 + 2 * sum(student.config.stage_blocks)  # stem + 2 per block
    frames, size = (params["rgb"]["clip_len"], 32)
    with torch.no_grad():
        logits = i3d.eval()(torch.randn(2, 3, frames, size, size))["logits"]
    assert logits.shape == (2, classes)


@pytest.mark.parametrize("name, student_name, classes", [
    ("i3d_r18_tiny_slow", None, 12), ("i3d_r18_tiny_centre", None, 12), ("i3d_r18_slow", "ntu60_xsub.yaml", 60),
    ("i3d_r18_centre", "ntu60_xsub.yaml", 60)])
def test_i3d_candidates_keep_the_students_size_and_3d_convolutions(name, student_name, classes):
    """The candidates for the default I3D (crychic/models/i3d.py): within +-20 % of the student's parameters,
    every convolution a Conv3d; the selective one (SlowOnly-style) has temporal taps in layers 3-4 only,
    the centre-initialised one starts as the 2D network frame by frame."""
    params, _ = _profile(student_name)
    student = build_model(classes, params["model"]).student
    i3d = create_model(name, num_classes=classes)
    assert abs(n_params(i3d) / n_params(student) - 1) <= 0.2
    assert not [m for m in i3d.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Conv1d)]
    kernels = {n: m.kernel_size for n, m in i3d.named_modules() if isinstance(m, torch.nn.Conv3d)}
    if i3d.config.centre_init:
        weights = i3d.stem[0].weight  # C' x 3 x t x 7 x 7
        assert weights[:, :, 0].abs().max() == 0 and weights[:, :, 2].abs().max() == 0 and weights[:, :, 1].abs().max() > 0
        assert all(t == 3 for n, (t, h, _) in kernels.items() if h > 1)
    else:
        inflated = sorted({n.split(".")[1] for n, (t, _, _) in kernels.items() if t > 1})
        assert inflated == ["2", "3"] and kernels["stem.0"] == (1, 7, 7)  # layer3 and layer4 only


@pytest.mark.parametrize("frames", [1, 4, 8])
def test_i3d_runs_on_clips_of_one_to_eight_frames(frames):
    torch.manual_seed(0)
    model = create_model("i3d_r18_tiny", num_classes=12).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, frames, 96, 96))
    assert out["logits"].shape == (2, 12) and torch.isfinite(out["logits"]).all()
    assert [tuple(f.shape[1:]) for f in out["features"]] == [(18, frames, 12, 12), (36, frames, 6, 6),
                                                             (72, frames, 3, 3)]


def test_inflated_i3d_on_a_constant_clip_reproduces_the_2d_network():
    torch.manual_seed(0)
    small = dict(num_classes=3, width=4, stage_blocks=(1, 1, 1, 1))  # fewer temporal convs: a shorter clip
    image_net = create_model("i3d_r18_tiny", temporal_kernel=1, **small).eval()  # the 2D ResNet, frame by frame
    with torch.no_grad():  # BatchNorm statistics that are not the identity, so they must be copied too
        for module in image_net.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
    weights_2d = {k: v.squeeze(2) if v.dim() == 5 else v for k, v in image_net.state_dict().items()}
    assert not any(v.dim() == 5 for v in weights_2d.values())  # 2D kernels: C' x C x k x k
    video_net = create_model("i3d_r18_tiny", **small).eval()
    inflate_2d_weights(video_net, weights_2d)
    assert video_net.stem[0].weight.shape[2] == 3
    # 9 temporal 3-convs (the stem, 2 per block): frames 9 and 10 of 20 are out of reach of the zero
    # padding at either end
    reach = sum(m.kernel_size[0] == 3 for m in video_net.modules() if isinstance(m, torch.nn.Conv3d))
    assert reach == 9
    frames = 2 * reach + 2
    image = torch.randn(1, 3, 1, 32, 32)
    with torch.no_grad():
        expected = image_net(image)["features"]
        inflated = video_net(image.expand(-1, -1, frames, -1, -1))["features"]
        moving = video_net(torch.randn(1, 3, frames, 32, 32))["features"]
    for want, got, other in zip(expected, inflated, moving):
        middle = slice(reach, reach + 2)
        torch.testing.assert_close(got[:, :, middle], want.expand(-1, -1, 2, -1, -1), atol=1e-5, rtol=1e-4)
        assert not torch.allclose(other[:, :, middle], want.expand(-1, -1, 2, -1, -1), atol=1e-3)
    assert not torch.allclose(inflated[-1][:, :, 0], expected[-1][:, :, 0], atol=1e-3)  # the padded first frame


def test_inflation_refuses_mismatched_weights():
    video_net = create_model("i3d_r18_tiny", num_classes=3, width=4)
    weights_2d = {k: v.squeeze(2) if v.dim() == 5 else v
                  for k, v in create_model("i3d_r18_tiny", num_classes=3, width=8, temporal_kernel=1).state_dict().items()}
    with pytest.raises(ValueError, match="does not inflate"):
        inflate_2d_weights(video_net, weights_2d)
    with pytest.raises(KeyError, match="no counterpart"):
        inflate_2d_weights(video_net, {"classifier.weight": torch.zeros(3, 32)})
