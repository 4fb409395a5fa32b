"""The ablation sweep: each innovation switched off, over several data draws, as queued DVC experiments.

    python -m pipeline.ablations                 # every variant x draws 0 1 2, then the table
    python -m pipeline.ablations --draws 0 1     # fewer draws
    python -m pipeline.ablations --table-only    # re-read finished experiments, rewrite the table

A draw sets `data.seed` and `seed` together: new synthetic subjects (so new train, val and test
clips) and a new training seed. Seeds alone vary only training, while the clips a model is scored
on were the larger source of spread; only draws of the data say how far a figure would move on a
new dataset of the same kind.

Experiments that already finished (same name, any baseline commit: `dvc exp show -A`, or recorded in an
earlier `metrics/ablations.json`, which keeps each experiment's per-clip results so that a sweep resumes in
a fresh clone) are not queued again, so a sweep can be extended draw by draw; `--rerun` queues them anyway.

Each (variant, draw) is one `dvc exp run --queue -n abl-<variant>-d<draw> -S ...`; `dvc queue start`
runs them one at a time (2 cores hold one training at a time; `pipeline.dvc_experiments` drives and reads
the queue), and DVC's run cache skips every stage whose params did not change (the no-contrastive variant
retrains the student and the joint stage, never the teacher). So each variant is cached, shows in `dvc exp show`, and has its MLflow
runs tagged with the experiment name. The table goes to `metrics/ablations.json` and, with
`python -m pipeline.results_table`, into docs/REPORT.md: per variant and figure the mean and sample
std over draws and a 95 % interval from a hierarchical bootstrap (draws, then test clips within a
draw, read from each experiment's committed `plots/evaluate_predictions.json`); and per claim of
the report (`crychic.evaluation.methods.COMPARISONS`, on the `full` variant) the per-draw paired differences,
how many draws agree, and their hierarchical interval; and each variant against `full` the same way
(same draw, same test clips), which is what says whether switching a component off changed anything.
Next to the hierarchical interval, each paired figure has the draw-level statistics a sceptic reads
first: the per-draw differences, how many draws agree, and a Student-t interval over draws
(`t_ci95`), overall and per class group (`groups`: per-class top-1 averaged over the group's
classes, the motion group apart from the object groups).

The sweep runs in the research profile (`research_profile`): three times the test subjects and twice
the val subjects of the default (scored only, so cheap: per-draw noise is mostly the test clips),
every trained network at the epoch rule's epochs (the default profile, the demo, trains each for half
of them: `pipeline.epoch_rule`), the keypoint baselines cut to one epoch and the end-to-end timing
skipped (no claim of the sweep reads them; the default pipeline measures them).
The designs of issue 23 (`DESIGNS`) are variants too; `pipeline.designs` picks among them on val
by the rule written there before any of them ran.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from crychic.core.atomic_write import write_json
from pipeline.dvc_experiments import dvc_executable, experiment_metrics, queue_busy, queue_states, wait
from pipeline.epoch_rule import rule_epochs

VARIANTS: dict[str, list[str]] = {
    "full": [],
    "no_attention_transfer": ["model.attention_guidance=false", "loss.attention_weight=0.0"],
    "no_contrastive": ["loss.contrastive_weight=0.0"],
    "no_multiscale": ["model.multiscale=false"],
    # FR-Head on the student (weight 0.1, the contrastive term's, not tuned): the clip embedding
    # only, then FR-Head's multi-level form (spatial and temporal descriptors of every student stage).
    "fr_head": ["loss.fr_head_weight=0.1"],
    "fr_head_multilevel": ["loss.fr_head_weight=0.1", "loss.fr_head_multilevel=true"],
    # One joint stage from random weights, given the epochs that the student gets in the three
    # stages (student + joint), so it is not starved of training; a joint epoch costs about a
    # student-stage epoch plus the teacher's backward pass, so this is about the three stages' compute.
    "single_stage": ["train.joint.from_scratch=true", "train.joint.epochs={single_stage_epochs}"],
}
# Issue 23's candidate designs, each one switch against the current method (`full`): the student
# pointed at the keypoint regions (hands, head, feet) instead of the teacher's attention; trained on
# the teacher's residual (boosting); guided only where the teacher is right (confidence gating).
# Val chose keypoint guidance by the rule (metrics/designs.json, abl6): it is the default since abl7,
# and the design it replaced (the teacher's attention) is kept as a variant.
DESIGNS: dict[str, list[str]] = {
    "design_teacher_attention": ["model.guidance_source=teacher"],
    "design_residual": ["model.residual_fusion=true"],
    "design_confidence_gating": ["loss.confidence_gating=true"],
}
VARIANTS.update(DESIGNS)
# Issue 23 D: every RGB network trained and tested in the framing the pose-free path gets (no
# keypoint box; stage decode_rgb_framed), the guidance maps carried into that frame: the current
# method's keypoint regions, the teacher's attention; controls: an oracle hand mask (the wrists'
# keypoints) and a map uniform inside the person box. Each variant's own rgb_only is the "neither"
# arm (no guidance, same framing, same epochs). Each names its guidance source: the default changed
# under them (abl7).
FRAMED = {
    "framed_keypoints": ["research.deployment_framing=true", "model.guidance_source=keypoints"],
    "framed_teacher": ["research.deployment_framing=true", "model.guidance_source=teacher"],
    "framed_hands": ["research.deployment_framing=true", "model.guidance_source=hands"],
    "framed_uniform": ["research.deployment_framing=true", "model.guidance_source=uniform"],
}
VARIANTS.update(FRAMED)
# A control for the D arms' baseline: framed, `rgb_only` stayed at chance (abl10 d0) at the rate val chose for it on
# keypoint-box crops (x3 the student's). These rerun `framed_keypoints` with `rgb_only` at the student's rate, at
# 0.3 and at 0.1 of it (the guided networks read no rgb_only param: DVC reuses them), so a framed baseline that only
# needed another rate shows up in the late-start table and in each variant's own `crychic_posefree - rgb_only`.
# (x0.1 was added after d0 read x3 12.8, x1 15.1, x0.3 20.4 % test: still rising as the rate falls.)
FRAMED_RGB_RATES = {"framed_rgb_lr_x1": [*FRAMED["framed_keypoints"], "train.rgb_only.lr_scale=1.0"],
                    "framed_rgb_lr_low": [*FRAMED["framed_keypoints"], "train.rgb_only.lr_scale=0.3"],
                    "framed_rgb_lr_lowest": [*FRAMED["framed_keypoints"], "train.rgb_only.lr_scale=0.1"]}
VARIANTS.update(FRAMED_RGB_RATES)
# Issue 23 C: the I3D candidates at the student's size (`pipeline.i3d_choice` picks on val by its rule).
I3D_CANDIDATES = {"i3d_slow": ["i3d.model=i3d_r18_tiny_slow"], "i3d_centre": ["i3d.model=i3d_r18_tiny_centre"]}
VARIANTS.update(I3D_CANDIDATES)
# A control for the pose-free claim (issue 23 B/E): rgb_only left chance on val late on some draws while
# the guided student did not (the report's late-start table). abl7's variant `stage2_warmup` warmed both
# stage-2 RGB networks up over 3 epochs, and val chose it as the default (metrics/warmup_choice.json);
# since abl8 the control is the recipe without it.
CONTROLS = {"no_stage2_warmup": ["train.student.warmup_epochs=0"]}
VARIANTS.update(CONTROLS)
# The RGB baselines' own learning rates: rgb_only (and so late fusion, which averages it with the teacher) and
# the I3D network at 0.3 and 3 times the student's rate, the rest of their recipe unchanged;
# `pipeline.rgb_lr_choice` picks each one's rate on its own val by the rule written there before any of them
# ran. The method's settings were set for the method; these give the baselines the same chance.
RGB_LR_SCALES = {"rgb_lr_low": 0.3, "rgb_lr_high": 3.0}
RGB_LR_CANDIDATES = {name: [f"train.rgb_only.lr_scale={scale}", f"i3d.lr={{student_lr_x{name}}}"]
                     for name, scale in RGB_LR_SCALES.items()}
VARIANTS.update(RGB_LR_CANDIDATES)
# Issue 23 E: `full` again on the same data draw with another training seed (draw + RESEED_OFFSET), so
# that training noise (seed to seed, same clips) is told apart from draw noise (`training_noise`).
RESEED_OFFSET = 1000
SEEDS = {"full_seed2": ["seed={reseed}"]}
VARIANTS.update(SEEDS)
# `full` on a draw no experiment has used, run by `pipeline.holdout_check` to see whether the claims called
# supported keep their sign there: never one of the sweep's draws (`_collect` leaves it out of the table).
HOLDOUT_VARIANT = "holdout"
VARIANTS[HOLDOUT_VARIANT] = []
# The method's two headline claims, read inside every variant (its own rgb_only and late fusion).
HEADLINE_CLAIMS = [("crychic_fused", "late_fusion"), ("crychic_posefree", "rgb_only"), ("student_guided", "rgb_only")]


def research_profile() -> list[str]:
    """What every sweep experiment runs on top of its variant (see the module docstring): 16 train, 10
    val and 30 test subjects (384 / 240 / 720 clips), every trained network at the epoch rule's epochs
    (params.yaml, the demo, trains each for a fraction of them: pipeline.epoch_rule), the keypoint baselines
    at one epoch, no timing. Read from metrics/epoch_rule.json when asked, not when this module is imported."""
    epochs = {**rule_epochs(), "gcn.epochs": 1, "msg3d.epochs": 1, "sta_lstm.epochs": 1}
    return ["data.synthetic.num_subjects=56", "data.synthetic.val_subjects=10",
            "data.synthetic.test_subjects=30", "data.synthetic.clips_per_subject=2",
            *(f"{key}={value}" for key, value in epochs.items()),
            "evaluate.end_to_end_clips=0", "evaluate.latency_repeats=1", "research.text_anchor=true"]


# `--profile default`: the default data sizes (a quick sweep, or a test of the command), no timing either.
DEFAULT_PROFILE = ["evaluate.end_to_end_clips=0", "evaluate.latency_repeats=1"]
PROFILE_NAMES = ("research", "default")


def profile_settings(profile: str) -> list[str]:
    """The `-S` settings of a sweep profile (`PROFILE_NAMES`)."""
    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown sweep profile {profile!r}: expected one of {PROFILE_NAMES}")
    return research_profile() if profile == "research" else list(DEFAULT_PROFILE)


# The claims a sweep reads (the keypoint baselines' comparison is the default pipeline's alone).
SWEEP_COMPARISONS_SKIPPED = {("msg3d", "gcn")}
TOP1_COLUMNS = {  # table column -> model in metrics/evaluate.json (and in the predictions file)
    "fused": "crychic_fused",
    "posefree": "crychic_posefree",
    "posefree_nokp": "crychic_posefree_nokp",
    "student_guided": "student_guided",  # stage 2 only, against rgb_only
    "teacher": "teacher",
    "rgb_only": "rgb_only",
    "rgb_only_nokp": "rgb_only_nokp",
    "late_fusion": "late_fusion",
    "text": "crychic_text",  # the text anchor: stage 3 again with it, paired with posefree in every variant
    "text_zeroshot": "crychic_text_zeroshot",
}
ALIGNMENT_COLUMNS = {"cka": ("alignment", "cka")}  # linear CKA of the backbones: every variant has them trained
# One prefix per method revision: experiments of an earlier revision are never mistaken for this
# one's ("abl": before the spatiotemporal blocks, the named baselines and the text anchor; its
# table is metrics/ablations_v1.json; "abl2": joint-only heatmaps, one draw, superseded when
# val chose joint + limb heatmaps for the teacher).
# "abl4": before issue 23 (no warm-up in stage 3, the 0.29 M I3D, default profile, two draws).
# "abl5": before the one-pass loader (issue 26), which moved every trained network in its last bits;
# its table and design figures are kept as metrics/ablations_abl5.json and metrics/designs_abl5.json.
# "abl6": before val chose keypoint guidance as the default (issue 23 A); its table and the decision are
# kept as metrics/ablations_abl6.json and metrics/designs.json.
# "abl7": before val chose stage 2's warm-up (metrics/warmup_choice.json); its table is
# metrics/ablations_abl7.json (the I3D and warm-up choices read it).
# "abl8": before val chose `rgb_only`'s own learning rate (metrics/rgb_lr_choice.json: x3 the student's); its
# table is metrics/ablations_abl8.json (`full` at x1 and the rate candidates; the rate choice reads it).
# "abl9": before the epoch rule set every network's epochs (metrics/epoch_rule.json); its table is
# metrics/ablations_abl9.json (`full` over draws 0-4).
# "abl10": the current method (every network at its epoch rule's epochs); its table is metrics/ablations.json.
QUEUE_PREFIX = "abl10"
# Experiments of the earlier prefix that trained what this prefix's would, read under this prefix's name
# (`record` marks them `carried_from`). abl7 carried abl6's `design_keypoint_guidance` (draws 1, 2) as its
# `full`, shown byte-identical on a re-run draw. abl8 carries nothing: abl7's `stage2_warmup` trained the
# warm-up, but with the earlier I3D network as `i3d`. abl9 carries nothing either: abl8's `rgb_lr_high` trained
# `rgb_only` at x3, but I3D at x3 too (val kept it at x1); DVC's run cache makes abl9's `full` cheap instead
# (only `rgb_only` and evaluate retrain). Keyed by full name, so that a later prefix carries nothing over
# unless it says so.
CARRIED_OVER: dict[str, str] = {}
CARRIED_PREFIX, CARRIED_TABLE = "abl9", "metrics/ablations_abl9.json"


def experiment_name(variant: str, draw: int, profile: str = "research") -> str:
    """`abl10-<variant>-d<draw>`; another profile than the research one is named in it."""
    prefix = QUEUE_PREFIX if profile == "research" else f"{QUEUE_PREFIX}-{profile}"
    return f"{prefix}-{variant.replace('_', '-')}-d{draw}"


def parse_experiment_name(name: str, profile: str = "research") -> tuple[str, int] | None:
    """(variant, draw) of this prefix's and profile's experiment `name`, else None (`experiment_name`'s inverse)."""
    for variant in VARIANTS:
        stem = experiment_name(variant, 0, profile).removesuffix("0")
        if name.startswith(stem) and name[len(stem):].isdigit():
            return variant, int(name[len(stem):])
    return None


def overrides(variant: str, draw: int, params: dict, profile: str = "research") -> list[str]:
    """The experiment's `-S` settings: its draw, its variant's settings, then the profile's settings
    that the variant leaves alone (a variant's own value wins, as single_stage's `train.joint.epochs`)."""
    settings = profile_settings(profile)
    in_profile = dict(item.split("=", 1) for item in settings)
    joint_epochs = sum(int(in_profile.get(f"train.{s}.epochs", params["train"][s]["epochs"]))
                       for s in ("student", "joint"))  # the student's stage-2 + stage-3 epochs in this profile
    scaled_lr = {f"student_lr_x{name}": f"{float(params['train']['student']['lr']) * scale:.6g}"
                 for name, scale in RGB_LR_SCALES.items()} if variant in RGB_LR_CANDIDATES else {}  # I3D's candidates
    values = [item.format(single_stage_epochs=joint_epochs, reseed=draw + RESEED_OFFSET, **scaled_lr)
              for item in VARIANTS[variant]]
    reseeded = any(value.startswith("seed=") for value in values)  # the variant's own training seed
    own = {value.split("=", 1)[0] for value in values}
    profile_rest = [item for item in settings if item.split("=", 1)[0] not in own]
    return [f"data.seed={draw}", *([] if reseeded else [f"seed={draw}"]), *values, *profile_rest]


def sweep_order(variants: list[str], draws: list[int]) -> list[tuple[str, int]]:
    """`full` on every draw first (it carries the report's claims over draws), then the other
    variants draw by draw, so that an interrupted sweep leaves the most useful experiments done."""
    first = [("full", d) for d in draws if "full" in variants]
    return first + [(v, d) for d in draws for v in variants if v != "full"]


def queue(variants: list[str], draws: list[int], params: dict, skip: set[str] = frozenset(),
          profile: str = "research") -> list[str]:
    names = []
    for variant, draw in sweep_order(variants, draws):
        name = experiment_name(variant, draw, profile)
        if name in skip:
            continue
        command = [dvc_executable(), "exp", "run", "--queue", "-n", name]
        for item in overrides(variant, draw, params, profile):
            command += ["-S", item]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        names.append(name)
    return names


def clips_digest(sample_ids: list[str]) -> str:
    """Which test clips an experiment scored, in 16 hex digits (of the sorted ids): two records pair
    exactly when their digests agree, without keeping hundreds of ids per record."""
    return hashlib.sha256("\n".join(sorted(sample_ids)).encode()).hexdigest()[:16]


def per_clip_correct(rev: str, predictions_path: str = "plots/evaluate_predictions.json"
                     ) -> tuple[dict[str, np.ndarray], list[str], str]:
    """Model -> N bool (right or wrong per test clip, in sample-id order), the N true class names and
    the clips' digest (`clips_digest`), from an experiment's commit: DVC commits outputs with
    `cache: false` into the experiment, so the file is there."""
    text = subprocess.run(["git", "show", f"{rev}:{predictions_path}"], check=True, capture_output=True,
                          text=True).stdout
    rows = sorted(json.loads(text), key=lambda row: row["sample_id"])
    models = [key for key in rows[0] if key not in ("sample_id", "actual")]
    return ({model: np.array([row[model] == row["actual"] for row in rows]) for model in models},
            [row["actual"] for row in rows], clips_digest([row["sample_id"] for row in rows]))


CURVES = {"rgb_only": "plots/train_rgb_only.json", "student": "plots/train_student.json"}  # stage-2 / plain RGB


def val_curves(rev: str) -> dict[str, list[float]]:
    """Network -> its val top-1 per epoch, from an experiment's commit (`CURVES`): how soon each RGB
    network left chance says whether a draw's pose-free claim is the method's or the baseline's late start."""
    curves = {}
    for name, path in CURVES.items():
        shown = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
        if shown.returncode == 0:
            curves[name] = [round(float(row["val_top1"]), 4) for row in json.loads(shown.stdout)]
    return curves


def _lookup(metrics: dict, path: tuple[str, ...]):
    node = metrics
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def summarise(results: dict[str, dict[int, dict]], resamples: int = 2000) -> dict:
    """variant -> {draws, column: {mean, std, ci95, values}}. `results[variant][draw]` holds that
    experiment's evaluate `metrics` and per-clip `correct` arrays. Top-1 intervals resample draws,
    then clips within a draw; CKA has no per-clip value, so its interval resamples draws only."""
    from crychic.evaluation.statistics import hierarchical_bootstrap_ci, summarise_draws

    table = {}
    for variant, by_draw in results.items():
        draws = sorted(by_draw)
        row: dict = {"draws": draws}
        for column, model in TOP1_COLUMNS.items():
            groups = [by_draw[d]["correct"][model] for d in draws if model in by_draw[d]["correct"]]
            if groups:
                row[column] = {**summarise_draws([g.mean() for g in groups]),
                               "ci95": list(hierarchical_bootstrap_ci(groups, resamples=resamples))}
        for column, path in ALIGNMENT_COLUMNS.items():
            values = [float(v) for d in draws if (v := _lookup(by_draw[d]["metrics"], path)) is not None]
            if values:
                row[column] = {**summarise_draws(values),
                               "ci95": list(hierarchical_bootstrap_ci([np.array([v]) for v in values], resamples=resamples))}
        table[variant] = row
    return table


def claims_over_draws(by_draw: dict[int, dict], comparisons: list[tuple[str, str]], resamples: int = 2000) -> dict:
    """Each claim "a - b" of the report on every draw: the per-draw paired top-1 difference, how
    many draws have a above b, the hierarchical and the draw-level t interval of the mean
    difference, and the same per class group."""
    out = {}
    for a, b in comparisons:
        draws = [d for d in sorted(by_draw) if a in by_draw[d]["correct"] and b in by_draw[d]["correct"]]
        if draws:
            out[f"{a} - {b}"] = paired_over_draws([(by_draw[d]["correct"][a], by_draw[d]["correct"][b]) for d in draws],
                                                  better_key="draws_a_better", resamples=resamples,
                                                  actual=[by_draw[d].get("actual") for d in draws])
    return out


def claims_inside_variants(results: dict[str, dict[int, dict]], resamples: int = 2000) -> dict:
    """variant -> the headline claims over its draws, each against its own baselines, and the I3D baseline against
    rgb_only (the I3D candidates' variants are the only experiments that trained the other I3D networks), but not
    in the framed variants: I3D reads no framing param, so there it is still the keypoint-box network."""
    framed = {*FRAMED, *FRAMED_RGB_RATES}
    return {variant: claims_over_draws(by_draw, [*HEADLINE_CLAIMS, *([] if variant in framed else [("i3d", "rgb_only")])],
                                       resamples=resamples)
            for variant, by_draw in results.items()}


def group_accuracy(correct: np.ndarray, actual: list[str], group: str) -> float:
    """Per-class top-1 averaged over the group's classes present (the synthetic benchmark's groups)."""
    from crychic.sources.synthetic.classes import CLASSES

    names = sorted({c.name for c in CLASSES if c.group == group} & set(actual))
    actual = np.asarray(actual)
    return float(np.mean([correct[actual == name].mean() for name in names]))


def class_groups_of(actual: list[str]) -> list[str]:
    from crychic.sources.synthetic.classes import CLASSES

    present = set(actual)
    return sorted({c.group for c in CLASSES if c.name in present})


def paired_over_draws(pairs: list[tuple[np.ndarray, np.ndarray]], *, better_key: str, resamples: int,
                      actual: list[list[str] | None] | None = None) -> dict:
    """(first, second) per-clip correctness of each draw -> the per-draw differences of top-1, how
    many draws have the first ahead (under `better_key`), their mean, hierarchical interval and
    draw-level t interval; with each draw's true class names (`actual`), the same per class group."""
    from crychic.evaluation.statistics import hierarchical_paired_ci, t_interval

    pairs = [(x.astype(float), y.astype(float)) for x, y in pairs]
    differences = [float(x.mean() - y.mean()) for x, y in pairs]
    out = {"per_draw": [round(v, 4) for v in differences], better_key: sum(v > 0 for v in differences),
           "draws": len(differences), "mean": round(float(np.mean(differences)), 4),
           "ci95": list(hierarchical_paired_ci(pairs, resamples=resamples)), "t_ci95": t_interval(differences)}
    if actual and all(names is not None for names in actual):
        out["groups"] = {}
        for group in class_groups_of(actual[0]):
            per_draw = [group_accuracy(x, names, group) - group_accuracy(y, names, group)
                        for (x, y), names in zip(pairs, actual)]
            out["groups"][group] = {"per_draw": [round(v, 4) for v in per_draw],
                                    better_key: sum(v > 0 for v in per_draw),
                                    "mean": round(float(np.mean(per_draw)), 4), "t_ci95": t_interval(per_draw)}
    return out


def training_noise(results: dict[str, dict[int, dict]], comparisons: list[tuple[str, str]],
                   reseeded: str = "full_seed2") -> dict:
    """Claim "a - b" -> its value on each draw that `full` and `reseeded` (another training seed, the
    same clips) both have, and two spreads, in top-1: `seed_sd`, the training noise of one draw's value
    (pooled over draws: sqrt(mean((first - second)^2 / 2))), and `draw_sd`, the sample sd of `full`'s
    per-draw values over all its draws (training and draw noise together). Where `draw_sd` is not well
    above `seed_sd`, most of the spread over draws is training noise, which averaging seeds reduces."""
    full, other = results.get("full", {}), results.get(reseeded, {})
    common = [d for d in sorted(full) if d in other]
    for d in common:  # a seed-to-seed difference means anything only on the same clips
        require_same_clips(reseeded, "full", d, other[d], full[d])
    out = {}
    for a, b in comparisons:
        def value(by_draw: dict, draw: int) -> float | None:
            correct = by_draw[draw]["correct"]
            return float(correct[a].mean() - correct[b].mean()) if a in correct and b in correct else None

        pairs = [(d, value(full, d), value(other, d)) for d in common]
        pairs = [(d, x, y) for d, x, y in pairs if x is not None and y is not None]
        over_draws = [v for d in sorted(full) if (v := value(full, d)) is not None]
        if not pairs:
            continue
        out[f"{a} - {b}"] = {
            "draws": [d for d, _, _ in pairs], "seed_1": [round(x, 4) for _, x, _ in pairs],
            "seed_2": [round(y, 4) for _, _, y in pairs],
            "seed_sd": round(float(np.sqrt(np.mean([(x - y) ** 2 / 2 for _, x, y in pairs]))), 4),
            "draw_sd": round(float(np.std(over_draws, ddof=1)), 4) if len(over_draws) > 1 else None,
            "draws_of_full": len(over_draws)}
    return out


AGAINST_FULL_COLUMNS = ("fused", "posefree", "text", "teacher", "rgb_only")  # what a switch could move
# Issue 23 D, read: each framed arm's guided student against the control's (its map uniform inside the person
# box), on the same draws and the same framed test clips. `rgb_only` reads no guidance param, so it is one network
# in every arm of a draw: an arm's gain over the control is what its finer map adds to knowing where the person is.
FRAMED_CONTROL = "framed_uniform"
FRAMED_COLUMNS = ("student_guided", "posefree")


def variants_against_full(results: dict[str, dict[int, dict]], columns=AGAINST_FULL_COLUMNS,
                          resamples: int = 2000, reference: str = "full", variants: list[str] | None = None) -> dict:
    """variant -> column -> the paired difference "variant - full" on the draws both have (against
    `reference` instead of `full`, and for `variants` only, where given).

    A draw fixes the test clips, so a variant and `full` of the same draw are scored on the same
    clips: the difference is paired per clip within a draw (far tighter than two unpaired means),
    and its interval resamples draws, then clips, like the report's claims."""
    full = results.get(reference, {})
    out: dict = {}
    for variant, by_draw in results.items():
        if variant == reference or (variants is not None and variant not in variants):
            continue
        for column in columns:
            model = TOP1_COLUMNS[column]
            draws = [d for d in sorted(by_draw) if d in full and model in by_draw[d]["correct"]
                     and model in full[d]["correct"]]
            for d in draws:
                require_same_clips(variant, reference, d, by_draw[d], full[d])
            if draws:
                pairs = [(by_draw[d]["correct"][model], full[d]["correct"][model]) for d in draws]
                out.setdefault(variant, {})[column] = paired_over_draws(
                    pairs, better_key="draws_variant_better", resamples=resamples,
                    actual=[by_draw[d].get("actual") for d in draws])
    return out


def require_same_clips(name: str, other: str, draw: int, entry: dict, other_entry: dict) -> None:
    """Refuse to pair two experiments of one draw whose test clips differ: by the digest of their sample
    ids where both records keep one (`clips_digest`), else by their true classes, which `per_clip_correct`
    orders by sample id (equal clips give equal arrays; unequal ones almost always differ somewhere); a
    record carried over from a sweep that kept neither cannot be checked and is let through."""
    refused = f"{name} and {other} on draw {draw} scored different test clips: they cannot be paired"
    digests = entry.get("clips_digest"), other_entry.get("clips_digest")
    if None not in digests:
        if digests[0] != digests[1]:
            raise ValueError(f"{refused} (sample ids {digests[0]} against {digests[1]})")
        return
    first, second = entry.get("actual"), other_entry.get("actual")
    if first is not None and second is not None and list(first) != list(second):
        raise ValueError(refused)


# Issue 23's goal read in the deployment framing: inside a framed arm, late fusion averages the teacher with the
# framed `rgb_only`. Both need the keypoints at test time, and with them a user may cut RGB by the person box
# instead (`full`), so the method's framed fused model is also read against `full`'s late fusion: the same draws'
# test videos, paired per clip.
FRAMED_METHOD = "framed_keypoints"


def framed_fused_against_box_late(results: dict[str, dict[int, dict]], arm: str = FRAMED_METHOD,
                                  resamples: int = 2000) -> dict | None:
    """`arm`'s crychic_fused - `full`'s late_fusion over the draws both have (None where they share none)."""
    framed, full = results.get(arm, {}), results.get("full", {})
    draws = [d for d in sorted(framed) if d in full and "crychic_fused" in framed[d]["correct"]
             and "late_fusion" in full[d]["correct"]]
    if not draws:
        return None
    for d in draws:
        require_same_clips(arm, "full", d, framed[d], full[d])
    pairs = [(framed[d]["correct"]["crychic_fused"], full[d]["correct"]["late_fusion"]) for d in draws]
    return {"arm": arm, "draw_ids": draws,
            **paired_over_draws(pairs, better_key="draws_a_better", resamples=resamples,
                                actual=[framed[d].get("actual") for d in draws])}


def recorded_experiments(path: str, prefix: str = QUEUE_PREFIX) -> dict[str, dict]:
    """The finished experiments of this prefix an earlier table recorded (name -> variant, draw, the alignment
    figures and per-clip correctness as '0'/'1' strings, as `record` wrote them), so that a sweep
    resumes in a fresh clone, where the experiments' git refs of another machine are absent."""
    path = Path(path)
    recorded = json.loads(path.read_text()).get("experiments", {}) if path.is_file() else {}
    # Only this revision's (an earlier prefix's experiments trained other networks), and only the research
    # profile's: another profile's (`abl8-default-*`) has other data sizes.
    others = tuple(f"{prefix}-{profile}-" for profile in PROFILE_NAMES if profile != "research")
    return {name: entry for name, entry in recorded.items() if name.startswith(f"{prefix}-") and not name.startswith(others)}


def per_clip(entry: dict) -> dict[str, np.ndarray]:
    """Model -> N bool: a recorded experiment's '0'/'1' strings read back."""
    return {model: np.array([c == "1" for c in bits]) for model, bits in entry["correct"].items()}


def record(variant: str, draw: int, metrics: dict, correct: dict[str, np.ndarray], actual: list[str] | None = None,
           digest: str | None = None, machine: dict | None = None, curves: dict[str, list[float]] | None = None) -> dict:
    """What `recorded_experiments` reads back: enough to recompute every column and claim, and
    the val figures that `pipeline.designs` chooses by."""
    alignment = {key: _lookup(metrics, path) for key, path in ALIGNMENT_COLUMNS.items()}
    entry = {"variant": variant, "draw": draw,
             "metrics": {"alignment": {path[-1]: alignment[key] for key, path in ALIGNMENT_COLUMNS.items()},
                         "protocol": {"val_top1": _lookup(metrics, ("protocol", "val_top1")) or {}}},
             "correct": {m: "".join("1" if c else "0" for c in values) for m, values in correct.items()}}
    if actual is not None:
        entry["actual"] = list(actual)
    if digest is not None:
        entry["clips_digest"] = digest
    if machine is not None:
        entry["machine"] = machine
    if curves:
        entry["val_curves"] = curves
    return entry


def experiment_machine(rev: str, timing_path: str = "metrics/timing/train_joint.json") -> dict | None:
    """The processor (and GPU) that trained an experiment's CRYCHIC model, from the machine record its
    stage wrote into the experiment's commit (`crychic.core.machine.describe_machine`). Trained figures
    are one machine's (a Xeon and an AMD EPYC train other networks from one commit): this lets a reader
    see which draws and variants shared one."""
    shown = subprocess.run(["git", "show", f"{rev}:{timing_path}"], capture_output=True, text=True)
    if shown.returncode != 0:
        return None
    described = json.loads(shown.stdout).get("machine") or {}
    identity = described.get("cpu_id") or {}
    machine = {"cpu": described.get("cpu"), **{key: identity[key] for key in ("family", "model") if key in identity}}
    if described.get("gpu"):
        machine["gpu"] = described["gpu"]
    return machine if machine["cpu"] else None


def previous_runs(path: str) -> list[dict]:
    """The invocations of this method revision's sweep (`QUEUE_PREFIX`) recorded in an earlier
    table: experiments queued and wall minutes each (an earlier revision's cost is not this one's)."""
    path = Path(path)
    runs = json.loads(path.read_text()).get("runs", []) if path.is_file() else []
    return [run for run in runs if run.get("prefix") == QUEUE_PREFIX]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sweep_variants = [v for v in VARIANTS if v != HOLDOUT_VARIANT]  # the held-out draw is pipeline.holdout_check's
    parser.add_argument("--variants", nargs="+", default=sweep_variants, choices=sweep_variants)
    parser.add_argument("--draws", nargs="+", type=int, default=[0, 1, 2],
                        help="data draws: data.seed and seed together")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", default="research", choices=PROFILE_NAMES,
                        help="research: the sweep's data sizes (module docstring); default: params.yaml's")
    parser.add_argument("--out", default="metrics/ablations.json")
    parser.add_argument("--table-only", action="store_true", help="do not run anything; collect finished experiments")
    parser.add_argument("--rerun", action="store_true", help="queue experiments that already finished too")
    return parser.parse_args(argv)


def run_experiments(variants: list[str], draws: list[int], params: dict, *, profile: str = "research",
                    skip: set[str] = frozenset()) -> dict[str, str]:
    """Queue each (variant, draw) not in `skip` (finished) and not already queued or running (an earlier
    invocation's: waited for, not queued again), start one queue worker unless one is busy, and wait:
    name -> its final state. One left Running by a killed worker was marked Failed by `experiment_metrics`, which
    every caller reads first, and so is queued again."""
    active = {n for n, state in queue_states(f"{QUEUE_PREFIX}-").items() if state in {"Queued", "Running"}}
    wanted = {experiment_name(v, d, profile) for v, d in sweep_order(variants, draws)}
    queued = queue(variants, draws, params, skip=active | set(skip), profile=profile)
    print(f"[ablations] queued {len(queued)} experiments ({len(set(skip) & wanted)} already finished, "
          f"{len(active & wanted)} already queued or running); dvc queue start", flush=True)
    names = sorted(active & wanted) + queued
    if not names:
        return {}
    # One worker: beside a busy one (an earlier invocation's), `dvc queue start -j 1` started a second
    # (seen with DVC 3), and two trainings at once on 2 cores slow both many times over.
    if not queue_busy():
        subprocess.run([dvc_executable(), "queue", "start", "-j", "1"], check=True, stdout=subprocess.DEVNULL)
    return wait(names)


def _run_sweep(args: argparse.Namespace, params: dict, finished: dict[str, dict], recorded: dict[str, dict],
               carried: dict[str, dict]) -> list[str]:
    """Run the sweep's experiments not yet finished and wait for them; returns the names waited for."""
    done = set() if args.rerun else set(finished) | set(recorded) | set(carried)
    states = run_experiments(args.variants, args.draws, params, profile=args.profile, skip=done)
    failed = [n for n, s in states.items() if s != "Success"]
    if failed:
        print(f"[ablations] failed: {failed} (see `dvc queue logs <name>`)", flush=True)
    return list(states)


def carried_over(finished: dict[str, dict], table: str | None = None) -> dict[str, dict]:
    """This prefix's name -> the record of the earlier experiment `CARRIED_OVER` reads in its place (from
    this repository's experiments, else the earlier prefix's committed table), marked `carried_from`."""
    earlier = recorded_experiments(table or CARRIED_TABLE, prefix=CARRIED_PREFIX)
    out = {}
    for name, old in CARRIED_OVER.items():
        parsed = parse_experiment_name(name)
        if parsed is None:  # another prefix's carry-over: not this sweep's
            continue
        variant, draw = parsed
        if old in finished:
            rev = finished[old]["rev"]
            entry = record(variant, draw, finished[old]["metrics"], *per_clip_correct(rev), machine=experiment_machine(rev),
                           curves=val_curves(rev))
        elif old in earlier:
            entry = {**earlier[old], "variant": variant, "draw": draw}
        else:
            continue
        out[name] = {**entry, "carried_from": old}
    return out


def _collect(args: argparse.Namespace, finished: dict[str, dict], recorded: dict[str, dict],
             carried: dict[str, dict] | None = None) -> tuple[dict[str, dict[int, dict]], dict[str, dict]]:
    """Every finished (variant, draw) of this prefix and profile, whatever `--variants` and `--draws` asked to
    run (the table is the whole sweep; a smaller invocation must not drop the rest): variant -> draw -> its
    figures, and the records to keep. Sources, first found wins: this repository's experiment; an earlier
    prefix's experiment carried over (`CARRIED_OVER`) when its commit is here; an earlier table's record; the
    carried-over record of the earlier prefix's table (which has no val curves)."""
    if carried is None:
        carried = carried_over(finished) if args.profile == "research" else {}
    names = {name: parsed for name in set(finished) | set(recorded) | set(carried)
             if (parsed := parse_experiment_name(name, args.profile)) and parsed[0] != HOLDOUT_VARIANT}
    order = list(VARIANTS)
    results: dict[str, dict[int, dict]] = {}
    experiments = {}
    for name, (variant, draw) in sorted(names.items(), key=lambda item: (order.index(item[1][0]), item[1][1])):
        if name in finished:
            rev = finished[name]["rev"]
            entry = record(variant, draw, finished[name]["metrics"], *per_clip_correct(rev),
                           machine=experiment_machine(rev), curves=val_curves(rev))
        elif name in carried and carried[name]["carried_from"] in finished:
            entry = carried[name]
        elif name in recorded:
            entry = recorded[name]
        else:
            entry = carried[name]
        experiments[name] = entry
        results.setdefault(variant, {})[draw] = {"metrics": entry["metrics"], "correct": per_clip(entry),
                                                 "actual": entry.get("actual"), "clips_digest": entry.get("clips_digest")}
    return results, experiments


def _print_table(table: dict, against_full: dict, claims: dict) -> None:
    """The console summary: each variant's means, each variant against `full`, each claim over draws."""
    for variant, row in table.items():
        cells = "  ".join(f"{c} {row[c]['mean']:.3f}±{row[c]['std']:.3f}" for c in (*TOP1_COLUMNS, *ALIGNMENT_COLUMNS)
                          if c in row)
        print(f"{variant:22s} draws {row['draws']}  {cells}")
    for variant, by_column in against_full.items():
        print(f"{variant + ' - full':40s} " + "  ".join(
            f"{c} {f['mean']:+.3f} {f['ci95']}" for c, f in by_column.items()))
    for claim, figures in claims.items():
        print(f"{claim:40s} per draw {figures['per_draw']}  "
              f"{figures['draws_a_better']}/{figures['draws']} draws agree  "
              f"mean {figures['mean']:+.3f} {figures['ci95']} t {figures['t_ci95']}")


def held_out_draws(metrics_dir: Path) -> dict[int, Path]:
    """Draw -> a held-out check that ran on it (`metrics/holdout_check*.json`: the current one, a sweep
    variant's own, `holdout_check_<variant>.json`, and those kept from earlier revisions,
    `holdout_check_<prefix>.json`)."""
    return {int(json.loads(path.read_text())["draw"]): path for path in sorted(Path(metrics_dir).glob("holdout_check*.json"))}


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    from crychic.core.params import load_params

    params = load_params(args.params)
    held_out = held_out_draws(Path(args.out).parent)  # their draws stay out of every sweep
    if not args.table_only and (clash := sorted(set(args.draws) & set(held_out))):
        sys.exit(f"ablations: draw {clash[0]} is the held-out draw of {held_out[clash[0]]}: the sweep never runs on it")
    started = time.perf_counter()
    finished = experiment_metrics()
    recorded = recorded_experiments(args.out)
    # Read once (its records read each earlier experiment's commit): an earlier experiment never changes.
    carried = carried_over(finished) if args.profile == "research" else {}
    names: list[str] = []
    if not args.table_only:
        names = _run_sweep(args, params, finished, recorded, carried)
        finished = experiment_metrics()
    from crychic.evaluation.methods import COMPARISONS

    results, experiments = _collect(args, finished, recorded, carried)
    table = summarise(results)
    claims = claims_over_draws(results.get("full", {}), [c for c in COMPARISONS if c not in SWEEP_COMPARISONS_SKIPPED])
    against_full = variants_against_full(results)
    framed = variants_against_full(results, FRAMED_COLUMNS, reference=FRAMED_CONTROL,
                                   variants=[v for v in FRAMED if v != FRAMED_CONTROL])
    variant_claims = claims_inside_variants(results)
    from pipeline.framed_rate_choice import framed_baseline

    baseline = framed_baseline(results, experiments)  # the D arms' rgb_only at the rate val chose framed
    noise = training_noise(results, HEADLINE_CLAIMS)
    # A sweep grows draw by draw, so its cost is the sum of its invocations: keep each one's time.
    runs = previous_runs(args.out)
    if not args.table_only and names:
        runs.append({"prefix": QUEUE_PREFIX, "experiments": len(names),
                     "minutes": round((time.perf_counter() - started) / 60, 1)})
    write_json(args.out, {"variants": table, "claims": claims, "against_full": against_full,
                          "variant_claims": variant_claims, "framed_against_control": framed,
                          "framed_baseline": baseline,
                          "framed_fused_against_box_late": framed_fused_against_box_late(results),
                          "training_noise": noise, "runs": runs,
                          "experiments": experiments})
    _print_table(table, against_full, claims)


if __name__ == "__main__":
    main()
