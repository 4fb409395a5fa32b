"""`research.text_anchor`: the text anchor's stage 3 is a research arm, off in the default `dvc repro`.

Off, `train_text` trains nothing and leaves markers, and `evaluate` scores every other model without
crychic_text rows; on (the sweep's research profile, and the contrastive experiment in
tests/test_dvc_pipeline.py, whose default run covers the off path end to end) the stage trains for real.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from crychic.evaluation.evaluate import kept_checkpoints, test_figures as score_on_test
from crychic.evaluation.methods import COMPARISONS, TRAINED_CHECKPOINTS
from pipeline.ablations import research_profile
from conftest import PROJECT_ROOT
from stages import train_text


def _params(tmp_path, text_anchor: bool):
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["research"]["text_anchor"] = text_anchor
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_default_is_off_and_the_research_profile_turns_it_on():
    assert yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["research"]["text_anchor"] is False
    assert "research.text_anchor=true" in research_profile()


def test_switched_off_the_stage_writes_markers_and_trains_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "models/text.pt"
    args = ["--params", str(_params(tmp_path, False)), "--out", str(out), "--metrics", str(tmp_path / "m.json"),
            "--timing", str(tmp_path / "t.json"), "--plots", str(tmp_path / "p.json"),
            "--manifest", str(tmp_path / "none.parquet"), "--heatmaps", str(tmp_path / "none"),
            "--rgb", str(tmp_path / "none"), "--class-text", str(tmp_path / "none.h5")]  # never read: nothing trains
    train_text.main(args)
    marker = torch.load(out, map_location="cpu", weights_only=True)
    assert marker["enabled"] is False and "research.text_anchor" in marker["reason"]
    assert json.loads((tmp_path / "m.json").read_text()) == {"enabled": False, "epochs": 0}
    assert json.loads((tmp_path / "t.json").read_text()) == {"seconds": 0.0}
    assert json.loads((tmp_path / "p.json").read_text()) == []
    assert "is a marker" in capsys.readouterr().out
    # switched on, the same command trains (the training stage's runner) and writes no marker
    out.unlink()
    calls = []
    monkeypatch.setattr(train_text, "run_training_stage", lambda stage, parsed, train: calls.append((stage, train)))
    train_text.main([*args[:1], str(_params(tmp_path, True)), *args[2:]])
    assert calls == [("text", train_text.train_text_from_args)] and not out.exists()


def test_evaluate_leaves_out_the_claims_of_a_model_that_did_not_train(tmp_path):
    labels = torch.tensor([0, 1, 0, 1])
    logits = {name: torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]]) for a, b in COMPARISONS
              for name in (a, b) if not name.startswith("crychic_text")}
    figures = score_on_test(logits, labels, ["a", "b"], {}, resamples=20)
    assert "crychic_text - crychic_posefree" not in figures["comparisons"]
    assert set(figures["comparisons"]) == {f"{a} - {b}" for a, b in COMPARISONS if not a.startswith("crychic_text")}
    (tmp_path / "train_text.json").write_text(json.dumps({"enabled": False, "epochs": 0}))
    with pytest.raises(FileNotFoundError, match=r"train_teacher\.json: the train_teacher stage's metrics"):
        kept_checkpoints(tmp_path)  # a stage that wrote nothing is not a model without a kept epoch
    for stage in TRAINED_CHECKPOINTS.values():
        if stage != "train_text":
            (tmp_path / f"{stage}.json").write_text(json.dumps({"best_epoch": 0, "epochs": 1, "val_top1": 0.5}))
    (tmp_path / "train_joint.json").write_text(json.dumps({"best_epoch": 2, "epochs": 5, "val_top1": 0.5}))
    del logits["teacher"]  # a model that is not a research arm's must not go missing quietly
    with pytest.raises(KeyError, match="teacher"):
        score_on_test(logits, labels, ["a", "b"], {}, resamples=20)
    kept = kept_checkpoints(tmp_path)
    assert "crychic_text" not in kept and kept["crychic"]["kept_epoch"] == 3
