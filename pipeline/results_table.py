"""Render the pipeline's results into README.md: `python -m pipeline.results_table`.

Reads `metrics/evaluate.json` and `metrics/timing/evaluate.json` (written by the evaluate stage)
and, when present, `metrics/ablations.json` (written by `python -m pipeline.ablations`) and
`metrics/teacher_variants.json` (`python -m pipeline.teacher_variants`), and
replaces what lies between the `<!-- results:start -->` / `<!-- results:end -->` (and
`protocol:`, `ablations:`, `teacher_variants:`) markers, so the numbers in the README are the numbers the pipeline
produced. `--check` fails instead of writing
when the README is out of date (for CI or a pre-commit hook).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from crychic.evaluation.methods import METHODS


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _interval(ci, scale: float = 100, signed: bool = False) -> str:
    fmt = "+.1f" if signed else ".1f"
    return "–" if ci is None else f"[{scale * ci[0]:{fmt}}, {scale * ci[1]:{fmt}}]"


def results_markdown(evaluate: dict, timing: dict | None = None) -> str:
    timing = timing or {}
    cost, alignment = evaluate.get("cost", {}), evaluate["alignment"]
    speed = timing.get("efficiency", {})
    groups = list(next(iter(evaluate["models"].values())).get("group_top1", {}))
    batch = next((row["throughput_batch"] for row in speed.values()), 32)
    header = ["method", "modality at test time", "top-1 %", "95 % CI", "mean class %"]
    header += [f"{g} (within) %" for g in groups]
    header += ["params", "GFLOPs/clip", f"clips/s (batch {batch})"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, report in evaluate["models"].items():
        method = METHODS.get(name)
        row = [f"`{name}`: {method.description if method else name}", method.modality if method else "", _pct(report["top1"]),
               _interval(report.get("top1_ci95")), _pct(report["mean_class_accuracy"])]
        row += [_pct(report.get("group_top1", {}).get(g)) for g in groups]
        model_cost, model_speed = cost.get(name), speed.get(name)
        row += [f"{model_cost['parameters'] / 1e6:.2f} M" if model_cost else "–",
                f"{model_cost['gflops_per_clip']:.2f}" if model_cost else "–",
                f"{model_speed['throughput_clips_per_s']:.0f}" if model_speed else "–"]
        lines.append("| " + " | ".join(row) + " |")
    chance = evaluate.get("chance_group_top1", {})
    notes = [
        "",
        f"{evaluate['samples']} {evaluate['split']} clips, scored once with the choices val made (Protocol above); "
        f"95 % CI: percentile bootstrap over the test clips. Chance top-1 {_pct(evaluate['chance_top1'])} %"
        + ("; within-group chance " + ", ".join(f"{g} {_pct(v)} %" for g, v in chance.items()) if chance else "") + ".",
        f"Alignment (joint model, {evaluate['split']} split): linear CKA of the teacher's and the student's clip "
        f"embeddings {alignment['cka']:.3f} (backbones), {alignment['cka_projection']:.3f} (projection heads)"
        + (f"; R@1 teacher→student {alignment['r1_teacher_to_student']:.3f}, student→teacher "
           f"{alignment['r1_student_to_teacher']:.3f} (chance {alignment['r1_chance']:.3f}); matched cosine "
           f"{alignment['matched_cosine']:.3f} against mismatched {alignment['mismatched_cosine']:.3f}."
           if alignment.get("projections_trained") else "; projection heads untrained (no contrastive term)."),
    ]
    focus = evaluate.get("teacher_wrist_focus")
    if focus:
        stages = focus["stages"]
        per_group = "; ".join(f"{g} " + "/".join(f"{stages[s][g]['ratio']:.2f}" for s in stages if g in stages[s])
                              for g in next(iter(stages.values())) if g != "all")
        notes.append(f"Teacher attention near the wrists ({focus['split']} split, within {focus['radius_box']:.3f} of the "
                     f"box side, `crychic.evaluation.attention_focus`): attention share over a uniform map's share, "
                     f"teacher stages {'/'.join(s.removeprefix('stage') for s in stages)}: {per_group} "
                     "(1 = no preference for the wrists).")
    e2e, e2e_time = evaluate.get("end_to_end"), timing.get("end_to_end")
    if e2e and e2e_time:
        notes.append(
            f"End to end from {e2e['clips']} test video files on CPU (batch 1, one run): pose-free path (framing "
            f"'{e2e['framing']}', no keypoints) top-1 {_pct(e2e['posefree']['top1'])} % {_interval(e2e['posefree']['top1_ci95'])} "
            f"at **{e2e_time['posefree']['clips_per_second']:.2f} clips/s**; full path (MediaPipe + heatmaps + both "
            f"networks) top-1 {_pct(e2e['full']['top1'])} % {_interval(e2e['full']['top1_ci95'])} at "
            f"**{e2e_time['full']['clips_per_second']:.2f} clips/s**, {e2e_time['speedup']:.1f}x slower. Full path seconds "
            "per clip: " + ", ".join(f"{part} {s:.3f}" for part, s in e2e_time["full"]["seconds_per_clip"].items()) + ".")
    comparisons = evaluate.get("comparisons") or {}
    if comparisons:
        notes += ["", "| claim (paired, same test clips) | difference, points | 95 % CI | clips only the first gets right | "
                  "only the second |", "|---|---|---|---|---|"]
        for claim, c in comparisons.items():
            notes.append(f"| `{claim}` | {100 * c['difference']:+.1f} | {_interval(c['ci95'], signed=True)} | "
                         f"{c['a_only']} | {c['b_only']} |")
    return "\n".join(lines + notes)


def protocol_markdown(evaluate: dict) -> str:
    protocol = evaluate["protocol"]
    lines = [f"Chosen on the {protocol['split']} split ({protocol['samples']} clips), before the test split was scored:", "",
             "| choice | candidates (val top-1 %) | chosen |", "|---|---|---|"]
    for name, entry in protocol.items():
        if isinstance(entry, dict) and "chosen" in entry:
            candidates = ", ".join(f"{c} {_pct(v)}" for c, v in entry["candidates_val_top1"].items())
            lines.append(f"| `{name}`: {entry['question']} | {candidates} | `{entry['chosen']}` |")
    cue = protocol.get("colour_cue")
    if cue:
        candidates = ", ".join(f"C={c} {_pct(v)}" for c, v in cue["c_grid"].items())
        lines.append(f"| `colour_cue`: logistic regression's C | {candidates} | `C={cue['chosen_c']}` |")
    kept = ", ".join(f"`{name}` {entry['kept_epoch']} of {entry['of_epochs']} (val {_pct(entry['val_top1'])})"
                     for name, entry in protocol.get("checkpoints", {}).items() if entry.get("kept_epoch"))
    if kept:
        lines += ["", f"Kept epoch (best val top-1 of the stage's primary head, the later on ties): {kept}."]
    return "\n".join(lines)


def ablations_markdown(ablations: dict) -> str:
    from pipeline.ablations import ALIGNMENT_COLUMNS, TOP1_COLUMNS

    variants = ablations["variants"]
    columns = [*TOP1_COLUMNS, *ALIGNMENT_COLUMNS]
    header = ["variant", "draws", *[c.replace("_", " ") + " top-1 %" if c in TOP1_COLUMNS else f"backbone {c.upper()}"
                                    for c in columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, row in variants.items():
        cells = []
        for column in columns:
            cell = row.get(column)
            if cell is None:
                cells.append("–")
            elif column in TOP1_COLUMNS:  # one draw has no spread over draws: its interval is over clips only
                spread = f" ± {100 * cell['std']:.1f}" if cell.get("n", 2) > 1 else ""
                cells.append(f"{100 * cell['mean']:.1f}{spread} {_interval(cell['ci95'])}")
            else:
                cells.append(f"{cell['mean']:.3f}" + (f" ± {cell['std']:.3f}" if cell.get("n", 2) > 1 else ""))
        lines.append(f"| `{variant}` | {len(row['draws'])} | " + " | ".join(cells) + " |")
    note = ("Mean ± sample standard deviation over data draws (each draw: new synthetic subjects, so new train, val "
            "and test clips, and a new training seed), then the 95 % interval of the mean from a hierarchical bootstrap "
            "(draws, then test clips within each draw; with one draw, over its test clips only).")
    runs = ablations.get("runs") or []
    if runs:
        note += " The last sweep command ran " + ", then ".join(
            f"{r['experiments']} experiment{'' if r['experiments'] == 1 else 's'} in {r['minutes']} min"
            for r in runs) + " (experiments already finished are not run again)."
    lines += ["", note]
    against = ablations.get("against_full") or {}
    if against:
        from pipeline.ablations import AGAINST_FULL_COLUMNS

        lines += ["", "| variant - `full` (same draws and test clips, paired) | " + " | ".join(
            f"{c.replace('_', ' ')}, points" for c in AGAINST_FULL_COLUMNS) + " |",
                  "|---|" + "---|" * len(AGAINST_FULL_COLUMNS)]
        for variant, by_column in against.items():
            cells = [(f"{100 * f['mean']:+.1f} {_interval(f['ci95'], signed=True)} ({f['draws_variant_better']} of "
                      f"{f['draws']} higher)") if (f := by_column.get(c)) else "–" for c in AGAINST_FULL_COLUMNS]
            lines.append(f"| `{variant}` | " + " | ".join(cells) + " |")
    claims = ablations.get("claims") or {}
    if claims:
        lines += ["", "| claim (`full` variant, paired per draw) | per-draw difference, points | draws where the first "
                  "is better | mean, points | 95 % CI |", "|---|---|---|---|---|"]
        for claim, c in claims.items():
            per_draw = ", ".join(f"{100 * v:+.1f}" for v in c["per_draw"])
            lines.append(f"| `{claim}` | {per_draw} | {c['draws_a_better']} of {c['draws']} | {100 * c['mean']:+.1f} | "
                         f"{_interval(c['ci95'], signed=True)} |")
    return "\n".join(lines)


def teacher_variants_markdown(variants: dict) -> str:
    """The table of `python -m pipeline.teacher_variants` (val only): top-1 and wrist focus per variant."""
    stages = list(next(iter(variants["variants"].values()))["wrist_focus"]["stages"])
    lines = ["| teacher variant | heatmaps | params | val top-1 % | wrist ratio, object groups (stages "
             + "/".join(s.removeprefix("stage") for s in stages) + ") | wrist ratio, motion group | mean over stages, "
             "object groups | train s |", "|---|---|---|---|---|---|---|---|"]
    for name, v in variants["variants"].items():
        focus = v["wrist_focus"]["stages"]
        objects = "/".join(f"{statistics.fmean(focus[s][g]['ratio'] for g in focus[s] if g not in ('all', 'motion')):.2f}"
                           for s in stages)
        motion = "/".join(f"{focus[s]['motion']['ratio']:.2f}" for s in stages if "motion" in focus[s])
        chosen = " (chosen)" if name == variants["chosen"] else ""
        lines.append(f"| `{name}`{chosen} | {v['heatmap']} | {v['parameters'] / 1e6:.2f} M | {_pct(v['val_top1'])} | "
                     f"{objects} | {motion} | {v['object_wrist_ratio']:.2f} | {v['train_seconds']:.0f} |")
    lines += ["", f"{variants['split']} split only, {variants['epochs']} epochs each, wrist radius {variants['radius_px']} "
              f"heatmap pixels; rule: {variants['rule']}. Ratio: the attention's share near the wrists over a uniform "
              "map's (1 = no preference)."]
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
    parser.add_argument("--timing", default="metrics/timing/evaluate.json")
    parser.add_argument("--ablations", default="metrics/ablations.json")
    parser.add_argument("--teacher-variants", default="metrics/teacher_variants.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is out of date")
    args = parser.parse_args(argv)

    readme = Path(args.readme)
    text = readme.read_text()
    evaluate_path = Path(args.evaluate)
    if not evaluate_path.is_file():
        sys.exit(f"{evaluate_path}: not found; run `dvc repro` first")
    evaluate = json.loads(evaluate_path.read_text())
    timing = json.loads(Path(args.timing).read_text()) if Path(args.timing).is_file() else None
    updated = replace_between(text, "results", results_markdown(evaluate, timing))
    updated = replace_between(updated, "protocol", protocol_markdown(evaluate))
    if Path(args.ablations).is_file():
        updated = replace_between(updated, "ablations", ablations_markdown(json.loads(Path(args.ablations).read_text())))
    if Path(args.teacher_variants).is_file():
        updated = replace_between(updated, "teacher_variants",
                                  teacher_variants_markdown(json.loads(Path(args.teacher_variants).read_text())))
    if args.check:
        if updated != text:
            sys.exit(f"{readme}: results tables are out of date; run python -m pipeline.results_table")
        return
    readme.write_text(updated)
    print(f"{readme}: results tables updated from {evaluate_path}")


if __name__ == "__main__":
    main()
