"""Models and data files load without running code (issue 24, part C): checkpoints and resume points
are read with `torch.load(weights_only=True)` and refuse a file that holds anything else; a logged
MLflow model is weights (safetensors) and plain JSON, and loads in a fresh process where pickle
loading is disabled, giving the in-process model's logits. (Hostile PYSKL pickles:
tests/test_pyskl_annotations.py.)"""

from __future__ import annotations

import builtins
import dataclasses
import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import PROJECT_ROOT
from crychic.models import CrychicConfig, CrychicModel, TeacherConfig
from crychic.models.crychic_model import config_from_dict
from crychic.models.logged import read_logged_model, served_input, write_logged_model
from crychic.models.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from crychic.training.resume import ResumePoint, random_states, restore_random_states

LABELS = ["drink", "wave", "read"]


def tiny_model(seed: int = 0) -> CrychicModel:
    """A small CRYCHIC model whose weights and BatchNorm statistics no fresh build has."""
    torch.manual_seed(seed)
    config = CrychicConfig(num_classes=len(LABELS),
                           teacher=TeacherConfig(in_channels=17, base_channels=4, stage_blocks=(1, 1, 1)),
                           student="resnet18_tiny", student_overrides={"width": 8}, embed_dim=16)
    model = CrychicModel(config)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                value.add_(0.05 * torch.randn_like(value))
                if "running_var" in name:
                    value.abs_()
    return model.eval()


def inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {"heatmap": torch.rand(2, 17, 4, 32, 32, generator=generator),  # N x K x T x H x W
            "rgb": torch.randn(2, 3, 2, 64, 64, generator=generator)}  # N x 3 x T x H x W


class RunsCode:
    """Unpickled plainly, this calls `exec(source)`: what a hostile file would carry."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return builtins.exec, (self.source,)


# ------------------------------------------------------------------ checkpoints and resume points

def test_a_checkpoint_is_tensors_and_plain_data(tmp_path):
    model = tiny_model()
    other = {k: v + 1 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    save_checkpoint(tmp_path / "joint.pt", model, stage="joint", label_names=LABELS,
                    head_states={"student_posefree": other})
    plain = torch.load(tmp_path / "joint.pt", map_location="cpu", weights_only=True)  # raises on anything else
    assert plain["stage"] == "joint" and plain["label_names"] == LABELS
    assert plain["model_config"] == dataclasses.asdict(model.config)
    assert config_from_dict(plain["model_config"]) == model.config  # the dataclass back, nested config and all

    fresh = tiny_model(seed=1)
    payload = load_checkpoint(tmp_path / "joint.pt", fresh)
    assert payload["label_names"] == LABELS
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_the_same_weights_give_a_checkpoint_of_the_same_bytes(tmp_path):
    """Two saves of one model are byte-identical files (DVC's md5 of a model then says whether two runs
    trained the same weights): torch.save given a path named the zip's root after the temporary file."""
    for name in ("first.pt", "second.pt"):
        save_checkpoint(tmp_path / name, tiny_model(), stage="joint", label_names=LABELS)
    assert (tmp_path / "first.pt").read_bytes() == (tmp_path / "second.pt").read_bytes()


def test_a_checkpoint_that_holds_code_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran.txt"
    model = tiny_model()
    path = tmp_path / "teacher.pt"
    torch.save({"stage": "teacher", "model_config": dataclasses.asdict(model.config), "label_names": LABELS,
                "state_dict": model.state_dict(), "extra": RunsCode(f"open({str(marker)!r}, 'w')")}, path)
    with pytest.raises(ValueError) as caught:
        load_checkpoint(path, tiny_model())
    message = str(caught.value)
    assert message.startswith(f"{path}: refused: a checkpoint holds tensors and plain data only")
    assert message.endswith("this one asks for 'exec'")
    assert not marker.exists()
    with pytest.raises(ValueError, match="refused"):
        read_checkpoint(path)  # what evaluate and the baselines read checkpoints with
    assert not marker.exists()


def test_a_resume_point_is_plain_data_and_restores_every_random_state(tmp_path):
    random.seed(5)
    np.random.seed(5)
    np.random.normal()  # NumPy's legacy state then holds a cached Gaussian too
    torch.manual_seed(5)
    point = ResumePoint.beside(tmp_path / "toy.pt", token="t")
    point.save({"epoch": 0, "random": random_states(loader=None)})
    expected = (random.random(), np.random.normal(), np.random.rand(3), torch.rand(3))
    saved = torch.load(point.path, map_location="cpu", weights_only=True)  # raises on anything else
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    restore_random_states(point.load()["random"], loader=None)
    drawn = (random.random(), np.random.normal(), np.random.rand(3), torch.rand(3))
    assert saved["token"] == "t" and drawn[0] == expected[0] and drawn[1] == expected[1]
    assert np.array_equal(drawn[2], expected[2]) and torch.equal(drawn[3], expected[3])


def test_a_resume_point_that_holds_code_is_not_loaded(tmp_path, capsys):
    marker = tmp_path / "ran.txt"
    point = ResumePoint.beside(tmp_path / "toy.pt", token="t")
    point.path.parent.mkdir(parents=True)
    torch.save({"token": "t", "epoch": 3, "history": RunsCode(f"open({str(marker)!r}, 'w')")}, point.path)
    assert point.load() is None  # the run starts from epoch 1
    assert "holds more than tensors and plain data" in capsys.readouterr().out
    assert not marker.exists()


# ------------------------------------------------------------------ logged models

def test_a_logged_model_reads_back_from_its_two_files(tmp_path):
    model, x = tiny_model(), inputs()
    files = write_logged_model(tmp_path, model, stage="joint", model_name="joint_pose_free_student", modality="rgb",
                               output_key="student_logits", label_names=LABELS)
    assert json.loads(files["config"].read_text())["model_config"]["teacher"]["stage_blocks"] == [1, 1, 1]
    logged = read_logged_model(files["weights"], files["config"])
    assert (logged.stage, logged.model_name, logged.modality, logged.label_names) == (
        "joint", "joint_pose_free_student", "rgb", LABELS)
    assert not logged.module.training and logged.module.config == model.config
    with torch.no_grad():
        torch.testing.assert_close(logged.logits(x["rgb"]), model(rgb=x["rgb"])["student_logits"], rtol=0, atol=0)

    description = json.loads(files["config"].read_text())
    description["model_config"]["embed_dim"] = 32  # settings that do not fit the weights
    files["config"].write_text(json.dumps(description))
    with pytest.raises(RuntimeError, match="size mismatch"):
        read_logged_model(files["weights"], files["config"])


# Run in a fresh interpreter: pickle loading disabled before anything else is imported, then the
# logged models loaded through the project's loader and through MLflow's pyfunc.
FRESH_PROCESS = textwrap.dedent("""
    import pickle, _pickle

    def refuse(*args, **kwargs):
        raise RuntimeError("pickle loading is disabled in this process")

    class RefusingUnpickler:
        def __init__(self, *args, **kwargs):
            refuse()

    for module in (pickle, _pickle):
        module.load = module.loads = refuse
        module.Unpickler = RefusingUnpickler

    import json, sys
    import cloudpickle
    import mlflow.pyfunc
    import numpy as np
    import torch
    from crychic.models.logged import load_logged_model

    assert cloudpickle.load is refuse and cloudpickle.loads is refuse
    mlflow.set_tracking_uri(sys.argv[1])
    report = {}
    for uri, modality, out in json.loads(sys.argv[2]):
        x = np.load(f"{out}.input.npy", allow_pickle=False)
        logged = load_logged_model(uri)
        np.save(f"{out}.loader.npy", logged.logits(torch.from_numpy(x)).numpy(), allow_pickle=False)
        np.save(f"{out}.pyfunc.npy", np.asarray(mlflow.pyfunc.load_model(uri).predict(x)), allow_pickle=False)
        report[uri] = [logged.stage, logged.model_name, logged.modality, logged.output_key, logged.label_names]
    print(json.dumps(report))
""")


@pytest.mark.slow  # the real MLflow: a SQLite store, two logged models, a fresh interpreter (about 30 s)
def test_logged_models_load_in_a_fresh_process_with_pickle_disabled_and_give_the_same_logits(tmp_path, monkeypatch):
    import mlflow

    from crychic.models.logged import log_crychic_model
    from crychic.reporting.tracking import StageRun
    from crychic.training.stage import MODEL_NAMES

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(tmp_path)  # the store's artifacts go to tmp_path/mlruns
    previous_uri = mlflow.get_tracking_uri()
    model, x = tiny_model(), inputs()
    cases, expected = [], {}
    try:
        with StageRun("train_joint", {"seed": 0}) as run:
            for stage in ("teacher", "joint"):  # the teacher serves heatmaps, every other stage the RGB student
                modality, output_key = served_input(stage)
                with torch.no_grad():
                    expected[stage] = model(**{modality: x[modality]})[output_key].numpy()
                model_uri = log_crychic_model(model, x[modality][:1].numpy(), stage=stage,
                                              model_name=MODEL_NAMES[stage], modality=modality,
                                              output_key=output_key, label_names=LABELS)
                out = tmp_path / stage
                np.save(f"{out}.input.npy", x[modality].numpy(), allow_pickle=False)
                cases.append((f"runs:/{run.run_id}/{MODEL_NAMES[stage]}", modality, str(out)))
                if stage == "joint":  # the URI log_model returns works too
                    cases.append((model_uri, modality, str(tmp_path / "joint-by-model-uri")))
                    np.save(tmp_path / "joint-by-model-uri.input.npy", x[modality].numpy(), allow_pickle=False)
        logged = Path(mlflow.artifacts.download_artifacts(cases[0][0]))
        files = {path.relative_to(logged).as_posix() for path in logged.rglob("*") if path.is_file()}
        assert {"MLmodel", "logged_pyfunc.py", "artifacts/weights.safetensors", "artifacts/crychic_model.json"} <= files
        assert not [name for name in files if name.endswith((".pkl", ".pickle", ".pt", ".pth"))]  # nothing pickled
    finally:
        mlflow.set_tracking_uri(previous_uri)

    env = {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false", "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, store, json.dumps(cases)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for uri, modality, out in cases:
        stage = "teacher" if modality == "heatmap" else "joint"
        assert report[uri] == [stage, MODEL_NAMES[stage], modality, served_input(stage)[1], LABELS]
        for loader in ("loader", "pyfunc"):
            logits = np.load(f"{out}.{loader}.npy", allow_pickle=False)
            assert logits.shape == (2, len(LABELS))
            np.testing.assert_allclose(logits, expected[stage], rtol=1e-5, atol=1e-5, err_msg=f"{uri} {loader}")
    assert not np.allclose(expected["teacher"], expected["joint"])  # two different outputs were compared
