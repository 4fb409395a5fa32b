"""The CRYCHIC networks on tiny CPU inputs: shapes, the published teacher's size, attention, guidance."""

from __future__ import annotations

import pytest
import torch

from crychic.models import (KEYPOINT_MODELS, CrychicConfig, CrychicModel, MultiScaleScales, MultiScaleSpatioTemporal, Student, Teacher,
                            TeacherConfig, align_attention, attention_vectors, create_model, list_models,
                            spatial_attention)

# The video networks (heatmap teacher, RGB student, I3D); the keypoint networks have
# tests/test_stgcn.py and tests/test_baseline_networks.py.
VIDEO_MODELS = [name for name in list_models() if name not in KEYPOINT_MODELS]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tiny_input(model: torch.nn.Module, batch: int = 2) -> torch.Tensor:
    if isinstance(model, Teacher):
        return torch.rand(batch, model.config.in_channels, 4, 32, 32)  # N x K x T x H x W
    return torch.randn(batch, 3, 2, 64, 64)  # N x 3 x T x H x W


def test_registry_names_and_unknown_name():
    assert {"posec3d_slowonly_r50", "posec3d_tiny", "resnet18_temporal", "resnet18_tiny"} <= set(list_models())
    with pytest.raises(KeyError, match="posec3d_tiny"):
        create_model("no_such_model")


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_every_registered_model_runs_forward_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5)
    x = tiny_input(model)
    out = model(x)
    assert out["logits"].shape == (2, 5)
    assert out["embedding"].shape == (2, model.embed_dim)
    assert len(out["features"]) == 3 and all(f.shape[0] == 2 and f.dim() == 5 for f in out["features"])
    assert all(torch.isfinite(t).all() for t in [out["logits"], out["embedding"], *out["features"]])
    out["logits"].square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.fc.weight.grad.abs().sum() > 0


def test_published_teacher_size_and_stage_maps():
    torch.manual_seed(0)
    teacher = create_model("posec3d_slowonly_r50").eval()
    count = n_params(teacher)
    print(f"posec3d_slowonly_r50 (60 classes): {count:,} parameters")
    assert abs(count - 2.0e6) / 2.0e6 < 0.10
    with torch.no_grad():
        out = teacher(torch.rand(1, 17, 48, 56, 56))
    shapes = [tuple(f.shape) for f in out["features"]]
    # temporal strides 1/1/2 as published: the last stage halves T
    assert shapes == [(1, 128, 48, 28, 28), (1, 256, 48, 14, 14), (1, 512, 24, 7, 7)]
    assert out["logits"].shape == (1, 60) and torch.isfinite(out["logits"]).all()


@pytest.mark.parametrize("size, maps", [(224, [28, 14, 7]), (112, [14, 7, 4])])
def test_student_stage_maps_pair_with_teacher_stages(size, maps):
    torch.manual_seed(0)
    student = create_model("resnet18_temporal").eval()
    with torch.no_grad():
        out = student(torch.randn(1, 3, 2, size, size))
    assert [tuple(f.shape[2:]) for f in out["features"]] == [(2, m, m) for m in maps]
    assert [f.shape[1] for f in out["features"]] == [128, 256, 512]
    assert Student.feature_sizes(size, size) == [(m, m) for m in maps]


def _reach(block, x, dims):
    """Which positions along `dims` change when frame 0 / pixel (0, 0) is bumped."""
    bumped = x.clone()
    index = (slice(None), slice(None)) + tuple(0 if d in dims else slice(None) for d in (2, 3, 4))
    bumped[index] += 5 * torch.randn_like(bumped[index])  # both signs: some path survives every ReLU
    change = (block(bumped) - block(x)).abs()
    return change.amax(dim=tuple(d for d in range(5) if d not in dims)) > 1e-6


def test_multiscale_block_reaches_further_in_time_and_space_than_single_scale():
    torch.manual_seed(0)
    scales = MultiScaleScales(temporal_dilations=(1, 2, 3), spatial_dilations=(1, 2), global_spatial=False)
    multi = MultiScaleSpatioTemporal(24, scales).eval()
    plain = MultiScaleSpatioTemporal(24, scales, multiscale=False).eval()
    assert multi.branch_kinds == ["temporal_d1", "temporal_d2", "temporal_d3", "spatial_d1", "spatial_d2"]
    assert plain.branch_kinds == ["temporal_d1", "spatial_d1"]
    assert n_params(multi) == n_params(plain)  # without global branches: the same weights, regrouped
    with torch.no_grad():
        x = torch.randn(2, 24, 8, 9, 9)
        assert multi(x).shape == x.shape
        # an impulse at frame 0 reaches frame 3 through dilation 3, only frame 1 through one scale
        assert _reach(multi, x, (2,)).tolist() == [True] * 4 + [False] * 4
        assert _reach(plain, x, (2,)).tolist() == [True] * 2 + [False] * 6
        # an impulse at pixel (0, 0) reaches row 2 through the dilation-2 3x3, only row 1 through one scale
        assert _reach(multi, x, (3,)).tolist() == [True] * 3 + [False] * 6
        assert _reach(plain, x, (3,)).tolist() == [True] * 2 + [False] * 7


def test_global_branches_see_the_whole_clip_in_order_and_the_whole_frame():
    from crychic.models.multiscale import GlobalContext

    torch.manual_seed(0)
    block = MultiScaleSpatioTemporal(16, MultiScaleScales(temporal_dilations=(1,), spatial_dilations=(1,),
                                                          global_temporal=True, global_spatial=True))
    assert block.branch_kinds == ["temporal_d1", "global_temporal", "spatial_d1", "global_spatial"]
    x = torch.randn(2, 4, 4, 6, 6)
    clip, frame = GlobalContext(4, 3, "clip"), GlobalContext(4, 3, "frame")
    with torch.no_grad():
        out = clip(x)
        assert out.shape == (2, 3, 4, 6, 6) and torch.equal(out[:, :, :1].expand_as(out), out)  # one value per clip
        assert not torch.allclose(clip(x.flip(2)), out)  # in order: raising is not lowering
        framed = frame(x)
        assert torch.equal(framed[..., :1, :1].expand_as(framed), framed)  # one value per frame
        bumped = x.clone()
        bumped[:, :, :, 0, 0] += 1.0
        assert (frame(bumped) - framed).abs()[..., 5, 5].amax() > 0  # a corner reaches the far corner


def test_spatial_attention_is_per_frame_peak_normalised():
    features = torch.randn(2, 6, 3, 5, 7)
    features[:, :, :, 2, 4] = 10.0  # the strongest location of every frame
    features[1, :, 2] = 0.0  # a dead frame
    att = spatial_attention(features)
    assert att.shape == (2, 1, 3, 5, 7)
    assert att.min() >= 0 and att.max() <= 1 and torch.isfinite(att).all()
    torch.testing.assert_close(att[0, 0, :, 2, 4], torch.ones(3))
    assert att[1, 0, 2].abs().sum() == 0
    vectors = attention_vectors(att)
    assert vectors.shape == (2, 3, 35)
    torch.testing.assert_close(vectors[0].norm(dim=-1), torch.ones(3))


def test_align_attention_averages_time_segments_and_resizes_space():
    att = torch.arange(48.0).reshape(1, 1, 48, 1, 1).expand(2, 1, 48, 28, 28).contiguous()
    aligned = align_attention(att, 8, (14, 14), renormalise=False)
    assert aligned.shape == (2, 1, 8, 14, 14)
    segment_means = torch.arange(48.0).reshape(8, 6).mean(dim=1)
    torch.testing.assert_close(aligned[0, 0, :, 7, 7], segment_means)
    # a hot spot stays where it was, relative to the box; renormalised to peak 1
    spot = torch.zeros(1, 1, 4, 28, 28)
    spot[..., 20:22, 8:10] = 1.0
    moved = align_attention(spot, 8, (14, 14))  # fewer teacher frames than student ones: repeated
    assert moved.shape == (1, 1, 8, 14, 14)
    peak = moved[0, 0, 3].flatten().argmax().item()
    assert divmod(peak, 14) in {(10, 4), (10, 5), (11, 4), (11, 5)}
    torch.testing.assert_close(moved.amax(dim=(3, 4)), torch.ones(1, 1, 8))


def test_guidance_weights_later_stages_and_zero_guidance_is_identity():
    torch.manual_seed(0)
    student = create_model("resnet18_tiny", num_classes=4).eval()
    x = torch.randn(2, 3, 4, 64, 64)
    sizes = Student.feature_sizes(64, 64)
    with torch.no_grad():
        plain = student(x)
        zero = student(x, attention_weights=[torch.zeros(2, 1, 4, *s) for s in sizes])
        guided = student(x, attention_weights=[torch.rand(2, 1, 4, *s) for s in sizes])
    torch.testing.assert_close(zero["logits"], plain["logits"])
    assert not torch.allclose(guided["logits"], plain["logits"])
    torch.testing.assert_close(guided["features"][0], plain["features"][0])  # own maps: before weighting
    assert not torch.allclose(guided["features"][1], plain["features"][1])  # shaped by stage-1 guidance


def small_crychic(**overrides) -> CrychicModel:
    torch.manual_seed(0)
    return CrychicModel(CrychicConfig(num_classes=5, embed_dim=16, **overrides))


def test_frozen_teacher_guides_student_without_receiving_gradients():
    model = small_crychic()
    model.freeze_teacher()
    model.train()
    assert not model.teacher.training and model.student.training
    heatmap, rgb = torch.rand(2, 17, 8, 56, 56), torch.randn(2, 3, 4, 64, 64)
    out = model(heatmap=heatmap, rgb=rgb)
    assert [a.shape[2:] for a in out["teacher_attention_aligned"]] == [a.shape[2:] for a in out["student_attention"]]
    loss = out["student_logits"].logsumexp(1).sum() + out["fused_logits"].square().sum() \
        + (out["z_teacher"] * out["z_student"]).sum()
    loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None for p in model.student.parameters())
    assert model.student.stem[0].weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        guided = model(heatmap=heatmap, rgb=rgb)["student_logits"]
        pose_free = model(rgb=rgb)["student_logits"]
    torch.testing.assert_close(guided, pose_free)  # guidance is a training signal (guide_at_inference=False)


def test_teacher_of_the_joint_stage_trains():
    """Stage 3 loads stage 2's weights into a fresh model, whose teacher was never frozen."""
    model = small_crychic()
    out = model(heatmap=torch.rand(2, 17, 4, 56, 56), rgb=torch.randn(2, 3, 2, 64, 64))
    (out["fused_logits"].square().sum() + out["teacher_logits"].square().sum()).backward()
    assert model.teacher.training
    assert all(p.grad is not None for p in model.teacher.parameters())


def test_pose_free_and_heatmap_only_outputs():
    model = small_crychic(use_attention_guidance=False).eval()
    with torch.no_grad():
        rgb_only = model(rgb=torch.randn(3, 3, 2, 64, 64))
        heat_only = model(heatmap=torch.rand(3, 17, 4, 56, 56))
    assert set(rgb_only) == {"student_logits", "student_embedding", "student_features", "student_attention",
                             "z_student"}
    assert rgb_only["student_logits"].shape == (3, 5)
    torch.testing.assert_close(rgb_only["z_student"].norm(dim=1), torch.ones(3))
    assert set(heat_only) == {"teacher_logits", "teacher_embedding", "teacher_features", "teacher_attention",
                              "z_teacher"}
    with pytest.raises(ValueError):
        model()


def test_config_objects_and_overrides_build_the_networks():
    config = CrychicConfig(num_classes=7, teacher=TeacherConfig(base_channels=4, stage_blocks=(1, 1, 1)),
                           student="resnet18_tiny", student_overrides={"width": 8, "temporal": "plain"})
    model = CrychicModel(config)
    assert model.teacher.embed_dim == 64 and model.student.embed_dim == 64
    assert model.teacher.fc.out_features == model.student.fc.out_features == 7
    assert all(block.branch_kinds == ["temporal_d1"] for block in model.student.temporal)


def test_pose_free_student_weights_features_by_its_own_attention():
    from crychic.models import CrychicConfig, CrychicModel

    torch.manual_seed(0)
    rgb = torch.randn(2, 3, 2, 64, 64)
    guided = CrychicModel(CrychicConfig(num_classes=5)).eval()
    plain = CrychicModel(CrychicConfig(num_classes=5, use_attention_guidance=False)).eval()
    plain.load_state_dict(guided.state_dict())
    with torch.no_grad():
        a, b = guided(rgb=rgb), plain(rgb=rgb)
    # Same weights, same first-stage features; the self-attention weighting changes what follows.
    torch.testing.assert_close(a["student_features"][0], b["student_features"][0])
    assert not torch.allclose(a["student_logits"], b["student_logits"])


def test_fused_output_is_the_mean_of_head_teacher_and_student_probabilities():
    torch.manual_seed(0)
    heatmap, rgb = torch.rand(2, 17, 4, 56, 56), torch.randn(2, 3, 2, 64, 64)
    model = small_crychic().eval()
    with torch.no_grad():
        out = model(heatmap=heatmap, rgb=rgb)
        head = model.fusion_head(torch.cat([out["teacher_embedding"], out["student_embedding"]], 1))
    expected = (head.softmax(1) + out["teacher_logits"].softmax(1) + out["student_logits"].softmax(1)) / 3
    torch.testing.assert_close(out["fused_logits"].exp(), expected)
    concat = CrychicModel(CrychicConfig(**{**model.config.__dict__, "fusion": "concat"})).eval()
    concat.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(concat(heatmap=heatmap, rgb=rgb)["fused_logits"], head)


def test_at_inference_the_student_uses_its_own_attention_even_with_keypoints():
    torch.manual_seed(0)
    heatmap, rgb = torch.rand(2, 17, 4, 56, 56), torch.randn(2, 3, 2, 64, 64)
    model = small_crychic().eval()
    with torch.no_grad():
        both, pose_free, teacher_only = model(heatmap=heatmap, rgb=rgb), model(rgb=rgb), model(heatmap=heatmap)
    # Exactly equal, not close: training validates every head from the one forward of both inputs.
    assert torch.equal(both["student_logits"], pose_free["student_logits"])
    assert torch.equal(both["teacher_logits"], teacher_only["teacher_logits"])
    guided = CrychicModel(CrychicConfig(**{**model.config.__dict__, "guide_at_inference": True})).eval()
    guided.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(guided(heatmap=heatmap, rgb=rgb)["student_logits"], pose_free["student_logits"])


def test_text_heads_anchor_both_networks_to_the_class_sentences():
    from crychic.losses import CrychicLoss

    torch.manual_seed(0)
    config = CrychicConfig(num_classes=3, teacher=TeacherConfig(in_channels=17, base_channels=4, stage_blocks=(1, 1, 1)),
                           student="resnet18_tiny", student_overrides={"width": 8}, text_dim=6)
    model = CrychicModel(config)
    with pytest.raises(ValueError):
        model.set_class_text(torch.randn(4, 6))  # one row per class
    sentences = torch.nn.functional.normalize(torch.randn(3, 6), dim=1)
    model.set_class_text(sentences)
    out = model(heatmap=torch.rand(2, 17, 4, 16, 16), rgb=torch.randn(2, 3, 2, 32, 32))
    assert out["t_teacher"].shape == out["t_student"].shape == (2, 6)
    torch.testing.assert_close(out["student_text_logits"], out["t_student"] @ sentences.T)
    loss = CrychicLoss(text_weight=1.0, classify=("fused",), temperature=0.1)
    total, terms = loss(out, torch.tensor([0, 2]))
    total.backward()
    assert terms["text"] > 0 and model.student_text[0].weight.grad.abs().sum() > 0
    assert model.teacher_text[0].weight.grad.abs().sum() > 0
    assert "class_text" in model.state_dict()  # saved with the checkpoint, never trained
    assert not any(name == "class_text" for name, _ in model.named_parameters())


def test_multilevel_fr_head_refines_every_stage_descriptor():
    from crychic.losses import CrychicLoss

    torch.manual_seed(0)
    config = CrychicConfig(num_classes=3, teacher=TeacherConfig(in_channels=17, base_channels=4, stage_blocks=(1, 1, 1)),
                           student="resnet18_tiny", student_overrides={"width": 8}, embed_dim=16, fr_head_levels=True)
    model = CrychicModel(config)
    out = model(rgb=torch.randn(4, 3, 2, 32, 32))
    assert len(out["student_levels"]) == 6 and all(z.shape == (4, 16) for z in out["student_levels"])
    loss = CrychicLoss(fr_head_weight=1.0, num_classes=3, embed_dim=16, classify=("student",), fr_head_levels=6)
    total, terms = loss(out, torch.tensor([0, 1, 2, 0]))
    total.backward()
    assert terms["fr_head"] > 0 and len(loss.level_refinements) == 6
    assert model.student_levels.temporal[2].weight.grad.abs().sum() > 0  # the last stage's temporal descriptor learns


@pytest.mark.parametrize("framed", [False, True])
def test_uniform_guidance_is_the_person_box_in_the_clips_frame(framed):
    torch.manual_seed(0)
    config = CrychicConfig(num_classes=3, teacher=TeacherConfig(in_channels=17, base_channels=4, stage_blocks=(1, 1, 1)),
                           student="resnet18_tiny", student_overrides={"width": 8}, guidance_source="uniform")
    model = CrychicModel(config).eval()
    box = torch.tensor([[0.0, 0.5, 0.5, 1.0]] * 2) if framed else None  # the box: the clip's lower-left quarter
    out = model(heatmap=torch.rand(2, 17, 4, 16, 16), rgb=torch.randn(2, 3, 2, 64, 64), heatmap_in_rgb=box)
    for guide in out["guidance_maps"]:
        h, w = guide.shape[-2:]
        if not framed:  # a box-cut clip is all box
            assert (guide == 1).all()
            continue
        # Pixel j sits at u = j / w: the box is u in [0, 0.5), v in [0.5, 1); its edge pixels are
        # half in (bilinear against the zeros outside), and nothing lies beyond them.
        assert (guide[..., : h // 2, :] == 0).all() and (guide[..., :, w // 2 + 1 :] == 0).all()
        if h > 2:
            assert guide[..., h // 2 + 1 :, 1 : w // 2].min() == 1  # the box's inside, edges aside
