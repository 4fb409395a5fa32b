"""pipeline.rgb_lr_choice: rgb_only's own learning rate, chosen on val by its pre-registered rule."""

import pytest

from crychic.training.loop import stage_settings
from pipeline.ablations import VARIANTS
from pipeline.designs import choose
from pipeline.rgb_lr_choice import CANDIDATES, RULE, rgb_only_val_top1


def _val(rgb_only: float) -> dict:
    return {"rgb_only": {"top1": rgb_only}, "crychic_posefree": {"top1": 0.99}, "late_fusion": {"top1": 0.98}}


def test_the_score_is_rgb_only_val_top1_and_nothing_else():
    assert rgb_only_val_top1(_val(0.6)) == 0.6
    assert rgb_only_val_top1({"crychic_posefree": {"top1": 0.9}}) is None


def test_a_rate_is_chosen_only_when_it_wins_by_more_than_a_point_over_three_draws():
    def decide(low: float, high: float, draws=(0, 3, 4)) -> dict:
        val = {"full": {d: _val(0.6) for d in draws}, "rgb_lr_low": {d: _val(low) for d in draws},
               "rgb_lr_high": {d: _val(high) for d in draws}}
        return choose(val, rule=RULE, score=rgb_only_val_top1)

    assert decide(0.7, 0.5)["chosen"] == "rgb_lr_low"
    assert decide(0.5, 0.65)["chosen"] == "rgb_lr_high"
    assert decide(0.605, 0.55)["chosen"] == "full"  # half a point: the current rate stays
    assert decide(0.7, 0.5, draws=(0, 4))["chosen"] is None  # two draws decide nothing


def test_every_candidate_is_a_sweep_variant_that_moves_only_rgb_only_rate():
    for name in CANDIDATES[1:]:
        assert [item.split("=")[0] for item in VARIANTS[name]] == ["train.rgb_only.lr_scale"]


@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
def test_rgb_only_trains_at_the_student_rate_times_its_scale_and_the_student_is_untouched(scale):
    train = {"student": {"lr": 0.003, "epochs": 25}, "rgb_only": {"lr_scale": scale}, "joint": {"epochs": 6}}
    assert stage_settings("rgb_only", train)["lr"] == pytest.approx(0.003 * scale)
    assert stage_settings("student", train)["lr"] == 0.003
    assert train["student"]["lr"] == 0.003  # the section itself is never changed


def test_the_report_block_shows_every_candidate_rate_and_the_verdict():
    from pipeline.rgb_lr_choice import LR_SCALES
    from pipeline.results_table import rgb_lr_choice_markdown

    val = {"full": {d: _val(0.6) for d in (0, 3, 4)}, "rgb_lr_low": {d: _val(0.7) for d in (0, 3, 4)},
           "rgb_lr_high": {d: _val(0.5) for d in (0, 3)}}
    block = rgb_lr_choice_markdown({**choose(val, rule=RULE, score=rgb_only_val_top1), "lr_scales": LR_SCALES})
    assert "train.rgb_only.lr_scale: 0.3" in block and "d4 70.0" in block
    assert "undecided" in block  # rgb_lr_high lacks draw 4: two common draws decide nothing
