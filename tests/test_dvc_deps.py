"""dvc.yaml's code deps cannot drift from the imports: a module a stage reaches and its deps do not
cover would be an edit that `dvc repro` reports as up to date while the cached result is stale."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def module_file(name: str, root: Path = PROJECT_ROOT) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, root: Path = PROJECT_ROOT) -> set[str]:
    """Every module an import statement in `path` names, at any depth (imports inside functions
    run too), with `from x import y` also naming `x.y` in case y is a submodule."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def reached_files(module: str, root: Path = PROJECT_ROOT) -> set[Path]:
    """The repository's files that running `python -m module` can execute, parents' __init__ included."""
    seen, todo, files = set(), [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name, root)
        if path is None:
            continue  # not ours: a third-party or standard-library module
        files.add(path)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += sorted(imported_modules(path, root))
    return files


def only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) or
               isinstance(node, ast.ImportFrom) and node.module == "__future__" for node in body)


def uncovered(root: Path = PROJECT_ROOT) -> dict[str, list[str]]:
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        match = re.search(r"python -m ([\w.]+)", stage["cmd"])
        assert match, f"dvc.yaml stage {name}: expected a `python -m` command"
        deps = [root / dep for dep in stage.get("deps", [])]
        files = [f for f in sorted(reached_files(match.group(1), root)) if not only_a_docstring(f)]
        gaps = [str(f.relative_to(root)) for f in files if not any(f == d or d in f.parents for d in deps)]
        if gaps:
            missing[name] = gaps
    return missing


def test_every_module_a_stage_imports_is_among_its_deps():
    assert uncovered() == {}


def test_the_check_sees_a_module_that_is_not_listed(tmp_path):
    """The guard itself: a stage importing a helper that dvc.yaml does not list is reported, also
    when the import sits inside a function and goes through a package's __init__."""
    (tmp_path / "stages").mkdir()
    (tmp_path / "lib" / "inner").mkdir(parents=True)
    (tmp_path / "stages" / "__init__.py").write_text('"""Stages."""\n')
    (tmp_path / "stages" / "run.py").write_text("def main():\n    from lib.inner import helper\n")
    (tmp_path / "lib" / "__init__.py").write_text('"""Library."""\n')
    (tmp_path / "lib" / "inner" / "__init__.py").write_text("from lib.inner import helper\nVALUE = 1\n")
    (tmp_path / "lib" / "inner" / "helper.py").write_text("from lib import other\n")
    (tmp_path / "lib" / "other.py").write_text("X = 1\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"run": {
        "cmd": "python -m stages.run", "deps": ["stages/run.py", "lib/inner"]}}}))
    assert uncovered(tmp_path) == {"run": ["lib/other.py"]}


def test_evaluate_depends_on_every_training_metrics_file_it_reads():
    """`kept_checkpoints` reads each training stage's metrics (the epoch it kept, or a research arm's
    marker): a file evaluate reads and dvc.yaml does not list would not re-run it when it changes."""
    from crychic.evaluation.methods import TRAINED_CHECKPOINTS

    deps = set(yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]["deps"])
    missing = {f"metrics/{stage}.json" for stage in TRAINED_CHECKPOINTS.values()} - deps
    assert not missing, f"evaluate reads {sorted(missing)} but dvc.yaml does not list them"
