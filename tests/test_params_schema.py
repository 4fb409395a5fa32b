"""The params schema (crychic.core.params_schema): the shipped settings pass, every kind of bad value
stops the stage that reads it at its start, naming the key, the value and what is allowed, and
the schema cannot drift from params.yaml, the presets, the model registry or the code's choices."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT_ROOT
from crychic.core.params import flatten, load_params, select
from crychic.core.params_schema import RULES, Choice, ModelName, ParamsError

DVC_STAGES = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
PRESETS = sorted((PROJECT_ROOT / "presets").glob("*.yaml"))


def with_settings(params: dict, settings: dict) -> dict:
    """A copy of `params` with {dotted key: value} set (as `dvc exp run -S key=value` does)."""
    params = copy.deepcopy(params)
    for key, value in settings.items():
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return params


def with_preset(preset: Path) -> dict:
    """params.yaml with a preset's leaves over it: what `pipeline.presets` runs (one -S per leaf)."""
    return with_settings(load_params(PROJECT_ROOT / "params.yaml"), flatten(yaml.safe_load(preset.read_text()) or {}))


def at(params: dict, key: str):
    node = params
    for part in key.split("."):
        node = node[part]
    return node


# ---------------------------------------------------------------- what ships passes, unchanged

@pytest.mark.parametrize("preset", [None, *PRESETS], ids=lambda p: "params.yaml" if p is None else p.name)
def test_the_defaults_and_every_preset_pass_every_stage_unchanged(preset):
    params = load_params(PROJECT_ROOT / "params.yaml") if preset is None else with_preset(preset)
    for name, stage in DVC_STAGES.items():
        keys = [str(key) for key in stage.get("params", [])]
        selected = select(params, keys)
        for key in keys:  # the very values of params.yaml: the check coerces nothing
            assert at(selected, key) is at(params, key), (name, key)


def test_every_setting_has_a_rule_and_every_rule_a_setting():
    leaves = set(flatten(load_params(PROJECT_ROOT / "params.yaml")))
    assert leaves - set(RULES) == set(), "settings without a rule in crychic/core/params_schema.py"
    assert set(RULES) - leaves == set(), "rules for settings params.yaml does not have"
    for preset in PRESETS:
        assert set(flatten(yaml.safe_load(preset.read_text()))) <= set(RULES), preset.name


# ---------------------------------------------------------------- each kind of bad value

BAD_VALUES = [  # key, bad value, the whole message select raises
    # the acceptance list of issue 25 F
    ("train.teacher.epochs", 0, "params.yaml: train.teacher.epochs = 0: must be an integer >= 1"),
    ("heatmap.sigma", -1, "params.yaml: heatmap.sigma = -1: must be a number > 0"),
    ("heatmap.size", 0, "params.yaml: heatmap.size = 0: must be an integer >= 1"),
    ("rgb.size", -5, "params.yaml: rgb.size = -5: must be an integer >= 1"),
    ("train.batch_size", 0, "params.yaml: train.batch_size = 0: must be an integer >= 1"),
    ("train.joint.lr", -0.003, "params.yaml: train.joint.lr = -0.003: must be a number > 0"),
    ("model.student", "resnet99", 'params.yaml: model.student = "resnet99": must be a registered student model, '
                                  "one of: resnet18_temporal, resnet18_tiny"),
    # a registered model of the wrong kind
    ("gcn.model", "resnet18_tiny", 'params.yaml: gcn.model = "resnet18_tiny": must be a registered gcn model, '
                                   "one of: stgcn, stgcn_tiny"),
    # the other kinds: a choice, a boolean, a fraction, a path, a nullable integer, a list, a device
    ("train.teacher.optimizer", "adam", 'params.yaml: train.teacher.optimizer = "adam": must be one of: adamw, sgd'),
    ("heatmap.with_limb", "yes", 'params.yaml: heatmap.with_limb = "yes": must be true or false'),
    ("rgb.max_reject_fraction", 1.5, "params.yaml: rgb.max_reject_fraction = 1.5: must be a number >= 0 and <= 1"),
    ("data.root", 5, "params.yaml: data.root = 5: must be a path (text) or null"),
    ("rgb.decode_max_side", 0, "params.yaml: rgb.decode_max_side = 0: must be an integer >= 1 or null"),
    ("colour_cue.c_grid", [], "params.yaml: colour_cue.c_grid = []: must be a non-empty list, each item a number > 0"),
    ("train.device", "gpu", 'params.yaml: train.device = "gpu": must be one of: auto, cpu, cuda, cuda:<index>'),
    # types: a bool is no integer, 16.0 is no integer, a missing value is no model
    ("train.teacher.epochs", True, "params.yaml: train.teacher.epochs = true: must be an integer >= 1"),
    ("train.teacher.epochs", 16.0, "params.yaml: train.teacher.epochs = 16.0: must be an integer >= 1"),
    ("model.teacher", None, "params.yaml: model.teacher = null: must be a registered teacher model, one of: "
                            "posec3d_slowonly_r50, posec3d_small, posec3d_tiny"),
    # PyYAML reads 1e-3 (no dot) as text: the message says so
    ("train.student.lr", "1e-3", 'params.yaml: train.student.lr = "1e-3": must be a number > 0 (YAML read it as '
                                 "text: write numbers unquoted, exponents with a dot: 1.0e-3)"),
    # a mapping where a value belongs, a value where a section belongs
    ("heatmap.sigma", {"x": 1}, "params.yaml: heatmap.sigma is a mapping: must be a number > 0"),
    ("train.teacher", 5, "params.yaml: train.teacher = 5: must be a section (a mapping of its settings)"),
]


@pytest.mark.parametrize("key, value, message", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_a_bad_value_is_named_with_what_is_allowed(key, value, message):
    params = with_settings(load_params(PROJECT_ROOT / "params.yaml"), {key: value})
    with pytest.raises(ParamsError) as raised:
        select(params, [key])
    assert str(raised.value) == message


def test_null_passes_only_where_a_key_allows_it():
    params = with_settings(load_params(PROJECT_ROOT / "params.yaml"), {
        "data.root": None, "rgb.decode_max_side": None, "keypoints.mediapipe_frame_size": None, "rgb.size": None})
    select(params, ["data.root", "rgb.decode_max_side", "keypoints.mediapipe_frame_size"])
    with pytest.raises(ParamsError, match=r"rgb.size = null: must be an integer >= 1$"):
        select(params, ["rgb.size"])


def test_a_stage_checks_the_leaves_of_the_sections_it_selects_and_only_its_own_keys():
    from crychic.training.stage import PARAM_KEYS
    from stages.ingest import PARAM_KEYS as INGEST_KEYS

    params = load_params(PROJECT_ROOT / "params.yaml")
    # the teacher selects the section `train.teacher`; ingest selects `data.synthetic`
    with pytest.raises(ParamsError, match=r"train.teacher.epochs = 0:"):
        select(with_settings(params, {"train.teacher.epochs": 0}), PARAM_KEYS["teacher"])
    with pytest.raises(ParamsError, match=r"data.synthetic.height = 10: must be an integer >= 32"):
        select(with_settings(params, {"data.synthetic.height": 10}), INGEST_KEYS)
    # a bad loss weight is the student's business: the teacher, which never reads it, still runs
    bad_loss = with_settings(params, {"loss.temperature": 0})
    select(bad_loss, PARAM_KEYS["teacher"])
    with pytest.raises(ParamsError, match=r"loss.temperature = 0: must be a number > 0"):
        select(bad_loss, PARAM_KEYS["student"])


def test_every_bad_setting_is_named_at_once():
    params = with_settings(load_params(PROJECT_ROOT / "params.yaml"),
                           {"train.batch_size": 0, "train.teacher.lr": -1, "model.teacher": "resnet99"})
    with pytest.raises(ParamsError) as raised:
        select(params, ["train.batch_size", "train.teacher", "model.teacher"])
    assert str(raised.value).startswith("params.yaml: 3 invalid settings:\n")
    assert len(raised.value.problems) == 3
    for key in ("train.batch_size = 0", "train.teacher.lr = -1", 'model.teacher = "resnet99"'):
        assert key in str(raised.value)


def test_a_missing_key_keeps_its_message():
    with pytest.raises(KeyError, match="params.yaml: missing setting 'train.teacher.epochs'"):
        select({"train": {"teacher": {}}}, ["train.teacher.epochs"])


# ---------------------------------------------------------------- by hand: the real stage stops before any work

def write_empty_clip_plan(path: Path) -> None:
    """A clip plan with no rows: with good settings the stage would go on to clear its out folder."""
    from crychic.clips.plan import CLIP_PLAN_SCHEMA
    from crychic.core.manifest import write_table

    write_table([], CLIP_PLAN_SCHEMA, path)


STAGE_RUNS = [  # stage, bad settings, the previous output the run must leave as it was, extra arguments
    ("train_teacher", {"train.teacher.epochs": 0, "train.batch_size": 0, "train.teacher.lr": -0.01,
                       "model.teacher": "resnet99"}, "teacher.pt",
     ["--plots", "{out}/plots.json", "--heatmaps", "{tmp}/heatmaps", "--manifest", "{tmp}/manifest.parquet",
      "--no-mlflow"]),
    ("render_heatmaps", {"heatmap.sigma": -1, "heatmap.size": 0}, "shard-00000.h5",
     ["--clips", "{tmp}/clips.parquet", "--keypoints", "{tmp}/keypoints.h5"]),
    ("decode_rgb", {"rgb.size": -5}, "shard-00000.arrow", ["--clips", "{tmp}/clips.parquet"]),
]


@pytest.mark.parametrize("stage, settings, previous, extra", STAGE_RUNS, ids=[run[0] for run in STAGE_RUNS])
def test_a_stage_run_by_hand_stops_at_its_start_and_keeps_its_previous_outputs(tmp_path, stage, settings, previous,
                                                                                 extra):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(with_settings(load_params(PROJECT_ROOT / "params.yaml"), settings)))
    write_empty_clip_plan(tmp_path / "clips.parquet")
    out = tmp_path / "out"
    out.mkdir()
    (out / previous).write_bytes(b"the previous run's output")
    outputs = ["--metrics", "{out}/metrics.json", "--timing", "{out}/timing.json"]
    out_arg = f"{{out}}/{previous}" if stage.startswith("train_") else "{out}"
    argv = [arg.format(tmp=tmp_path, out=out) for arg in ["--out", out_arg, *outputs, *extra]]

    done = subprocess.run([sys.executable, "-m", f"stages.{stage}", "--params", str(params_file), *argv],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "crychic.core.params_schema.ParamsError" in done.stderr, done.stderr[-2000:]
    for key, value in settings.items():
        assert f"{key} = {json.dumps(value)}: must be" in done.stderr, (key, done.stderr[-2000:])
    assert sorted(p.name for p in out.iterdir()) == [previous]  # nothing written, no resume point, no metrics
    assert (out / previous).read_bytes() == b"the previous run's output"


# ---------------------------------------------------------------- the schema stays in step with the code

def test_copied_choices_are_the_codes_own():
    from crychic.keypoints.extraction import KEYPOINT_SOURCES
    from crychic.models.crychic_model import FUSIONS, GUIDANCE_SOURCES
    from crychic.rgb.decode import FRAMINGS
    from crychic.sources.ingest import SOURCES
    from crychic.sources.ntu import PROTOCOLS

    def options(key: str) -> set[str]:
        assert isinstance(RULES[key], Choice), key
        return set(RULES[key].options)

    assert options("data.source") == set(SOURCES)
    assert options("keypoints.source") == set(KEYPOINT_SOURCES)
    assert options("data.ntu.version") == set(PROTOCOLS)
    assert options("data.ntu.protocol") == {p for protocols in PROTOCOLS.values() for p in protocols}
    assert options("model.fusion") == set(FUSIONS)
    assert options("model.guidance_source") == set(GUIDANCE_SOURCES)
    assert options("research.framing") == set(FRAMINGS)


def test_model_families_sort_the_whole_registry():
    from crychic.models import (I3D, MODEL_FAMILIES, MSG3D, STALSTM, STGCN, Student, Teacher, create_model,
                                list_models)

    families = [name for names in MODEL_FAMILIES.values() for name in names]
    assert sorted(families) == list_models()  # every registered name in exactly one family, no unregistered one
    network = {"teacher": Teacher, "student": Student, "gcn": STGCN, "msg3d": MSG3D, "sta_lstm": STALSTM, "i3d": I3D}
    assert set(network) == set(MODEL_FAMILIES)
    params = load_params(PROJECT_ROOT / "params.yaml")
    model_rules = {key: rule for key, rule in RULES.items() if isinstance(rule, ModelName)}
    assert {rule.family for rule in model_rules.values()} == set(MODEL_FAMILIES)
    for key, rule in model_rules.items():  # the default model of each key builds its family's network
        assert isinstance(create_model(at(params, key), num_classes=3), network[rule.family]), key


def test_the_schema_imports_nothing_above_core_and_model_checks_run_only_in_stages_that_depend_on_models():
    """ModelName imports crychic.models by name, which tests/test_dvc_deps.py cannot see: every stage
    that selects a model key must list crychic/models itself."""
    tree = ast.parse((PROJECT_ROOT / "crychic" / "core" / "params_schema.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.startswith("crychic")}, imported
    model_keys = [key for key, rule in RULES.items() if isinstance(rule, ModelName)]
    for name, stage in DVC_STAGES.items():
        reads = [key for key in model_keys for selected in stage.get("params", [])
                 if key == selected or key.startswith(f"{selected}.")]
        if reads:
            assert "crychic/models" in stage["deps"], (name, reads)
