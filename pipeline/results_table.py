"""Render the pipeline's results into the docs: `python -m pipeline.results_table`.

The README is a user guide and holds one generated block, `headline:` (a short test-split table:
CRYCHIC beside late fusion, the plain RGB student and the teacher, with the paired differences
that decide it); the research report, `docs/REPORT.md`, holds the rest (`results:`, `protocol:`,
`findings:`, `ablations:`, `sweep_scope:`, `sweep_findings:`, `teacher_variants:`, `teacher_focus:`,
`designs:`, `stage3:`, `stage_times:`). `BLOCK_FILES` says which file holds which block.

Reads `metrics/evaluate.json` and `metrics/timing/evaluate.json` (written by the evaluate stage),
the other stages' `metrics/timing/*.json` and, when present, `metrics/ablations.json` (written by
`python -m pipeline.ablations`), `metrics/teacher_variants.json` (`python -m pipeline.teacher_variants`),
`metrics/designs.json`, `metrics/stage3_schedule.json` and `metrics/pose_sampling.json` (`python -m
pipeline.pose_sampling`), and replaces what lies between each
block's `<!-- name:start -->` / `<!-- name:end -->` markers, so the numbers in the docs are the
numbers the pipeline produced. The sweep's blocks (`ablations:`, `sweep_scope:`, `sweep_findings:`,
`framed_arms:`) and the findings (`findings:`, from the evaluation and the sweep) are written by
`pipeline.sweep_report`; how a figure is written (one
decimal, signed intervals) is `pipeline.report_format`. The prose blocks (`findings:`, `sweep_findings:`, `teacher_focus:`,
the headline's verdicts) are sentences with the figures filled in and the verdicts computed from the
intervals, so a new run cannot leave a stale reading beside new tables. `--check` fails instead of
writing when any block in either file is out of date, or when a file holds another file's block
(for CI or a pre-commit hook).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from crychic.evaluation.methods import METHODS
from pipeline.ablations import TOP1_COLUMNS
from pipeline.epoch_rule import DEMO_FRACTION
from pipeline.demo_time import format_minutes
from pipeline.dvc_yaml import stage_table_markdown
from pipeline.report_format import cpu_kind, interval, pct, signed, signed_interval
from pipeline.sweep_report import (CLAIM_STATEMENTS, TAKE_OFF, ablations_markdown, draw_interval, findings_markdown,
                                   framed_arms_markdown, framed_headline_lines, sweep_clips, sweep_findings_markdown,
                                   sweep_name, sweep_scope_markdown, take_off_epoch, verdict)


def _models_table(evaluate: dict, timing: dict) -> list[str]:
    """One row per model: accuracy with its interval, within-group top-1, size and speed."""
    cost, speed = evaluate.get("cost", {}), timing.get("efficiency", {})
    groups = list(next(iter(evaluate["models"].values())).get("group_top1", {}))
    batch = next((row["throughput_batch"] for row in speed.values()), 32)
    header = ["method", "modality at test time", "top-1 %", "95 % CI", "mean class %"]
    header += [f"{g} (within) %" for g in groups]
    header += ["params", "GFLOPs/clip", f"clips/s (batch {batch})"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, report in evaluate["models"].items():
        method = METHODS.get(name)
        row = [f"`{name}`: {method.description if method else name}", method.modality if method else "",
               pct(report["top1"]), interval(report.get("top1_ci95")), pct(report["mean_class_accuracy"])]
        row += [pct(report.get("group_top1", {}).get(g)) for g in groups]
        model_cost, model_speed = cost.get(name), speed.get(name)
        row += [f"{model_cost['parameters'] / 1e6:.2f} M" if model_cost else "–",
                f"{model_cost['gflops_per_clip']:.2f}" if model_cost else "–",
                f"{model_speed['throughput_clips_per_s']:.0f}" if model_speed else "–"]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _scope_and_alignment_notes(evaluate: dict) -> list[str]:
    """Under the table: what was scored and chance, then the joint model's alignment figures."""
    alignment = evaluate["alignment"]
    chance = evaluate.get("chance_group_top1", {})
    return [
        "",
        f"{evaluate['samples']} {evaluate['split']} clips, scored once with the choices val made (Protocol above); "
        f"95 % CI: percentile bootstrap over the test clips. Chance top-1 {pct(evaluate['chance_top1'])} %"
        + ("; within-group chance " + ", ".join(f"{g} {pct(v)} %" for g, v in chance.items()) if chance else "") + ".",
        f"Alignment (joint model, {evaluate['split']} split): linear CKA of the teacher's and the student's clip "
        f"embeddings {alignment['cka']:.3f} (backbones), {alignment['cka_projection']:.3f} (projection heads)"
        + (f"; R@1 teacher→student {alignment['r1_teacher_to_student']:.3f}, student→teacher "
           f"{alignment['r1_student_to_teacher']:.3f} (chance {alignment['r1_chance']:.3f}); matched cosine "
           f"{alignment['matched_cosine']:.3f} against mismatched {alignment['mismatched_cosine']:.3f}."
           if alignment.get("projections_trained") else "; projection heads untrained (no contrastive term)."),
    ]


def _wrist_focus_note(evaluate: dict) -> list[str]:
    """The teacher's attention near the wrists per class group and stage (none when not measured)."""
    focus = evaluate.get("teacher_wrist_focus")
    if not focus:
        return []
    stages = focus["stages"]
    per_group = "; ".join(f"{g} " + "/".join(f"{stages[s][g]['ratio']:.2f}" for s in stages if g in stages[s])
                          for g in next(iter(stages.values())) if g != "all")
    return [f"Teacher attention near the wrists ({focus['split']} split, within {focus['radius_box']:.3f} of the "
            f"box side, `crychic.evaluation.attention_focus`): attention share over a uniform map's share, "
            f"teacher stages {'/'.join(s.removeprefix('stage') for s in stages)}: {per_group} "
            "(1 = no preference for the wrists)."]


def _end_to_end_note(evaluate: dict, timing: dict) -> list[str]:
    """Both deployed paths from video files: top-1 and clips/s (none without both the figures and the times)."""
    e2e, e2e_time = evaluate.get("end_to_end"), timing.get("end_to_end")
    if not (e2e and e2e_time):
        return []
    return [
        f"End to end from {e2e['clips']} test video files on CPU (batch 1, one run): pose-free path (framing "
        f"'{e2e['framing']}', no keypoints) top-1 {pct(e2e['posefree']['top1'])} % "
        f"{interval(e2e['posefree']['top1_ci95'])} "
        f"at **{e2e_time['posefree']['clips_per_second']:.2f} clips/s**; full path (MediaPipe + heatmaps + both "
        f"networks) top-1 {pct(e2e['full']['top1'])} % {interval(e2e['full']['top1_ci95'])} at "
        f"**{e2e_time['full']['clips_per_second']:.2f} clips/s**, {e2e_time['speedup']:.1f}x slower. Full path seconds "
        "per clip: " + ", ".join(f"{part} {s:.3f}" for part, s in e2e_time["full"]["seconds_per_clip"].items()) + "."
        + (f" With pose estimated on every frame instead of the sampled ones (as extraction does), the full path "
           f"gets {pct(e2e['full_every_frame']['top1'])} % at {e2e_time['full_every_frame']['clips_per_second']:.2f} "
           f"clips/s: the sampled path is {e2e_time['sampled_pose_speedup']:.2f}x faster in the same run."
           if "full_every_frame" in e2e and "full_every_frame" in e2e_time else "")
        + (f" Of the full path's {e2e_time['full_speedup']:.2f}x over that every-frame path, sampling alone gives "
           f"{e2e_time['sampled_pose_speedup']:.2f}x (pose on one thread, "
           f"{e2e_time['full_one_thread']['clips_per_second']:.2f} clips/s); the rest is MediaPipe on the next videos "
           f"in {e2e_time['full']['pose_threads']} threads while the networks take the current one (its pose seconds "
           "above are summed over those threads)."
           if "full_one_thread" in e2e_time else "")]


def _comparisons_table(evaluate: dict) -> list[str]:
    """The paired claims on the test clips, one row each (none when the file has no comparisons)."""
    comparisons = evaluate.get("comparisons") or {}
    if not comparisons:
        return []
    lines = ["", "| claim (paired, same test clips) | difference, points | 95 % CI | clips only the first gets right | "
             "only the second |", "|---|---|---|---|---|"]
    for claim, c in comparisons.items():
        lines.append(f"| `{claim}` | {100 * c['difference']:+.1f} | {interval(c['ci95'], signed=True)} | "
                     f"{c['a_only']} | {c['b_only']} |")
    return lines


def results_markdown(evaluate: dict, timing: dict | None = None) -> str:
    timing = timing or {}
    return "\n".join(_models_table(evaluate, timing) + _scope_and_alignment_notes(evaluate)
                     + _wrist_focus_note(evaluate) + _end_to_end_note(evaluate, timing) + _comparisons_table(evaluate))


def protocol_markdown(evaluate: dict) -> str:
    protocol = evaluate["protocol"]
    lines = [f"Chosen on the {protocol['split']} split ({protocol['samples']} clips), before the test split was scored:", "",
             "| choice | candidates (val top-1 %) | chosen |", "|---|---|---|"]
    for name, entry in protocol.items():
        if isinstance(entry, dict) and "chosen" in entry:
            candidates = ", ".join(f"{c} {pct(v)}" for c, v in entry["candidates_val_top1"].items())
            lines.append(f"| `{name}`: {entry['question']} | {candidates} | `{entry['chosen']}` |")
    cue = protocol.get("colour_cue")
    if cue:
        candidates = ", ".join(f"C={c} {pct(v)}" for c, v in cue["c_grid"].items())
        lines.append(f"| `colour_cue`: logistic regression's C | {candidates} | `C={cue['chosen_c']}` |")
    kept = ", ".join(f"`{name}` {entry['kept_epoch']} of {entry['of_epochs']} (val {pct(entry['val_top1'])})"
                     for name, entry in protocol.get("checkpoints", {}).items() if entry.get("kept_epoch"))
    if kept:
        lines += ["", f"Kept epoch (best val top-1 of the stage's primary head, the later on ties; the nth of the stage's epochs, counting from 1): {kept}."]
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
        lines.append(f"| `{name}`{chosen} | {v['heatmap']} | {v['parameters'] / 1e6:.2f} M | {pct(v['val_top1'])} | "
                     f"{objects} | {motion} | {v['object_wrist_ratio']:.2f} | {v['train_seconds']:.0f} |")
    lines += ["", f"{variants['split']} split only, {variants['epochs']} epochs each, wrist radius {variants['radius_px']} "
              f"heatmap pixels; rule: {variants['rule']}. Ratio: the attention's share near the wrists over a uniform "
              "map's (1 = no preference)."]
    return "\n".join(lines)


def teacher_focus_markdown(variants: dict, evaluate: dict | None = None) -> str:
    """What the teacher-variant table and the pipeline teacher's wrist focus say, figures filled in."""
    rows = variants["variants"]

    def objects(stage: dict) -> float:
        return statistics.fmean(stage[g]["ratio"] for g in stage if g not in ("all", "motion"))

    ratios = [stage[g]["ratio"] for v in rows.values() for stage in v["wrist_focus"]["stages"].values()
              for g in stage if g != "all"]
    above = []
    for name, v in rows.items():
        stages = [s.removeprefix("stage") for s, stage in v["wrist_focus"]["stages"].items()
                  if "motion" in stage and objects(stage) > stage["motion"]["ratio"]]
        above.append(f"`{name}` {', '.join(stages) if stages else 'none'}")
    chosen_name = variants["chosen"]
    chosen = rows[chosen_name]
    lines = [f"Every variant's attention near the wrists is {min(ratios):.2f} to {max(ratios):.2f} times a uniform "
             f"map's (over stages and groups; 1 = no preference). Stages where the mean object-group ratio exceeds "
             f"the motion group's (the object classes differ only at the hands; in the motion group the hands "
             f"move): " + "; ".join(above) + ".",
             f"By the pre-registered rule val chose `{chosen_name}` ({chosen['heatmap']} heatmaps, "
             f"`{chosen['teacher']}`): val top-1 {pct(chosen['val_top1'])} %, object-group ratio "
             f"{chosen['object_wrist_ratio']:.2f}, against "
             + ", ".join(f"{v['object_wrist_ratio']:.2f} (`{n}`)" for n, v in rows.items() if n != chosen_name) + "."]
    focus = (evaluate or {}).get("teacher_wrist_focus")
    if focus:
        stages = focus["stages"]
        groups = [g for g in next(iter(stages.values())) if g != "all"]
        kept = ((evaluate or {}).get("protocol") or {}).get("checkpoints", {}).get("teacher")
        per_group = "; ".join(f"{g} " + "/".join(f"{stages[s][g]['ratio']:.2f}" for s in stages) for g in groups)
        ahead = []
        for g in groups:
            if g == "motion":
                continue
            hit = [s.removeprefix("stage") for s in stages if "motion" in stages[s]
                   and stages[s][g]["ratio"] > stages[s]["motion"]["ratio"]]
            ahead.append(f"{g} {', '.join(hit) if hit else 'none'}")
        text = (f"The pipeline's own teacher (`metrics/evaluate.json`, {focus['split']} split"
                + (f"; kept epoch {kept['kept_epoch']} of {kept['of_epochs']}, val top-1 {pct(kept['val_top1'])} %, "
                   f"where the variants trained {variants['epochs']} epochs" if kept else "")
                + f"), ratio per group over stages {'/'.join(s.removeprefix('stage') for s in stages)}: {per_group}; "
                f"stages where an object group's ratio exceeds the motion group's: {'; '.join(ahead)}.")
        lines.append(text)
    return "\n".join(lines)




def demo_trials_markdown(trials: list[dict]) -> str:
    """The cuts of the default tried against the budget (`metrics/demo_budget_trials.json`, `pipeline.demo_time
    --trial`), slowest first: each one's whole `make demo` and what its networks kept on val."""
    if not trials:
        return ""
    machines = sorted({f"{t['machine'].get('cpu')}{cpu_kind(t['machine'])}" for t in trials})
    rows = []
    for t in sorted(trials, key=lambda t: -t["seconds"]):
        val = ", ".join(f"{name} {pct(v)}" for name, v in t["val_top1"].items() if v is not None)
        repro = (f"; its `dvc repro` {format_minutes(t['repro_seconds'])}, "
                 f"{'within' if t['repro_within_budget'] else 'over'}") if "repro_seconds" in t else ""
        rows.append(f"{t['label']} (commit {t['commit'][:7]}): {format_minutes(t['seconds'])}, "
                    f"{'within' if t['within_budget'] else 'over'}{repro}; val top-1 % {val}")
    within = sum(t["within_budget"] for t in trials)
    return (f"\n\nCuts of the default tried against the budget (`metrics/demo_budget_trials.json`: each a fresh clone's "
            f"whole `make demo` at the commit named, on {' and '.join(machines)}; a trial's val figures are its own "
            f"val split's): " + "; ".join(rows) + f". {within} of {len(trials)} within the budget.")


def stage_times_markdown(timings: dict[str, dict], demo: dict | None = None, trials: list[dict] | None = None) -> str:
    """Each stage's seconds from `metrics/timing/<stage>.json`, longest first, and their sum; then the
    whole `make demo`'s wall time where `metrics/demo_time.json` records one (`pipeline.demo_time`), and the
    cuts of the default tried against the budget (`trials`)."""
    seconds = {stage: t["seconds"] for stage, t in timings.items() if isinstance(t.get("seconds"), (int, float))}
    total = sum(seconds.values())
    ordered = sorted(((stage, s) for stage, s in seconds.items() if s > 0), key=lambda item: -item[1])
    markers = [stage for stage, s in seconds.items() if s == 0]  # a research arm switched off writes a marker
    text = (", ".join(f"`{stage}` {s:.1f}" + (" s" if i == 0 else "") for i, (stage, s) in enumerate(ordered))
            + f": {format_minutes(total)} together"
            + (f" ({', '.join(f'`{stage}`' for stage in markers)}: markers, research arms off)" if markers else "") + ".")
    if not demo:
        return text + ("\n\nNo `make demo` wall time is recorded yet: `make demo` writes it, the install included, "
                       "to `metrics/demo_time.json`.") + demo_trials_markdown(trials or [])
    machine = demo["machine"]
    kind = cpu_kind(machine)
    changes = {True: " with code changes", None: " (code changes unknown)"}.get(demo.get("code_changed"), "")
    verdict = (f"**{'within' if demo['within_budget'] else 'over'} the {demo['budget_seconds'] // 60}-minute budget**"
               if demo.get("complete") else f"a partial run ({demo.get('timed_stages_run')} of {demo.get('timed_stages')} "
               "timed stages ran), not the budget's figure")
    parts = ""
    if "repro_seconds" in demo and demo.get("complete"):
        parts = (f" Of it, the install took {format_minutes(demo['install_seconds'])} and the `dvc repro` "
                 f"{format_minutes(demo['repro_seconds'])}: **{'within' if demo['repro_within_budget'] else 'over'} the budget** "
                 "on its own.")
    elif "repro_seconds" in demo:
        parts = (f" Of it, the install took {format_minutes(demo['install_seconds'])} and the `dvc repro`, with "
                 f"{demo['timed_stages'] - demo['timed_stages_run']} timed stage(s) found up to date, "
                 f"{format_minutes(demo['repro_seconds'])}.")
    forced = demo.get("forced_repro")
    if forced and forced.get("complete"):
        parts += (f" A forced `dvc repro -f evaluate` of the same clone right after, every stage run: "
                  f"{format_minutes(forced['seconds'])}, **{'within' if forced['within_budget'] else 'over'} the budget** "
                  f"on its own (the stages' seconds above are this run's).")
    return text + (f"\n\nThe whole `make demo`, the install included (`metrics/demo_time.json`): "
                   f"{format_minutes(demo['seconds'])} on a {machine.get('cores')}-core "
                   f"{machine.get('cpu')}{kind} at commit {(demo.get('commit') or 'unknown')[:7]}{changes}: {verdict}."
                   + parts + demo_trials_markdown(trials or []))


# The README's headline: CRYCHIC's two rows beside the baselines they have to beat, so that the short
# table can never show CRYCHIC alone, and the two paired claims that decide whether it does.
HEADLINE_METHODS = ("crychic_fused", "late_fusion", "crychic_posefree", "rgb_only", "teacher")
HEADLINE_CLAIMS = ("crychic_fused - late_fusion", "crychic_posefree - rgb_only")


def headline_markdown(evaluate: dict, timing: dict | None = None, ablations: dict | None = None,
                      source: str | None = None) -> str:
    """The README's short results table: test top-1 with its interval for `HEADLINE_METHODS`, what
    made the figures, and each of `HEADLINE_CLAIMS` with its verdict, read as in the report (the
    interval over the sweep's draws where there is one, else the test split's)."""
    models = evaluate["models"]
    # beside the demo's one run, `full` of the sweep (every network trained to the epoch rule), over its draws
    column_of = {model: column for column, model in TOP1_COLUMNS.items()}
    full = ((ablations or {}).get("variants") or {}).get("full") or {}
    over_draws = {name: full[column_of[name]] for name in HEADLINE_METHODS
                  if column_of.get(name) in full and "mean" in full[column_of[name]]}
    header = "| method | needs at test time | demo: test top-1 % | 95 % CI |"
    if over_draws:
        header += f" sweep: mean test top-1 % over {len(full['draws'])} draws | 95 % interval |"
    lines = [header, "|---" * (header.count("|") - 1) + "|"]
    for name in HEADLINE_METHODS:
        if name in models:
            method = METHODS.get(name)
            row = (f"| `{name}`: {method.description if method else name} | {method.modality if method else ''} "
                   f"| {pct(models[name]['top1'])} | {interval(models[name].get('top1_ci95'))} |")
            if over_draws:
                sweep = over_draws.get(name)
                row += f" {pct(sweep['mean'])} | {interval(sweep.get('ci95'))} |" if sweep else " | |"
            lines.append(row)
    device = (timing or {}).get("device")
    lines += ["", f"{evaluate['samples']} {evaluate['split']} clips"
              + (f" of `data.source: {source}`" if source else "")
              + ", one training run of `make demo` (`dvc repro` with the committed `params.yaml`: the demo profile, every "
              f"network at {DEMO_FRACTION:g} x its epoch rule's epochs, not converged; the claims over draws train to the rule's)"
              + (f" on {device.upper() if device == 'cpu' else device}" if device else "")
              + ", each model scored once by `evaluate` (`metrics/evaluate.json`; the machine and the stage times "
              f"are in the report); 95 % CI: bootstrap over the test clips; chance {pct(evaluate['chance_top1'])} %."
              + (f" The sweep's columns: `full` in the research profile, every network at its epoch rule's epochs, "
                 + (f"{clips} test clips a draw " if (clips := sweep_clips(ablations or {})) else "")
                 + "(`metrics/ablations.json`), 95 % interval from a "
                 f"hierarchical bootstrap over draws, then clips." if over_draws else "")]
    comparisons, claims = evaluate.get("comparisons") or {}, (ablations or {}).get("claims") or {}
    clips = sweep_clips(ablations or {})
    if any(claim in comparisons or claim in claims for claim in HEADLINE_CLAIMS):
        lines.append("")
    for claim in HEADLINE_CLAIMS:
        test, over_draws = comparisons.get(claim), claims.get(claim)
        if not test and not over_draws:
            continue
        statement, direction = CLAIM_STATEMENTS[claim]
        figures = []
        if test:
            figures.append(f"{signed(test['difference'])} {interval(test['ci95'], signed=True)} on this test split "
                           "(the demo's unconverged run)")
        if over_draws:
            ci, basis = draw_interval(over_draws)
            n = over_draws["draws"]
            figures.append(f"{signed(over_draws['mean'])} {signed_interval(ci)} over "
                           f"{n} data draw{'' if n == 1 else 's'} of {sweep_name(ablations)}"
                           + (f", {clips} test clips a draw ({basis})" if clips else f" ({basis})"))
        else:
            ci = test["ci95"]
        lines.append(f"- {statement}: **{verdict(ci, direction)}**. `{claim}`, points: " + "; ".join(figures) + ".")
    return "\n".join(lines + framed_headline_lines(ablations or {}))


def replace_between(text: str, marker: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(\n<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no <!-- {marker}:start --> ... <!-- {marker}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def designs_markdown(designs: dict) -> str:
    """`metrics/designs.json` (`python -m pipeline.designs`): each candidate's val score per draw and mean, the verdict."""
    lines = ["| candidate | switch | val score per draw, points | mean, points |", "|---|---|---|---|"]
    for name in designs["candidates"]:
        switch = ", ".join(f"`{o}`" for o in designs.get("overrides", {}).get(name, [])) or "(the current method)"
        per_draw = ", ".join(f"d{d} {100 * v:+.1f}" for d, v in designs["scores"].get(name, {}).items() if v is not None)
        mean = designs["mean_score"].get(name)
        lines.append(f"| `{name}` | {switch} | {per_draw or '–'} | {'–' if mean is None else f'{100 * mean:+.1f}'} |")
    lines += ["", f"Rule (fixed before any candidate ran): {designs['rule']}", "",
              f"Status: {designs['status']}; chosen: {designs['chosen'] or 'none yet (the default stays `full`)'}. "
              f"Score = mean of (fused - late fusion) and (pose-free - `rgb_only`) val top-1, in points."]
    return "\n".join(lines)


def score_cells(choice: dict, name: str) -> str:
    """A candidate's two table cells in a pre-registered choice: its score per draw, and its mean (in %)."""
    per_draw = ", ".join(f"d{d} {100 * v:.1f}" for d, v in choice["scores"].get(name, {}).items() if v is not None)
    mean = choice["mean_score"].get(name)
    return f"{per_draw or '–'} | {'–' if mean is None else f'{100 * mean:.1f}'}"


def choice_markdown(choice: dict, labels: dict[str, str], what: str, score: str, default: str, fixed: str) -> str:
    """A pre-registered choice on val (`pipeline.designs.choose`'s result): each candidate (`labels`: what it
    is, in the column `what`) with its `score` per draw and mean, the rule (`fixed`: when it was written) and
    the verdict."""
    lines = [f"| candidate | {what} | {score} per draw | mean over the common draws, % |", "|---|---|---|---|"]
    for name in choice["candidates"]:
        lines.append(f"| `{name}` | `{labels[name]}` | {score_cells(choice, name)} |")
    lines += ["", f"Rule (fixed {fixed}): {choice['rule']}", "",
              f"Status: {choice['status']}; chosen: {choice['chosen'] or f'none yet (the default stays {default})'}."]
    return "\n".join(lines)


def i3d_choice_markdown(choice: dict) -> str:
    """`metrics/i3d_choice.json` (`python -m pipeline.i3d_choice`): each candidate's I3D val top-1 per draw, the verdict."""
    return choice_markdown(choice, choice["models"], "network", "I3D val top-1 %", "`i3d_r18_tiny`",
                           "before any candidate ran")


def warmup_choice_markdown(choice: dict) -> str:
    """`metrics/warmup_choice.json` (`python -m pipeline.warmup_choice`): the stage-2 recipe's val figures, the verdict."""
    return choice_markdown(choice, choice["switches"], "switch", "mean val top-1 % of `rgb_only` and the stage-2 student",
                           "no warm-up", "after draw 4's control ran, before draws 0 and 3")


def rgb_lr_choice_markdown(choice: dict) -> str:
    """`metrics/rgb_lr_choice.json` (`python -m pipeline.rgb_lr_choice`): each RGB baseline's val top-1 per rate
    and draw, and its verdict."""
    lines = ["| network | candidate | rate | val top-1 % per draw | mean over the common draws, % |", "|---|---|---|---|---|"]
    for network, result in choice["networks"].items():
        for name in result["candidates"]:
            lines.append(f"| `{network}` | `{name}` | x{choice['scales'][name]:g} the student's | {score_cells(result, name)} |")
    lines += ["", f"Rule (fixed before any candidate ran): {choice['rule']}", ""]
    lines += [f"Status, `{network}` (sets `{choice['sets'][network]}`): {result['status']}; chosen: "
              f"{result['chosen'] or 'none yet (the rate stays x1)'}." for network, result in choice["networks"].items()]
    return "\n".join(lines)


def holdout_markdown(check: dict, variant_checks: list[dict] = ()) -> str:
    """`metrics/holdout_check.json` (`python -m pipeline.holdout_check`): each supported claim on the held-out draw;
    then each sweep variant's own check (`metrics/holdout_check_<variant>.json`), where there is one."""
    text = _holdout_check_markdown(check)
    for other in variant_checks:
        text += (f"\n\n**`{other['variant']}`'s own claims** (as the report reads them inside that variant), on held-out "
                 f"draw {other['draw']}:\n\n" + _holdout_check_markdown(other))
    return text


def _holdout_check_markdown(check: dict) -> str:
    machine = check.get("machine") or {}
    lines = ["| claim (supported over the sweep's draws) | interval it was supported by, points | "
             f"on held-out draw {check['draw']}, points | sign kept |", "|---|---|---|---|"]
    for name, claim in check["claims"].items():
        low, high = claim["interval"]
        draws = f", {claim['draws']} draws" if claim.get("draws") else ""
        lines.append(f"| `{name}` | [{100 * low:+.1f}, {100 * high:+.1f}] ({claim['interval_kind']}{draws}) | "
                     f"{100 * claim['difference']:+.1f} | {'yes' if claim['kept_sign'] else '**no**'} |")
    lines += ["", f"Experiment `{check['experiment']}` ({check['clips']} test clips; trained on "
              f"{machine.get('cpu', 'an unrecorded machine')}), claims read from `{check['table']}`. "
              f"Rule: {check['rule']} Every sign kept: {'yes' if check['all_kept'] else '**no**'}."]
    if check.get("not_checked"):
        lines += ["", f"The claims the report does not call supported, on draw {check['draw']} (read, not checked): "
                  + "; ".join(f"`{claim}` {100 * value:+.1f}" for claim, value in check["not_checked"].items()) + " points."]
    curves = check.get("val_curves") or {}
    if curves:
        starts = [f"{'`rgb_only`' if name == 'rgb_only' else 'the guided student (stage 2)'} first reached "
                  f"{100 * TAKE_OFF:.0f} % val top-1 at epoch {take_off_epoch(curve)} (best {100 * max(curve):.1f} %)"
                  for name, curve in curves.items() if curve]
        lines += ["", f"On draw {check['draw']}, " + "; ".join(starts) + " (the late-start table's reading, above)."]
    return "\n".join(lines)


def stage3_markdown(schedule: dict) -> str:
    """`metrics/stage3_schedule.json` (`python -m pipeline.stage3_schedule`): the candidates' val figures."""
    lines = ["| stage-3 start | fused val top-1 % (kept epoch) | pose-free val top-1 % (kept epoch) | score |",
             "|---|---|---|---|"]
    for name, c in schedule["candidates"].items():
        chosen = " (chosen)" if name == schedule["chosen"] else ""
        lines.append(f"| `{name}`{chosen} | {100 * c['val_fused_top1']:.1f} ({c['kept_epochs']['fused']}) | "
                     f"{100 * c['val_posefree_top1']:.1f} ({c['kept_epochs']['posefree']}) | {100 * c['score']:.1f} |")
    lines += ["", f"Val split of the {schedule['draw']} draw, one run each, on {schedule.get('machine', 'one machine')}."]
    return "\n".join(lines)


def epoch_rule_markdown(rule: dict) -> str:
    """`metrics/epoch_rule.json` (`python -m pipeline.epoch_rule`): each network's epochs before, where its
    calibration val curve plateaus (the sweep's epochs; the demo's are a fraction of them), and the curve's
    best 3-epoch running mean."""
    lines = ["| network | params key | epochs before | calibration epochs | plateau epoch (the sweep's epochs) | "
             "the demo's epochs | val top-1 % at the plateau's window / best window |", "|---|---|---|---|---|---|---|"]
    from pipeline.epoch_rule import demo_epochs, running_means  # the rule's own windows, not a second copy

    for name, n in rule["networks"].items():
        means, window = running_means(n["val_top1"])
        at = means[n["plateau_epoch"] - window]
        demo = demo_epochs({"epochs": n["plateau_epoch"]})["epochs"]
        lines.append(f"| `{name}` | `{n['params_key']}` | {n['before']} | {n['calibration_epochs']} | "
                     f"**{n['plateau_epoch']}** | {demo} | {100 * at:.1f} / {100 * max(means):.1f} |")
    machine = rule.get("machine") or {}
    trained = (f", trained on {machine['cpu']} (family {machine.get('family', '?')}, model {machine.get('model', '?')})"
               if machine.get("cpu") else "")
    lines += ["", f"Rule: {rule['rule']}. Calibration experiment `{rule['experiment']}` (the default draw's val split, "
              f"one run{trained}). The sweep's research profile trains every network to its plateau epoch; the "
              f"default profile, the demo, for {DEMO_FRACTION:g} x it, rounded up (`params.yaml`)."]
    return "\n".join(lines)


# Which file holds which generated block: the README is a user guide (one short table), the report the rest.
BLOCK_FILES = {
    "headline": "readme",
    **{block: "report" for block in ("stages", "stage_times", "stage3", "epoch_rule", "designs", "i3d_choice", "warmup_choice",
                                     "rgb_lr_choice", "holdout", "protocol", "results", "findings",
                                     "teacher_variants", "teacher_focus", "sweep_scope", "ablations",
                                     "sweep_findings", "framed_arms", "pose_sampling", "ntu_shapes")},
}
START_MARKER = re.compile(r"^<!-- (\w+):start -->$", re.M)


def pose_sampling_markdown(report: dict) -> str:
    """`python -m pipeline.pose_sampling`: the full path with pose on the sampled frames against every frame."""
    top1, ci, speed = report["top1"], report["top1_ci95"], report["clips_per_second"]
    difference = report["sampled_minus_every_frame"]
    return (f"Every {report['split']} video ({report['clips']} clips, fusion `{report['fusion']}`, batch 1, one run "
            f"on CPU): pose on the sampled frames (on every frame when none of them shows a person) top-1 "
            f"{pct(top1['sampled'])} % {interval(ci['sampled'])}, pose on every frame {pct(top1['every_frame'])} % "
            f"{interval(ci['every_frame'])}; difference {100 * difference['difference']:+.1f} points "
            f"{interval(difference['ci95'], signed=True)} (paired), the two agree on {pct(report['agreement'])} % of "
            f"the clips; {speed['sampled']:.2f} against {speed['every_frame']:.2f} clips/s ({report['speedup']:.2f}x, "
            "first-clip start-up included).")


def ntu_shapes_markdown(bench: dict) -> str:
    """`python benchmarks/bench_ntu_shapes.py`: its per-stage table, its projection and every assumption
    with its source, rendered by the benchmark's own functions (benchmarks/ is not a package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_ntu_shapes.py"
    spec = importlib.util.spec_from_file_location("bench_ntu_shapes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    machine = bench["machine"]
    assumptions = "; ".join(f"`{name}` = {item['value']} ({item['source']})"
                            for name, item in bench["projection"]["assumptions"].items())
    return (f"Per sample at NTU shapes, one run of `python benchmarks/bench_ntu_shapes.py` "
            f"({bench['benchmark_seconds']:.0f} s on {machine['cpu']}{cpu_kind(machine)}, {machine['cores']} cores):\n\n"
            + module.markdown_stages(bench["stages"])
            + "\n\nNTU-60 X-Sub end to end, projected from those figures:\n\n"
            + module.markdown_projection(bench["projection"]) + "\n\nAssumptions and sources: " + assumptions + ".")


def render_blocks(args: argparse.Namespace) -> dict[str, str]:
    """Every block whose metrics files are present, rendered: block name -> the text between its markers."""
    evaluate = json.loads(Path(args.evaluate).read_text())
    timing = json.loads(Path(args.timing).read_text()) if Path(args.timing).is_file() else None
    ablations = json.loads(Path(args.ablations).read_text()) if Path(args.ablations).is_file() else None
    source = None
    if Path(args.params).is_file():
        import yaml

        source = ((yaml.safe_load(Path(args.params).read_text()) or {}).get("data") or {}).get("source")
    blocks = {"stages": stage_table_markdown(), "headline": headline_markdown(evaluate, timing, ablations, source),
              "results": results_markdown(evaluate, timing), "protocol": protocol_markdown(evaluate),
              "findings": findings_markdown(evaluate, ablations)}
    if ablations:
        blocks |= {"ablations": ablations_markdown(ablations), "sweep_scope": sweep_scope_markdown(ablations),
                   "sweep_findings": sweep_findings_markdown(ablations),
                   "framed_arms": framed_arms_markdown(ablations)}
    if Path(args.teacher_variants).is_file():
        variants = json.loads(Path(args.teacher_variants).read_text())
        blocks |= {"teacher_variants": teacher_variants_markdown(variants),
                   "teacher_focus": teacher_focus_markdown(variants, evaluate)}
    for block, name, render in (("designs", "designs.json", designs_markdown),
                                ("i3d_choice", "i3d_choice.json", i3d_choice_markdown),
                                ("warmup_choice", "warmup_choice.json", warmup_choice_markdown),
                                ("rgb_lr_choice", "rgb_lr_choice.json", rgb_lr_choice_markdown),
                                ("stage3", "stage3_schedule.json", stage3_markdown),
                                ("epoch_rule", "epoch_rule.json", epoch_rule_markdown),
                                ("pose_sampling", "pose_sampling.json", pose_sampling_markdown),
                                ("ntu_shapes", "bench_ntu_shapes.json", ntu_shapes_markdown)):
        path = Path(args.ablations).with_name(name)
        if path.is_file():
            blocks[block] = render(json.loads(path.read_text()))
    holdout = Path(args.ablations).with_name("holdout_check.json")
    if holdout.is_file():  # and each sweep variant's own held-out check (earlier revisions' files have no variant)
        checks = [json.loads(p.read_text()) for p in sorted(holdout.parent.glob("holdout_check_*.json"))]
        blocks["holdout"] = holdout_markdown(json.loads(holdout.read_text()),
                                             [c for c in checks if c.get("variant", "full") != "full"])
    timings = {path.stem: json.loads(path.read_text()) for path in sorted(Path(args.timing_dir).glob("*.json"))}
    if timings:
        demo, trials = (Path(args.ablations).with_name(name) for name in ("demo_time.json", "demo_budget_trials.json"))
        blocks["stage_times"] = stage_times_markdown(timings, json.loads(demo.read_text()) if demo.is_file() else None,
                                                     json.loads(trials.read_text()) if trials.is_file() else None)
    return blocks


def update(text: str, where: str, blocks: dict[str, str], homes: dict[str, str]) -> str:
    """`text` (the file `where`) with every rendered block it holds replaced. `homes` maps each block to
    the file that holds it; a block of this file without its markers, or the markers of a block that
    belongs in another file, is an error that names both."""
    holds = {block for block, home in homes.items() if home == where}
    misplaced = sorted(set(START_MARKER.findall(text)) - holds)
    if misplaced:
        raise ValueError(f"{where}: holds the markers of {', '.join(misplaced)}, which belong in "
                         + ", ".join(sorted({homes.get(b, 'no file (an unknown block)') for b in misplaced})))
    for block in sorted(holds & set(blocks)):
        try:
            text = replace_between(text, block, blocks[block])
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", default="README.md", help="the user guide: the `headline:` block")
    parser.add_argument("--report", default="docs/REPORT.md", help="the research report: every other block")
    parser.add_argument("--evaluate", default="metrics/evaluate.json")
    parser.add_argument("--timing", default="metrics/timing/evaluate.json")
    parser.add_argument("--ablations", default="metrics/ablations.json")
    parser.add_argument("--teacher-variants", default="metrics/teacher_variants.json")
    parser.add_argument("--timing-dir", default="metrics/timing", help="every stage's seconds (`stage_times:`)")
    parser.add_argument("--params", default="params.yaml", help="data.source, named under the headline table")
    parser.add_argument("--check", action="store_true", help="exit 1 if a block in either file is out of date")
    args = parser.parse_args(argv)

    if not Path(args.evaluate).is_file():
        sys.exit(f"{args.evaluate}: not found; run `dvc repro` first")
    blocks = render_blocks(args)
    files = {"readme": Path(args.readme), "report": Path(args.report)}
    homes = {block: str(files[key]) for block, key in BLOCK_FILES.items()}
    updated, stale = {}, []
    for path in files.values():
        text = path.read_text()
        try:
            updated[path] = update(text, str(path), blocks, homes)
        except ValueError as error:
            sys.exit(str(error))
        if updated[path] != text:
            stale.append(path)
    if args.check:
        if stale:
            sys.exit(f"{', '.join(map(str, stale))}: generated blocks out of date; "
                     "run python -m pipeline.results_table")
        return
    for path in stale:
        path.write_text(updated[path])
    print(f"{', '.join(map(str, files.values()))}: generated blocks rendered from {args.evaluate}"
          + (f" ({', '.join(map(str, stale))} changed)" if stale else " (already up to date)"))


if __name__ == "__main__":
    main()
