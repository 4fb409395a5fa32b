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
    from pipeline import ablations

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/ablations.json").write_text(json.dumps(_table()))
    (tmp_path / "params.yaml").write_text("data:\n  seed: 0\n")
    monkeypatch.chdir(tmp_path)

    class ReachedTheExperiment(Exception):
        pass

    def experiments():
        raise ReachedTheExperiment

    monkeypatch.setattr(ablations, "experiment_metrics", experiments)
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
