"""Issue 23's design choice, made on val by a rule written down before any candidate was trained.

    python -m pipeline.designs    # apply the rule to the abl6 sweep's experiments (metrics/ablations_abl6.json)

The candidates (`CANDIDATES`) are the current method (`full`: the student's attention pulled to the
teacher's, its embedding to the teacher's) and each design of `pipeline.ablations.DESIGNS`: one
params switch each, run as sweep variants in the research profile. `RULE` below is the rule; it was
committed before any of them ran, and the result, with every val figure that decided it, is
`metrics/designs.json`. Test figures are never read here.

Decided on sweep abl6 (draws 0-2): `design_keypoint_guidance`, now the default (`params.yaml`
model.guidance_source: keypoints; the sweep moved to abl7, where the teacher's attention is the
variant `design_teacher_attention`). `--table-only` re-reads `metrics/ablations_abl6.json`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from crychic.core.atomic_write import write_json

CANDIDATES = ("full", "design_keypoint_guidance", "design_residual", "design_confidence_gating")
# Each candidate's switch as abl6 ran it (its `full` was the teacher's attention, then the default).
DECIDED_PREFIX = "abl6"
OVERRIDES = {"full": [], "design_keypoint_guidance": ["model.guidance_source=keypoints"],
             "design_residual": ["model.residual_fusion=true"], "design_confidence_gating": ["loss.confidence_gating=true"]}
MIN_DRAWS = 3
MARGIN = 0.01  # a switch away from the current method must win by more than this (one point)
RULE = (
    "Val figures only (evaluate's protocol.val_top1: each method with val's own choices of fusion rule "
    "and late-fusion weight; the research profile's 240 val clips per draw). A candidate's score on a "
    "draw is the mean of the two gains the method claims: (crychic_fused - late_fusion) and "
    "(crychic_posefree - rgb_only). Over the draws that every candidate has (at least "
    f"{MIN_DRAWS}), the candidate with the highest mean score becomes the default, unless its mean "
    f"score is within {MARGIN * 100:.0f} point of the current method's (full), which then stays. "
    f"With fewer than {MIN_DRAWS} common draws nothing is chosen and the figures are recorded as they stand."
)
CLAIMED_GAINS = (("crychic_fused", "late_fusion"), ("crychic_posefree", "rgb_only"))


def draw_score(val_top1: dict) -> float | None:
    """The rule's score of one experiment from its val figures (None when one is missing)."""
    gains = []
    for a, b in CLAIMED_GAINS:
        if a not in val_top1 or b not in val_top1:
            return None
        gains.append(val_top1[a]["top1"] - val_top1[b]["top1"])
    return float(np.mean(gains))


def choose(val_by_candidate: dict[str, dict[int, dict]], *, rule: str = RULE, score=draw_score,
           current: str = "full") -> dict:
    """Apply `rule` to {candidate: {draw: protocol.val_top1}}: the highest mean of `score` over the common
    draws, unless within `MARGIN` of `current`'s; every figure it used goes in the result.
    (`pipeline.i3d_choice` applies the same rule to another score.)"""
    scores = {name: {draw: score(val) for draw, val in by_draw.items()}
              for name, by_draw in val_by_candidate.items()}
    common = sorted(set.intersection(*[{d for d, s in by_draw.items() if s is not None}
                                       for by_draw in scores.values()])) if scores else []
    means = {name: round(float(np.mean([by_draw[d] for d in common])), 4) if common else None
             for name, by_draw in scores.items()}
    result = {"rule": rule, "candidates": list(val_by_candidate), "common_draws": common, "mean_score": means,
              "scores": {name: {str(d): (None if s is None else round(s, 4)) for d, s in by_draw.items()}
                         for name, by_draw in scores.items()},
              "val_top1": {name: {str(d): {m: v["top1"] for m, v in val.items()} for d, val in by_draw.items()}
                           for name, by_draw in val_by_candidate.items()}}
    if len(common) < MIN_DRAWS or current not in means:
        return {**result, "chosen": None,
                "status": f"undecided: {len(common)} common draws, the rule needs {MIN_DRAWS}"}
    best = max(means, key=lambda name: (means[name], name == current))
    chosen = current if means[best] - means[current] <= MARGIN + 1e-9 else best
    return {**result, "chosen": chosen, "status": "decided"}


def val_by_candidate(recorded: dict[str, dict], candidates) -> dict[str, dict[int, dict]]:
    """{candidate: {draw: protocol.val_top1}} from a sweep's recorded experiments (`recorded_experiments`)."""
    val: dict[str, dict[int, dict]] = {name: {} for name in candidates}
    for entry in recorded.values():
        figures = (entry.get("metrics", {}).get("protocol") or {}).get("val_top1")
        if entry["variant"] in val and figures:
            val[entry["variant"]][int(entry["draw"])] = figures
    return val


def choice_cli(argv: list[str] | None, *, doc: str, table: str, out: str, prefix: str, candidates, rule: str,
               labels: dict[str, str], extra: dict, score=None, decide=None) -> dict:
    """The command line of a later pre-registered choice (`pipeline.i3d_choice`, `pipeline.warmup_choice`,
    `pipeline.framed_rate_choice`): the rule applied to the sweep `prefix`'s recorded experiments in `table`,
    written with `extra` to `out`, and printed with each candidate's `labels` entry."""
    from pipeline.ablations import recorded_experiments

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--ablations", default=table)
    parser.add_argument("--out", default=out)
    args = parser.parse_args(argv)
    recorded = recorded_experiments(args.ablations, prefix=prefix)
    # `decide`: a choice's own application of its rule to the recorded experiments (else `choose` by `score`)
    result = decide(recorded) if decide else choose(val_by_candidate(recorded, candidates), rule=rule, score=score)
    write_json(args.out, {**result, **extra})
    for name in candidates:
        print(f"{name:14s} {labels[name]:32s} mean score {result['mean_score'].get(name)}  "
              f"per draw {result['scores'].get(name)}")
    print(f"[{Path(args.out).stem}] {result['status']}; chosen: {result['chosen']}")
    return result


def main(argv: list[str] | None = None) -> None:
    from pipeline.ablations import recorded_experiments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--ablations", default="metrics/ablations_abl6.json")
    parser.add_argument("--out", default="metrics/designs.json")
    args = parser.parse_args(argv)
    result = choose(val_by_candidate(recorded_experiments(args.ablations, prefix=DECIDED_PREFIX), CANDIDATES))
    write_json(args.out, {**result, "overrides": OVERRIDES})
    for name in CANDIDATES:
        score = result["mean_score"].get(name)
        print(f"{name:28s} mean val score {'n/a' if score is None or math.isnan(score) else f'{score:+.4f}'}  "
              f"per draw {result['scores'].get(name)}")
    print(f"[designs] {result['status']}; chosen: {result['chosen']}")


if __name__ == "__main__":
    main()
