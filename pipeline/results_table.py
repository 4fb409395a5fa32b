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
numbers the pipeline produced. The prose blocks (`findings:`, `sweep_findings:`, `teacher_focus:`,
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
from pipeline.ablations import FRAMED, FRAMED_METHOD, FRAMED_RGB_RATES, TOP1_COLUMNS
from pipeline.framed_rate_choice import control_of
from pipeline.epoch_rule import DEMO_FRACTION
from pipeline.demo_time import format_minutes
from pipeline.dvc_yaml import stage_table_markdown


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _interval(ci, scale: float = 100, signed: bool = False) -> str:
    """`[low, high]` at one decimal; a signed end that one decimal would show as a zero it is not gets two,
    so that an interval ending a hair short of zero does not read as touching it."""
    def end(x: float) -> str:
        fmt = "+.1f" if signed else ".1f"
        if signed and x != 0 and abs(scale * x) < 0.05:
            fmt = "+.2f"
        return f"{scale * x:{fmt}}"

    return "–" if ci is None else f"[{end(ci[0])}, {end(ci[1])}]"


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
               _pct(report["top1"]), _interval(report.get("top1_ci95")), _pct(report["mean_class_accuracy"])]
        row += [_pct(report.get("group_top1", {}).get(g)) for g in groups]
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
        f"95 % CI: percentile bootstrap over the test clips. Chance top-1 {_pct(evaluate['chance_top1'])} %"
        + ("; within-group chance " + ", ".join(f"{g} {_pct(v)} %" for g, v in chance.items()) if chance else "") + ".",
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
        f"'{e2e['framing']}', no keypoints) top-1 {_pct(e2e['posefree']['top1'])} % "
        f"{_interval(e2e['posefree']['top1_ci95'])} "
        f"at **{e2e_time['posefree']['clips_per_second']:.2f} clips/s**; full path (MediaPipe + heatmaps + both "
        f"networks) top-1 {_pct(e2e['full']['top1'])} % {_interval(e2e['full']['top1_ci95'])} at "
        f"**{e2e_time['full']['clips_per_second']:.2f} clips/s**, {e2e_time['speedup']:.1f}x slower. Full path seconds "
        "per clip: " + ", ".join(f"{part} {s:.3f}" for part, s in e2e_time["full"]["seconds_per_clip"].items()) + "."
        + (f" With pose estimated on every frame instead of the sampled ones (as extraction does), the full path "
           f"gets {_pct(e2e['full_every_frame']['top1'])} % at {e2e_time['full_every_frame']['clips_per_second']:.2f} "
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
        lines.append(f"| `{claim}` | {100 * c['difference']:+.1f} | {_interval(c['ci95'], signed=True)} | "
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
            candidates = ", ".join(f"{c} {_pct(v)}" for c, v in entry["candidates_val_top1"].items())
            lines.append(f"| `{name}`: {entry['question']} | {candidates} | `{entry['chosen']}` |")
    cue = protocol.get("colour_cue")
    if cue:
        candidates = ", ".join(f"C={c} {_pct(v)}" for c, v in cue["c_grid"].items())
        lines.append(f"| `colour_cue`: logistic regression's C | {candidates} | `C={cue['chosen_c']}` |")
    kept = ", ".join(f"`{name}` {entry['kept_epoch']} of {entry['of_epochs']} (val {_pct(entry['val_top1'])})"
                     for name, entry in protocol.get("checkpoints", {}).items() if entry.get("kept_epoch"))
    if kept:
        lines += ["", f"Kept epoch (best val top-1 of the stage's primary head, the later on ties; the nth of the stage's epochs, counting from 1): {kept}."]
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
                  "is better | mean, points | 95 % CI (bootstrap) | 95 % t-interval over draws | by group (per-class top-1 "
                  "averaged over the group's classes): mean, points |",
                  "|---|---|---|---|---|---|---|"]
        for claim, c in claims.items():
            per_draw = ", ".join(f"{100 * v:+.1f}" for v in c["per_draw"])
            t_ci = c.get("t_ci95") or [None, None]
            t_cell = _interval(t_ci, signed=True) if None not in t_ci else "–"
            groups = "; ".join(f"{g} {100 * f['mean']:+.1f}" for g, f in (c.get("groups") or {}).items()) or "–"
            lines.append(f"| `{claim}` | {per_draw} | {c['draws_a_better']} of {c['draws']} | {100 * c['mean']:+.1f} | "
                         f"{_interval(c['ci95'], signed=True)} | {t_cell} | {groups} |")
    return "\n".join(lines + _training_noise_lines(ablations.get("training_noise") or {}) + _late_start_lines(ablations))


TAKE_OFF = 0.25  # val top-1 three times chance (12 classes): a network has left the plateau it starts on


def take_off_epoch(curve: list[float], level: float = TAKE_OFF) -> int | None:
    """The first epoch (0-based) whose val top-1 reaches `level`; None if none does."""
    return next((epoch for epoch, top1 in enumerate(curve) if top1 >= level), None)


# The variants whose RGB training the late-start table compares: `full`, and its controls (both stage-2 RGB
# networks warmed up (abl7), or not (abl8, where the warm-up is the default); another training seed on the
# same draw; the student without attention transfer), and the D arms, where both train without keypoint boxes,
# with the framed `rgb_only` at other rates.
LATE_START_VARIANTS = ("full", "stage2_warmup", "no_stage2_warmup", "full_seed2", "no_attention_transfer", "rgb_lr_low",
                       "rgb_lr_high", *FRAMED, *FRAMED_RGB_RATES)


def _late_start_lines(ablations: dict) -> list[str]:
    """Per draw of `full` and of its controls: when `rgb_only` and the guided student left chance on val, beside
    the pose-free claim. A claim whose size follows the baseline's late start is about optimisation, not what
    was learnt; the controls say whether a warm-up or another seed moves the start, and the claim with it."""
    rows = sorted(((LATE_START_VARIANTS.index(e["variant"]), e["draw"], e)
                   for e in (ablations.get("experiments") or {}).values()
                   if e.get("variant") in LATE_START_VARIANTS and e.get("val_curves")), key=lambda row: row[:2])
    if not rows:
        return []
    lines = ["", f"| variant, draw | epoch `rgb_only` first reaches {100 * TAKE_OFF:.0f} % val top-1 | the same for the "
             "guided student (stage 2) | best val top-1 %, `rgb_only` / student | `rgb_only` test top-1 % | "
             "`crychic_posefree - rgb_only`, points |", "|---|---|---|---|---|---|"]
    from pipeline.ablations import per_clip

    def start(curves: dict, network: str) -> str:
        if network not in curves:
            return "–"
        epoch = take_off_epoch(curves[network])
        return "never" if epoch is None else str(epoch)

    for _, draw, entry in rows:
        correct = per_clip(entry)
        rgb = float(correct["rgb_only"].mean()) if "rgb_only" in correct else None
        gain = float(correct["crychic_posefree"].mean()) - rgb if rgb is not None and "crychic_posefree" in correct else None
        best = " / ".join(f"{100 * max(entry['val_curves'][n]):.1f}" if entry["val_curves"].get(n) else "–"
                          for n in ("rgb_only", "student"))
        lines.append(f"| `{entry['variant']}` d{draw} | " + " | ".join(start(entry["val_curves"], n) for n in ("rgb_only", "student"))
                     + f" | {best} | {'–' if rgb is None else f'{100 * rgb:.1f}'} | {'–' if gain is None else f'{100 * gain:+.1f}'} |")
    return lines + ["", "Epochs count from 0; each network's val curve is the experiment's `plots/train_<stage>.json`."]


def _training_noise_lines(noise: dict) -> list[str]:
    """Training noise against draw noise (`pipeline.ablations.training_noise`): `full` and `full_seed2`."""
    if not noise:
        return []
    lines = ["", "| claim: two training seeds, same draw | draws | seed 1, points | seed 2, points | training noise "
             "(sd of one draw's value), points | sd over `full`'s draws, points |", "|---|---|---|---|---|---|"]
    for claim, n in noise.items():
        draw_sd = f"{100 * n['draw_sd']:.1f} ({n['draws_of_full']} draws)" if n.get("draw_sd") is not None else "–"
        lines.append(f"| `{claim}` | {', '.join(map(str, n['draws']))} | {_per_draw(n['seed_1'])} | "
                     f"{_per_draw(n['seed_2'])} | {100 * n['seed_sd']:.1f} | {draw_sd} |")
    return lines


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


# ---- Prose rendered from the metrics files: sentences with the figures filled in and the verdicts
# computed from the intervals, so that a new run cannot leave a stale reading beside new tables.


def _signed(value) -> str:
    return f"{100 * value:+.1f}"


def _finite(ci) -> bool:
    return ci is not None and len(ci) == 2 and all(x is not None for x in ci)


def _signed_interval(ci) -> str:
    """A difference's interval, signed; "–" where it has no finite ends (one draw's t interval)."""
    return _interval(ci, signed=True) if _finite(ci) else "–"


def _draws(n: int) -> str:
    return f"{n} draw{'' if n == 1 else 's'}"


# A verdict reads an interval over this many draws or more: one draw's interval is one training run's spread
# over its test clips, which says nothing of another run (the report's draw spread).
VERDICT_DRAWS = 2


def _per_draw(values) -> str:
    return ", ".join(_signed(v) for v in values)


WIDENED = "t interval over draws, widened to the hierarchical bootstrap's ends"  # `draw_interval`'s basis when it widens


def draw_interval(entry: dict) -> tuple[list | None, str]:
    """The interval over draws that a verdict reads: the draw-level Student-t interval where the file
    has a finite one (`t_ci95`, two draws or more), else the hierarchical bootstrap (`ci95`: draws,
    then clips within a draw). Where the bootstrap reaches past the t interval, the verdict reads both
    sides' wider end: with few draws their spread can be near zero by chance (two draws of the same
    difference give a t interval of no width), which the clips' own spread is not."""
    t, bootstrap = entry.get("t_ci95"), entry.get("ci95")
    if _finite(t):
        if _finite(bootstrap) and (bootstrap[0] < t[0] or bootstrap[1] > t[1]):
            return [min(t[0], bootstrap[0]), max(t[1], bootstrap[1])], WIDENED
        return t, "t interval over draws"
    if _finite(bootstrap):
        return bootstrap, "hierarchical bootstrap over draws, then clips"
    return None, "no interval"


def verdict(ci, direction: int = 1) -> str:
    """A claim that the first is better (direction 1; -1: worse) is supported only when the whole
    interval lies on that side of zero; one that touches or straddles zero supports nothing."""
    if not _finite(ci):
        return "not supported"
    low, high = ci
    return "supported" if (low > 0 if direction > 0 else high < 0) else "not supported"


def reading(ci, first: str = "the first", second: str = "the second") -> str:
    """A comparison that asserts no direction: the side of zero its interval lies on, if either."""
    if not _finite(ci):
        return "no difference shown"
    low, high = ci
    return f"{first} ahead" if low > 0 else f"{second} ahead" if high < 0 else "no difference shown"


# How each paired comparison (`crychic.evaluation.methods.COMPARISONS`) is read: what it asserts and
# in which direction (1: the first is better; 0: a comparison of baselines, no claim either way).
CLAIM_STATEMENTS = {
    "student_guided - rgb_only": ("A skeleton teacher makes a pose-free RGB student better, after stage 2 (the "
                                  "student trained with the teacher against the same network trained alone)", 1),
    "crychic_posefree - rgb_only": ("A skeleton teacher makes a pose-free RGB student better, after joint "
                                    "fine-tuning (stage 3)", 1),
    # Both networks are trained on keypoint-box crops: only the test clips lose the box (a change of framing,
    # not the deployment framing that the `framed_*` sweep arms train in).
    "crychic_posefree_nokp - rgb_only_nokp": ("A skeleton teacher makes a pose-free RGB student better on test "
                                              "clips framed without a person box (both networks trained on "
                                              "keypoint-box crops)", 1),
    "crychic_fused - teacher": ("Skeletons and RGB complement each other (the fused model beats the skeleton "
                                "teacher)", 1),
    "crychic_fused - crychic_posefree": ("Skeletons and RGB complement each other (the fused model beats its own "
                                         "pose-free student)", 1),
    "late_fusion - teacher": ("Averaging the separately trained teacher and `rgb_only` (late fusion) beats the "
                              "teacher", 1),
    "crychic_fused - late_fusion": ("CRYCHIC's fused model beats late fusion", 1),
    "crychic_text - crychic_posefree": ("The text anchor makes the pose-free student better (stage 3 with and "
                                        "without the class sentences, same start, same epochs)", 1),
    "msg3d - gcn": ("The keypoint baselines, MS-G3D against the ST-GCN stand-in", 0),
    "i3d - rgb_only": ("The RGB baselines, the I3D-style network against the plain student (same warm-up, "
                       "each at its own epochs and rate, both from scratch)", 0),
}


def _sweep_clips(ablations: dict) -> int | None:
    """Test clips in a draw of the sweep's `full` variant (each experiment records one flag per clip)."""
    for entry in (ablations.get("experiments") or {}).values():
        if entry.get("variant") == "full" and entry.get("correct"):
            return len(next(iter(entry["correct"].values())))
    return None


def claim_markdown(claim: str, test: dict | None, over_draws: dict | None) -> str:
    """One claim as a sentence: its figures on the test split and over the sweep's draws, and the
    verdict read from the interval over draws (from the test split's interval when the sweep lacks it)."""
    a, _, b = claim.partition(" - ")
    statement, direction = CLAIM_STATEMENTS.get(claim, (f"`{a}` against `{b}`", 0))
    parts = []
    if test:
        parts.append(f"on this page's test split {_signed(test['difference'])} {_interval(test['ci95'], signed=True)} "
                     f"({test['a_only']} clips only the first gets right, {test['b_only']} only the second)")
    if over_draws:
        n = over_draws["draws"]
        ci, basis = draw_interval(over_draws)
        text = (f"over {_draws(n)} {_per_draw(over_draws['per_draw'])} "
                f"({over_draws['draws_a_better']} of {n} with the first ahead), mean {_signed(over_draws['mean'])}")
        if "t_ci95" in over_draws:
            t = over_draws["t_ci95"]
            text += f", t interval {_interval(t, signed=True) if _finite(t) else '– (under two draws)'}"
        text += f", hierarchical {_interval(over_draws['ci95'], signed=True)}"
        groups = over_draws.get("groups") or {}
        if groups:
            text += "; per class group, mean over draws and t interval: " + ", ".join(
                f"{group} {_signed(g['mean'])} "
                + (_interval(g['t_ci95'], signed=True) if _finite(g.get('t_ci95')) else "–")
                for group, g in groups.items())
        parts.append(text)
    else:
        ci = (test or {}).get("ci95")
        basis = ("not in the sweep: one run of the demo, unconverged networks, the test split's bootstrap over "
                 "clips")
    word = verdict(ci, direction) if direction else reading(ci, f"`{a}`", f"`{b}`")
    return f"- **{statement}: {word}** ({basis}). `{claim}`, points: " + "; ".join(parts) + "."


def _sweep_name(ablations: dict) -> str:
    """"the ablation sweep", naming its prefix when the table is an earlier method revision's (whose networks
    this revision's code no longer trains bit for bit)."""
    from pipeline.ablations import QUEUE_PREFIX

    prefixes = sorted({name.split("-")[0] for name in (ablations or {}).get("experiments", {})})
    earlier = [prefix for prefix in prefixes if prefix != QUEUE_PREFIX]
    return (f"the `{'`, `'.join(earlier)}` ablation sweep, an earlier revision's, not the current "
            f"`{QUEUE_PREFIX}`") if earlier else "the ablation sweep"


def _findings_scope(evaluate: dict, ablations: dict) -> str:
    """The opening paragraph: where the paired differences come from, and the verdict rule."""
    full = (ablations.get("variants") or {}).get("full") or {}
    clips = _sweep_clips(ablations)
    scope = (f"Each claim below is a paired difference on the same clips: on this page's test split "
             f"(`metrics/evaluate.json`, {evaluate['samples']} clips, one training run of the demo, every network at "
             f"{DEMO_FRACTION:g} x its epoch rule's epochs: unconverged, and not evidence; interval: bootstrap over "
             "the clips)")
    if ablations.get("claims") or {}:
        draws = full.get("draws") or []
        scope += (f", and over the {len(draws)} data draws of the `full` variant in {_sweep_name(ablations)} "
                  f"(`metrics/ablations.json`{f', {clips} test clips a draw' if clips else ''}; a draw brings new "
                  "synthetic subjects, so new train, val and test clips, and a new training seed)")
    return scope + (". Verdict rule: a claim is **supported** only when the interval over draws (the draw-level t "
                    "interval where the file has one, else the hierarchical bootstrap over draws, then clips) lies "
                    "wholly on the claimed side of zero, and **not supported** otherwise, whatever the sign of the "
                    "mean; each verdict names the interval it read.")


def _draw_spread(full: dict) -> list[str]:
    """How far single runs move between draws (`full`'s top-1 per draw), when the sweep has two draws or more."""
    from pipeline.ablations import TOP1_COLUMNS

    columns = ("rgb_only", "late_fusion", "teacher", "student_guided", "posefree", "fused")
    spread = {c: full[c]["values"] for c in columns
              if len((full.get(c) or {}).get("values") or []) > 1}
    if not spread:
        return []
    widest = max(spread, key=lambda c: max(spread[c]) - min(spread[c]))
    return ["", "How far a single training run moves from one draw to the next (`full`, top-1 % per draw): "
            + "; ".join(f"`{TOP1_COLUMNS[c]}` " + ", ".join(_pct(v) for v in values) for c, values in spread.items())
            + f". The widest range, `{TOP1_COLUMNS[widest]}`'s, is "
            f"{100 * (max(spread[widest]) - min(spread[widest])):.1f} points: a difference between two single "
            "runs says little here, and only the intervals over draws carry evidence."]


def _rgb_sizes_fact(evaluate: dict) -> list[str]:
    """The sizes of `i3d` and `rgb_only`, which the RGB claim compares."""
    cost = evaluate.get("cost") or {}
    if not ("i3d" in cost and "rgb_only" in cost):
        return []
    return [f"- **Sizes in that RGB comparison** (`metrics/evaluate.json`): `i3d` "
            f"{cost['i3d']['parameters'] / 1e6:.2f} M parameters, `rgb_only` "
            f"{cost['rgb_only']['parameters'] / 1e6:.2f} M; neither starts from image-pretrained weights "
            "(none can be had offline), so it compares designs under one training recipe, not I3D's recipe."]


def _best_single_modality(models: dict, kind: str, group: str) -> str:
    """The best model of one modality (`skeleton` or `RGB`, alone) within a class group, with its top-1."""
    names = [n for n in models if n in METHODS and METHODS[n].modality.startswith(kind)
             and "+" not in METHODS[n].modality and group in models[n].get("group_top1", {})]
    if not names:
        return "–"
    name = max(names, key=lambda n: models[n]["group_top1"][group])
    return f"`{name}` {_pct(models[name]['group_top1'][group])}"


def _class_group_facts(evaluate: dict) -> list[str]:
    """Which modality separates which class group, and the colour cue's within-group top-1."""
    models = evaluate["models"]
    groups = list(next(iter(models.values())).get("group_top1", {}))
    if not groups:
        return []
    chance = evaluate.get("chance_group_top1") or {}
    lines = ["- **Which modality separates which class group** (test split, within-group top-1 %, the best "
             "single-modality model of each kind): " + "; ".join(
                 f"{g}: skeleton {_best_single_modality(models, 'skeleton', g)}, "
                 f"RGB {_best_single_modality(models, 'RGB', g)}"
                 + (f", chance {_pct(chance[g])}" if g in chance else "") for g in groups) + "."]
    if "colour_cue" in models:
        cue = models["colour_cue"]["group_top1"]
        lines.append("- **The object cue**: `colour_cue` (a hue histogram at the keypoint wrists and a logistic "
                     "regression, no deep learning) within groups: "
                     + ", ".join(f"{g} {_pct(cue.get(g))} %" for g in groups) + ".")
    return lines


def _text_zeroshot_fact(models: dict, full: dict) -> list[str]:
    """Classes named by their sentence alone against the classifier head, on test and over the draws (the text
    anchor is a research arm: the default run may have no such rows while the sweep has)."""
    figures = []
    if "crychic_text_zeroshot" in models and "crychic_text" in models:
        figures.append(f"{_pct(models['crychic_text_zeroshot']['top1'])} % against the classifier's "
                       f"{_pct(models['crychic_text']['top1'])} % on the test split")
    if "text_zeroshot" in full and "text" in full:
        figures.append(f"{_pct(full['text_zeroshot']['mean'])} % against {_pct(full['text']['mean'])} % over the "
                       f"{len(full['draws'])} draws of the sweep")
    if not figures:
        return []
    return ["- **Classes by their sentence alone**: `crychic_text_zeroshot` (the nearest class sentence through "
            "the learnt projection, no classifier head) " + ", ".join(figures) + "."]


def _without_keypoints_fact(evaluate: dict, full: dict) -> list[str]:
    """What the pose-free models keep of their top-1 without keypoints: test split, draws, end to end."""
    from pipeline.ablations import TOP1_COLUMNS

    models = evaluate["models"]
    pairs = [(a, b) for a, b in (("crychic_posefree", "crychic_posefree_nokp"), ("rgb_only", "rgb_only_nokp"))
             if a in models and b in models]
    if not pairs:
        return []
    text = "- **Without keypoints** (test clips framed as val chose, no person box), top-1 %: " + ", ".join(
        f"`{a}` {_pct(models[a]['top1'])} -> `{b}` {_pct(models[b]['top1'])} (keeps "
        f"{100 * models[b]['top1'] / models[a]['top1']:.0f} % of it)" for a, b in pairs) + " on the test split"
    columns = [(a, b) for a, b in (("posefree", "posefree_nokp"), ("rgb_only", "rgb_only_nokp"))
               if a in full and b in full]
    if columns:
        text += "; over the draws " + ", ".join(
            f"`{TOP1_COLUMNS[a]}` {_pct(full[a]['mean'])} -> {_pct(full[b]['mean'])}" for a, b in columns)
    e2e = evaluate.get("end_to_end")
    if e2e:
        text += (f"; end to end from {e2e['clips']} video files, the pose-free path "
                 f"{_pct(e2e['posefree']['top1'])} % {_interval(e2e['posefree']['top1_ci95'])} against the full "
                 f"path's {_pct(e2e['full']['top1'])} % {_interval(e2e['full']['top1_ci95'])}")
    return [text + "."]


def _alignment_fact(evaluate: dict, full: dict) -> list[str]:
    """CKA on the test split and over the draws, and retrieval when the projection heads were trained."""
    alignment = evaluate.get("alignment") or {}
    if not alignment:
        return []
    text = f"- **Alignment**: linear CKA of the backbones' clip embeddings {alignment['cka']:.3f} on the test split"
    if "cka" in full:
        text += " (" + ", ".join(f"{v:.3f}" for v in full["cka"]["values"]) + " over the draws)"
    if alignment.get("projections_trained"):
        text += (f", of the projection heads {alignment['cka_projection']:.3f}; R@1 teacher->student "
                 f"{alignment['r1_teacher_to_student']:.3f} and student->teacher "
                 f"{alignment['r1_student_to_teacher']:.3f} against a chance of {alignment['r1_chance']:.3f}")
    return [text + "."]


def findings_markdown(evaluate: dict, ablations: dict | None = None) -> str:
    """"What the figures say": every claim with its figures and verdict, then the facts the tables
    hold that the claims lean on, each as a sentence with the numbers filled in."""
    ablations = ablations or {}
    models, comparisons = evaluate["models"], evaluate.get("comparisons") or {}
    claims = ablations.get("claims") or {}
    full = (ablations.get("variants") or {}).get("full") or {}
    lines = [_findings_scope(evaluate, ablations), *_draw_spread(full), ""]
    for claim in dict.fromkeys([*comparisons, *claims]):
        lines.append(claim_markdown(claim, comparisons.get(claim), claims.get(claim)))
    lines += (_rgb_sizes_fact(evaluate) + _class_group_facts(evaluate) + _text_zeroshot_fact(models, full)
              + _without_keypoints_fact(evaluate, full) + _alignment_fact(evaluate, full))
    return "\n".join(lines)


def sweep_scope_markdown(ablations: dict) -> str:
    """What the committed sweep holds: its experiment prefix, the variants and their draws."""
    experiments = ablations.get("experiments") or {}
    prefixes = sorted({name.split("-")[0] for name in experiments})
    variants = ablations.get("variants") or {}
    clips = _sweep_clips(ablations)
    return (f"The committed table (`metrics/ablations.json`"
            + (f", experiments {', '.join(f'`{p}-*`' for p in prefixes)}" if prefixes else "") + ") has "
            + ", ".join(f"`{v}` over draws {', '.join(str(d) for d in row['draws'])}" for v, row in variants.items())
            + (f", {clips} test clips a draw" if clips else "") + "." + _sweep_machines(experiments)
            + _carried(experiments))


def _carried(experiments: dict) -> str:
    """Experiments read from an earlier prefix's (`pipeline.ablations.CARRIED_OVER`, and why it is sound)."""
    carried = [f"`{name}` is `{entry['carried_from']}`" for name, entry in sorted(experiments.items())
               if entry.get("carried_from")]
    return (" Carried over from the earlier prefix, the same training shown byte for byte on a re-run draw "
            "(`pipeline.ablations.CARRIED_OVER`): " + "; ".join(carried) + ".") if carried else ""


def _cpu_kind(machine: dict) -> str:
    """' (family F, model M)' from a `crychic.core.machine.describe_machine` record, or "" where it has none:
    a processor's brand string alone does not tell two AMD EPYC generations apart."""
    identity = machine.get("cpu_id") or {}
    return (f" (family {identity['family']}, model {identity['model']})"
            if identity.get("family") and identity.get("model") else "")


def _sweep_machines(experiments: dict) -> str:
    """Which processor trained which experiments (recorded from abl6 on; trained figures are one machine's)."""
    by_machine: dict[str, list[str]] = {}
    for name, entry in sorted(experiments.items()):
        machine = entry.get("machine")
        label = (f"{machine['cpu']} (family {machine.get('family', '?')}, model {machine.get('model', '?')})"
                 + (f" with {machine['gpu']}" if machine.get("gpu") else "") if machine else "not recorded")
        by_machine.setdefault(label, []).append(f"`{name}`")
    if not by_machine:
        return ""
    return " Trained on: " + "; ".join(f"{label}: {', '.join(names)}" for label, names in by_machine.items()) + "."


def sweep_findings_markdown(ablations: dict) -> str:
    """Each variant against `full`: which figures the switch moved, read from the interval over draws."""
    lines = []
    for variant, by_column in (ablations.get("against_full") or {}).items():
        moved: dict[str, list[str]] = {"higher": [], "lower": [], "none": [], "identical": [], "unread": []}
        bases, draws = set(), 0
        for column, f in by_column.items():
            draws = max(draws, f["draws"])
            if all(v == 0 for v in f["per_draw"]):
                moved["identical"].append(f"`{column}`")
                continue
            if f["draws"] < VERDICT_DRAWS:
                moved["unread"].append(f"`{column}` {_signed(f['mean'])}")
                continue
            ci, basis = draw_interval(f)
            bases.add(basis)
            side = {"the first ahead": "higher", "the second ahead": "lower"}.get(reading(ci), "none")
            moved[side].append(f"`{column}` {_signed(f['mean'])} {_signed_interval(ci)}")
        parts = [f"shown higher than `full`: {', '.join(moved['higher'])}" if moved["higher"] else "",
                 f"shown lower: {', '.join(moved['lower'])}" if moved["lower"] else "",
                 f"no difference shown: {', '.join(moved['none'])}" if moved["none"] else "",
                 f"one draw, not read (a verdict needs two or more): {', '.join(moved['unread'])}" if moved["unread"] else "",
                 f"identical on every draw (those stages read none of the variant's params: DVC reused them, or they trained again to the same predictions): "
                 f"{', '.join(moved['identical'])}" if moved["identical"] else ""]
        basis = bases.pop() if len(bases) == 1 else f"{WIDENED} where those reach past it" if bases else ""
        lines.append(f"- **`{variant}` - `full`** ({_draws(draws)}"
                     + (f"; {basis}" if basis else "") + "): " + "; ".join(p for p in parts if p) + ".")
    anchor = {v: [t - p for t, p in zip(row["text"]["values"], row["posefree"]["values"])]
              for v, row in (ablations.get("variants") or {}).items() if "text" in row and "posefree" in row}
    if anchor:
        lines.append("- **The text anchor in every variant** (`text` - `posefree` top-1 per draw, points, the same "
                     "test clips): " + "; ".join(f"`{v}` {_per_draw(d)}" for v, d in anchor.items())
                     + " (its claim over the `full` draws, with the verdict: What the figures say, above).")
    return "\n".join(lines)


# Issue 23 D: each framed arm's guidance map, and what the student would need if that map beat the control's. The
# control (`framed_uniform`) is not blank: in a framed clip its map is the person box (uniform inside, zero outside),
# which the keypoints place, so an arm's gain over it is what a finer map adds to knowing where the person is.
# arm -> (its map, in words; what the map is drawn from; the pronoun that source takes)
FRAMED_ARMS = {"framed_keypoints": ("the keypoint regions (hands, head, feet)", "the keypoints", "them"),
               "framed_teacher": ("the teacher's attention", "the teacher's attention", "it"),
               "framed_hands": ("an oracle hand mask (the wrists' keypoints)", "the keypoints", "them")}
FRAMED_CONTROL_MAP = "the person box, uniform inside"


def framed_claims(ablations: dict) -> dict:
    """Each variant's own claims, the D arms' read against `rgb_only` at the rate val chose for the framing
    (`pipeline.framed_rate_choice`) once the rule has chosen one other than the box-crop rate."""
    return {**(ablations.get("variant_claims") or {}),
            **((ablations.get("framed_baseline") or {}).get("variant_claims") or {})}


def framed_rate_sentence(ablations: dict) -> str | None:
    """Which `rgb_only` the D arms are read against, by the rule of `pipeline.framed_rate_choice`."""
    baseline = ablations.get("framed_baseline") or {}
    choice = baseline.get("choice")
    if not choice:
        return None
    means = "; ".join(f"`{name}` {_pct(mean)} %" for name, mean in choice["mean_score"].items() if mean is not None)
    if choice["chosen"] is None:
        return (f"The framed baseline's rate (`pipeline/framed_rate_choice.py`, rule committed before the rate "
                f"controls' later draws): {choice['status']}; until then every arm is read against its own `rgb_only` "
                f"(x3 the student's rate, the box-crop choice).")
    control = control_of(choice)
    draws = "; ".join(f"`{arm}` {', '.join(map(str, d)) or 'none yet'}" for arm, d in (baseline.get("draws") or {}).items())
    which = ("x3 the student's rate stays (the box-crop choice)" if control is None
             else f"`{control}`'s rate: every arm's `rgb_only` and late fusion in this block are that control's, on "
                  f"the same draw, and an arm is read on the draws the control has (draws: {draws})")
    return (f"The framed baseline's rate (`pipeline/framed_rate_choice.py`, its rule committed before the rate "
            f"controls' later draws), by mean val top-1 of `rgb_only` over draws "
            f"{', '.join(map(str, choice['common_draws']))} ({means}): {which}.")


def _over_draws_cell(entry: dict | None) -> str:
    """Per-draw differences, then the interval a verdict reads (t over draws where finite)."""
    if not entry:
        return "–"
    ci, _ = draw_interval(entry)
    return f"{_per_draw(entry['per_draw'])}; {_signed_interval(ci)}"


def framed_needs(ablations: dict) -> tuple[list[str], str] | None:
    """The D arms read by the verdict rule: one sentence for the control's student against `rgb_only` (both framed)
    and one for each finer map against the control's, then what the student needs. None until the control and one
    arm against it are in the table; not read under `VERDICT_DRAWS`."""
    from pipeline.ablations import FRAMED_CONTROL

    inside = framed_claims(ablations)
    control = (inside.get(FRAMED_CONTROL) or {}).get("crychic_posefree - rgb_only")
    against = {arm: entry for arm in FRAMED_ARMS
               if (entry := ((ablations.get("framed_against_control") or {}).get(arm) or {}).get("posefree"))}
    if not control or not against:
        return None
    if min(entry["draws"] for entry in [control, *against.values()]) < VERDICT_DRAWS:
        return [], (f"not read yet: the control has {_draws(control['draws'])}, the arms against it "
                    + ", ".join(f"`{arm}` {_draws(entry['draws'])}" for arm, entry in against.items())
                    + "; a verdict reads the interval over two draws or more")
    ci, basis = draw_interval(control)
    box_helps = verdict(ci) == "supported"
    lines = [f"- The control's student (guided by {FRAMED_CONTROL_MAP}, with the teacher's contrastive term and "
             f"stage 3) against `rgb_only`, both framed (`{FRAMED_CONTROL}`, `crychic_posefree - rgb_only`, "
             f"{_draws(control['draws'])}, {basis}): {_signed(control['mean'])} "
             f"{_signed_interval(ci)}, "
             f"**{reading(ci, 'the guided student', '`rgb_only`')}**."]
    needs, compared = [], []
    for arm, entry in against.items():
        what, source, pronoun = FRAMED_ARMS[arm]
        ci, basis = draw_interval(entry)
        word = reading(ci, f"`{arm}`", f"`{FRAMED_CONTROL}`")
        own = verdict(draw_interval((inside.get(arm) or {}).get("crychic_posefree - rgb_only") or {})[0])
        if word == f"`{arm}` ahead" and own == "supported":  # finer than the box, and better than no guidance at all
            needs.append((source, pronoun))
        compared.append(what)
        lines.append(f"- {what[0].upper() + what[1:]} against {FRAMED_CONTROL_MAP} (`{arm} - {FRAMED_CONTROL}`, the "
                     f"pose-free student, {_draws(entry['draws'])}, {basis}): {_signed(entry['mean'])} "
                     f"{_signed_interval(ci)}, **{word}**; that arm against `rgb_only`: "
                     f"**{own}**.")
    if needs:
        sources = dict(needs)  # source -> pronoun, in the arms' order, each source once
        drawn_from = "either" if len(sources) > 1 else next(iter(sources.values()))
        text = (f"{' or '.join(sources)}: a map drawn from {drawn_from} beats {FRAMED_CONTROL_MAP}, and its student "
                "beats `rgb_only`")
    elif box_helps:
        text = (f"no more than where the person is: no finer map ({'; '.join(compared)}) beats {FRAMED_CONTROL_MAP}, "
                "whose student (with the teacher's other terms) beats `rgb_only`")
    else:
        text = (f"none shown: no finer map beats {FRAMED_CONTROL_MAP} with a student ahead of `rgb_only`, and the "
                "control's student is not shown ahead of `rgb_only` (no interval lies above zero)")
    return lines, text


def framed_arms_markdown(ablations: dict) -> str:
    """The D arms (`framed_*`): inside each, the guided student against `rgb_only` trained in the same framing;
    each arm's student against the control's; then what the student needs, in words."""
    from pipeline.ablations import FRAMED, FRAMED_CONTROL

    inside = framed_claims(ablations)
    against = ablations.get("framed_against_control") or {}
    arms = [arm for arm in FRAMED if arm in inside]
    if not arms:
        return "No `framed_*` arm in the committed table yet."
    lines = ["| arm (every RGB network trained and tested without keypoint boxes) | draws | `student_guided - rgb_only` "
             "(stage 2), per draw; interval | `crychic_posefree - rgb_only` (stage 3), per draw; interval | by group, "
             "`crychic_posefree - rgb_only` mean | arm - `" + FRAMED_CONTROL + "`, the stage-2 student | arm - `"
             + FRAMED_CONTROL + "`, the pose-free student | `crychic_fused - late_fusion`, per draw; interval |",
             "|---|---|---|---|---|---|---|---|"]
    for arm in arms:
        claims = inside[arm]
        posefree = claims.get("crychic_posefree - rgb_only") or {}
        groups = "; ".join(f"{g} {_signed(f['mean'])}" for g, f in (posefree.get("groups") or {}).items()) or "–"
        versus = (" | ".join(_over_draws_cell((against.get(arm) or {}).get(c)) for c in ("student_guided", "posefree"))
                  if arm != FRAMED_CONTROL else "the control | the control")
        lines.append(f"| `{arm}` | {posefree.get('draws', 0)} | {_over_draws_cell(claims.get('student_guided - rgb_only'))} "
                     f"| {_over_draws_cell(posefree)} | {groups} | {versus} "
                     f"| {_over_draws_cell(claims.get('crychic_fused - late_fusion'))} |")
    lines += ["", "Points, per draw; interval: the t interval over draws where there are two or more (widened to the "
              "hierarchical bootstrap's ends where those reach past it), else the bootstrap over the draw's test clips "
              "(one training run: no verdict reads it). Every arm's `rgb_only` reads no "
              f"guidance param, so on a draw it is one network, scored on the same framed test clips in every arm. The "
              f"control's map is {FRAMED_CONTROL_MAP} (the keypoints place the box), not a blank one."]
    if rate := framed_rate_sentence(ablations):
        lines += ["", rate]
    read = framed_needs(ablations)
    if read:
        sentences, needs = read
        lines += ["", *sentences, f"- **What the pose-free student needs**, by these arms: {needs}."]
    if fusion := framed_fusion_sentence(ablations):
        lines.append(f"- {fusion}")
    return "\n".join(lines)


def _framed_fusion(ablations: dict) -> tuple[dict, dict | None] | None:
    """The method's framed arm: its fused model against late fusion in the framing, and against `full`'s box-crop
    late fusion (None under `VERDICT_DRAWS` draws); None where the arm has no such claim over enough draws."""
    inside = (framed_claims(ablations).get(FRAMED_METHOD) or {}).get("crychic_fused - late_fusion")
    if not inside or inside["draws"] < VERDICT_DRAWS:
        return None
    box = ablations.get("framed_fused_against_box_late")
    return inside, box if box and box["draws"] >= VERDICT_DRAWS else None


def _figure(entry: dict) -> tuple[str, list | None, str]:
    """"+m.m [low, high]", the interval a verdict reads, and how it was made."""
    ci, basis = draw_interval(entry)
    return f"{_signed(entry['mean'])} {_signed_interval(ci)}", ci, basis


def _framed_late_members(ablations: dict) -> str:
    """", at N % mean test top-1; late fusion M % against the teacher's T %": the members late fusion averages in the
    framing (the chosen rate control's, whose `rgb_only` and late fusion the block reads), "" where not in the table."""
    control = control_of((ablations.get("framed_baseline") or {}).get("choice")) or FRAMED_METHOD
    row = (ablations.get("variants") or {}).get(control) or {}
    if not all(row.get(m) for m in ("rgb_only", "late_fusion", "teacher")):
        return ""
    return (f", at {_pct(row['rgb_only']['mean'])} % mean test top-1; late fusion {_pct(row['late_fusion']['mean'])} % "
            f"against the teacher's {_pct(row['teacher']['mean'])} %")


def framed_fusion_sentence(ablations: dict) -> str | None:
    """The goal's fused-against-late claim inside the method's framed arm, and the same fused model against the
    box-crop pipeline's late fusion (`pipeline.ablations.framed_fused_against_box_late`): the one a user holding
    the keypoints, which both need at test time, could run instead."""
    read = _framed_fusion(ablations)
    if read is None:
        return None
    inside, box = read
    figure, ci, basis = _figure(inside)
    text = (f"**The fused model against late fusion in this framing** (`{FRAMED_METHOD}`, `crychic_fused - late_fusion`, "
            f"{_draws(inside['draws'])}, {basis}): {figure} ({inside['draws_a_better']} of {inside['draws']} draws "
            f"ahead), **{verdict(ci)}**; late fusion here averages the teacher with the framed `rgb_only`"
            f"{_framed_late_members(ablations)}.")
    if box:
        figure, ci, basis = _figure(box)
        text += (f" Against the box-crop pipeline's late fusion (`full`'s, on the same draws' test videos, paired; "
                 f"both need the keypoints at test time, which can cut the RGB by the person box): {figure} "
                 f"({box['draws_a_better']} of {box['draws']} draws ahead, {basis}), "
                 f"**{reading(ci, f'framed `{FRAMED_METHOD}` fused', '`full` late fusion')}**.")
    return text


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
             f"`{chosen['teacher']}`): val top-1 {_pct(chosen['val_top1'])} %, object-group ratio "
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
                + (f"; kept epoch {kept['kept_epoch']} of {kept['of_epochs']}, val top-1 {_pct(kept['val_top1'])} %, "
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
    machines = sorted({f"{t['machine'].get('cpu')}{_cpu_kind(t['machine'])}" for t in trials})
    rows = []
    for t in sorted(trials, key=lambda t: -t["seconds"]):
        val = ", ".join(f"{name} {_pct(v)}" for name, v in t["val_top1"].items() if v is not None)
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
    kind = _cpu_kind(machine)
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
                   f"| {_pct(models[name]['top1'])} | {_interval(models[name].get('top1_ci95'))} |")
            if over_draws:
                sweep = over_draws.get(name)
                row += f" {_pct(sweep['mean'])} | {_interval(sweep.get('ci95'))} |" if sweep else " | |"
            lines.append(row)
    device = (timing or {}).get("device")
    lines += ["", f"{evaluate['samples']} {evaluate['split']} clips"
              + (f" of `data.source: {source}`" if source else "")
              + ", one training run of `make demo` (`dvc repro` with the committed `params.yaml`: the demo profile, every "
              f"network at {DEMO_FRACTION:g} x its epoch rule's epochs, not converged; the claims over draws train to the rule's)"
              + (f" on {device.upper() if device == 'cpu' else device}" if device else "")
              + ", each model scored once by `evaluate` (`metrics/evaluate.json`; the machine and the stage times "
              f"are in the report); 95 % CI: bootstrap over the test clips; chance {_pct(evaluate['chance_top1'])} %."
              + (f" The sweep's columns: `full` in the research profile, every network at its epoch rule's epochs, "
                 + (f"{clips} test clips a draw " if (clips := _sweep_clips(ablations or {})) else "")
                 + "(`metrics/ablations.json`), 95 % interval from a "
                 f"hierarchical bootstrap over draws, then clips." if over_draws else "")]
    comparisons, claims = evaluate.get("comparisons") or {}, (ablations or {}).get("claims") or {}
    clips = _sweep_clips(ablations or {})
    if any(claim in comparisons or claim in claims for claim in HEADLINE_CLAIMS):
        lines.append("")
    for claim in HEADLINE_CLAIMS:
        test, over_draws = comparisons.get(claim), claims.get(claim)
        if not test and not over_draws:
            continue
        statement, direction = CLAIM_STATEMENTS[claim]
        figures = []
        if test:
            figures.append(f"{_signed(test['difference'])} {_interval(test['ci95'], signed=True)} on this test split "
                           "(the demo's unconverged run)")
        if over_draws:
            ci, basis = draw_interval(over_draws)
            n = over_draws["draws"]
            figures.append(f"{_signed(over_draws['mean'])} {_signed_interval(ci)} over "
                           f"{n} data draw{'' if n == 1 else 's'} of {_sweep_name(ablations)}"
                           + (f", {clips} test clips a draw ({basis})" if clips else f" ({basis})"))
        else:
            ci = test["ci95"]
        lines.append(f"- {statement}: **{verdict(ci, direction)}**. `{claim}`, points: " + "; ".join(figures) + ".")
    return "\n".join(lines + _framed_headline(ablations or {}))


def _framed_headline(ablations: dict) -> list[str]:
    """The README's line for the D arms, over two draws or more: the current method's student against `rgb_only`,
    both trained and tested without keypoint boxes, and what the controls say the student needs."""
    framed = (framed_claims(ablations).get(FRAMED_METHOD) or {}).get("crychic_posefree - rgb_only")
    if not framed or framed["draws"] < VERDICT_DRAWS:
        return []
    ci, basis = draw_interval(framed)
    read = framed_needs(ablations)
    choice = (ablations.get("framed_baseline") or {}).get("choice")
    control = control_of(choice)
    rate = (f", at the rate val chose there (`{control}`)" if control
            else "" if not choice else ", at its box-crop rate, which val kept there" if choice.get("chosen")
            else ", at its box-crop rate until val chooses one for this framing")
    return [f"- A skeleton teacher makes a pose-free RGB student better, both trained and tested without keypoint "
            f"boxes (`framed_keypoints`: the current method's student against `rgb_only` in that framing{rate}): "
            f"**{verdict(ci)}**. `crychic_posefree - rgb_only`, points: {_signed(framed['mean'])} "
            f"{_signed_interval(ci)} over {_draws(framed['draws'])} ({basis})."
            + (f" What the student needs, by the controls (the report's D arms): {read[1]}." if read else "")
            + _framed_fusion_headline(ablations)]


def _framed_fusion_headline(ablations: dict) -> str:
    """The fused model against late fusion inside that framing, and against the box-crop late fusion, in brief."""
    read = _framed_fusion(ablations)
    if read is None:
        return ""
    inside, box = read
    figure, ci, _ = _figure(inside)
    text = (f" Its fused model against late fusion in that framing (whose RGB member is that `rgb_only`"
            f"{_framed_late_members(ablations)}): {figure}, **{verdict(ci)}**")
    if box:
        figure, ci, _ = _figure(box)
        text += (f"; against the box-crop pipeline's late fusion, which the same keypoints allow: {figure} "
                 f"({box['draws_a_better']} of {box['draws']} draws ahead), "
                 f"**{reading(ci, 'the framed fused model', 'box-crop late fusion')}**")
    return text + "."


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
            f"{_pct(top1['sampled'])} % {_interval(ci['sampled'])}, pose on every frame {_pct(top1['every_frame'])} % "
            f"{_interval(ci['every_frame'])}; difference {100 * difference['difference']:+.1f} points "
            f"{_interval(difference['ci95'], signed=True)} (paired), the two agree on {_pct(report['agreement'])} % of "
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
            f"({bench['benchmark_seconds']:.0f} s on {machine['cpu']}{_cpu_kind(machine)}, {machine['cores']} cores):\n\n"
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
