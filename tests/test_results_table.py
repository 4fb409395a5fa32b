"""The results blocks are rendered from metrics files, between markers, each into the file that holds it
(the README's headline table, everything else into docs/REPORT.md); the ablation summary carries
intervals over data draws and the claims per draw."""

import json
import time
import numpy as np
import pytest

from pipeline.ablations import (CARRIED_PREFIX, QUEUE_PREFIX, claims_over_draws, clips_digest, research_profile,
                                experiment_name, framed_fused_against_box_late, overrides, parse_experiment_name,
                                summarise, variants_against_full)
from pipeline.results_table import protocol_markdown, replace_between, results_markdown
from pipeline.sweep_report import ablations_markdown
from crychic.evaluation.methods import METHODS as MODEL_DESCRIPTIONS


def _evaluate_metrics():
    models = {name: {"top1": 0.5 + i / 100, "top1_ci95": [0.4, 0.6 + i / 100], "mean_class_accuracy": 0.4,
                     "group_top1": {"motion": 0.9}} for i, name in enumerate(MODEL_DESCRIPTIONS)}
    cost = {"parameters": 1_500_000, "gflops_per_clip": 0.86}
    return {
        "split": "test", "samples": 240, "chance_top1": 1 / 12, "chance_group_top1": {"motion": 1 / 6},
        "models": models, "cost": {name: cost for name in MODEL_DESCRIPTIONS if name != "colour_cue"},
        "alignment": {"cka": 0.61, "cka_projection": 0.7, "projections_trained": True, "r1_chance": 1 / 240,
                      "matched_cosine": 0.8, "mismatched_cosine": 0.1, "gap": 0.7, "r1_teacher_to_student": 0.3,
                      "r1_student_to_teacher": 0.25},
        "comparisons": {"crychic_fused - teacher": {"difference": 0.125, "ci95": [0.05, 0.2], "a_only": 40, "b_only": 10}},
        "end_to_end": {"clips": 24, "framing": "full", "posefree": {"top1": 0.5, "top1_ci95": [0.3, 0.7]},
                       "full": {"top1": 0.75, "top1_ci95": [0.5, 0.9]}},
        "protocol": {"split": "val", "samples": 120,
                     "crychic_fused": {"candidates_val_top1": {"mean_all/student": 0.8, "head/student": 0.7},
                                       "chosen": "mean_all/student", "question": "fusion rule"},
                     "checkpoints": {"teacher": {"kept_epoch": 18, "of_epochs": 20, "val_top1": 0.6}}},
    }


def _timing():
    speed = {"throughput_batch": 32, "throughput_clips_per_s": 40.0}
    return {"efficiency": {name: speed for name in MODEL_DESCRIPTIONS if name != "colour_cue"},
            "end_to_end": {"speedup": 20.0, "posefree": {"clips_per_second": 30.0, "seconds_per_clip": {"decode": 0.01}},
                           "full": {"clips_per_second": 1.5, "seconds_per_clip": {"pose": 0.6, "decode": 0.01}}}}


def test_results_table_has_a_row_per_model_with_its_numbers_and_interval():
    table = results_markdown(_evaluate_metrics(), _timing())
    rows = [line for line in table.splitlines() if line.startswith("| `") and ":" in line.split("|")[1]]
    assert len(rows) == len(MODEL_DESCRIPTIONS)
    fused = next(row for row in rows if row.startswith("| `crychic_fused`"))
    top1 = 0.5 + list(MODEL_DESCRIPTIONS).index("crychic_fused") / 100
    assert f"| {100 * top1:.1f} | [40.0, {100 * (top1 + 0.1):.1f}] |" in fused and "1.50 M" in fused
    cue = next(row for row in rows if row.startswith("| `colour_cue`"))
    assert cue.endswith("| – | – | – |")  # not a network: no cost figures
    assert "30.00 clips/s" in table and "1.50 clips/s" in table and "20.0x" in table
    assert "top-1 50.0 % [30.0, 70.0]" in table and "CKA" in table and "0.610" in table
    assert "| `crychic_fused - teacher` | +12.5 | [+5.0, +20.0] | 40 | 10 |" in table


def test_protocol_lists_each_choice_with_its_val_figures():
    markdown = protocol_markdown(_evaluate_metrics())
    assert "| `crychic_fused`: fusion rule | mean_all/student 80.0, head/student 70.0 | `mean_all/student` |" in markdown
    assert "`teacher` 18 of 20 (val 60.0)" in markdown and "val split (120 clips)" in markdown


def test_replace_between_markers_keeps_the_rest():
    text = "intro\n<!-- results:start -->\nold\n<!-- results:end -->\noutro\n"
    assert replace_between(text, "results", "new") == "intro\n<!-- results:start -->\nnew\n<!-- results:end -->\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        replace_between("no markers", "results", "new")


def _draw(fused_correct: int, teacher_correct: int, clips: int = 100, cka: float = 0.5) -> dict:
    fused = np.arange(clips) < fused_correct
    teacher = np.arange(clips) < teacher_correct
    return {"metrics": {"alignment": {"cka": cka}},
            "correct": {"crychic_fused": fused, "teacher": teacher}}


def test_ablation_summary_reports_mean_spread_and_interval_over_draws():
    results = {"full": {0: _draw(80, 60, cka=0.6), 1: _draw(60, 50, cka=0.4)}}
    table = summarise(results, resamples=500)
    row = table["full"]
    assert row["draws"] == [0, 1]
    assert row["fused"]["mean"] == pytest.approx(0.7)
    assert row["fused"]["std"] == pytest.approx(0.1414, abs=1e-4)
    low, high = row["fused"]["ci95"]
    assert low < 0.7 < high and low >= 0.5 and high <= 0.9
    assert row["cka"]["mean"] == pytest.approx(0.5)
    runs = [{"experiments": 10, "minutes": 40.5}, {"experiments": 5, "minutes": 12.5}]
    markdown = ablations_markdown({"variants": table, "runs": runs,
                                   "claims": claims_over_draws(results["full"], [("crychic_fused", "teacher")],
                                                               resamples=500)})
    assert f"| `full` | 2 | 70.0 ± 14.1 [{100 * low:.1f}, {100 * high:.1f}] |" in markdown
    assert "10 experiments in 40.5 min, then 5 experiments in 12.5 min" in markdown
    assert "| `crychic_fused - teacher` | +20.0, +10.0 | 2 of 2 | +15.0 |" in markdown


def test_claims_carry_a_t_interval_over_draws_and_per_group_differences():
    from crychic.sources.synthetic.classes import CLASSES

    motion = next(c.name for c in CLASSES if c.group == "motion")
    objects = next(c.name for c in CLASSES if c.group != "motion")
    actual = [motion] * 5 + [objects] * 5
    by_draw = {}
    for draw, (a_motion, a_object) in enumerate([(5, 2), (5, 3), (4, 2)]):
        a = np.array([i < a_motion for i in range(5)] + [i < a_object for i in range(5)])
        b = np.array([i < 3 for i in range(5)] + [i < 4 for i in range(5)])
        by_draw[draw] = {"correct": {"crychic_fused": a, "teacher": b}, "actual": actual}
    claim = claims_over_draws(by_draw, [("crychic_fused", "teacher")], resamples=200)["crychic_fused - teacher"]
    assert claim["per_draw"] == [0.0, 0.1, -0.1]
    low, high = claim["t_ci95"]
    assert low < 0 < high and high - low == pytest.approx(2 * 4.3027 * 0.1 / np.sqrt(3), abs=1e-3)
    group = next(g for g in claim["groups"] if g != "motion")
    assert claim["groups"]["motion"]["per_draw"] == [0.4, 0.4, 0.2]
    assert claim["groups"][group]["per_draw"] == [-0.4, -0.2, -0.4]
    assert claim["groups"]["motion"]["t_ci95"][0] > 0 > claim["groups"][group]["t_ci95"][1]


def test_the_design_rule_needs_three_draws_and_a_margin_over_the_current_method():
    from pipeline.designs import choose

    def val(fused, late, posefree, rgb):
        return {"crychic_fused": {"top1": fused}, "late_fusion": {"top1": late},
                "crychic_posefree": {"top1": posefree}, "rgb_only": {"top1": rgb}}

    two = {"full": {0: val(0.8, 0.9, 0.6, 0.7), 1: val(0.8, 0.9, 0.6, 0.7)},
           "design_residual": {0: val(0.95, 0.9, 0.8, 0.7), 1: val(0.95, 0.9, 0.8, 0.7)}}
    assert choose(two)["chosen"] is None and "undecided" in choose(two)["status"]
    three = {name: {**by_draw, 2: by_draw[0]} for name, by_draw in two.items()}
    decided = choose(three)
    assert decided["chosen"] == "design_residual" and decided["mean_score"]["full"] == pytest.approx(-0.1)
    close = {**three, "design_residual": {d: val(0.805, 0.9, 0.61, 0.7) for d in range(3)}}
    assert choose(close)["chosen"] == "full"  # within the one-point margin: the current method stays


def test_claims_count_the_draws_that_agree():
    by_draw = {0: _draw(70, 60), 1: _draw(55, 60), 2: _draw(80, 60)}
    claim = claims_over_draws(by_draw, [("crychic_fused", "teacher")], resamples=500)["crychic_fused - teacher"]
    assert claim["per_draw"] == [0.1, -0.05, 0.2]
    assert claim["draws_a_better"] == 2 and claim["draws"] == 3
    assert claim["ci95"][0] < claim["mean"] < claim["ci95"][1]


def test_a_variant_is_paired_with_full_on_the_draws_both_have():
    # draw 2 has no `full`: it cannot be paired, so it is left out rather than compared unpaired
    results = {"full": {0: _draw(70, 60), 1: _draw(80, 60)},
               "no_multiscale": {0: _draw(60, 62), 1: _draw(85, 60), 2: _draw(10, 10)}}
    against = variants_against_full(results, columns=("fused", "teacher"), resamples=500)
    assert set(against) == {"no_multiscale"}
    fused = against["no_multiscale"]["fused"]
    assert fused["per_draw"] == [-0.1, 0.05] and fused["draws"] == 2 and fused["draws_variant_better"] == 1
    assert fused["mean"] == pytest.approx(-0.025)
    assert fused["ci95"][0] < -0.025 < fused["ci95"][1]
    assert against["no_multiscale"]["teacher"]["per_draw"] == [0.02, 0.0]
    markdown = ablations_markdown({"variants": summarise(results, resamples=200), "against_full": against})
    assert "| `no_multiscale` | -2.5 [" in markdown and "(1 of 2 higher)" in markdown
    # a variant scored on other test clips than full's of the same draw is refused, not paired
    results["full"][0]["actual"], results["no_multiscale"][0]["actual"] = [0] * 100, [1] + [0] * 99
    with pytest.raises(ValueError, match="no_multiscale and full on draw 0 scored different test clips"):
        variants_against_full(results, columns=("fused",), resamples=50)
    # where both records keep the digest of their sample ids, it decides, exactly: the same classes on other
    # clips are refused, other true-class arrays on the same clips would be a bug upstream, not a refusal here
    results["no_multiscale"][0]["actual"] = [0] * 100
    results["full"][0]["clips_digest"] = clips_digest([f"S{k:03d}" for k in range(100)])
    results["no_multiscale"][0]["clips_digest"] = clips_digest([f"S{k:03d}" for k in range(1, 101)])
    with pytest.raises(ValueError, match=r"draw 0 scored different test clips.*\(sample ids [0-9a-f]{16} against"):
        variants_against_full(results, columns=("fused",), resamples=50)
    results["no_multiscale"][0]["clips_digest"] = clips_digest([f"S{k:03d}" for k in reversed(range(100))])
    variants_against_full(results, columns=("fused",), resamples=50)  # the same clips in another order pair


def test_the_framed_fused_model_is_paired_with_the_box_crop_late_fusion_of_the_same_draw():
    """The method's framed arm against `full`'s late fusion: the same test videos, draws both have, paired per clip."""
    def draw(correct: dict[str, int]) -> dict:
        return {"correct": {model: np.arange(100) < n for model, n in correct.items()}}

    results = {"full": {0: draw({"late_fusion": 80, "crychic_fused": 90}), 1: draw({"late_fusion": 70})},
               "framed_keypoints": {0: draw({"crychic_fused": 75, "late_fusion": 10}), 1: draw({"crychic_fused": 72}),
                                    2: draw({"crychic_fused": 99})}}
    against = framed_fused_against_box_late(results, resamples=200)
    assert against["arm"] == "framed_keypoints" and against["draw_ids"] == [0, 1]  # draw 2 has no `full`
    assert against["per_draw"] == [-0.05, 0.02] and against["draws_a_better"] == 1
    assert framed_fused_against_box_late({"full": results["full"]}) is None
    labelled = {"full": {0: {**results["full"][0], "actual": [1] * 100}},
                "framed_keypoints": {0: {**results["framed_keypoints"][0], "actual": [1] * 100}}}
    assert framed_fused_against_box_late(labelled, resamples=200)["draw_ids"] == [0]
    labelled["framed_keypoints"][0]["actual"] = [2] + [1] * 99
    with pytest.raises(ValueError, match="framed_keypoints and full on draw 0 scored different test clips"):
        framed_fused_against_box_late(labelled)


def test_ablation_variants_switch_off_what_they_name_and_draw_new_data():
    from pipeline.epoch_rule import rule_epochs

    params = {"train": {"teacher": {"epochs": 20}, "student": {"epochs": 20}, "joint": {"epochs": 8}}}
    assert overrides("full", 1, params) == ["data.seed=1", "seed=1", *research_profile()]
    assert "evaluate.end_to_end_clips=0" in research_profile() and "data.synthetic.test_subjects=30" in research_profile()
    assert "model.guidance_source=teacher" in overrides("design_teacher_attention", 0, params)
    assert "data.synthetic.test_subjects=30" not in overrides("full", 0, params, "default")
    assert experiment_name("full", 0, "default") == f"{QUEUE_PREFIX}-default-full-d0"
    assert "loss.contrastive_weight=0.0" in overrides("no_contrastive", 0, params)
    assert "model.multiscale=false" in overrides("no_multiscale", 0, params)
    # single_stage gets the student's stage-2 + stage-3 epochs of its profile, and its value is the only one:
    # the research profile's (the epoch rule's, 38 + 11), the default profile's (params.yaml's, 20 + 8)
    rule = rule_epochs()
    single = [item for item in overrides("single_stage", 0, params) if item.startswith("train.joint.epochs=")]
    assert single == [f"train.joint.epochs={rule['train.student.epochs'] + rule['train.joint.epochs']}"]
    assert "train.joint.epochs=28" in overrides("single_stage", 0, params, "default")
    # every trained network at the rule's epochs in the research profile, the keypoint baselines at one
    assert f"train.teacher.epochs={rule['train.teacher.epochs']}" in research_profile()
    assert "gcn.epochs=1" in research_profile() and f"gcn.epochs={rule['gcn.epochs']}" not in research_profile()
    # A second training seed on the same data draw: the data seed stays, the training seed alone moves.
    assert overrides("full_seed2", 2, params) == ["data.seed=2", "seed=1002", *research_profile()]
    assert experiment_name("no_attention_transfer", 2) == f"{QUEUE_PREFIX}-no-attention-transfer-d2" and QUEUE_PREFIX.startswith("abl")
    assert "i3d.model=i3d_r18_tiny_slow" in overrides("i3d_slow", 0, params)
    assert "train.student.warmup_epochs=0" in overrides("no_stage2_warmup", 0, params)


def test_dvc_applies_the_warm_up_controls_override_to_the_params_file(tmp_path):
    """`dvc exp run -S key=value` through DVC's own Hydra override code: the control turns the default warm-up off."""
    import yaml
    from dvc.utils.hydra import apply_overrides

    from conftest import PROJECT_ROOT

    path = tmp_path / "params.yaml"
    path.write_text((PROJECT_ROOT / "params.yaml").read_text())
    assert yaml.safe_load(path.read_text())["train"]["student"]["warmup_epochs"] == 3  # val's choice, the default
    apply_overrides(str(path), [o for o in overrides("no_stage2_warmup", 0, yaml.safe_load(path.read_text()))
                                if o.startswith("train.student")])
    assert yaml.safe_load(path.read_text())["train"]["student"]["warmup_epochs"] == 0


def test_sweep_runs_full_on_every_draw_first():
    from pipeline.ablations import sweep_order

    order = sweep_order(["full", "no_contrastive", "no_multiscale"], [0, 1, 2])
    assert order[:3] == [("full", 0), ("full", 1), ("full", 2)]
    assert order[3:5] == [("no_contrastive", 0), ("no_multiscale", 0)] and len(order) == 9


def test_a_recorded_experiment_reads_back_as_it_was(tmp_path):
    import json

    from pipeline.ablations import experiment_name, per_clip, record, recorded_experiments

    correct = {"crychic_fused": np.array([True, False, True]), "teacher": np.array([False, False, True])}
    entry = record("full", 1, {"alignment": {"cka": 0.42}, "models": {}}, correct, ["drink", "wave", "drink"],
                   "0123456789abcdef", machine={"cpu": "Intel(R) Xeon(R) Processor", "family": "6", "model": "167"})
    path = tmp_path / "ablations.json"
    name = experiment_name("full", 1)
    path.write_text(json.dumps({"experiments": {name: entry, "abl3-full-d1": entry}}))
    assert set(recorded_experiments(str(path))) == {name}  # an earlier revision's prefix is not resumed from
    back = recorded_experiments(str(path))[name]
    assert back["variant"] == "full" and back["draw"] == 1 and back["metrics"]["alignment"]["cka"] == 0.42
    assert all(np.array_equal(per_clip(back)[m], correct[m]) for m in correct)
    assert back["machine"]["model"] == "167"  # the processor that trained it
    assert back["actual"] == ["drink", "wave", "drink"] and back["clips_digest"] == "0123456789abcdef"  # which clips
    assert recorded_experiments(str(tmp_path / "absent.json")) == {}


def _sweep(t_ci95=None, groups=None) -> dict:
    claim = {"per_draw": [0.1, 0.14, 0.12], "draws_a_better": 3, "draws": 3, "mean": 0.12, "ci95": [0.08, 0.16]}
    if t_ci95 is not None:
        claim["t_ci95"] = t_ci95
    if groups is not None:
        claim["groups"] = groups
    full = {"draws": [0, 1, 2], "rgb_only": {"mean": 0.6, "values": [0.55, 0.6, 0.65]},
            "cka": {"mean": 0.3, "values": [0.25, 0.3, 0.35]}}
    return {"variants": {"full": full}, "claims": {"crychic_fused - teacher": claim},
            "experiments": {"abl9-full-d0": {"variant": "full", "draw": 0, "correct": {"teacher": "0110"}}}}


def test_findings_quote_the_metrics_files_with_the_verdict_read_from_the_interval():
    from pipeline.sweep_report import findings_markdown

    text = findings_markdown(_evaluate_metrics(), _sweep(t_ci95=[0.07, 0.17]))
    line = next(line for line in text.splitlines() if "`crychic_fused - teacher`" in line)
    assert "supported** (t interval over draws)" in line and "not supported" not in line
    assert "on this page's test split +12.5 [+5.0, +20.0] (40 clips only the first gets right, 10 only the second)" in line
    assert "over 3 draws +10.0, +14.0, +12.0 (3 of 3 with the first ahead), mean +12.0, t interval [+7.0, +17.0], " \
           "hierarchical [+8.0, +16.0]" in line
    assert "240 clips" in text and "4 test clips a draw" in text and "`rgb_only` 55.0, 60.0, 65.0" in text
    assert "10.0 points" in text  # the widest draw-to-draw range
    # the same claim whose draw-level interval reaches below zero is not supported, whatever its mean
    flipped = findings_markdown(_evaluate_metrics(), _sweep(t_ci95=[-0.02, 0.26]))
    assert "not supported** (t interval over draws)" in flipped and "t interval [-2.0, +26.0]" in flipped


def test_findings_fall_back_to_the_hierarchical_interval_and_show_groups():
    from pipeline.sweep_report import findings_markdown

    # the committed file of an earlier sweep has no t interval: the verdict reads the hierarchical one
    text = findings_markdown(_evaluate_metrics(), _sweep())
    assert "supported** (hierarchical bootstrap over draws, then clips)" in text and ", t interval" not in text
    # under two draws the t interval is [null, null]: said so, and the verdict again reads the hierarchical one
    text = findings_markdown(_evaluate_metrics(), _sweep(t_ci95=[None, None]))
    assert "t interval – (under two draws)" in text and "(hierarchical bootstrap over draws, then clips)" in text
    groups = {"motion": {"per_draw": [0.3, 0.2, 0.25], "mean": 0.25, "t_ci95": [0.13, 0.37]},
              "at_desk": {"per_draw": [-0.1, 0.0, 0.1], "mean": 0.0, "t_ci95": [None, None]}}
    text = findings_markdown(_evaluate_metrics(), _sweep(t_ci95=[0.07, 0.17], groups=groups))
    assert "per class group, mean over draws and t interval: motion +25.0 [+13.0, +37.0], at_desk +0.0 –" in text
    # no sweep at all: the test split's interval only, said so
    alone = findings_markdown(_evaluate_metrics())
    assert "(not in the sweep: one run of the demo, unconverged networks, the test split's bootstrap over clips)" in alone and "over 3 draws" not in alone


def test_verdicts_need_the_whole_interval_on_the_claimed_side():
    from pipeline.sweep_report import reading, verdict

    assert verdict([0.01, 0.2]) == "supported" and verdict([0.0, 0.2]) == "not supported"
    assert verdict([-0.3, -0.1]) == "not supported" and verdict([-0.3, -0.1], direction=-1) == "supported"
    assert verdict([None, None]) == "not supported" and verdict(None) == "not supported"
    assert reading([-0.3, -0.1], "`a`", "`b`") == "`b` ahead" and reading([-0.1, 0.1]) == "no difference shown"


def test_sweep_findings_say_which_figures_a_switch_moved():
    from pipeline.sweep_report import sweep_findings_markdown, sweep_scope_markdown

    def paired(per_draw, ci, t=None):
        entry = {"per_draw": per_draw, "draws_variant_better": sum(v > 0 for v in per_draw), "draws": len(per_draw),
                 "mean": sum(per_draw) / len(per_draw), "ci95": ci}
        return {**entry, "t_ci95": t} if t is not None else entry

    against = {"no_multiscale": {"fused": paired([0.05, 0.04], [0.03, 0.06], t=[0.02, 0.07]),
                                 "teacher": paired([-0.05, -0.04], [-0.06, -0.03], t=[-0.07, -0.02]),
                                 "posefree": paired([0.05, -0.01], [-0.02, 0.1], t=[-0.3, 0.34]),
                                 "rgb_only": paired([0.0, 0.0], [0.0, 0.0], t=[0.0, 0.0])}}
    variants = {"full": {"draws": [0, 1], "text": {"values": [0.6, 0.7]}, "posefree": {"values": [0.65, 0.68]}}}
    text = sweep_findings_markdown({"against_full": against, "variants": variants})
    assert "shown higher than `full`: `fused` +4.5 [+2.0, +7.0]" in text
    assert "shown lower: `teacher` -4.5 [-7.0, -2.0]" in text and "no difference shown: `posefree` +2.0 [-30.0, +34.0]" in text
    assert "DVC reused them, or they trained again to the same predictions): `rgb_only`" in text and "`full` -5.0, +2.0" in text
    one = sweep_findings_markdown({"against_full": {"no_contrastive": {"fused": paired([-0.05], [-0.08, -0.02])}}})
    assert "one draw, not read (a verdict needs two or more): `fused` -5.0" in one and "shown" not in one
    scope = sweep_scope_markdown({"variants": variants, "experiments": {"abl9-full-d0": {"variant": "full", "correct": {"a": "01"}},
                                                                         "abl9-full-d1": {"variant": "full", "correct": {"a": "11"}}}})
    assert "`abl9-*`" in scope and "`full` over draws 0, 1" in scope and "2 test clips a draw" in scope


def test_a_variant_whose_untouched_networks_moved_says_which_draws_compare_like_with_like():
    from pipeline.sweep_report import processor_drift, sweep_findings_markdown

    epyc = {"cpu": "AMD EPYC", "family": "25", "model": "1"}
    xeon = {"cpu": "Intel Xeon", "family": "6", "model": "106"}

    def entry(variant, draw, machine, teacher, fused):
        return {"variant": variant, "draw": draw, "machine": machine, "correct": {"teacher": teacher, "fused": fused}}

    experiments = {"abl-full-d0": entry("full", 0, epyc, "1100", "1110"), "abl-full-d3": entry("full", 3, epyc, "1010", "1111"),
                   "abl-ss-d0": entry("single_stage", 0, epyc, "1100", "1000"),
                   "abl-ss-d3": entry("single_stage", 3, xeon, "0110", "1011")}
    text = processor_drift({"experiments": experiments}, "single_stage")
    assert "(`teacher`: clip for clip `full`'s on draw 0)" in text
    assert "draw 3, `teacher` 2 of 4 test clips (the variant trained on Intel Xeon (family 6, model 106), " \
           "`full` on AMD EPYC (family 25, model 1))" in text and "draw 0 compares like with like" in text
    # The same machine and the same teacher on every draw: nothing to say.
    experiments["abl-ss-d3"] = entry("single_stage", 3, epyc, "1010", "1011")
    assert processor_drift({"experiments": experiments}, "single_stage") == ""
    experiments["abl-ss-d3"] = entry("single_stage", 3, xeon, "0110", "1011")
    # A variant that retrains every network (no draw where one matches `full`'s) cannot be read this way.
    retrained = {**experiments, "abl-ss-d0": entry("single_stage", 0, epyc, "0000", "1000")}
    assert processor_drift({"experiments": retrained}, "single_stage") == ""
    paired = {"per_draw": [-0.25, 0.0], "draws_variant_better": 0, "draws": 2, "mean": -0.125, "ci95": [-0.3, 0.1],
              "t_ci95": [-0.5, 0.3]}
    findings = sweep_findings_markdown({"against_full": {"single_stage": {"fused": paired}}, "experiments": experiments})
    assert "**`single_stage` - `full`**" in findings and "draw 0 compares like with like" in findings


def test_teacher_focus_and_stage_times_quote_their_files():
    from pipeline.results_table import stage_times_markdown, teacher_focus_markdown

    def stages(objects, motion):
        return {f"stage{i + 1}": {"hand_to_mouth": {"ratio": o}, "at_desk": {"ratio": o}, "motion": {"ratio": m}}
                for i, (o, m) in enumerate(zip(objects, motion))}

    variants = {"epochs": 20, "chosen": "limb", "variants": {
        "joint": {"heatmap": "joint", "teacher": "posec3d_tiny", "val_top1": 0.6, "object_wrist_ratio": 1.5,
                  "wrist_focus": {"stages": stages([1.5, 1.2], [2.0, 1.9])}},
        "limb": {"heatmap": "limb", "teacher": "posec3d_tiny", "val_top1": 0.65, "object_wrist_ratio": 3.25,
                 "wrist_focus": {"stages": stages([4.5, 2.0], [3.0, 2.5])}}}}
    evaluate = {**_evaluate_metrics(), "teacher_wrist_focus": {"split": "test", "stages": stages([5.0, 1.0], [3.0, 2.0])}}
    text = teacher_focus_markdown(variants, evaluate)
    assert "1.20 to 4.50 times" in text and "`joint` none; `limb` 1" in text
    assert "val chose `limb` (limb heatmaps, `posec3d_tiny`): val top-1 65.0 %, object-group ratio 3.25, against 1.50 (`joint`)" in text
    assert "kept epoch 18 of 20, val top-1 60.0 %" in text and "motion 3.00/2.00" in text and "hand_to_mouth 1;" in text
    times = stage_times_markdown({"train_teacher": {"seconds": 100.0, "mlflow_run_id": "x"}, "ingest": {"samples": 3},
                                  "decode_rgb": {"seconds": 21.07}})
    assert times.startswith("`train_teacher` 100.0 s, `decode_rgb` 21.1: 2 min 1 s together.\n\nNo `make demo` wall time")


def test_make_demo_s_wall_time_is_recorded_with_its_machine_and_read_against_the_budget(tmp_path, monkeypatch):
    import os

    from pipeline.demo_time import BUDGET_SECONDS, main as record_demo
    from pipeline.results_table import stage_times_markdown

    started = time.time() - 1000.4
    (tmp_path / "metrics/timing").mkdir(parents=True)
    for stage in ("train_teacher", "evaluate"):
        (tmp_path / f"metrics/timing/{stage}.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    demo = record_demo(["--started", str(started)])
    assert json.loads((tmp_path / "metrics/demo_time.json").read_text()) == demo
    assert 1000 <= demo["seconds"] < 1100 and demo["within_budget"] and demo["budget_seconds"] == BUDGET_SECONDS
    assert demo["complete"] and demo["timed_stages_run"] == demo["timed_stages"] == 2
    assert demo["machine"]["cores"] >= 1 and demo["commit"] is None and demo["code_changed"] is None  # not a git repo
    text = stage_times_markdown({"evaluate": {"seconds": 10.0}}, demo)
    assert f"16 min {demo['seconds'] - 960:.0f} s on a {demo['machine']['cores']}-core" in text
    assert "(code changes unknown): **within the 20-minute budget**" in text
    over = stage_times_markdown({"evaluate": {"seconds": 10.0}}, {**demo, "seconds": 1300.0, "within_budget": False})
    assert "21 min 40 s" in over and "**over the 20-minute budget**" in over and "the install took" not in over
    # with the moment the install ended: the install and the `dvc repro` apart, each read against the budget
    split = record_demo(["--started", str(started), "--repro-started", str(started + 200.0)])
    assert split["install_seconds"] == 200.0 and split["repro_seconds"] == pytest.approx(split["seconds"] - 200.0, abs=0.2)
    assert split["repro_within_budget"]
    text = stage_times_markdown({}, {**split, "seconds": 1400.0, "within_budget": False, "install_seconds": 300.0,
                                     "repro_seconds": 1100.0})
    assert ("**over the 20-minute budget**. Of it, the install took 5 min 0 s and the `dvc repro` 18 min 20 s: "
            "**within the budget** on its own.") in text
    # a `dvc repro` that found a stage up to date is no timing of the pipeline; a forced one in the same clone is
    os.utime(tmp_path / "metrics/timing/evaluate.json", (started - 60, started - 60))
    record_demo(["--started", str(started), "--repro-started", str(started + 200.0)])
    forced_started = time.time() - 1300.0
    os.utime(tmp_path / "metrics/timing/evaluate.json")  # both timed stages ran in the forced run
    os.utime(tmp_path / "metrics/timing/train_teacher.json")
    both = record_demo(["--forced-started", str(forced_started)])
    assert not both["complete"] and both["forced_repro"]["complete"] and not both["forced_repro"]["within_budget"]
    assert json.loads((tmp_path / "metrics/demo_time.json").read_text()) == both
    text = stage_times_markdown({}, both)
    assert "a partial run (1 of 2 timed stages ran), not the budget's figure" in text
    assert "the `dvc repro`, with 1 timed stage(s) found up to date, " in text
    assert "A forced `dvc repro -f evaluate` of the same clone right after, every stage run: 21 min 4" in text
    assert "**over the budget** on its own" in text
    # a stage that was up to date wrote no timing file this run: not a timing of the demo
    os.utime(tmp_path / "metrics/timing/evaluate.json", (started - 60, started - 60))
    partial = record_demo(["--started", str(started)])
    assert not partial["complete"] and partial["timed_stages_run"] == 1
    assert "a partial run (1 of 2 timed stages ran), not the budget's figure" in stage_times_markdown({}, partial)


def test_a_budget_trial_is_read_from_its_clone_and_rendered_beside_the_demo(tmp_path):
    from pipeline.demo_time import TRIAL_NETWORKS, main as record_demo
    from pipeline.results_table import stage_times_markdown

    clone = tmp_path / "clone"
    (clone / "metrics/timing").mkdir(parents=True)
    machine = {"cpu": "AMD EPYC", "cpu_id": {"family": "25", "model": "1"}, "cores": 2}
    demo = {"seconds": 1204.7, "within_budget": False, "complete": True, "commit": "93c0abc" + "0" * 33,
            "code_changed": False, "machine": machine}
    (clone / "metrics/demo_time.json").write_text(json.dumps(demo))
    (clone / "metrics/timing/train_rgb_only.json").write_text(json.dumps({"seconds": 134.1}))
    for name in TRIAL_NETWORKS:
        (clone / f"metrics/train_{name}.json").write_text(json.dumps({"val_top1": 0.217 if name == "rgb_only" else 0.7}))
    trials = tmp_path / "trials.json"
    entry = record_demo(["--trial", str(clone), "--label", "one clip per class", "--trials", str(trials)])
    assert entry["stage_seconds"] == {"train_rgb_only": 134.1} and entry["val_top1"]["rgb_only"] == 0.217
    record_demo(["--trial", str(clone), "--label", "again", "--trials", str(trials)])  # one commit, one entry
    recorded = json.loads(trials.read_text())
    assert [t["label"] for t in recorded] == ["again"]
    text = stage_times_markdown({"evaluate": {"seconds": 10.0}}, {**demo, "budget_seconds": 1200}, recorded)
    assert "again (commit 93c0abc): 20 min 5 s, over; val top-1 % teacher 70.0" in text and "rgb_only 21.7" in text
    assert "on AMD EPYC (family 25, model 1)" in text and "0 of 1 within the budget" in text
    (clone / "metrics/demo_time.json").write_text(json.dumps({**demo, "code_changed": True}))
    with pytest.raises(ValueError, match="not a complete `make demo` of a clean commit"):
        record_demo(["--trial", str(clone), "--label", "dirty", "--trials", str(trials)])


def _main_inputs(tmp_path):
    """Metrics files in tmp_path, a README with the headline markers and a report with the others."""
    import json

    (tmp_path / "timing").mkdir()
    (tmp_path / "timing" / "evaluate.json").write_text(json.dumps({**_timing(), "seconds": 59.1, "device": "cpu"}))
    (tmp_path / "evaluate.json").write_text(json.dumps(_evaluate_metrics()))
    variants = summarise({"full": {0: _draw(80, 60), 1: _draw(60, 50)}}, resamples=100)
    (tmp_path / "ablations.json").write_text(json.dumps({**_sweep(t_ci95=[0.07, 0.17]), "variants": variants}))
    (tmp_path / "params.yaml").write_text("data:\n  source: synthetic\n")
    markers = ["stages", "stage_times", "protocol", "results", "findings", "sweep_scope", "ablations", "sweep_findings", "framed_arms"]
    readme, report = tmp_path / "README.md", tmp_path / "REPORT.md"
    readme.write_text("# guide\n<!-- headline:start -->\nold\n<!-- headline:end -->\nthe rest\n")
    report.write_text("".join(f"<!-- {m}:start -->\nold\n<!-- {m}:end -->\n" for m in markers))
    args = ["--readme", str(readme), "--report", str(report), "--evaluate", str(tmp_path / "evaluate.json"),
            "--timing-dir", str(tmp_path / "timing"), "--timing", str(tmp_path / "timing" / "evaluate.json"),
            "--ablations", str(tmp_path / "ablations.json"), "--teacher-variants", str(tmp_path / "absent.json"),
            "--params", str(tmp_path / "params.yaml")]
    return readme, report, args


def test_main_fills_every_marker_in_its_file_and_check_then_passes(tmp_path):
    from pipeline.results_table import main

    readme, report, args = _main_inputs(tmp_path)
    with pytest.raises(SystemExit, match="out of date"):
        main([*args, "--check"])  # both files still hold the placeholders
    main(args)
    text, guide = report.read_text(), readme.read_text()
    assert "\nold\n" not in text and "\nold\n" not in guide
    assert "`evaluate` 59.1 s" in text and "supported** (t interval over draws)" in text
    assert "| `crychic_fused`: CRYCHIC fused" in guide and "`data.source: synthetic`" in guide and "on CPU" in guide
    assert guide.startswith("# guide\n") and guide.endswith("\nthe rest\n")
    main([*args, "--check"])  # up to date now


def test_check_fails_when_the_readme_headline_is_stale(tmp_path):
    from pipeline.results_table import main

    readme, report, args = _main_inputs(tmp_path)
    main(args)
    main([*args, "--check"])
    readme.write_text(readme.read_text().replace("| `late_fusion`", "| `late_fusion_edited_by_hand`"))
    with pytest.raises(SystemExit, match="README.md"):
        main([*args, "--check"])
    main(args)  # rendering again mends it
    main([*args, "--check"])


def test_a_block_in_the_wrong_file_is_an_error_that_names_both(tmp_path):
    from pipeline.results_table import main

    readme, report, args = _main_inputs(tmp_path)
    readme.write_text(readme.read_text() + "<!-- results:start -->\nold\n<!-- results:end -->\n")
    with pytest.raises(SystemExit, match="README.md: holds the markers of results, which belong in .*REPORT.md"):
        main([*args, "--check"])
    readme.write_text("# guide without the headline markers\n")
    with pytest.raises(SystemExit, match="README.md: no <!-- headline:start -->"):
        main(args)


def test_headline_shows_crychic_beside_the_baselines_it_must_beat_with_the_verdicts():
    from pipeline.results_table import HEADLINE_METHODS, headline_markdown

    evaluate = _evaluate_metrics()
    evaluate["comparisons"]["crychic_fused - late_fusion"] = {"difference": -0.033, "ci95": [-0.075, 0.008],
                                                              "a_only": 9, "b_only": 17}
    claim = {"per_draw": [-0.05, -0.06, -0.07], "draws_a_better": 0, "draws": 3, "mean": -0.06,
             "ci95": [-0.08, -0.04], "t_ci95": [-0.085, -0.035]}
    sweep = {"claims": {"crychic_fused - late_fusion": claim}}
    text = headline_markdown(evaluate, _timing() | {"device": "cpu"}, sweep, source="synthetic")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(HEADLINE_METHODS)
    assert {"late_fusion", "rgb_only"} <= set(HEADLINE_METHODS)  # never CRYCHIC alone
    models = evaluate["models"]
    late = next(row for row in rows if row.startswith("| `late_fusion`"))
    assert late.endswith(f"| {100 * models['late_fusion']['top1']:.1f} | "
                         f"[40.0, {100 * models['late_fusion']['top1_ci95'][1]:.1f}] |")
    assert "240 test clips of `data.source: synthetic`" in text and "`make demo`" in text and "on CPU" in text
    fused = next(line for line in text.splitlines() if "`crychic_fused - late_fusion`" in line)
    assert "**not supported**" in fused and "-3.3 [-7.5, +0.8] on this test split" in fused
    assert "-6.0 [-8.5, -3.5] over 3 data draws of the ablation sweep" in fused and "t interval over draws" in fused
    # the sweep's `full` beside the demo's run: its mean over draws and interval, a blank where it has no column
    sweep["variants"] = {"full": {"draws": [0, 1, 2], "rgb_only": {"mean": 0.734, "ci95": [0.707, 0.765]},
                                  "late_fusion": {"mean": 0.833, "ci95": [0.788, 0.879]}}}
    beside = [line for line in headline_markdown(evaluate, ablations=sweep).splitlines() if line.startswith("|")]
    assert beside[0].endswith("| sweep: mean test top-1 % over 3 draws | 95 % interval |")
    assert beside[1] == "|---" * 6 + "|"
    assert next(row for row in beside if row.startswith("| `rgb_only`")).endswith("| 73.4 | [70.7, 76.5] |")
    assert next(row for row in beside if row.startswith("| `teacher`")).endswith("| | |")
    assert "| 95 % interval |" not in text  # no `full` in the sweep: the demo's columns alone
    # no sweep: the verdict reads the test split's interval; a claim without figures is left out
    alone = headline_markdown(_evaluate_metrics())
    assert "**supported**" not in alone and "crychic_posefree - rgb_only" not in alone
    evaluate["comparisons"]["crychic_fused - late_fusion"]["ci95"] = [0.01, 0.08]
    assert "beats late fusion: **supported**. `crychic_fused - late_fusion`, points: -3.3 [+1.0, +8.0]" \
        in headline_markdown(evaluate)


def test_designs_and_stage3_blocks_render_the_files_figures():
    from pipeline.designs import choose
    from pipeline.results_table import designs_markdown, stage3_markdown

    val = {"crychic_fused": {"top1": 0.8}, "late_fusion": {"top1": 0.9}, "crychic_posefree": {"top1": 0.7},
           "rgb_only": {"top1": 0.6}}
    designs = {**choose({"full": {0: val}, "design_residual": {0: val}}),
               "overrides": {"full": [], "design_residual": ["model.residual_fusion=true"]}}
    text = designs_markdown(designs)
    assert "| `design_residual` | `model.residual_fusion=true` | d0 +0.0 | +0.0 |" in text
    assert "undecided" in text and "none yet" in text
    schedule = {"chosen": "b", "draw": "default", "machine": "AMD EPYC", "candidates": {
        "a": {"val_fused_top1": 0.7, "val_posefree_top1": 0.5, "kept_epochs": {"fused": 1, "posefree": 2}, "score": 0.6},
        "b": {"val_fused_top1": 0.8, "val_posefree_top1": 0.6, "kept_epochs": {"fused": 6, "posefree": 5}, "score": 0.7}}}
    text = stage3_markdown(schedule)
    assert "| `b` (chosen) | 80.0 (6) | 60.0 (5) | 70.0 |" in text and "AMD EPYC" in text


def test_the_epoch_rule_finds_where_a_curve_plateaus():
    from pipeline.epoch_rule import plateau_epoch

    rising = [0.1, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.8, 0.81, 0.8, 0.81, 0.8]
    assert plateau_epoch(rising) == 9  # the running mean of epochs 7-9 is within a point of the best
    assert plateau_epoch([0.5] * 6) == 3  # flat from the start: the first full window
    assert plateau_epoch([0.2, 0.9]) == 2  # shorter than the window
    assert plateau_epoch(rising, tolerance=0.2) < plateau_epoch(rising)


def test_training_noise_compares_two_seeds_on_the_same_clips_with_the_spread_over_draws():
    from pipeline.ablations import training_noise

    def draw(fused_right: int, late_right: int) -> dict:  # 10 clips
        return {"correct": {"crychic_fused": np.arange(10) < fused_right, "late_fusion": np.arange(10) < late_right}}

    results = {"full": {0: draw(6, 5), 1: draw(9, 5), 2: draw(4, 5)}, "full_seed2": {0: draw(8, 5)}}
    noise = training_noise(results, [("crychic_fused", "late_fusion")])["crychic_fused - late_fusion"]
    assert noise["draws"] == [0] and noise["seed_1"] == [0.1] and noise["seed_2"] == [0.3]
    assert noise["seed_sd"] == round(float(np.sqrt(0.2 ** 2 / 2)), 4)  # one pair: |0.1 - 0.3| / sqrt(2)
    assert noise["draw_sd"] == round(float(np.std([0.1, 0.4, -0.1], ddof=1)), 4) and noise["draws_of_full"] == 3
    assert training_noise({"full": results["full"]}, [("crychic_fused", "late_fusion")]) == {}
    results["full"][0]["clips_digest"], results["full_seed2"][0]["clips_digest"] = "0" * 16, "1" * 16
    with pytest.raises(ValueError, match="full_seed2 and full on draw 0 scored different test clips"):
        training_noise(results, [("crychic_fused", "late_fusion")])  # other clips: no seed-to-seed difference


# A carry-over as abl7 had one (abl8 carries nothing): this prefix's `full` on draw 1 read from the earlier one's.
CARRY = {experiment_name("full", 1): f"{CARRIED_PREFIX}-design-keypoint-guidance-d1"}


def test_an_earlier_prefix_experiment_is_read_under_this_prefix_only_where_carried_over(tmp_path, monkeypatch):
    from pipeline import ablations
    from pipeline.ablations import CARRIED_PREFIX, carried_over, parse_experiment_name

    monkeypatch.setattr(ablations, "CARRIED_OVER", CARRY)
    name, old = sorted(CARRY.items())[0]
    variant, draw = parse_experiment_name(name)
    entry = {"variant": "design_keypoint_guidance", "draw": draw, "metrics": {}, "correct": {"rgb_only": "0110"}}
    table = tmp_path / "earlier.json"
    table.write_text(json.dumps({"experiments": {old: entry, f"{CARRIED_PREFIX}-full-d{draw}": {**entry, "variant": "full"}}}))
    carried = carried_over({}, table=str(table))
    assert list(carried) == [experiment_name(variant, draw)]  # the other earlier experiment is not carried
    got = carried[experiment_name(variant, draw)]
    assert (got["variant"], got["draw"], got["carried_from"], got["correct"]) == (variant, draw, old, entry["correct"])


def test_the_sweep_scope_names_what_was_carried_over_and_from_where():
    from pipeline.sweep_report import sweep_scope_markdown

    experiments = {"abl7-full-d0": {"variant": "full", "draw": 0},
                   "abl7-full-d1": {"variant": "full", "draw": 1, "carried_from": "abl6-design-keypoint-guidance-d1"}}
    text = sweep_scope_markdown({"experiments": experiments, "variants": {"full": {"draws": [0, 1]}}})
    assert "`abl7-full-d1` is `abl6-design-keypoint-guidance-d1`" in text and "abl7-full-d0` is" not in text


def test_the_late_start_table_reads_when_each_rgb_network_left_chance():
    from pipeline.sweep_report import late_start_lines, take_off_epoch

    assert take_off_epoch([0.08, 0.2, 0.25, 0.1]) == 2 and take_off_epoch([0.1, 0.2]) is None
    entry = {"variant": "full", "draw": 1, "correct": {"rgb_only": "1000", "crychic_posefree": "1110"},
             "val_curves": {"rgb_only": [0.1, 0.1, 0.3], "student": [0.1, 0.4]}}
    warmed = {**entry, "variant": "stage2_warmup", "val_curves": {"rgb_only": [0.3], "student": [0.4]}}
    lines = late_start_lines({"experiments": {"abl7-stage2-warmup-d1": warmed, "abl7-full-d1": entry,
                                               "abl7-no-contrastive-d1": {**entry, "variant": "x"}}})
    rows = [line for line in lines if line.startswith("| `")]
    assert rows == ["| `full` d1 | 2 | 1 | 30.0 / 40.0 | 25.0 | +50.0 |", "| `stage2_warmup` d1 | 0 | 0 | 30.0 / 40.0 | 25.0 | +50.0 |"]


def test_the_i3d_choice_block_shows_each_candidates_val_figures_and_the_verdict():
    from pipeline.i3d_choice import MODELS, RULE
    from pipeline.results_table import i3d_choice_markdown

    choice = {"candidates": list(MODELS), "models": MODELS, "rule": RULE, "status": "decided", "chosen": "i3d_slow",
              "scores": {"full": {"0": 0.25}, "i3d_slow": {"0": 0.5}, "i3d_centre": {"0": 0.4}},
              "mean_score": {"full": 0.25, "i3d_slow": 0.5, "i3d_centre": 0.4}}
    text = i3d_choice_markdown(choice)
    assert "| `i3d_slow` | `i3d_r18_tiny_slow` | d0 50.0 | 50.0 |" in text and "chosen: i3d_slow" in text


def test_the_table_keeps_every_recorded_experiment_and_a_carried_ones_curves(tmp_path, monkeypatch):
    """A smaller invocation (`--variants full --draws 0`) must not drop the rest of the sweep, and in a fresh
    clone (no earlier experiment's commit) a carried-over draw keeps the val curves its record has."""
    import argparse

    from pipeline import ablations

    monkeypatch.setattr(ablations, "CARRIED_OVER", CARRY)
    name, old = sorted(CARRY.items())[0]
    variant, draw = ablations.parse_experiment_name(name)
    bare = {"variant": "design_keypoint_guidance", "draw": draw, "metrics": {}, "correct": {"rgb_only": "01"}}
    table = tmp_path / "earlier.json"
    table.write_text(json.dumps({"experiments": {old: bare}}))
    monkeypatch.setattr(ablations, "CARRIED_TABLE", str(table))
    recorded = {name: {**bare, "variant": variant, "carried_from": old, "val_curves": {"rgb_only": [0.1, 0.3]}},
                experiment_name("no_contrastive", 7): {**bare, "variant": "no_contrastive", "draw": 7},
                # the held-out draw's experiment checks the table (`pipeline.holdout_check`): never in it
                experiment_name(ablations.HOLDOUT_VARIANT, 9): {**bare, "variant": "holdout", "draw": 9}}
    args = argparse.Namespace(profile="research", variants=["full"], draws=[0])
    results, experiments = ablations._collect(args, finished={}, recorded=recorded)
    assert experiments[name]["val_curves"] == {"rgb_only": [0.1, 0.3]}
    assert set(results) == {variant, "no_contrastive"} and set(results["no_contrastive"]) == {7}
    assert experiment_name(ablations.HOLDOUT_VARIANT, 9) not in experiments
    assert ablations.parse_experiment_name(f"{QUEUE_PREFIX}-default-full-d0") is None  # another profile's
    assert ablations.parse_experiment_name(experiment_name("full_seed2", 3)) == ("full_seed2", 3)


def test_the_held_out_draw_block_quotes_each_claim_and_says_when_a_sign_flipped():
    from pipeline.results_table import holdout_markdown

    claim = {"direction": 1, "interval": [0.105, 0.162], "interval_kind": "t interval over draws", "draws": 5}
    check = {"draw": 4242, "experiment": "abl7-holdout-d4242", "clips": 720, "table": "metrics/ablations.json",
             "machine": {"cpu": "Some CPU"}, "rule": "The rule.", "all_kept": False,
             "claims": {"crychic_fused - crychic_posefree": {**claim, "difference": 0.125, "kept_sign": True},
                        "late_fusion - teacher": {**claim, "difference": -0.02, "kept_sign": False}}}
    text = holdout_markdown(check)
    assert "| `crychic_fused - crychic_posefree` | [+10.5, +16.2] (t interval over draws, 5 draws) | +12.5 | yes |" in text
    assert "| `late_fusion - teacher` | [+10.5, +16.2] (t interval over draws, 5 draws) | -2.0 | **no** |" in text
    assert "on held-out draw 4242" in text and "Every sign kept: **no**." in text and "Some CPU" in text
    text = holdout_markdown({**check, "not_checked": {"crychic_fused - late_fusion": -0.031}})
    assert "on draw 4242 (read, not checked): `crychic_fused - late_fusion` -3.1 points." in text
    text = holdout_markdown({**check, "val_curves": {"rgb_only": [0.1, 0.3, 0.5], "student": [0.3]}})
    assert "`rgb_only` first reached 25 % val top-1 at epoch 1 (best 50.0 %); the guided student (stage 2) first " \
           "reached 25 % val top-1 at epoch 0 (best 30.0 %)" in text


def _framed_draw(student_right: int, rgb_right: int, clips: int = 100) -> dict:
    student = np.arange(clips) < student_right
    return {"correct": {"student_guided": student, "crychic_posefree": student,
                        "rgb_only": np.arange(clips) < rgb_right}}


def test_the_d_arms_say_what_the_student_needs_from_each_map_against_the_box_control():
    from pipeline.ablations import FRAMED_COLUMNS, FRAMED_CONTROL, claims_inside_variants
    from pipeline.results_table import headline_markdown
    from pipeline.sweep_report import framed_arms_markdown, framed_needs

    def read(results: dict) -> dict:
        return {"variant_claims": claims_inside_variants(results, resamples=200),
                "framed_against_control": variants_against_full(
                    results, FRAMED_COLUMNS, resamples=200, reference=FRAMED_CONTROL,
                    variants=[v for v in results if v != FRAMED_CONTROL])}

    # rgb_only is one network in every arm of a draw; the teacher's map beats the box control on all three draws
    rgb, near = {0: 60, 1: 55, 2: 65}, {0: 2, 1: -1, 2: 0}  # the control's student: about rgb_only
    uniform = {d: _framed_draw(r + near[d], r) for d, r in rgb.items()}
    teacher = {d: _framed_draw(r + near[d] + 9 + d, r) for d, r in rgb.items()}
    hands = {d: _framed_draw(r + near[d] + (2 if d else -1), r) for d, r in rgb.items()}
    ablations = read({FRAMED_CONTROL: uniform, "framed_teacher": teacher, "framed_hands": hands})
    sentences, needs = framed_needs(ablations)
    assert needs.startswith("the teacher's attention: a map drawn from it beats") and "keypoints" not in needs
    assert any("`framed_teacher - framed_uniform`" in s and "+10.0 [" in s and "**`framed_teacher` ahead**" in s
               and "against `rgb_only`: **supported**" in s for s in sentences)
    assert any("`framed_hands - framed_uniform`" in s and "**no difference shown**" in s for s in sentences)
    markdown = framed_arms_markdown(ablations)
    assert "| `framed_teacher` | 3 | +11.0, +9.0, +11.0; [" in markdown and "| the control | the control |" in markdown
    # no map beats the control and the control's student does not beat rgb_only: nothing is claimed
    assert framed_needs(read({FRAMED_CONTROL: uniform, "framed_hands": hands}))[1].startswith("none shown")
    # a map ahead of the control whose student is still behind rgb_only (the control hurt): not a need
    low = {d: _framed_draw(r - 20 - d, r) for d, r in rgb.items()}
    less_low = {d: _framed_draw(r - 10 - d, r) for d, r in rgb.items()}
    assert framed_needs(read({FRAMED_CONTROL: low, "framed_teacher": less_low}))[1].startswith("none shown")
    # the control's student beats rgb_only and no finer map beats it: where the person is, no more
    lifted = {d: _framed_draw(r + 5 + d, r) for d, r in rgb.items()}
    lifted_hands = {d: _framed_draw(r + 5 + d + (2 if d else -1), r) for d, r in rgb.items()}
    assert framed_needs(read({FRAMED_CONTROL: lifted, "framed_hands": lifted_hands}))[1].startswith(
        "no more than where the person is: no finer map (an oracle hand mask")
    # one draw: one training run's clip-level interval, no verdict
    one = read({FRAMED_CONTROL: {0: uniform[0]}, "framed_teacher": {0: teacher[0]}})
    assert framed_needs(one) == ([], "not read yet: the control has 1 draw, the arms against it `framed_teacher` 1 draw; "
                                     "a verdict reads the interval over two draws or more")
    # the README's line: the current method's arm against rgb_only in that framing, over two draws or more
    assert "framed_keypoints" not in headline_markdown(_evaluate_metrics(), ablations=ablations)
    with_keypoints = read({FRAMED_CONTROL: uniform, "framed_teacher": teacher, "framed_keypoints": teacher})
    line = headline_markdown(_evaluate_metrics(), ablations=with_keypoints).splitlines()[-1]
    assert "rgb_only` in that framing): **supported**. `crychic_posefree - rgb_only`, points: +10.3 [" in line
    assert line.endswith("by the controls (the report's D arms): the keypoints or the teacher's attention: a map drawn "
                         "from either beats the person box, uniform inside, and its student beats `rgb_only`.")
    assert "framed_keypoints" not in headline_markdown(_evaluate_metrics(), ablations=read({"framed_keypoints": {0: teacher[0]}}))
    assert framed_needs({"variant_claims": {"full": {}}}) is None
    assert framed_needs(read({FRAMED_CONTROL: uniform})) is None  # no arm against the control yet
    assert "No `framed_*` arm" in framed_arms_markdown({"variant_claims": {"full": {}}})


def test_a_verdict_reads_the_t_interval_widened_to_the_bootstrap_s_ends_where_those_reach_past_it():
    from pipeline.sweep_report import draw_interval, verdict

    # two draws of the same difference: a t interval of no width; the clips' spread is not nothing
    same = {"per_draw": [0.0806, 0.0806], "draws": 2, "t_ci95": [0.0806, 0.0806], "ci95": [0.0562, 0.1062]}
    assert draw_interval(same) == ([0.0562, 0.1062], "t interval over draws, widened to the hierarchical bootstrap's ends")
    crossing = {**same, "ci95": [-0.01, 0.2]}
    assert verdict(draw_interval(same)[0]) == "supported" and verdict(draw_interval(crossing)[0]) == "not supported"
    wide = {"draws": 5, "t_ci95": [-0.05, 0.19], "ci95": [-0.02, 0.14]}  # the usual case: t contains the bootstrap
    assert draw_interval(wide) == ([-0.05, 0.19], "t interval over draws")
    assert draw_interval({"draws": 1, "t_ci95": [None, None], "ci95": [0.1, 0.2]})[1].startswith("hierarchical bootstrap")


def test_the_framed_baseline_s_rate_is_chosen_on_val_and_the_d_arms_are_then_read_against_it():
    from pipeline.ablations import FRAMED_COLUMNS, FRAMED_CONTROL, claims_inside_variants
    from pipeline.framed_rate_choice import CANDIDATES, CURRENT, framed_baseline
    from pipeline.results_table import headline_markdown
    from pipeline.sweep_report import framed_arms_markdown

    def experiments(val: dict[str, float], draws=(0, 3, 4)) -> dict:
        return {f"{v}-d{d}": {"variant": v, "draw": d,
                              "metrics": {"protocol": {"val_top1": {"rgb_only": {"top1": score + d / 1000}}}}}
                for v, score in val.items() for d in draws}

    def draw(student_right: int, rgb_right: int) -> dict:
        entry = _framed_draw(student_right, rgb_right)
        return {"correct": {**entry["correct"], "late_fusion": entry["correct"]["rgb_only"]}}

    # on the test clips x3's rgb_only gets 12 of 100 right, x0.3's 30 + d on draw d, the others 15; the guided
    # students do not read rgb_only's rate (the same in every rate control)
    results = {v: {d: draw(60 + d, {CURRENT: 12, "framed_rgb_lr_low": 30 + d}.get(v, 15)) for d in (0, 3, 4)}
               for v in CANDIDATES}
    results[FRAMED_CONTROL] = {d: draw(20 + d, 12) for d in (0, 3, 4)}
    for by_draw in results.values():  # the fused model: 70 right on every draw
        for entry in by_draw.values():
            entry["correct"]["crychic_fused"] = np.arange(100) < 70
    val = {CURRENT: 0.18, "framed_rgb_lr_x1": 0.19, "framed_rgb_lr_low": 0.27, "framed_rgb_lr_lowest": 0.22}
    baseline = framed_baseline(results, experiments(val))
    assert baseline["choice"]["chosen"] == "framed_rgb_lr_low" and baseline["choice"]["common_draws"] == [0, 3, 4]
    swapped = baseline["variant_claims"]
    assert sorted(swapped) == sorted([CURRENT, FRAMED_CONTROL])  # the D arms only, not the rate controls
    # each arm's rgb_only and late fusion are the chosen control's on the same draw (30 right), not its own (12)
    # (on the same draw: x0.3's rgb_only gets 30 + d right)
    assert swapped[CURRENT]["crychic_posefree - rgb_only"]["per_draw"] == [0.30, 0.30, 0.30]
    assert swapped[FRAMED_CONTROL]["crychic_posefree - rgb_only"]["per_draw"] == [-0.10, -0.10, -0.10]
    assert swapped[FRAMED_CONTROL]["student_guided - rgb_only"]["per_draw"] == [-0.10, -0.10, -0.10]
    assert swapped[FRAMED_CONTROL]["crychic_fused - late_fusion"]["per_draw"] == [0.40, 0.37, 0.36]  # late fusion too
    assert baseline["draws"] == {CURRENT: [0, 3, 4], FRAMED_CONTROL: [0, 3, 4]}
    # an arm on a draw the chosen control lacks is read without it; with none in common, it has no claims
    results["framed_hands"] = {1: draw(50, 12)}
    partly = framed_baseline(results, experiments(val))
    assert partly["variant_claims"]["framed_hands"] == {} and partly["draws"]["framed_hands"] == []
    del results["framed_hands"]
    # the rule reads draws 0, 3 and 4 only: a later draw does not move the choice
    later = experiments({**val, CURRENT: 0.9}, draws=(7,))
    assert framed_baseline(results, {**experiments(val), **later})["choice"]["chosen"] == "framed_rgb_lr_low"
    # a point or less above x3's mean val: x3 stays and every arm keeps its own rgb_only
    kept = framed_baseline(results, experiments({**val, "framed_rgb_lr_low": 0.19, "framed_rgb_lr_lowest": 0.1}))
    assert kept["choice"]["chosen"] == CURRENT and kept["variant_claims"] == {}
    # two common draws: undecided, and read against the arms' own rgb_only
    pending = framed_baseline(results, experiments(val, draws=(0, 3)))
    assert pending["choice"]["chosen"] is None and pending["variant_claims"] == {}

    # the report's D-arm block and the README's line read the chosen baseline, and say so
    table = {"variant_claims": claims_inside_variants(results, resamples=200), "framed_baseline": baseline,
             "framed_against_control": variants_against_full(results, FRAMED_COLUMNS, resamples=200,
                                                             reference=FRAMED_CONTROL, variants=[CURRENT])}
    markdown = framed_arms_markdown(table)
    assert "by mean val top-1 of `rgb_only` over draws 0, 3, 4 (`framed_keypoints` 18.2 %; `framed_rgb_lr_x1` 19.2 %; " \
           "`framed_rgb_lr_low` 27.2 %; `framed_rgb_lr_lowest` 22.2 %): `framed_rgb_lr_low`'s rate" in markdown
    assert "| `framed_keypoints` | 3 | +30.0, +30.0, +30.0; [" in markdown  # not +48 against x3's own rgb_only
    assert "an arm is read on the draws the control has (draws: `framed_keypoints` 0, 3, 4; `framed_uniform` 0, 3, 4)" \
        in markdown
    # the control's: the same difference on every draw, a t interval of no width, read to the bootstrap's ends
    assert "`crychic_posefree - rgb_only`, 3 draws, t interval over draws, widened to the hierarchical bootstrap's " \
           "ends): -10.0 [" in markdown
    line = headline_markdown(_evaluate_metrics(), ablations=table).splitlines()[-1]
    assert "in that framing, at the rate val chose there (`framed_rgb_lr_low`)): **supported**. " \
           "`crychic_posefree - rgb_only`, points: +30.0 [" in line
    assert "(x3 the student's rate, the box-crop choice)" in framed_arms_markdown({**table, "framed_baseline": pending})
    line = headline_markdown(_evaluate_metrics(), ablations={**table, "framed_baseline": pending}).splitlines()[-1]
    assert "in that framing, at its box-crop rate until val chooses one for this framing): " in line
    assert "undecided: 2 common draws, the rule needs 3" in framed_arms_markdown({**table, "framed_baseline": pending})


def test_the_i3d_claim_is_left_out_of_the_framed_arms_whose_i3d_is_not_framed():
    from pipeline.ablations import claims_inside_variants

    def draw() -> dict:
        right = np.arange(10) < 5
        return {"correct": {m: right for m in ("crychic_fused", "late_fusion", "crychic_posefree", "rgb_only", "i3d")}}

    inside = claims_inside_variants({"full": {0: draw()}, "framed_keypoints": {0: draw()},
                                     "framed_rgb_lr_x1": {0: draw()}}, resamples=50)
    assert "i3d - rgb_only" in inside["full"] and "crychic_posefree - rgb_only" in inside["framed_keypoints"]
    assert "i3d - rgb_only" not in inside["framed_keypoints"] and "i3d - rgb_only" not in inside["framed_rgb_lr_x1"]


def test_the_framed_rate_controls_change_only_rgb_only_s_rate_on_top_of_the_current_framed_arm():
    params = {"train": {"student": {"epochs": 20, "lr": 0.001}, "joint": {"epochs": 8}}}
    current = overrides("framed_keypoints", 3, params)
    for variant, scale in (("framed_rgb_lr_x1", "1.0"), ("framed_rgb_lr_low", "0.3"), ("framed_rgb_lr_lowest", "0.1")):
        assert sorted(overrides(variant, 3, params)) == sorted([*current, f"train.rgb_only.lr_scale={scale}"])
        assert parse_experiment_name(experiment_name(variant, 3)) == (variant, 3)


def test_the_framed_fusion_sentence_reads_both_late_fusions():
    from pipeline.sweep_report import framed_fusion_headline, framed_fusion_sentence

    inside = {"per_draw": [0.1, 0.12, 0.08], "draws": 3, "draws_a_better": 3, "mean": 0.1, "t_ci95": [0.05, 0.15],
              "ci95": [0.06, 0.14]}
    box = {"per_draw": [-0.1, -0.12, -0.08], "draws": 3, "draws_a_better": 0, "mean": -0.1, "t_ci95": [-0.15, -0.05],
           "ci95": [-0.14, -0.06]}
    table = {"framed_baseline": {"variant_claims": {"framed_keypoints": {"crychic_fused - late_fusion": inside}}}}
    alone = framed_fusion_sentence(table)
    assert "+10.0 [+5.0, +15.0] (3 of 3 draws ahead), **supported**" in alone and "box-crop" not in alone
    both = framed_fusion_sentence({**table, "framed_fused_against_box_late": box})
    assert both.endswith("**`full` late fusion ahead**.") and "-10.0 [-15.0, -5.0] (0 of 3 draws ahead" in both
    assert framed_fusion_headline({**table, "framed_fused_against_box_late": box}).endswith(
        "(0 of 3 draws ahead), **box-crop late fusion ahead**.")
    # a box comparison over one draw is one run's clip interval: not read
    assert "box-crop" not in framed_fusion_sentence({**table, "framed_fused_against_box_late": {**box, "draws": 1}})
    # an end a hair short of zero is not shown as zero, nor read as reaching it
    hair = {**box, "t_ci95": [-0.101, 0.0003], "ci95": [-0.08, -0.02]}
    assert "-10.0 [-10.1, +0.03]" in framed_fusion_sentence({**table, "framed_fused_against_box_late": hair})
    one_draw = {"framed_baseline": {"variant_claims": {"framed_keypoints": {"crychic_fused - late_fusion":
                                                                            {**inside, "draws": 1}}}}}
    assert framed_fusion_sentence(one_draw) is None and framed_fusion_headline(one_draw) == ""
