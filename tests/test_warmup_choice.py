"""pipeline.warmup_choice: the stage-2 warm-up chosen on val for both RGB networks by its pre-registered rule."""

from pipeline.warmup_choice import RULE, choose, stage2_val_top1


def _val(rgb_only: float, student: float) -> dict:
    return {"rgb_only": {"top1": rgb_only}, "student_guided": {"top1": student}, "crychic_fused": {"top1": 0.99}}


def test_the_score_is_the_two_stage2_networks_mean_val_and_nothing_else():
    assert stage2_val_top1(_val(0.5, 0.7)) == 0.6
    assert stage2_val_top1({"rgb_only": {"top1": 0.5}}) is None


def test_the_warm_up_is_chosen_only_when_it_wins_by_more_than_a_point_over_three_draws():
    def decide(full: tuple[float, float], warm: tuple[float, float], draws=(0, 3, 4)) -> dict:
        val = {"full": {d: _val(*full) for d in draws}, "stage2_warmup": {d: _val(*warm) for d in draws}}
        return choose(val, rule=RULE, score=stage2_val_top1)

    assert decide((0.5, 0.7), (0.7, 0.72))["chosen"] == "stage2_warmup"  # rgb_only much better, student no worse
    assert decide((0.5, 0.7), (0.51, 0.7))["chosen"] == "full"  # half a point: the current recipe stays
    assert decide((0.5, 0.7), (0.7, 0.72), draws=(0, 4))["chosen"] is None  # two draws decide nothing
