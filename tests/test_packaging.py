"""The install story stays consistent: pyproject pins, the lock, environment.yml, dvc.yaml params; and the
code stays readable: no function longer than a screen."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib

import yaml

from conftest import PROJECT_ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^;\s]+)$")

MAX_FUNCTION_LINES = 60  # from the `def` line to the last, decorators not counted
SHORT_FUNCTION_PACKAGES = ("crychic", "pipeline", "stages")
# (file, function) pairs allowed to be longer.
LONG_NUMBA_KERNELS = {  # one compiled loop nest each, with a reader's guide in its comments
    ("crychic/heatmaps/render.py", "_limb_exponents"),
}
LONG_FUNCTIONS_BEING_SPLIT: set[tuple[str, str]] = set()  # none left (issue 25 B)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject():
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _lock() -> dict[str, str]:
    pins = {}
    for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            match = PIN.match(line)
            assert match, f"requirements.lock: not an exact pin: {line!r}"
            pins[_norm(match.group(1))] = match.group(3)
    return pins


def test_top_level_dependencies_are_exact_pins_that_match_the_lock():
    project = _pyproject()["project"]
    lock = _lock()
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    for dep in deps:
        match = PIN.match(dep)
        assert match, f"pyproject.toml: {dep!r} is not an exact pin"
        name, version = _norm(match.group(1)), match.group(3)
        assert lock.get(name) == version, f"{name}: pyproject pins {version}, requirements.lock has {lock.get(name)}"
    pinned = {_norm(PIN.match(d).group(1)): PIN.match(d).group(3) for d in deps}
    # The traps of ../shared/ENVIRONMENT.md: the on-disk CPU torch, the mediapipe that ships its models.
    assert pinned["torch"] == "2.13.0"
    assert pinned["mediapipe"] == "0.10.21"
    assert pinned["numpy"].startswith("1.")
    assert tuple(int(x) for x in pinned["fastapi"].split(".")[:2]) < (0, 151)


def test_environment_yml_hands_off_to_pip_with_the_lock():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    python = next(d for d in conda if d.startswith("python"))
    requires = _pyproject()["project"]["requires-python"]
    assert python == "python=3.11" and ">=3.11" in requires
    # conda brings only Python and pip; every package comes from pyproject via the lock.
    assert sorted(conda) == ["pip", "python=3.11"]
    assert "-c requirements.lock" in pip and any(p.startswith("-e .") for p in pip)


def test_each_dvc_stage_lists_params_that_exist():
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    assert "ingest" in stages
    for name, stage in stages.items():
        for key in stage.get("params", []):
            # DVC 3.67's run cache restores stale outputs when a value inside a listed top-level
            # section changes (seen here), so stages list leaf keys (nested dicts below a section are fine).
            assert not ("." not in str(key) and isinstance(params.get(key), dict)), (
                f"dvc.yaml stage {name}: list the keys of section {key!r}, not the section")
            node = params
            for part in str(key).split("."):
                assert isinstance(node, dict) and part in node, f"dvc.yaml stage {name}: param {key} not in params.yaml"
                node = node[part]


def test_training_stages_list_exactly_the_params_they_read():
    from crychic.training.stage import DVC_STAGE, PARAM_KEYS

    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    for stage, name in DVC_STAGE.items():
        assert stages[name]["params"] == PARAM_KEYS[stage], name
    assert not any(key.startswith("loss.") for key in PARAM_KEYS["teacher"])  # a loss weight never retrains the teacher


def test_evaluate_stage_lists_exactly_the_params_it_reads():
    from crychic.evaluation.evaluate import PARAM_KEYS

    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    assert stages["evaluate"]["params"] == PARAM_KEYS


def test_baseline_stages_list_exactly_the_params_they_read():
    from crychic.training.colour_cue import PARAM_KEYS as COLOUR_CUE
    from crychic.training.stage import PARAM_KEYS

    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    assert stages["train_colour_cue"]["params"] == COLOUR_CUE
    for name in ("gcn", "msg3d", "sta_lstm", "i3d"):
        assert stages[f"train_{name}"]["params"] == PARAM_KEYS[name], name
    # The RGB-only baseline is the plain student: it never reads the attention-guidance switch.
    # It trains for its own epochs (the epoch rule's), not the CRYCHIC student's stages 2 + 3.
    assert "model.attention_guidance" not in PARAM_KEYS["rgb_only"] and "train.joint.epochs" not in PARAM_KEYS["rgb_only"]


def test_rgb_only_trains_its_own_epochs():
    from crychic.training.loop import stage_epochs

    train = {"teacher": {"epochs": 20}, "student": {"epochs": 25}, "joint": {"epochs": 8}, "rgb_only": {"epochs": 40}}
    assert stage_epochs("rgb_only", train) == 40 and stage_epochs("student", train) == 25


def test_stages_cap_cpu_kernels_unless_told_native(monkeypatch):
    from crychic.core.reproducibility import CPU_KERNEL_CAPS, pin_cpu_kernels

    for key in CPU_KERNEL_CAPS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("CRYCHIC_CPU_KERNELS", "native")
    assert set(pin_cpu_kernels().values()) == {"native"}
    monkeypatch.delenv("CRYCHIC_CPU_KERNELS")
    assert pin_cpu_kernels() == CPU_KERNEL_CAPS
    assert subprocess.run([sys.executable, "-c", "import os, stages; print(os.environ['ONEDNN_MAX_CPU_ISA'])"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout.strip() == "AVX2"


def test_data_stages_list_exactly_the_params_they_read():
    import importlib

    stages = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("ingest", "extract_keypoints", "sample_clips", "render_heatmaps", "decode_rgb"):
        assert stages[name]["params"] == importlib.import_module(f"stages.{name}").PARAM_KEYS, name
    # How a stage runs is not a param: scaling out never invalidates a cached result.
    every = {key for stage in stages.values() for key in stage.get("params", [])}
    assert not {key for key in every if key.split(".")[-1] in ("workers", "batch_size", "dask_address")
                and not key.startswith(("train.", "evaluate."))}
    assert "train.workers" not in every


def long_functions(root, packages=SHORT_FUNCTION_PACKAGES, limit=MAX_FUNCTION_LINES) -> list[tuple[str, str, int, int]]:
    """(file relative to `root`, function name, line of its `def`, length in lines) of every function
    or method in `packages` longer than `limit`, nested ones included."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > limit:
                        found.append((rel, node.name, node.lineno, length))
    return found


def test_no_function_over_60_lines():
    allowed = LONG_NUMBA_KERNELS | LONG_FUNCTIONS_BEING_SPLIT
    offenders = [f"{rel}:{line} {name} ({length} lines)" for rel, name, line, length in long_functions(PROJECT_ROOT)
                 if (rel, name) not in allowed]
    assert not offenders, (f"functions over {MAX_FUNCTION_LINES} lines (split them into named helpers):\n"
                           + "\n".join(offenders))


def test_the_long_function_check_counts_from_def_to_last_line(tmp_path):
    def body(num_lines: int, indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(num_lines))

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        "def at_the_limit():\n" + body(MAX_FUNCTION_LINES - 1, "    ")  # lines 1-60
        + "\n\nclass A:\n    def over_the_limit(self):\n" + body(MAX_FUNCTION_LINES, "        "))  # lines 64-124
    assert long_functions(tmp_path, packages=("pkg",)) == [("pkg/mod.py", "over_the_limit", 64, MAX_FUNCTION_LINES + 1)]


# crychic's packages from the bottom up: a module imports its own package and those below it, never
# one above (the classification report, devices and checkpoints sit below both training and evaluation).
LAYERS = (("core",), ("clips",), ("sources", "keypoints", "heatmaps", "rgb", "language", "reporting"),
          ("models",), ("losses",), ("training",), ("evaluation",), ("predict", "cli"))


def package_imports(root=PROJECT_ROOT) -> list[tuple[str, str, str]]:
    """(file, its package, imported crychic package) for every import of another crychic package."""
    found = []
    for path in sorted((root / "crychic").rglob("*.py")):
        rel = path.relative_to(root / "crychic").parts
        package = rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                if parts[0] == "crychic" and len(parts) > 1 and parts[1] != package:
                    found.append((str(path.relative_to(root)), package, module))
    return found


def test_no_package_imports_one_above_it():
    layer = {package: level for level, packages in enumerate(LAYERS) for package in packages}
    imports = package_imports()
    assert {package for _, package, _ in imports} - {"__init__"} <= set(layer), "a new package: give it a layer"
    upward = [f"{path} imports {module}" for path, package, module in imports
              if package in layer and layer.get(module.split(".")[1], -1) >= layer[package]]
    assert not upward, "imports from a package above (or beside) the importer:\n" + "\n".join(upward)


def test_evaluation_does_not_import_the_training_loop():
    offenders = [path for path, package, module in package_imports()
                 if package == "evaluation" and module == "crychic.training.loop"]
    assert not offenders, offenders


def test_dvc_yaml_is_what_the_stage_registry_renders():
    from pipeline.dvc_yaml import render

    assert (PROJECT_ROOT / "dvc.yaml").read_text() == render(), "run `python -m pipeline.dvc_yaml`"
    done = subprocess.run([sys.executable, "-m", "pipeline.dvc_yaml", "--check"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_dvc_yaml_check_fails_on_a_hand_edit(tmp_path):
    from pipeline.dvc_yaml import main, render

    edited = tmp_path / "dvc.yaml"
    edited.write_text(render().replace("      - heatmap.sigma\n", "", 1))
    try:
        main(["--check", "--path", str(edited)])
    except SystemExit as stop:
        assert "differs from what crychic/core/stage_registry.py renders" in str(stop.code)
    else:
        raise AssertionError("the check passed a dvc.yaml with a param removed")


def test_every_derived_stage_table_reads_the_registry():
    from crychic.core.stage_registry import STAGES, TRAINING
    from crychic.training.loop import SETTINGS, SPECS, STAGES as TRAINED_BY_LOOP
    from crychic.training.stage import BASELINE_INPUTS, DVC_STAGE, MODEL_NAMES, PREVIOUS

    assert set(SPECS) == set(TRAINED_BY_LOOP) == set(SETTINGS) == set(MODEL_NAMES) == set(PREVIOUS)
    assert set(TRAINED_BY_LOOP) | set(BASELINE_INPUTS) == set(TRAINING) == set(DVC_STAGE)
    for name, stage in TRAINING.items():
        assert STAGES[DVC_STAGE[name]] is stage and f"models/{name}.pt" in stage.outs
        if stage.previous:
            assert f"models/{stage.previous}.pt" in stage.data, name  # DVC runs the stage it starts from first
