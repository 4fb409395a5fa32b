"""pipeline.holdout_check: which claims are checked, which draws are refused, how a sign is judged."""

import json

import numpy as np
import pytest

from pipeline.holdout_check import check, main, supported_claims, used_draws


def _table() -> dict:
    claim = lambda t: {"per_draw": [0.1, 0.2, 0.15], "draws": 3, "t_ci95": t, "ci95": t}  # noqa: E731
    return {
        "claims": {
            "crychic_fused - crychic_posefree": claim([0.05, 0.25]),  # supported, claimed better
            "crychic_fused - late_fusion": claim([-0.05, 0.18]),  # straddles zero: not supported
            "i3d - rgb_only": claim([-0.5, -0.1]),  # a baseline comparison: no direction, never "supported"
        },
        "experiments": {"abl7-full-d0": {"variant": "full", "draw": 0}, "abl7-no-contrastive-d3": {"variant": "x", "draw": 3}},
    }


def test_only_the_claims_the_report_calls_supported_are_checked():
    claims = supported_claims(_table())
    assert list(claims) == ["crychic_fused - crychic_posefree"]
    assert claims["crychic_fused - crychic_posefree"]["direction"] == 1
    assert claims["crychic_fused - crychic_posefree"]["interval"] == [0.05, 0.25]


def test_a_sign_is_kept_only_on_the_claimed_side_of_zero():
    claims = supported_claims(_table())
    ahead = {"crychic_fused": np.array([1, 1, 0, 1], bool), "crychic_posefree": np.array([1, 0, 0, 1], bool)}
    assert check(claims, ahead)["crychic_fused - crychic_posefree"] == {
        **claims["crychic_fused - crychic_posefree"], "difference": 0.25, "kept_sign": True}
    tied = {"crychic_fused": ahead["crychic_posefree"], "crychic_posefree": ahead["crychic_posefree"]}
    assert check(claims, tied)["crychic_fused - crychic_posefree"]["kept_sign"] is False  # zero keeps no sign
    behind = {"crychic_fused": ahead["crychic_posefree"], "crychic_posefree": ahead["crychic_fused"]}
    assert check(claims, behind)["crychic_fused - crychic_posefree"]["kept_sign"] is False


def test_a_draw_any_experiment_used_is_refused(tmp_path, monkeypatch):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/ablations.json").write_text(json.dumps(_table()))
    (tmp_path / "metrics/ablations_abl6.json").write_text(json.dumps({"experiments": {"abl6-full-d5": {"draw": 5}}}))
    (tmp_path / "params.yaml").write_text("data:\n  seed: 7\n")
    monkeypatch.chdir(tmp_path)
    assert used_draws([_table()]) == {0, 3}
    for draw in (0, 3, 5, 7):  # this sweep's, an earlier sweep's, the default pipeline's
        with pytest.raises(SystemExit, match=f"draw {draw} has been used"):
            main(["--draw", str(draw)])


def test_an_unused_draw_goes_on_to_the_experiment_and_the_sweep_then_refuses_it(tmp_path, monkeypatch):
    from conftest import PROJECT_ROOT
    from pipeline import ablations, dvc_experiments

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/ablations.json").write_text(json.dumps(_table()))
    (tmp_path / "params.yaml").write_text("data:\n  seed: 0\n")
    monkeypatch.chdir(tmp_path)

    class ReachedTheExperiment(Exception):
        pass

    def experiments():
        raise ReachedTheExperiment

    monkeypatch.setattr(dvc_experiments, "experiment_metrics", experiments)
    with pytest.raises(ReachedTheExperiment):  # past every refusal
        main(["--draw", "9"])
    # Once a check on draw 9 is recorded, the sweep refuses to run on it, and so does a later check,
    # also after the file is kept under an earlier revision's name.
    (tmp_path / "metrics/holdout_check.json").write_text(json.dumps({"draw": 9}))
    with pytest.raises(SystemExit, match="draw 9 is the held-out draw"):
        ablations.main(["--variants", "full", "--draws", "0", "9", "--params", str(PROJECT_ROOT / "params.yaml"),
                        "--out", str(tmp_path / "metrics/ablations.json")])
    (tmp_path / "metrics/holdout_check.json").rename(tmp_path / "metrics/holdout_check_abl7.json")
    with pytest.raises(SystemExit, match="draw 9 is the held-out draw"):
        ablations.main(["--variants", "full", "--draws", "9", "--params", str(PROJECT_ROOT / "params.yaml"),
                        "--out", str(tmp_path / "metrics/ablations.json")])
    with pytest.raises(SystemExit, match="draw 9 has been used"):
        main(["--draw", "9"])


def test_the_table_source_names_the_file_in_its_repository_and_the_commit(tmp_path):
    import subprocess

    from pipeline.holdout_check import table_source

    repo = tmp_path / "repo"
    (repo / "metrics").mkdir(parents=True)
    (repo / "metrics/ablations.json").write_text("{}")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert table_source(str(repo / "metrics/ablations.json")) == f"metrics/ablations.json at commit {head}"
    (repo / "metrics/ablations.json").write_text("{\"claims\": {}}")
    assert table_source(str(repo / "metrics/ablations.json")).endswith("(with uncommitted changes)")


def test_a_variant_s_own_claims_are_checked_with_its_overrides_and_the_framed_rate_val_chose(tmp_path, monkeypatch):
    from pipeline import ablations, dvc_experiments
    from pipeline.holdout_check import held_out_variant, variant_claims
    from pipeline.results_table import holdout_markdown

    own = {"crychic_posefree - rgb_only": {"per_draw": [0.4, 0.45, 0.5], "draws": 3, "t_ci95": [0.3, 0.6], "ci95": [0.3, 0.6]}}
    at_low_rate = {"crychic_posefree - rgb_only": {**own["crychic_posefree - rgb_only"], "t_ci95": [0.2, 0.5]}}
    chosen = {"choice": {"chosen": "framed_rgb_lr_low"}, "variant_claims": {"framed_keypoints": at_low_rate}}
    table = {**_table(), "variant_claims": {"framed_keypoints": own}, "framed_baseline": chosen}
    # the D arm's claims as the report reads them: against rgb_only at the rate val chose for the framing
    assert variant_claims(table, "framed_keypoints") == at_low_rate
    assert variant_claims(table, "full") == table["claims"]
    # only the claims the D-arm block reads, and only over two draws or more (one draw: one run's clip interval)
    one_draw = {"student_guided - rgb_only": {"per_draw": [0.5], "draws": 1, "t_ci95": [None, None], "ci95": [0.4, 0.6]},
                "crychic_text - crychic_posefree": own["crychic_posefree - rgb_only"]}
    from pipeline.holdout_check import supported_claims

    mixed = variant_claims({"variant_claims": {"framed_keypoints": {**own, **one_draw}}}, "framed_keypoints")
    assert sorted(mixed) == ["crychic_posefree - rgb_only", "student_guided - rgb_only"]
    assert list(supported_claims({"claims": mixed})) == ["crychic_posefree - rgb_only"]
    fusion = {"crychic_fused - late_fusion": own["crychic_posefree - rgb_only"]}  # the block reads it in the framing too
    assert variant_claims({"variant_claims": {"framed_keypoints": {**own, **fusion}}}, "framed_keypoints") == {**own, **fusion}
    name = held_out_variant(table, "framed_keypoints")
    undecided = {**table, "framed_baseline": {"choice": {"chosen": None}, "variant_claims": {}}}
    at_x3 = held_out_variant(undecided, "framed_keypoints")
    try:  # the rate is in the name: a check at another rate never reuses the experiment
        assert name == "holdout_framed_keypoints_rgb_lr_low" and at_x3 == "holdout_framed_keypoints"
        assert ablations.VARIANTS[name] == [*ablations.FRAMED["framed_keypoints"], "train.rgb_only.lr_scale=0.3"]
        assert ablations.parse_experiment_name(ablations.experiment_name(name, 37)) == (name, 37)
        assert ablations.VARIANTS[at_x3] == ablations.FRAMED["framed_keypoints"]
    finally:
        ablations.VARIANTS.pop(name, None)
        ablations.VARIANTS.pop(at_x3, None)

    # a variant's check may use the draw of full's held-out check (no sweep used it), never a sweep's draw
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/ablations.json").write_text(json.dumps(table))
    (tmp_path / "metrics/holdout_check.json").write_text(json.dumps({"draw": 9}))
    (tmp_path / "params.yaml").write_text("data:\n  seed: 7\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="draw 3 has been used"):
        main(["--draw", "3", "--variant", "framed_keypoints"])
    with pytest.raises(SystemExit, match="draw 9 has been used"):  # full's own check refuses it
        main(["--draw", "9"])

    class ReachedTheExperiment(Exception):
        pass

    def experiments():
        raise ReachedTheExperiment

    monkeypatch.setattr(dvc_experiments, "experiment_metrics", experiments)
    try:
        with pytest.raises(ReachedTheExperiment):
            main(["--draw", "9", "--variant", "framed_keypoints"])
    finally:
        ablations.VARIANTS.pop("holdout_framed_keypoints_rgb_lr_low", None)
    with pytest.raises(SystemExit, match="no claim of no_contrastive the report calls supported"):
        main(["--draw", "9", "--variant", "no_contrastive"])

    # the report renders full's check, then the variant's
    def result(variant: str, claim: str) -> dict:
        return {"draw": 9, "variant": variant, "experiment": "abl10-x-d9", "clips": 720, "machine": {"cpu": "AMD EPYC"},
                "table": "metrics/ablations.json at commit abc", "rule": "The rule.", "all_kept": True,
                "claims": {claim: {"direction": 1, "interval": [0.2, 0.5], "interval_kind": "t interval over draws",
                                   "draws": 3, "difference": 0.41, "kept_sign": True}}}

    text = holdout_markdown(result("full", "crychic_fused - teacher"),
                            [result("framed_keypoints", "crychic_posefree - rgb_only")])
    assert text.index("`crychic_fused - teacher`") < text.index("**`framed_keypoints`'s own claims**") \
        < text.index("`crychic_posefree - rgb_only`")
