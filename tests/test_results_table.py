"""The README's results tables are rendered from metrics files, between markers."""

import pytest

from pipeline.ablations import experiment_name, overrides, summarise
from pipeline.results_table import ablations_markdown, replace_between, results_markdown
from stages.evaluate import MODEL_DESCRIPTIONS


def _evaluate_metrics():
    models = {name: {"top1": 0.5 + i / 100, "mean_class_accuracy": 0.4, "group_top1": {"motion": 0.9}}
              for i, name in enumerate(MODEL_DESCRIPTIONS)}
    cost = {"parameters": 1_500_000, "gflops_per_clip": 0.86, "throughput_batch": 32, "throughput_clips_per_s": 40.0}
    return {
        "split": "test", "samples": 72, "chance_top1": 1 / 12, "chance_group_top1": {"motion": 1 / 6},
        "models": models, "efficiency": {**{name: cost for name in MODEL_DESCRIPTIONS}, "device": "cpu"},
        "alignment": {"matched_cosine": 0.8, "mismatched_cosine": 0.1, "gap": 0.7, "r1_teacher_to_student": 0.3,
                      "r1_student_to_teacher": 0.25},
        "end_to_end": {"pose_free": {"clips": 6, "clips_per_second": 30.0, "seconds_per_clip": {"decode": 0.01}},
                       "full": {"clips": 6, "clips_per_second": 1.5, "seconds_per_clip": {"pose": 0.6, "decode": 0.01}},
                       "speedup": 20.0},
    }


def test_results_table_has_a_row_per_model_with_its_numbers():
    table = results_markdown(_evaluate_metrics())
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(MODEL_DESCRIPTIONS)
    fused = next(row for row in rows if row.startswith("| `crychic_fused`"))
    assert "| 56.0 |" in fused and "0.700" in fused and "1.50 M" in fused  # top-1, gap, params
    teacher = next(row for row in rows if row.startswith("| `teacher`"))
    assert "0.700" not in teacher  # the alignment gap belongs to the joint model only
    assert "30.00 clips/s" in table and "1.50 clips/s" in table and "20.0x" in table


def test_replace_between_markers_keeps_the_rest():
    text = "intro\n<!-- results:start -->\nold\n<!-- results:end -->\noutro\n"
    assert replace_between(text, "results", "new") == "intro\n<!-- results:start -->\nnew\n<!-- results:end -->\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        replace_between("no markers", "results", "new")


def test_ablation_summary_reports_mean_and_spread_over_seeds():
    runs = {"full": {0: {"models": {"crychic_fused": {"top1": 0.8}}, "alignment": {"gap": 0.5}},
                     1: {"models": {"crychic_fused": {"top1": 0.6}}, "alignment": {"gap": 0.3}}}}
    table = summarise(runs)
    assert table["full"]["seeds"] == [0, 1]
    assert table["full"]["fused_top1"]["mean"] == pytest.approx(0.7)
    assert table["full"]["fused_top1"]["std"] == pytest.approx(0.1414, abs=1e-4)
    runs = [{"experiments": 10, "minutes": 40.5}, {"experiments": 5, "minutes": 12.5}]
    markdown = ablations_markdown({"variants": table, "runs": runs})
    assert "| `full` | 2 | 70.0 ± 14.1 |" in markdown
    assert "10 experiments in 40.5 min, then 5 experiments in 12.5 min" in markdown


def test_ablation_variants_switch_off_what_they_name():
    params = {"train": {"teacher": {"epochs": 20}, "student": {"epochs": 20}, "joint": {"epochs": 8}}}
    assert overrides("full", 1, params) == ["seed=1", "evaluate.end_to_end_clips=0"]
    assert "loss.contrastive_weight=0.0" in overrides("no_contrastive", 0, params)
    assert "model.multiscale_temporal=false" in overrides("no_multiscale", 0, params)
    assert "train.joint.epochs=28" in overrides("single_stage", 0, params)
    assert experiment_name("no_attention_transfer", 2) == "abl-no-attention-transfer-s2"
