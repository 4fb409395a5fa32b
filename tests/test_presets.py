"""Presets: every key exists in params.yaml, and the NTU preset is the published configuration."""

from __future__ import annotations

import yaml

from conftest import PROJECT_ROOT
from crychic.models import create_model
from crychic.core.params import flatten, select
from crychic.training.stage import PARAM_KEYS
from pipeline.presets import experiment_command


def test_preset_keys_exist_in_params_and_become_set_params():
    params = flatten(yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text()))
    preset = PROJECT_ROOT / "presets" / "ntu60_xsub.yaml"
    leaves = flatten(yaml.safe_load(preset.read_text()))
    assert set(leaves) <= set(params), sorted(set(leaves) - set(params))
    command = experiment_command(preset, ["data.root=/data/ntu"])
    assert command[:5] == ["dvc", "exp", "run", "-n", "ntu60-xsub"]
    assert "heatmap.clip_len=48" in command and "rgb.size=224" in command
    assert command[-2:] == ["-S", "data.root=/data/ntu"]


def test_ntu_preset_uses_the_published_teacher():
    preset = yaml.safe_load((PROJECT_ROOT / "presets" / "ntu60_xsub.yaml").read_text())
    teacher = create_model(preset["model"]["teacher"], num_classes=60)
    params = sum(p.numel() for p in teacher.parameters())
    print(f"NTU-60 preset teacher: {params / 1e6:.2f} M parameters")
    assert abs(params - 2.0e6) / 2.0e6 < 0.1
    assert (preset["heatmap"]["clip_len"], preset["heatmap"]["size"], preset["rgb"]["size"]) == (48, 56, 224)
    # PYSKL's schedule length: pinned in the preset, since params.yaml's demo trains half the epoch rule's epochs
    effective = {**flatten(yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())), **flatten(preset)}
    assert effective["train.teacher.epochs"] == 24
    # the keypoint baselines at the synthetic benchmark's rule epochs, not the demo's half of them
    from pipeline.epoch_rule import rule_epochs

    assert {key: effective[key] for key in ("gcn.epochs", "msg3d.epochs", "sta_lstm.epochs")} == \
        {key: value for key, value in rule_epochs().items() if key in ("gcn.epochs", "msg3d.epochs", "sta_lstm.epochs")}


def test_a_preset_holds_only_what_differs_from_the_defaults():
    params = flatten(yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text()))
    for preset in (PROJECT_ROOT / "presets").glob("*.yaml"):
        same = [key for key, value in flatten(yaml.safe_load(preset.read_text())).items() if params.get(key) == value]
        assert not same, f"{preset.name} repeats defaults: {same}"


def test_the_i3d_baseline_trains_with_the_rgb_networks_optimizer_in_every_preset():
    """Baselines get the tuning their peers get: I3D trains with the optimizer of the student and `rgb_only`
    (train.student.optimizer), and where no val choice set its rate (a preset), at `rgb_only`'s rate."""
    defaults = flatten(yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text()))
    assert defaults["i3d.optimizer"] == defaults["train.student.optimizer"]
    for preset in (PROJECT_ROOT / "presets").glob("*.yaml"):
        changes = flatten(yaml.safe_load(preset.read_text()))
        effective = {**defaults, **changes}
        assert effective["i3d.optimizer"] == effective["train.student.optimizer"], preset.name
        if any(key.startswith(("train.student.", "train.rgb_only.")) for key in changes):
            rgb_only_lr = effective["train.student.lr"] * effective["train.rgb_only.lr_scale"]
            assert effective["i3d.lr"] == rgb_only_lr, preset.name
        # ...and the stage reads it: train_i3d sees only the keys dvc.yaml lists for it (`select`).
        nested = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
        for key, value in changes.items():
            *parents, leaf = key.split(".")
            node = nested
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        section = select(nested, PARAM_KEYS["i3d"])["i3d"]
        assert (section["optimizer"], section["lr"]) == (effective["i3d.optimizer"], effective["i3d.lr"]), preset.name
