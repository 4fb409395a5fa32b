"""Evaluation helpers: group accuracy, late fusion, joining by sample id, the model report."""

import math

import pytest
import torch

from crychic.evaluation.scoring import align_by_sample_id, group_accuracy, late_fusion, model_report


def test_group_accuracy_only_compares_classes_inside_the_group():
    # Two groups: {0, 1} and {2, 3}. The model's top class is always 3 (wrong for group A),
    # but inside group A it prefers the right class, so within-group accuracy is perfect.
    logits = torch.tensor([[2.0, 1.0, 0.0, 9.0], [1.0, 2.0, 0.0, 9.0], [0.0, 0.0, 1.0, 9.0], [0.0, 0.0, 1.0, 9.0]])
    labels = torch.tensor([0, 1, 2, 3])
    accuracy = group_accuracy(logits, labels, {"a": [0, 1], "b": [2, 3]})
    assert accuracy == {"a": 1.0, "b": 0.5}


def test_group_accuracy_skips_groups_without_samples():
    assert group_accuracy(torch.zeros(2, 4), torch.tensor([0, 1]), {"a": [0, 1], "b": [2, 3]}).keys() == {"a"}


def test_late_fusion_averages_probabilities():
    a = torch.tensor([[10.0, 0.0, 0.0]])  # sure of class 0
    b = torch.tensor([[0.0, 0.0, 1.0]])  # mildly prefers class 2
    fused = late_fusion(a, b)
    expected = (torch.softmax(a, 1) + torch.softmax(b, 1)) / 2
    assert torch.allclose(fused.exp(), expected, atol=1e-6)
    assert int(fused.argmax()) == 0
    with pytest.raises(ValueError):
        late_fusion(a)


def test_align_by_sample_id_reorders_and_refuses_missing_samples():
    other = {"sample_ids": ["b", "a"], "logits": torch.tensor([[0.0, 1.0], [1.0, 0.0]])}
    assert torch.equal(align_by_sample_id(["a", "b"], other), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="no prediction"):
        align_by_sample_id(["a", "c"], other)


def test_model_report_names_classes_and_marks_absent_ones():
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    report = model_report(logits, labels, ["x", "y", "z"], {"g": [0, 1]})
    assert math.isclose(report["top1"], 2 / 3, abs_tol=1e-4)
    assert report["per_class"] == {"x": 1.0, "y": 0.5, "z": None}
    assert math.isclose(report["mean_class_accuracy"], 0.75, abs_tol=1e-4)
    assert report["group_top1"] == {"g": round(2 / 3, 4)}


def test_late_fusion_weights_move_the_decision():
    teacher = torch.tensor([[2.0, 0.0]])  # prefers class 0
    rgb = torch.tensor([[0.0, 3.0]])  # prefers class 1 more strongly
    assert int(late_fusion(teacher, rgb).argmax()) == 1
    assert int(late_fusion(teacher, rgb, weights=[0.9, 0.1]).argmax()) == 0
    with pytest.raises(ValueError, match="weights"):
        late_fusion(teacher, rgb, weights=[1.0])


def test_fusion_rules_are_the_documented_averages():
    from crychic.evaluation.scoring import FUSION_RULES, fuse

    head, teacher, student = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 2.0]])
    assert torch.equal(fuse("head", head, teacher, student), head)
    assert torch.allclose(fuse("mean_all", head, teacher, student).exp(),
                          (head.softmax(1) + teacher.softmax(1) + student.softmax(1)) / 3)
    assert torch.allclose(fuse("mean_branches", head, teacher, student).exp(), (teacher.softmax(1) + student.softmax(1)) / 2)
    assert FUSION_RULES[0] == "mean_all"  # the training target is the pre-registered default
    with pytest.raises(ValueError, match="fusion rule"):
        fuse("max", head, teacher, student)


def test_choose_on_val_takes_the_best_and_keeps_the_default_on_ties():
    from crychic.evaluation.scoring import choose_on_val

    labels = torch.tensor([0, 1, 1])
    right_twice = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    right_once = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    chosen, scores = choose_on_val({"default": right_once, "other": right_twice}, labels)
    assert chosen == "other" and scores == {"default": round(1 / 3, 4), "other": round(2 / 3, 4)}
    assert choose_on_val({"default": right_twice, "same": right_twice.clone()}, labels)[0] == "default"
    with pytest.raises(ValueError):
        choose_on_val({}, labels)
