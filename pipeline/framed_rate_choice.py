"""Issue 23 D: the rate of `rgb_only` trained without keypoint boxes, the baseline every D arm is read against,
chosen on val by a rule written down before the rate controls ran on their second and third draws.

    python -m pipeline.framed_rate_choice    # apply the rule to the abl10 sweep (metrics/ablations.json)

`rgb_only`'s rate (x3 the student's) was chosen on keypoint-box crops (`pipeline.rgb_lr_choice`). In the
deployment framing it stayed at chance on draw 0 for all 50 epochs, and lower rates read higher on that draw
(the controls `pipeline.ablations.FRAMED_RGB_RATES`: `framed_keypoints` with `rgb_only` at x1, x0.3 and x0.1
of the student's rate; the guided networks are `framed_keypoints`' own, DVC reuses them). A baseline tuned
in another framing is not a fair one, so the framed baseline gets a rate of its own, by `RULE`, on val.

Once chosen (other than x3), every D arm is read against `rgb_only` at that rate: on each draw the rate
control's `rgb_only`, `rgb_only_nokp` and late fusion (the teacher and that `rgb_only`, weighted on val) take
the place of the arm's own (`rgb_only` reads no guidance param, so on a draw it is one network for every arm,
scored on the same framed test clips). `pipeline.ablations` applies this when it writes the table (its
`framed_baseline`); the report's D-arm block says which rate the verdicts read. An arm is read on the draws
the chosen control also has (none in common: the arm has no claims until it does), so that every arm's
verdict reads the same baseline. The rule reads draws 0, 3 and 4 only (`RULE_DRAWS`), so that draws added
later cannot move a choice already made.

The choice reads val figures only. The candidate x0.1 was added after draw 0's *test* figures showed the
framed `rgb_only` higher at each lower rate (x3 12.8, x1 15.1, x0.3 20.4 %): the candidate list is test-
informed, the choice among the candidates is not.
"""

from __future__ import annotations

from crychic.core.params import load_params
from pipeline.ablations import FRAMED, FRAMED_METHOD, FRAMED_RGB_RATES, QUEUE_PREFIX, VARIANTS, claims_inside_variants
from pipeline.designs import MARGIN, MIN_DRAWS, choice_cli, choose, val_by_candidate
from pipeline.rgb_lr_choice import network_val_top1

CURRENT = FRAMED_METHOD  # rgb_only at the box-crop choice, x3 (params.yaml train.rgb_only.lr_scale)
CANDIDATES = (CURRENT, *FRAMED_RGB_RATES)
RULE_DRAWS = (0, 3, 4)  # the sweep's draws for the ablations and the D arms
# rgb_only's per-clip figures that a rate control's take the place of (late fusion averages rgb_only in)
BASELINE_MODELS = ("rgb_only", "rgb_only_nokp", "late_fusion")
RULE = (
    "Val figures only (evaluate's protocol.val_top1['rgb_only'], the research profile's 240 val clips per draw, "
    "sweep abl10, draws 0, 3 and 4 only; committed before the rate controls' draws 3 and 4 ran). Candidates: "
    "`framed_keypoints` "
    "(rgb_only at x3 the student's rate, the box-crop choice) and the rate controls `framed_rgb_lr_x1`, "
    "`framed_rgb_lr_low` (x0.3) and `framed_rgb_lr_lowest` (x0.1). Over the draws that every candidate has (at "
    f"least {MIN_DRAWS}), the candidate with the highest mean val top-1 of `rgb_only` sets the framed baseline's "
    f"rate, unless its mean is within {MARGIN * 100:.0f} point of x3's, which then stays (means rounded to 4 "
    "decimals; between two other candidates tied, the first in the order above). Every D arm is then read against `rgb_only` at that rate. With fewer common draws nothing is "
    "chosen and the arms are read against their own `rgb_only` (x3)."
)


def decide(experiments: dict[str, dict]) -> dict:
    """The rule applied to a sweep's recorded experiments (name -> variant, draw, metrics.protocol.val_top1),
    on `RULE_DRAWS` only."""
    pinned = {name: entry for name, entry in experiments.items() if int(entry["draw"]) in RULE_DRAWS}
    return choose(val_by_candidate(pinned, CANDIDATES), rule=RULE, score=network_val_top1("rgb_only"),
                  current=CURRENT)


def control_of(choice: dict | None) -> str | None:
    """The rate control a choice (`decide`'s) names, None while x3 stands (undecided, or decided for x3)."""
    chosen = (choice or {}).get("chosen")
    return None if chosen in (None, CURRENT) else chosen


def chosen_control(table: dict) -> str | None:
    """The rate control whose `rgb_only` the D arms are read against in a sweep table, None while x3 stands."""
    return control_of((table.get("framed_baseline") or {}).get("choice"))


def framed_baseline(results: dict[str, dict[int, dict]], experiments: dict[str, dict]) -> dict:
    """The table's `framed_baseline`: the rule's result and, once it chose a rate other than x3, each D arm's
    headline claims with `rgb_only` (and late fusion) of the chosen rate control on each draw that has it."""
    choice = decide(experiments)
    chosen = control_of(choice)
    if chosen is None:
        return {"choice": choice, "variant_claims": {}, "draws": {}}
    baseline = results.get(chosen, {})
    swapped: dict[str, dict[int, dict]] = {}
    for arm in (arm for arm in FRAMED if arm in results):
        swapped[arm] = {}
        for draw, entry in sorted(results[arm].items()):
            if draw in baseline:  # the same draw: the same test clips, and rgb_only is one network for every arm
                theirs = {m: baseline[draw]["correct"][m] for m in BASELINE_MODELS if m in baseline[draw]["correct"]}
                swapped[arm][draw] = {**entry, "correct": {**entry["correct"], **theirs}}
    claims = claims_inside_variants({arm: by_draw for arm, by_draw in swapped.items() if by_draw})
    return {"choice": choice, "variant_claims": {arm: claims.get(arm, {}) for arm in swapped},
            "draws": {arm: sorted(by_draw) for arm, by_draw in swapped.items()}}


def rgb_only_scales(params: dict) -> dict[str, float]:
    """Candidate -> rgb_only's rate as a multiple of the student's: its override, else params.yaml's."""
    scales = {}
    for name in CANDIDATES:
        overrides = dict(item.split("=", 1) for item in VARIANTS[name])
        scales[name] = float(overrides.get("train.rgb_only.lr_scale", params["train"]["rgb_only"]["lr_scale"]))
    return scales


def main(argv: list[str] | None = None) -> dict:
    scales = rgb_only_scales(load_params("params.yaml"))
    return choice_cli(argv, doc=__doc__, table="metrics/ablations.json", out="metrics/framed_rate_choice.json",
                      prefix=QUEUE_PREFIX, candidates=CANDIDATES, rule=RULE, decide=decide,
                      labels={name: f"rgb_only x{scale:g}" for name, scale in scales.items()}, extra={"scales": scales})


if __name__ == "__main__":
    main()
