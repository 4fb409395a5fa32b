"""The epoch rule (`pipeline.epoch_rule`): where a val curve plateaus, and writing the epochs into params.yaml."""

import pytest
import yaml

from pipeline.epoch_rule import NETWORKS, apply_epochs, plateau_epoch


def test_plateau_is_the_first_window_within_tolerance_of_the_best():
    # running means of 3: 0.2, 0.4, 0.6, 0.7, 0.7033, 0.7033: the first within 0.01 of 0.7033 ends at epoch 6
    curve = [0.1, 0.2, 0.3, 0.7, 0.8, 0.6, 0.71, 0.8]
    assert plateau_epoch(curve) == 6
    assert plateau_epoch(curve, tolerance=0.0) == 7  # the maximum itself: epochs 5-7 and 6-8 tie, the first wins
    assert plateau_epoch([0.5, 0.5, 0.5, 0.5]) == 3  # flat from the start: the first full window
    assert plateau_epoch([0.3, 0.4]) == 2  # shorter than the window: one window over the whole curve


def test_a_curve_still_rising_plateaus_at_its_end():
    assert plateau_epoch([0.1 * e for e in range(1, 11)]) == 10


def test_an_empty_curve_is_refused():
    with pytest.raises(ValueError, match="empty val curve"):
        plateau_epoch([])


def test_every_trained_network_has_its_own_epochs_in_params(tmp_path):
    """The baselines are calibrated like CRYCHIC's stages: each has an epochs key of its own, and
    applying the rule rewrites those keys and keeps the file's comments and other values."""
    from crychic.core.params import load_params

    assert {"rgb_only", "i3d", "teacher", "student", "joint"} <= set(NETWORKS)
    keys = [key for key, _ in NETWORKS.values()]
    assert len(set(keys)) == len(keys)
    params = load_params("params.yaml")
    for key in keys:
        section = params
        for part in key.split("."):
            section = section[part]
        assert isinstance(section, int), key
    copy = tmp_path / "params.yaml"
    copy.write_text(open("params.yaml").read())
    apply_epochs(str(copy), {"train.rgb_only.epochs": 44, "i3d.epochs": 7})
    written = yaml.safe_load(copy.read_text())
    assert written["train"]["rgb_only"] == {**params["train"]["rgb_only"], "epochs": 44}
    assert written["i3d"]["epochs"] == 7 and written["train"]["student"] == params["train"]["student"]
    # a text edit of the two numbers: every other line (comments, one-line sections) as written
    before, after = open("params.yaml").read().splitlines(), copy.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) == 2
    assert all(a.replace(str(params_of(a)), "") == b.replace(str(params_of(b)), "") for a, b in changed)


def params_of(line: str) -> int:
    import re

    return int(re.search(r"epochs:\s*(\d+)", line).group(1))


def test_the_report_block_shows_each_networks_epochs_before_and_after():
    from pipeline.results_table import epoch_rule_markdown

    rule = {"rule": "the rule", "experiment": "calibration-epochs", "machine": {"cpu": "CPU X", "family": "6"},
            "networks": {"rgb_only": {"params_key": "train.rgb_only.epochs", "before": 4, "calibration_epochs": 8,
                                      "plateau_epoch": 6, "val_top1": [0.1, 0.2, 0.4, 0.5, 0.6, 0.7, 0.7, 0.7]}}}
    block = epoch_rule_markdown(rule)
    assert "| `rgb_only` | `train.rgb_only.epochs` | 4 | 8 | **6** | 3 | 60.0 / 70.0 |" in block
    assert "CPU X (family 6, model ?)" in block and "the rule" in block


def test_the_demo_trains_every_network_for_the_same_fraction_of_the_rules_epochs():
    """params.yaml (the demo) holds `DEMO_FRACTION` of each network's rule epochs, rounded up, and the
    research profile every claim is read from trains the method's networks to the rule's own."""
    from crychic.core.params import flatten, load_params
    from pipeline.ablations import research_profile
    from pipeline.epoch_rule import DEMO_FRACTION, demo_epochs, rule_epochs

    rule = rule_epochs()
    assert set(rule) == {key for key, _ in NETWORKS.values()}
    params = flatten(load_params("params.yaml"))
    assert {key: params[key] for key in rule} == demo_epochs(rule)
    assert demo_epochs({"a": 43, "b": 1}, 0.5) == {"a": 22, "b": 1} and 0 < DEMO_FRACTION <= 1
    for key in ("train.teacher.epochs", "train.student.epochs", "train.joint.epochs", "train.rgb_only.epochs",
                "i3d.epochs"):
        assert f"{key}={rule[key]}" in research_profile()
