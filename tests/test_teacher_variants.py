"""The teacher-variant choice rule (pipeline.teacher_variants): pre-registered, val only."""

from pipeline.teacher_variants import HEATMAP_KINDS, TEACHERS, choose, object_ratio, variant_name


def test_the_choice_prefers_wrist_focus_among_teachers_near_the_best_top1():
    results = {"joint-tiny": {"val_top1": 0.70, "object_wrist_ratio": 1.1},
               "limb-tiny": {"val_top1": 0.66, "object_wrist_ratio": 1.8},   # within 5 points: eligible
               "joint-small": {"val_top1": 0.60, "object_wrist_ratio": 3.0}}  # 10 points below: not eligible
    assert choose(results, ["a"]) == "limb-tiny"
    results["limb-tiny"]["val_top1"] = 0.64  # now 6 points below the best
    assert choose(results, ["a"]) == "joint-tiny"


def test_ties_keep_the_default_and_every_variant_is_named():
    results = {"joint-tiny": {"val_top1": 0.7, "object_wrist_ratio": 1.5},
               "limb-tiny": {"val_top1": 0.7, "object_wrist_ratio": 1.5}}
    assert choose(results, []) == "joint-tiny"
    names = [variant_name(k, t) for k in HEATMAP_KINDS for t in TEACHERS]
    assert names[0] == "joint-tiny" and len(set(names)) == 6 and "joint_limb-small" in names


def test_object_ratio_averages_stages_and_object_groups_only():
    focus = {"stages": {"stage1": {"all": {"ratio": 9}, "a": {"ratio": 1.0}, "b": {"ratio": 2.0}, "m": {"ratio": 9}},
                        "stage2": {"a": {"ratio": 3.0}, "b": {"ratio": 2.0}}}}
    assert object_ratio(focus, ["a", "b"]) == 2.0
