"""Issue 23 C: which I3D-style network is the baseline, chosen on val by a rule written down before
any candidate was trained.

    python -m pipeline.i3d_choice    # apply the rule to the abl7 sweep's experiments (metrics/ablations_abl7.json)

The default `i3d_r18_tiny` (every kernel 3D from the stem on, width 9) underfits: its train loss
stays near chance for epochs, and val follows train (a reading of the code and the curves found no
bug). Two candidates at the student's size (`crychic.models.i3d`, within the issue's +-20 % of
`resnet18_tiny`'s parameters) address the likely causes: `i3d_r18_tiny_slow` (SlowOnly-style: 2D
kernels up to layer2, temporal kernels only in layer3 and layer4, where the 4 sampled frames of a
whole action are better summarised; width 12) and `i3d_r18_tiny_centre` (every kernel 3D, the temporal
taps initialised at the centre so that it starts as its 2D counterpart, as I3D inflates; width 10).
Each runs as a sweep variant (`pipeline.ablations.I3D_CANDIDATES`); the current one is the I3D of
every `full` experiment. `RULE` is the rule; the result, with every val figure that decided it, is
`metrics/i3d_choice.json`. Test figures are never read here.
"""

from __future__ import annotations

from pipeline.designs import MARGIN, MIN_DRAWS, choice_cli, choose

DECIDED_PREFIX = "abl7"  # the sweep it was decided on (its table: metrics/ablations_abl7.json)
CANDIDATES = ("full", "i3d_slow", "i3d_centre")  # full: the current default, i3d_r18_tiny
MODELS = {"full": "i3d_r18_tiny", "i3d_slow": "i3d_r18_tiny_slow", "i3d_centre": "i3d_r18_tiny_centre"}
NTU_MODELS = {"full": "i3d_r18", "i3d_slow": "i3d_r18_slow", "i3d_centre": "i3d_r18_centre"}  # presets/ntu60_xsub.yaml
RULE = (
    "Val figures only (evaluate's protocol.val_top1['i3d'], the research profile's 240 val clips per "
    f"draw, sweep abl7). Over the draws that every candidate has (at least {MIN_DRAWS}), the candidate "
    "with the highest mean val top-1 becomes the default (params.yaml i3d.model, and its width-scaled "
    f"sibling in the NTU preset), unless its mean is within {MARGIN * 100:.0f} point of the current "
    "one's (i3d_r18_tiny, in `full`), which then stays. With fewer common draws nothing is chosen."
)


def i3d_val_top1(val_top1: dict) -> float | None:
    return val_top1["i3d"]["top1"] if "i3d" in val_top1 else None


def main(argv: list[str] | None = None) -> None:
    choice_cli(argv, doc=__doc__, table="metrics/ablations_abl7.json", out="metrics/i3d_choice.json",
               prefix=DECIDED_PREFIX, candidates=CANDIDATES, rule=RULE, score=i3d_val_top1, labels=MODELS,
               extra={"models": MODELS, "ntu_models": NTU_MODELS})


if __name__ == "__main__":
    main()
