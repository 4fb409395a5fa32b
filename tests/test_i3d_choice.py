"""pipeline.i3d_choice: the I3D baseline chosen on val by its pre-registered rule."""

from pipeline.i3d_choice import CANDIDATES, RULE, choose, i3d_val_top1


def _val(top1: float) -> dict:
    return {"i3d": {"top1": top1}, "rgb_only": {"top1": 0.9}}  # other models' figures are not read


def _decide(means: dict[str, float]) -> dict:
    val = {name: {d: _val(top1 + 0.001 * d) for d in (0, 3, 4)} for name, top1 in means.items()}
    return choose(val, rule=RULE, score=i3d_val_top1)


def test_a_candidate_more_than_a_point_better_on_val_replaces_the_current_i3d():
    result = _decide({"full": 0.30, "i3d_slow": 0.45, "i3d_centre": 0.40})
    assert result["status"] == "decided" and result["chosen"] == "i3d_slow"
    assert result["mean_score"]["i3d_slow"] == 0.4523 and result["rule"] == RULE


def test_within_a_point_the_current_i3d_stays():
    assert _decide({"full": 0.30, "i3d_slow": 0.305, "i3d_centre": 0.31})["chosen"] == "full"


def test_fewer_than_three_common_draws_decide_nothing():
    val = {name: {0: _val(0.3), 3: _val(0.5)} for name in CANDIDATES}
    assert choose(val, rule=RULE, score=i3d_val_top1)["chosen"] is None
