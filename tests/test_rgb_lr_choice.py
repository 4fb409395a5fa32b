"""pipeline.rgb_lr_choice: the RGB baselines' own learning rates, chosen on val by a pre-registered rule."""

import pytest
import yaml

from crychic.training.loop import stage_settings
from pipeline.ablations import VARIANTS, overrides
from pipeline.rgb_lr_choice import CANDIDATES, SCALES, decide, network_val_top1


def _val(rgb_only: float, i3d: float = 0.5) -> dict:
    return {"rgb_only": {"top1": rgb_only}, "i3d": {"top1": i3d}, "crychic_posefree": {"top1": 0.99}}


def _recorded(by_candidate: dict[str, dict[int, dict]]) -> dict[str, dict]:
    return {f"abl8-{name}-d{draw}": {"variant": name, "draw": draw, "metrics": {"protocol": {"val_top1": val}}}
            for name, by_draw in by_candidate.items() for draw, val in by_draw.items()}


def test_each_network_is_scored_by_its_own_val_top1_and_nothing_else():
    assert network_val_top1("rgb_only")(_val(0.6, 0.4)) == 0.6
    assert network_val_top1("i3d")(_val(0.6, 0.4)) == 0.4
    assert network_val_top1("rgb_only")({"crychic_posefree": {"top1": 0.9}}) is None


def test_each_rate_is_chosen_on_its_own_network_and_only_when_it_wins_by_more_than_a_point_over_three_draws():
    def chosen(low: tuple, high: tuple, draws=(0, 3, 4)) -> dict:
        val = {"full": {d: _val(0.6, 0.6) for d in draws}, "rgb_lr_low": {d: _val(*low) for d in draws},
               "rgb_lr_high": {d: _val(*high) for d in draws}}
        return {network: result["chosen"] for network, result in decide(_recorded(val)).items()}

    assert chosen((0.7, 0.5), (0.5, 0.65)) == {"rgb_only": "rgb_lr_low", "i3d": "rgb_lr_high"}
    assert chosen((0.605, 0.6), (0.55, 0.61)) == {"rgb_only": "full", "i3d": "full"}  # within a point: x1 stays
    assert chosen((0.7, 0.7), (0.5, 0.5), draws=(0, 4)) == {"rgb_only": None, "i3d": None}  # two draws decide nothing


def test_every_candidate_retrains_both_rgb_baselines_at_its_multiple_of_the_student_rate_and_nothing_else():
    params = yaml.safe_load(open("params.yaml"))
    student_lr = float(params["train"]["student"]["lr"])
    for name in CANDIDATES[1:]:
        assert [item.split("=")[0] for item in VARIANTS[name]] == ["train.rgb_only.lr_scale", "i3d.lr"]
        values = dict(item.split("=") for item in overrides(name, 3, params)[2:4])
        assert float(values["train.rgb_only.lr_scale"]) == SCALES[name]
        assert float(values["i3d.lr"]) == pytest.approx(student_lr * SCALES[name])


def test_params_yaml_holds_the_rates_the_committed_choice_decided():
    import json

    params = yaml.safe_load(open("params.yaml"))
    networks = json.loads(open("metrics/rgb_lr_choice.json").read())["networks"]
    scale = {network: SCALES[result["chosen"] or "full"] for network, result in networks.items()}
    assert float(params["train"]["rgb_only"]["lr_scale"]) == scale["rgb_only"]
    assert float(params["i3d"]["lr"]) == pytest.approx(float(params["train"]["student"]["lr"]) * scale["i3d"])


@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
def test_rgb_only_trains_at_the_student_rate_times_its_scale_and_the_student_is_untouched(scale):
    train = {"student": {"lr": 0.003, "epochs": 25}, "rgb_only": {"lr_scale": scale}, "joint": {"epochs": 6}}
    assert stage_settings("rgb_only", train)["lr"] == pytest.approx(0.003 * scale)
    assert stage_settings("student", train)["lr"] == 0.003
    assert train["student"]["lr"] == 0.003  # the section itself is never changed


def test_the_report_block_shows_every_network_rate_and_verdict():
    from pipeline.results_table import rgb_lr_choice_markdown
    from pipeline.rgb_lr_choice import NETWORKS, RULE

    val = {"full": {d: _val(0.6) for d in (0, 3, 4)}, "rgb_lr_low": {d: _val(0.7) for d in (0, 3, 4)},
           "rgb_lr_high": {d: _val(0.5) for d in (0, 3)}}
    block = rgb_lr_choice_markdown({"rule": RULE, "scales": SCALES, "sets": NETWORKS, "networks": decide(_recorded(val))})
    assert "| `rgb_only` | `rgb_lr_low` | x0.3 the student's | d0 70.0, d3 70.0, d4 70.0 | 70.0 |" in block
    assert "`i3d` (sets `i3d.lr`): undecided" in block  # rgb_lr_high lacks draw 4: two common draws decide nothing
