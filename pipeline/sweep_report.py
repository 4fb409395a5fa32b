"""The sweep's part of the report, rendered from `metrics/ablations.json` (`python -m pipeline.ablations`):
the ablation table, the claims over data draws with their verdicts, the deployment-framing arms (and their
lines under the README's headline), and the findings, which read `metrics/evaluate.json` first and the
sweep where there is one. Sentences carry the figures filled in and the verdicts computed from the intervals, so that a new run
cannot leave a stale reading beside new tables. `pipeline.results_table` places each block in the docs.
"""

from __future__ import annotations

from crychic.evaluation.methods import METHODS
from pipeline.ablations import ALIGNMENT_COLUMNS, FRAMED, FRAMED_METHOD, FRAMED_RGB_RATES, TOP1_COLUMNS
from pipeline.epoch_rule import DEMO_FRACTION
from pipeline.framed_rate_choice import control_of
from pipeline.report_format import draws_phrase, finite, interval, pct, signed, signed_interval


def ablations_markdown(ablations: dict) -> str:
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
                cells.append(f"{100 * cell['mean']:.1f}{spread} {interval(cell['ci95'])}")
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
            cells = [(f"{100 * f['mean']:+.1f} {interval(f['ci95'], signed=True)} ({f['draws_variant_better']} of "
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
            t_cell = interval(t_ci, signed=True) if None not in t_ci else "–"
            groups = "; ".join(f"{g} {100 * f['mean']:+.1f}" for g, f in (c.get("groups") or {}).items()) or "–"
            lines.append(f"| `{claim}` | {per_draw} | {c['draws_a_better']} of {c['draws']} | {100 * c['mean']:+.1f} | "
                         f"{interval(c['ci95'], signed=True)} | {t_cell} | {groups} |")
    return "\n".join(lines + _training_noise_lines(ablations.get("training_noise") or {}) + late_start_lines(ablations))


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


def late_start_lines(ablations: dict) -> list[str]:
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


# A verdict reads an interval over this many draws or more: one draw's interval is one training run's spread
# over its test clips, which says nothing of another run (the report's draw spread).
VERDICT_DRAWS = 2


def _per_draw(values) -> str:
    return ", ".join(signed(v) for v in values)


WIDENED = "t interval over draws, widened to the hierarchical bootstrap's ends"  # `draw_interval`'s basis when it widens


def draw_interval(entry: dict) -> tuple[list | None, str]:
    """The interval over draws that a verdict reads: the draw-level Student-t interval where the file
    has a finite one (`t_ci95`, two draws or more), else the hierarchical bootstrap (`ci95`: draws,
    then clips within a draw). Where the bootstrap reaches past the t interval, the verdict reads both
    sides' wider end: with few draws their spread can be near zero by chance (two draws of the same
    difference give a t interval of no width), which the clips' own spread is not."""
    t, bootstrap = entry.get("t_ci95"), entry.get("ci95")
    if finite(t):
        if finite(bootstrap) and (bootstrap[0] < t[0] or bootstrap[1] > t[1]):
            return [min(t[0], bootstrap[0]), max(t[1], bootstrap[1])], WIDENED
        return t, "t interval over draws"
    if finite(bootstrap):
        return bootstrap, "hierarchical bootstrap over draws, then clips"
    return None, "no interval"


def verdict(ci, direction: int = 1) -> str:
    """A claim that the first is better (direction 1; -1: worse) is supported only when the whole
    interval lies on that side of zero; one that touches or straddles zero supports nothing."""
    if not finite(ci):
        return "not supported"
    low, high = ci
    return "supported" if (low > 0 if direction > 0 else high < 0) else "not supported"


def reading(ci, first: str = "the first", second: str = "the second") -> str:
    """A comparison that asserts no direction: the side of zero its interval lies on, if either."""
    if not finite(ci):
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


def sweep_clips(ablations: dict) -> int | None:
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
        parts.append(f"on this page's test split {signed(test['difference'])} {interval(test['ci95'], signed=True)} "
                     f"({test['a_only']} clips only the first gets right, {test['b_only']} only the second)")
    if over_draws:
        n = over_draws["draws"]
        ci, basis = draw_interval(over_draws)
        text = (f"over {draws_phrase(n)} {_per_draw(over_draws['per_draw'])} "
                f"({over_draws['draws_a_better']} of {n} with the first ahead), mean {signed(over_draws['mean'])}")
        if "t_ci95" in over_draws:
            t = over_draws["t_ci95"]
            text += f", t interval {interval(t, signed=True) if finite(t) else '– (under two draws)'}"
        text += f", hierarchical {interval(over_draws['ci95'], signed=True)}"
        groups = over_draws.get("groups") or {}
        if groups:
            text += "; per class group, mean over draws and t interval: " + ", ".join(
                f"{group} {signed(g['mean'])} "
                + (interval(g['t_ci95'], signed=True) if finite(g.get('t_ci95')) else "–")
                for group, g in groups.items())
        parts.append(text)
    else:
        ci = (test or {}).get("ci95")
        basis = ("not in the sweep: one run of the demo, unconverged networks, the test split's bootstrap over "
                 "clips")
    word = verdict(ci, direction) if direction else reading(ci, f"`{a}`", f"`{b}`")
    return f"- **{statement}: {word}** ({basis}). `{claim}`, points: " + "; ".join(parts) + "."


def sweep_name(ablations: dict) -> str:
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
    clips = sweep_clips(ablations)
    scope = (f"Each claim below is a paired difference on the same clips: on this page's test split "
             f"(`metrics/evaluate.json`, {evaluate['samples']} clips, one training run of the demo, every network at "
             f"{DEMO_FRACTION:g} x its epoch rule's epochs: unconverged, and not evidence; interval: bootstrap over "
             "the clips)")
    if ablations.get("claims") or {}:
        draws = full.get("draws") or []
        scope += (f", and over the {len(draws)} data draws of the `full` variant in {sweep_name(ablations)} "
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
            + "; ".join(f"`{TOP1_COLUMNS[c]}` " + ", ".join(pct(v) for v in values) for c, values in spread.items())
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
    return f"`{name}` {pct(models[name]['group_top1'][group])}"


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
                 + (f", chance {pct(chance[g])}" if g in chance else "") for g in groups) + "."]
    if "colour_cue" in models:
        cue = models["colour_cue"]["group_top1"]
        lines.append("- **The object cue**: `colour_cue` (a hue histogram at the keypoint wrists and a logistic "
                     "regression, no deep learning) within groups: "
                     + ", ".join(f"{g} {pct(cue.get(g))} %" for g in groups) + ".")
    return lines


def _text_zeroshot_fact(models: dict, full: dict) -> list[str]:
    """Classes named by their sentence alone against the classifier head, on test and over the draws (the text
    anchor is a research arm: the default run may have no such rows while the sweep has)."""
    figures = []
    if "crychic_text_zeroshot" in models and "crychic_text" in models:
        figures.append(f"{pct(models['crychic_text_zeroshot']['top1'])} % against the classifier's "
                       f"{pct(models['crychic_text']['top1'])} % on the test split")
    if "text_zeroshot" in full and "text" in full:
        figures.append(f"{pct(full['text_zeroshot']['mean'])} % against {pct(full['text']['mean'])} % over the "
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
        f"`{a}` {pct(models[a]['top1'])} -> `{b}` {pct(models[b]['top1'])} (keeps "
        f"{100 * models[b]['top1'] / models[a]['top1']:.0f} % of it)" for a, b in pairs) + " on the test split"
    columns = [(a, b) for a, b in (("posefree", "posefree_nokp"), ("rgb_only", "rgb_only_nokp"))
               if a in full and b in full]
    if columns:
        text += "; over the draws " + ", ".join(
            f"`{TOP1_COLUMNS[a]}` {pct(full[a]['mean'])} -> {pct(full[b]['mean'])}" for a, b in columns)
    e2e = evaluate.get("end_to_end")
    if e2e:
        text += (f"; end to end from {e2e['clips']} video files, the pose-free path "
                 f"{pct(e2e['posefree']['top1'])} % {interval(e2e['posefree']['top1_ci95'])} against the full "
                 f"path's {pct(e2e['full']['top1'])} % {interval(e2e['full']['top1_ci95'])}")
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
    clips = sweep_clips(ablations)
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


def _machine_label(machine: dict | None, missing: str = "not recorded") -> str:
    """A sweep record's processor (`pipeline.ablations.experiment_machine`): brand, family, model, and GPU."""
    return (f"{machine['cpu']} (family {machine.get('family', '?')}, model {machine.get('model', '?')})"
            + (f" with {machine['gpu']}" if machine.get("gpu") else "") if machine else missing)


def _sweep_machines(experiments: dict) -> str:
    """Which processor trained which experiments (recorded from abl6 on; trained figures are one machine's)."""
    by_machine: dict[str, list[str]] = {}
    for name, entry in sorted(experiments.items()):
        by_machine.setdefault(_machine_label(entry.get("machine")), []).append(f"`{name}`")
    if not by_machine:
        return ""
    return " Trained on: " + "; ".join(f"{label}: {', '.join(names)}" for label, names in by_machine.items()) + "."


def processor_drift(ablations: dict, variant: str) -> str:
    """Where the networks a variant leaves alone did not come out as `full`'s, said beside its finding.

    A network is left alone when its per-clip record equals `full`'s on some draw of the variant (DVC reused it,
    or it trained again to the same predictions); where it differs from `full`'s on another draw, that draw was
    trained differently, typically on another processor (a processor trains other networks from the first
    epoch: Reproducibility), so that draw's paired difference is not the variant's alone."""
    by_draw = {(e["variant"], e["draw"]): e for e in (ablations.get("experiments") or {}).values()}
    paired = {draw: (entry, by_draw[("full", draw)]) for (name, draw), entry in sorted(by_draw.items())
              if name == variant and ("full", draw) in by_draw}
    differing = {draw: {model: sum(a != b for a, b in zip(bits, full["correct"][model]))
                        for model, bits in entry["correct"].items() if model in full["correct"]}
                 for draw, (entry, full) in paired.items()}
    left_alone = sorted({model for counts in differing.values() for model, n in counts.items() if n == 0})
    same = [draw for draw, counts in differing.items() if left_alone and all(counts.get(m) == 0 for m in left_alone)]
    moved = {draw: {m: counts[m] for m in left_alone if counts.get(m)} for draw, counts in differing.items()
             if any(counts.get(m) for m in left_alone)}
    if not moved or not same:
        return ""

    def trained_on(entry: dict) -> str:
        return _machine_label(entry.get("machine"), missing="a machine not recorded")

    where = "; ".join(f"draw {draw}, " + ", ".join(f"`{m}` {n}" for m, n in counts.items())
                      + f" of {sweep_clips(ablations)} test clips (the variant trained on {trained_on(paired[draw][0])}, "
                      f"`full` on {trained_on(paired[draw][1])})" for draw, counts in moved.items())
    like = f"draw{'s' if len(same) > 1 else ''} {', '.join(map(str, same))}"
    return (f" The networks it leaves alone ({', '.join(f'`{m}`' for m in left_alone)}: clip for clip `full`'s on {like}) "
            f"differ from `full`'s on other draws, right or wrong on other clips: {where}. On those draws the paired "
            f"difference is not the variant's alone; {like} compare{'' if len(same) > 1 else 's'} like with like.")


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
                moved["unread"].append(f"`{column}` {signed(f['mean'])}")
                continue
            ci, basis = draw_interval(f)
            bases.add(basis)
            side = {"the first ahead": "higher", "the second ahead": "lower"}.get(reading(ci), "none")
            moved[side].append(f"`{column}` {signed(f['mean'])} {signed_interval(ci)}")
        parts = [f"shown higher than `full`: {', '.join(moved['higher'])}" if moved["higher"] else "",
                 f"shown lower: {', '.join(moved['lower'])}" if moved["lower"] else "",
                 f"no difference shown: {', '.join(moved['none'])}" if moved["none"] else "",
                 f"one draw, not read (a verdict needs two or more): {', '.join(moved['unread'])}" if moved["unread"] else "",
                 f"identical on every draw (those stages read none of the variant's params: DVC reused them, or they trained again to the same predictions): "
                 f"{', '.join(moved['identical'])}" if moved["identical"] else ""]
        basis = bases.pop() if len(bases) == 1 else f"{WIDENED} where those reach past it" if bases else ""
        lines.append(f"- **`{variant}` - `full`** ({draws_phrase(draws)}"
                     + (f"; {basis}" if basis else "") + "): " + "; ".join(p for p in parts if p) + "."
                     + processor_drift(ablations, variant))
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
    means = "; ".join(f"`{name}` {pct(mean)} %" for name, mean in choice["mean_score"].items() if mean is not None)
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
    return f"{_per_draw(entry['per_draw'])}; {signed_interval(ci)}"


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
        return [], (f"not read yet: the control has {draws_phrase(control['draws'])}, the arms against it "
                    + ", ".join(f"`{arm}` {draws_phrase(entry['draws'])}" for arm, entry in against.items())
                    + "; a verdict reads the interval over two draws or more")
    ci, basis = draw_interval(control)
    box_helps = verdict(ci) == "supported"
    lines = [f"- The control's student (guided by {FRAMED_CONTROL_MAP}, with the teacher's contrastive term and "
             f"stage 3) against `rgb_only`, both framed (`{FRAMED_CONTROL}`, `crychic_posefree - rgb_only`, "
             f"{draws_phrase(control['draws'])}, {basis}): {signed(control['mean'])} "
             f"{signed_interval(ci)}, "
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
                     f"pose-free student, {draws_phrase(entry['draws'])}, {basis}): {signed(entry['mean'])} "
                     f"{signed_interval(ci)}, **{word}**; that arm against `rgb_only`: "
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
        groups = "; ".join(f"{g} {signed(f['mean'])}" for g, f in (posefree.get("groups") or {}).items()) or "–"
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
    return f"{signed(entry['mean'])} {signed_interval(ci)}", ci, basis


def _framed_late_members(ablations: dict) -> str:
    """", at N % mean test top-1; late fusion M % against the teacher's T %": the members late fusion averages in the
    framing (the chosen rate control's, whose `rgb_only` and late fusion the block reads), "" where not in the table."""
    control = control_of((ablations.get("framed_baseline") or {}).get("choice")) or FRAMED_METHOD
    row = (ablations.get("variants") or {}).get(control) or {}
    if not all(row.get(m) for m in ("rgb_only", "late_fusion", "teacher")):
        return ""
    return (f", at {pct(row['rgb_only']['mean'])} % mean test top-1; late fusion {pct(row['late_fusion']['mean'])} % "
            f"against the teacher's {pct(row['teacher']['mean'])} %")


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
            f"{draws_phrase(inside['draws'])}, {basis}): {figure} ({inside['draws_a_better']} of {inside['draws']} draws "
            f"ahead), **{verdict(ci)}**; late fusion here averages the teacher with the framed `rgb_only`"
            f"{_framed_late_members(ablations)}.")
    if box:
        figure, ci, basis = _figure(box)
        text += (f" Against the box-crop pipeline's late fusion (`full`'s, on the same draws' test videos, paired; "
                 f"both need the keypoints at test time, which can cut the RGB by the person box): {figure} "
                 f"({box['draws_a_better']} of {box['draws']} draws ahead, {basis}), "
                 f"**{reading(ci, f'framed `{FRAMED_METHOD}` fused', '`full` late fusion')}**.")
    return text


def framed_headline_lines(ablations: dict) -> list[str]:
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
            f"**{verdict(ci)}**. `crychic_posefree - rgb_only`, points: {signed(framed['mean'])} "
            f"{signed_interval(ci)} over {draws_phrase(framed['draws'])} ({basis})."
            + (f" What the student needs, by the controls (the report's D arms): {read[1]}." if read else "")
            + framed_fusion_headline(ablations)]


def framed_fusion_headline(ablations: dict) -> str:
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
