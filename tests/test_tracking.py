"""What a training run records about its inputs: which dvc.lock out holds each, with the md5 DVC
wrote, or the content digest for a stage run by hand; and the inputs and model names per stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from crychic.reporting.tracking import CONTENT_DIGEST, content_digest, dvc_lock_outs, input_dataset_fields
from crychic.training.stage import DVC_STAGE, MODEL_NAMES, PARAM_KEYS, build_parser, input_paths

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCK = {"schema": "2.0", "stages": {
    "ingest": {"cmd": "python -m stages.ingest", "outs": [
        {"path": "data/ingest", "hash": "md5", "md5": "11111111111111111111111111111111.dir", "size": 10,
         "nfiles": 2}]},
    "render_heatmaps": {"cmd": "python -m stages.render_heatmaps", "deps": [
        {"path": "data/clips", "hash": "md5", "md5": "ffffffffffffffffffffffffffffffff.dir"}], "outs": [
        {"path": "data/heatmaps", "hash": "md5", "md5": "5ab7c36245a1508c76f52445c5a3cff7.dir", "size": 11420096,
         "nfiles": 3},
        {"path": "metrics/render_heatmaps.json", "hash": "md5", "md5": "22222222222222222222222222222222",
         "size": 5}]},
    "train_teacher": {"cmd": "python -m stages.train_teacher", "outs": [
        {"path": "models/teacher.pt", "hash": "md5", "md5": "af085af3c3eda8882602dd2dccd7a94b", "size": 3}]},
}}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    for name, content in {"data/ingest/manifest.parquet": b"manifest", "data/ingest/videos/a.mp4": b"video",
                          "data/heatmaps/shard-000.h5": b"heat", "data/rgb/shard-000.arrow": b"rgb",
                          "models/teacher.pt": b"pt"}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_lock_outs_name_their_stage_and_md5(project):
    outs = dvc_lock_outs()
    assert outs["data/heatmaps"] == {"stage": "render_heatmaps", "md5": "5ab7c36245a1508c76f52445c5a3cff7.dir",
                                     "size": 11420096, "nfiles": 3}
    assert "data/clips" not in outs  # a dep, not an out
    assert dvc_lock_outs(project / "missing.lock") == {}
    (project / "bad.lock").write_text("stages: [1, 2]\n")
    with pytest.raises(ValueError, match="bad.lock"):
        dvc_lock_outs(project / "bad.lock")


def test_an_input_under_dvc_is_the_out_that_holds_it_with_the_locked_md5(project):
    outs = dvc_lock_outs()
    manifest = input_dataset_fields("data/ingest/manifest.parquet", outs)
    assert manifest["name"] == "data/ingest" and manifest["digest"] == "11111111111111111111111111111111.dir"
    assert manifest["source"] == str(project / "data/ingest")
    assert manifest["profile"]["digest"] == "dvc.lock: md5 of out 'data/ingest' of stage 'ingest'"
    heatmaps = input_dataset_fields(project / "data/heatmaps", outs)  # an absolute path inside the project
    assert (heatmaps["name"], heatmaps["digest"]) == ("data/heatmaps", "5ab7c36245a1508c76f52445c5a3cff7.dir")
    assert heatmaps["profile"]["nfiles"] == 3 and len(heatmaps["digest"]) <= 36  # MLflow's digest limit
    teacher = input_dataset_fields("./models/teacher.pt", outs)
    assert (teacher["name"], teacher["digest"]) == ("models/teacher.pt", "af085af3c3eda8882602dd2dccd7a94b")


def test_an_input_no_lock_entry_holds_gets_the_content_digest_and_says_so(project):
    by_hand = input_dataset_fields("data/rgb", None)
    assert by_hand["name"] == "data/rgb" and by_hand["digest"] == content_digest(project / "data/rgb")
    assert by_hand["profile"]["digest"] == f"{CONTENT_DIGEST} (run outside DVC)"
    not_locked = input_dataset_fields("data/rgb", dvc_lock_outs())
    assert not_locked["digest"] == by_hand["digest"] and "no dvc.lock entry holds it" in not_locked["profile"]["digest"]
    with pytest.raises(FileNotFoundError, match="data/nothing"):
        input_dataset_fields("data/nothing", None)


def test_content_digest_follows_the_contents_not_the_place(project, tmp_path_factory):
    before = content_digest(project / "data/ingest")
    assert len(before) == 32 and before != content_digest(project / "data/heatmaps")
    copy = tmp_path_factory.mktemp("copy") / "ingest"
    for file in (project / "data/ingest").rglob("*"):
        if file.is_file():
            (copy / file.relative_to(project / "data/ingest")).parent.mkdir(parents=True, exist_ok=True)
            (copy / file.relative_to(project / "data/ingest")).write_bytes(file.read_bytes())
    assert content_digest(copy) == before
    (copy / "videos/a.mp4").rename(copy / "videos/b.mp4")  # same bytes, another name
    assert content_digest(copy) != before
    (project / "data/ingest/videos/a.mp4").write_bytes(b"other video")
    assert content_digest(project / "data/ingest") != before
    assert content_digest(project / "models/teacher.pt") != content_digest(project / "data/heatmaps/shard-000.h5")


def test_each_training_stage_logs_exactly_the_data_deps_dvc_yaml_declares():
    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    for stage in PARAM_KEYS:
        paths = input_paths(stage, build_parser(stage).parse_args([]))
        data_deps = [d for d in stages[DVC_STAGE[stage]]["deps"] if d.startswith(("data/", "models/"))]
        covered = {dep for dep in data_deps for path in paths if path == dep or path.startswith(dep + "/")}
        assert covered == set(data_deps), (stage, paths, data_deps)
        assert all(any(path == dep or path.startswith(dep + "/") for dep in data_deps) for path in paths), stage
    assert input_paths("student", build_parser("student").parse_args([])) == [
        "data/heatmaps", "data/rgb", "data/rgb_framed", "models/teacher.pt", "data/ingest/manifest.parquet"]


def test_stage2_and_joint_models_have_their_own_names():
    assert len(set(MODEL_NAMES.values())) == len(MODEL_NAMES)
    assert MODEL_NAMES["student"] != MODEL_NAMES["joint"]
