"""dvc.yaml, rendered from the stage registry (`crychic.core.stage_registry.STAGES`).

    python -m pipeline.dvc_yaml           # rewrite dvc.yaml after editing the registry
    python -m pipeline.dvc_yaml --check   # exit 1 when dvc.yaml is not what the registry renders

The committed dvc.yaml stays a plain file that DVC and a reader use as they would any other
(`dvc repro`, `dvc exp run -S`, `dvc dag`); only its source of truth moved, so that the params a
stage reads, its inputs and its outputs are written once. tests/test_packaging.py runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crychic.core.atomic_write import atomic_path
from crychic.core.stage_registry import STAGES, Stage

HEADER = """\
# The CRYCHIC pipeline, rendered from crychic/core/stage_registry.py by `python -m pipeline.dvc_yaml`:
# edit the registry, not this file (a test fails when they differ).
# Each stage is a thin CLI in stages/ and lists exactly the params it reads
# (params: leaf keys, never a whole section: DVC 3.67's run cache ignores changes inside a section).
# Code deps: the packages of crychic/ a stage imports (tests/test_dvc_deps.py follows each stage's
# imports and fails on a module not covered here, so an edit can never leave a stale cached result).
# How a stage runs (workers, a Dask cluster) is not a param: crychic/core/execution.py.
stages:
"""
FOOTER = """
# Pictures written by evaluate (confusion matrices, attention overlays): `dvc plots show` shows them.
plots:
  - plots/evaluate
"""


def _items(key: str, values, indent: str = "    ") -> list[str]:
    return [f"{indent}{key}:", *(f"{indent}  - {value}" for value in values)] if values else []


def _uncached(key: str, paths, fields: dict | None = None) -> list[str]:
    lines = [f"    {key}:"] if paths else []
    for path in paths:
        lines += [f"      - {path}:", "          cache: false"]
        lines += [f"          {name}: {value}" for name, value in (fields or {}).get(path, {}).items()]
    return lines


def render_stage(stage: Stage) -> list[str]:
    lines = [f"  {stage.name}:  # {stage.about}", f"    cmd: {stage.cmd}"]
    lines += _items("deps", [*stage.stage_files, *stage.data, *stage.code])
    lines += _items("params", stage.params)
    lines += _items("outs", stage.outs) + _uncached("outs", stage.uncached_outs)
    lines += _uncached("metrics", stage.metrics)
    lines += _uncached("plots", [path for path, _ in stage.plots], dict(stage.plots))
    return lines


def render() -> str:
    body = "\n\n".join("\n".join(render_stage(stage)) for stage in STAGES.values())
    return HEADER + body + "\n" + FOOTER


def _grouped(keys) -> str:
    """`a.b`, `a.c`, `d` -> "`a.{b,c}`, `d`" (keys grouped by what comes before their last dot)."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        head, _, leaf = key.rpartition(".")
        groups.setdefault(head, []).append(leaf)
    parts = [f"`{head}.{leaves[0]}`" if head and len(leaves) == 1 else f"`{head}.{{{','.join(leaves)}}}`" if head
             else ", ".join(f"`{leaf}`" for leaf in leaves) for head, leaves in groups.items()]
    return ", ".join(parts) or "none"


def stage_table_markdown() -> str:
    """The report's stage table (`stages:` block): what each stage does, reads, writes and which params."""
    lines = ["| stage | what it does | reads | writes | params it reads |", "|---|---|---|---|---|"]
    for stage in STAGES.values():
        reads = ", ".join(f"`{path}`" for path in stage.data) or "the dataset"
        writes = ", ".join(f"`{path}`" for path in (*stage.outs, *stage.uncached_outs, *stage.metrics[:1]))
        lines.append(f"| `{stage.name}` | {stage.about} | {reads} | {writes} | {_grouped(stage.params)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--path", default="dvc.yaml")
    args = parser.parse_args(argv)
    path, text = Path(args.path), render()
    if args.check:
        if not path.is_file() or path.read_text() != text:
            sys.exit(f"{path} differs from what crychic/core/stage_registry.py renders: run `python -m pipeline.dvc_yaml`")
        print(f"{path}: in step with the stage registry")
        return
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    print(f"wrote {path} ({len(STAGES)} stages)")


if __name__ == "__main__":
    main()
