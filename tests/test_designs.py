"""The designs of issue 23 (each a params switch): what guides the student, residual fusion,
teacher-confidence gating; and stage 3's warm-up, student learning rate and second kept epoch."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from crychic.core.coco17 import JOINT_INDEX
from crychic.losses import CrychicLoss
from crychic.losses.attention_transfer import attention_transfer_loss
from crychic.losses.contrastive import info_nce
from crychic.models import CrychicConfig, CrychicModel
from crychic.models.crychic_model import REGION_JOINTS
from crychic.models.checkpoints import load_checkpoint, save_checkpoint
from crychic.training.loop import _optimizer, fit, warmup_cosine_schedule


def small_crychic(**overrides) -> CrychicModel:
    torch.manual_seed(0)
    return CrychicModel(CrychicConfig(num_classes=5, embed_dim=16, **overrides))


def test_region_joints_are_the_head_the_hands_and_the_feet():
    names = {"nose", "left_wrist", "right_wrist", "left_ankle", "right_ankle"}
    assert set(REGION_JOINTS) == {JOINT_INDEX[name] for name in names}


def test_keypoint_guidance_points_at_the_wrist_and_ignores_the_teacher():
    """A heatmap with one peak on the right wrist (top-left of the box) in every frame: the
    guidance maps peak in that corner of every stage grid, whatever the teacher's weights."""
    heatmap = torch.zeros(2, 34, 8, 32, 32)
    heatmap[:, JOINT_INDEX["right_wrist"], :, 4, 5] = 1.0
    heatmap[:, JOINT_INDEX["left_hip"], :, 28, 28] = 1.0  # not a region joint: must not show
    rgb = torch.randn(2, 3, 4, 64, 64)
    maps = []
    for seed in (0, 1):
        model = small_crychic(guidance_source="keypoints", teacher_overrides={"in_channels": 34}).eval()
        torch.manual_seed(seed)
        for p in model.teacher.parameters():  # another teacher: the keypoint maps must not change
            p.data.normal_()
        with torch.no_grad():
            out = model(heatmap=heatmap, rgb=rgb)
        maps.append(out["guidance_maps"])
        for stage_map, student_map in zip(out["guidance_maps"], out["student_attention"]):
            assert stage_map.shape == student_map.shape
            n, _, t, h, w = stage_map.shape
            peak = stage_map.reshape(n, t, h * w).argmax(-1)
            rows, cols = peak // w, peak % w
            assert (rows < h / 2).all() and (cols < w / 2).all()  # the wrist's quarter
            assert float(stage_map[..., -1, -1].max()) < 0.05  # the hip's corner stays dark
    for a, b in zip(*maps):
        torch.testing.assert_close(a, b)


def test_uniform_guidance_is_all_ones_and_teacher_guidance_is_the_teachers_attention():
    heatmap, rgb = torch.rand(2, 17, 8, 32, 32), torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        uniform = small_crychic(guidance_source="uniform").eval()(heatmap=heatmap, rgb=rgb)
        teacher = small_crychic().eval()(heatmap=heatmap, rgb=rgb)
    assert all(bool((m == 1).all()) for m in uniform["guidance_maps"])
    for a, b in zip(teacher["guidance_maps"], teacher["teacher_attention_aligned"]):
        assert a is b
    with pytest.raises(ValueError, match="guidance_source"):
        small_crychic(guidance_source="elbows")


def test_hand_guidance_is_the_wrists_alone():
    heatmap = torch.zeros(1, 17, 4, 32, 32)
    heatmap[:, JOINT_INDEX["nose"], :, 3, 16] = 1.0
    heatmap[:, JOINT_INDEX["left_wrist"], :, 28, 4] = 1.0
    rgb = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        hands = small_crychic(guidance_source="hands").eval()(heatmap=heatmap, rgb=rgb)["guidance_maps"][0]
        regions = small_crychic(guidance_source="keypoints").eval()(heatmap=heatmap, rgb=rgb)["guidance_maps"][0]
    h = hands.shape[-2]
    assert float(hands[..., : h // 4, h // 2].max()) < 0.05 < float(regions[..., : h // 4, h // 2].max())  # the head
    assert float(hands[..., -h // 4:, : h // 4].max()) == pytest.approx(1.0)  # the wrist


def test_framed_clips_carry_every_guidance_map_to_where_the_box_lies():
    """With `heatmap_in_rgb` (the box in the left half of the clip) the maps are zero in the right half."""
    heatmap, rgb = torch.rand(2, 17, 4, 32, 32), torch.randn(2, 3, 4, 96, 96)
    box = torch.tensor([[0.0, 0.25, 0.5, 0.75]] * 2)
    for source in ("teacher", "keypoints", "hands"):
        with torch.no_grad():
            out = small_crychic(guidance_source=source).eval()(heatmap=heatmap, rgb=rgb, heatmap_in_rgb=box)
        for maps in (out["guidance_maps"], out["teacher_attention_aligned"]):
            for stage_map in maps:
                w = stage_map.shape[-1]  # pixel j sits at u = j / w
                right = [j for j in range(w) if j / w >= 0.5 + 0.5 / w]
                left = [j for j in range(w) if j / w < 0.5]
                assert right and float(stage_map[..., right].abs().max()) == 0.0
                assert float(stage_map[..., left].max()) > 0.5


def test_residual_fusion_adds_the_student_to_the_teachers_log_probabilities_and_leaves_the_teacher_alone():
    model = small_crychic(residual_fusion=True).train()
    heatmap, rgb = torch.rand(3, 17, 8, 32, 32), torch.randn(3, 3, 4, 64, 64)
    out = model(heatmap=heatmap, rgb=rgb)
    assert model.fusion_head[1].in_features == model.student.embed_dim  # the student's embedding only
    model.eval()
    with torch.no_grad():
        out = model(heatmap=heatmap, rgb=rgb)
        expected = out["teacher_logits"].log_softmax(1) + model.fusion_head(out["student_embedding"])
    torch.testing.assert_close(out["fused_logits"], expected)
    model.train()
    model.zero_grad()
    out = model(heatmap=heatmap, rgb=rgb)
    nn.functional.cross_entropy(out["fused_logits"], torch.tensor([0, 1, 2])).backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.teacher.parameters())
    assert model.student.stem[0].weight.grad.abs().sum() > 0


def test_confidence_gating_passes_guidance_only_where_the_teacher_is_right():
    torch.manual_seed(0)
    n = 4
    labels = torch.tensor([0, 1, 2, 3])
    outputs = {"student_logits": torch.randn(n, 5), "student_attention": [torch.rand(n, 1, 2, 4, 4)],
               "guidance_maps": [torch.rand(n, 1, 2, 4, 4)], "z_teacher": torch.randn(n, 8),
               "z_student": torch.randn(n, 8)}
    sure = torch.full((n, 5), -30.0)
    sure[torch.arange(n), labels] = 30.0  # the teacher certain and right: weights ~1
    wrong = torch.full((n, 5), -30.0)
    wrong[torch.arange(n), (labels + 1) % 5] = 30.0  # certain and wrong: weights ~0
    loss = CrychicLoss(attention_weight=1.0, contrastive_weight=1.0, temperature=0.1, confidence_gating=True)
    _, right_terms = loss({**outputs, "teacher_logits": sure}, labels)
    _, wrong_terms = loss({**outputs, "teacher_logits": wrong}, labels)
    plain = CrychicLoss(attention_weight=1.0, contrastive_weight=1.0, temperature=0.1)
    _, plain_terms = plain({**outputs, "teacher_logits": wrong}, labels)
    assert right_terms["attention"] == pytest.approx(plain_terms["attention"], rel=1e-5)
    assert right_terms["contrastive"] == pytest.approx(plain_terms["contrastive"], rel=1e-5)
    assert wrong_terms["attention"] < 1e-6 and wrong_terms["contrastive"] < 1e-6
    assert right_terms["gate"] == pytest.approx(1.0) and wrong_terms["gate"] < 1e-6


def test_weighted_terms_are_the_mean_of_weight_times_each_clips_term():
    torch.manual_seed(1)
    student, teacher = [torch.rand(3, 1, 2, 4, 4)], [torch.rand(3, 1, 2, 4, 4)]
    weights = torch.tensor([1.0, 0.0, 0.5])
    per_clip = torch.stack([attention_transfer_loss([s[i:i + 1] for s in student], [t[i:i + 1] for t in teacher])
                            for i in range(3)])
    assert float(attention_transfer_loss(student, teacher, weights)) == pytest.approx(float((per_clip * weights).mean()))
    z_a, z_b = torch.randn(3, 8), torch.randn(3, 8)
    assert float(info_nce(z_a, z_b, 0.1, torch.ones(3))) == pytest.approx(float(info_nce(z_a, z_b, 0.1)), rel=1e-6)


def test_warmup_ramps_then_decays_by_cosine():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine_schedule(optimizer, steps=10, warmup_steps=4)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates[4:] == pytest.approx([0.5 * (1 + math.cos(math.pi * k / 6)) for k in range(6)])
    plain = warmup_cosine_schedule(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0), steps=10, warmup_steps=0)
    assert isinstance(plain, torch.optim.lr_scheduler.CosineAnnealingLR)  # unchanged without warm-up


def test_stage_three_moves_the_pretrained_student_at_its_own_rate():
    model = small_crychic()
    settings = {"lr": 0.01, "weight_decay": 0.0, "optimizer": "adamw", "momentum": 0.9, "teacher_lr_scale": 0.1,
                "student_lr_scale": 0.3, "from_scratch": False}
    groups = _optimizer(model, "joint", settings).param_groups
    rate = {id(p): group["lr"] for group in groups for p in group["params"]}
    assert {round(rate[id(p)], 9) for p in model.student.parameters()} == {0.003}
    assert {round(rate[id(p)], 9) for p in model.teacher.parameters()} == {0.001}
    assert {rate[id(p)] for p in model.fusion_head.parameters()} == {0.01}
    assert len(rate) == len(list(model.parameters()))
    scratch = _optimizer(model, "joint", {**settings, "from_scratch": True}).param_groups
    assert {group["lr"] for group in scratch} == {0.01}


class Ticker(nn.Module):
    """A 'model' whose two validation heads peak at different epochs."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))


def test_fit_keeps_a_second_head_by_its_own_score_and_the_checkpoint_holds_it(tmp_path):
    model = Ticker()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    fused = iter([0.5, 0.9, 0.7, 0.9])  # best: epoch 3 (the later tie)
    student = iter([0.6, 0.8, 0.4, 0.3])  # best: epoch 1

    class Loader(list):
        dataset = type("D", (), {"set_epoch": lambda self, epoch: None})()

    def validate():
        return {"fused": {"top1": next(fused), "top5": 1.0, "mean_class_accuracy": 0.0},
                "student_posefree": {"top1": next(student), "top5": 1.0, "mean_class_accuracy": 0.0}}

    fitted = fit(model, train_loader=Loader([0]), optimizer=optimizer, scheduler=scheduler, epochs=4,
                 loss_on_batch=lambda batch: ((model.w - 10).square().sum(), {}), validate=validate, name="t",
                 is_main=False, also_keep=("student_posefree",))
    assert fitted.best_epoch == 3 and fitted.also_kept["student_posefree"]["epoch"] == 1
    kept_state = fitted.also_kept["student_posefree"]["state"]
    assert float(kept_state["w"]) != float(model.w)  # another epoch's weights

    joint = small_crychic()
    other = {k: v + 1 if v.is_floating_point() else v for k, v in joint.state_dict().items()}
    save_checkpoint(tmp_path / "joint.pt", joint, stage="joint", label_names=list("abcde"),
                    head_states={"student_posefree": other})
    fresh = small_crychic()
    load_checkpoint(tmp_path / "joint.pt", fresh, head="student_posefree")
    torch.testing.assert_close(fresh.student.fc.weight, other["student.fc.weight"])
    load_checkpoint(tmp_path / "joint.pt", fresh)
    torch.testing.assert_close(fresh.student.fc.weight, joint.student.fc.weight)


def test_the_deployment_framing_switches_every_rgb_network_to_the_framed_clips_but_never_the_teacher():
    from crychic.training.stage import build_parser, input_paths, rgb_dir

    for stage in ("student", "joint", "text", "rgb_only"):
        args = build_parser(stage).parse_args([])
        assert rgb_dir(stage, {"research": {"deployment_framing": False}}, args) == "data/rgb"
        assert rgb_dir(stage, {"research": {"deployment_framing": True}}, args) == "data/rgb_framed"
        assert {"data/rgb", "data/rgb_framed"} <= set(input_paths(stage, args))  # both are dvc.yaml deps
        box = input_paths(stage, args, {"research": {"deployment_framing": False}})
        framed = input_paths(stage, args, {"research": {"deployment_framing": True}})
        assert "data/rgb" in box and "data/rgb_framed" not in box  # what the run reads, logged to MLflow
        assert "data/rgb_framed" in framed and "data/rgb" not in framed
    teacher = build_parser("teacher").parse_args([])
    assert rgb_dir("teacher", {"research": {"deployment_framing": True}}, teacher) == "data/rgb"


def test_one_optimizer_function_serves_the_stages_and_the_baselines():
    from crychic.training.loop import make_optimizer

    weights = [nn.Parameter(torch.zeros(3))]
    sgd = make_optimizer(weights, {"optimizer": "sgd", "lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9})
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9 and sgd.defaults["lr"] == 0.1
    adamw = make_optimizer(weights, {"optimizer": "adamw", "lr": 0.003, "weight_decay": 1e-4, "momentum": 0.9})
    assert type(adamw) is torch.optim.AdamW and adamw.defaults["weight_decay"] == 1e-4
