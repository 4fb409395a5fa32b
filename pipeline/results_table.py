"""Render the pipeline's results into README.md: `python -m pipeline.results_table`.

Reads `metrics/evaluate.json` (written by the evaluate stage) and, when present,
`metrics/ablations.json` (written by `python -m pipeline.ablations`), and replaces what lies
between the `<!-- results:start -->` / `<!-- results:end -->` (and `ablations:`) markers, so the
numbers in the README are the numbers the pipeline produced. `--check` fails instead of writing
when the README is out of date (for CI or a pre-commit hook).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from stages.evaluate import MODEL_DESCRIPTIONS

MODALITY = {
    "teacher": "skeleton (heatmaps)",
    "gcn": "skeleton (keypoints)",
    "rgb_only": "RGB",
    "late_fusion": "skeleton + RGB",
    "student_guided": "RGB",
    "crychic_posefree": "RGB",
    "crychic_fused": "skeleton + RGB",
}
ALIGNED = {"crychic_posefree", "crychic_fused"}  # the joint model, whose two embeddings are compared


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def results_markdown(evaluate: dict) -> str:
    efficiency, alignment = evaluate["efficiency"], evaluate["alignment"]
    groups = list(next(iter(evaluate["models"].values())).get("group_top1", {}))
    header = ["method", "modality at test time", "top-1 %", "mean class %"]
    header += [f"{g} (within) %" for g in groups]
    header += ["alignment gap", "params", "GFLOPs/clip", f"clips/s (batch {efficiency['teacher']['throughput_batch']})"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, report in evaluate["models"].items():
        cost = efficiency[name]
        row = [f"`{name}`: {MODEL_DESCRIPTIONS[name]}", MODALITY[name], _pct(report["top1"]),
               _pct(report["mean_class_accuracy"])]
        row += [_pct(report.get("group_top1", {}).get(g)) for g in groups]
        row += [f"{alignment['gap']:.3f}" if name in ALIGNED else "–", f"{cost['parameters'] / 1e6:.2f} M",
                f"{cost['gflops_per_clip']:.2f}", f"{cost['throughput_clips_per_s']:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    e2e = evaluate.get("end_to_end")
    chance = evaluate.get("chance_group_top1", {})
    notes = [
        "",
        f"{evaluate['samples']} {evaluate['split']} clips; chance top-1 {_pct(evaluate['chance_top1'])} %"
        + ("; within-group chance " + ", ".join(f"{g} {_pct(v)} %" for g, v in chance.items()) if chance else "") + ".",
        f"Alignment (joint model, {evaluate['split']} split): matched cosine {alignment['matched_cosine']:.3f}, "
        f"mismatched {alignment['mismatched_cosine']:.3f}, R@1 teacher→student {alignment['r1_teacher_to_student']:.3f}, "
        f"student→teacher {alignment['r1_student_to_teacher']:.3f}.",
    ]
    if e2e:
        notes.append(
            f"End to end from video files on CPU (batch 1, {e2e['full']['clips']} clips, one run): "
            f"pose-free path **{e2e['pose_free']['clips_per_second']:.2f} clips/s** vs full path (MediaPipe + heatmaps + "
            f"both networks) **{e2e['full']['clips_per_second']:.2f} clips/s**, {e2e['speedup']:.1f}x. Full path seconds "
            "per clip: " + ", ".join(f"{part} {s:.3f}" for part, s in e2e["full"]["seconds_per_clip"].items()) + ".")
    return "\n".join(lines + notes)


def ablations_markdown(ablations: dict) -> str:
    from pipeline.ablations import COLUMNS

    variants = ablations["variants"]
    header = ["variant", "seeds", *[c.replace("_", " ") for c in COLUMNS]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, row in variants.items():
        cells = []
        for column in COLUMNS:
            cell = row.get(column)
            if cell is None:
                cells.append("–")
            elif column.endswith("top1"):
                cells.append(f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f}")
            else:
                cells.append(f"{cell['mean']:.3f} ± {cell['std']:.3f}")
        lines.append(f"| `{variant}` | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    note = "Mean ± sample standard deviation over seeds (top-1 in %)."
    runs = ablations.get("runs") or []
    if runs:
        note += " Sweep time on this machine: " + ", then ".join(
            f"{r['experiments']} experiments in {r['minutes']} min" for r in runs) + "."
    lines += ["", note]
    return "\n".join(lines)


def replace_between(text: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(\n<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {marker}:start --> ... <!-- {marker}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--evaluate", default="metrics/evaluate.json")
    parser.add_argument("--ablations", default="metrics/ablations.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is out of date")
    args = parser.parse_args(argv)

    readme = Path(args.readme)
    text = readme.read_text()
    evaluate_path = Path(args.evaluate)
    if not evaluate_path.is_file():
        sys.exit(f"{evaluate_path}: not found; run `dvc repro` first")
    updated = replace_between(text, "results", results_markdown(json.loads(evaluate_path.read_text())))
    if Path(args.ablations).is_file():
        updated = replace_between(updated, "ablations", ablations_markdown(json.loads(Path(args.ablations).read_text())))
    if args.check:
        if updated != text:
            sys.exit(f"{readme}: results tables are out of date; run python -m pipeline.results_table")
        return
    readme.write_text(updated)
    print(f"{readme}: results tables updated from {evaluate_path}")


if __name__ == "__main__":
    main()
