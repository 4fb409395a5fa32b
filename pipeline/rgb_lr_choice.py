"""The `rgb_only` baseline's learning rate, chosen on val for it alone by a rule written down before any
candidate ran.

    python -m pipeline.rgb_lr_choice    # apply the rule to the abl8 sweep's experiments (metrics/ablations.json)

Both headline claims are read against `rgb_only`: the pose-free student minus it, and the fused model minus
late fusion (the teacher and `rgb_only` averaged). Until abl8, `rgb_only` trained by the guided student's
settings, which were tuned for the method, and on several draws it left chance late or ended far below
its best draws (the report's late-start table). So the baseline gets a learning rate of its own
(params.yaml `train.rgb_only.lr_scale`, a multiple of `train.student.lr`, so that the NTU preset's rate
carries over), with candidates half a decade either side of the current x1: the sweep variants
`rgb_lr_low` (x0.3) and `rgb_lr_high` (x3) (`pipeline.ablations.RGB_LR_CANDIDATES`), the current rate being
`full`'s. Only `rgb_only` (and so late fusion) retrains; the I3D baseline, which keeps `rgb_only`'s recipe,
follows the chosen rate (params.yaml `i3d.lr`). `RULE` was committed before any candidate ran; the result,
with every val figure that decided it, is `metrics/rgb_lr_choice.json`. Test figures are never read here.
"""

from __future__ import annotations

from pipeline.designs import MARGIN, MIN_DRAWS, choice_cli

DECIDED_PREFIX = "abl8"  # the sweep that decides (its table: metrics/ablations.json once abl8 is gathered)
CANDIDATES = ("full", "rgb_lr_low", "rgb_lr_high")  # full: train.rgb_only.lr_scale 1.0, the current rate
LR_SCALES = {"full": "train.rgb_only.lr_scale: 1.0", "rgb_lr_low": "train.rgb_only.lr_scale: 0.3",
             "rgb_lr_high": "train.rgb_only.lr_scale: 3.0"}
RULE = (
    "Val figures only (evaluate's protocol.val_top1['rgb_only'], the research profile's 240 val clips per "
    f"draw, sweep abl8). Over the draws that every candidate has (at least {MIN_DRAWS}; the sweep runs "
    "draws 0, 3 and 4), the candidate with the highest mean val top-1 of `rgb_only` sets its learning rate "
    "(params.yaml train.rgb_only.lr_scale, and i3d.lr to the same rate), unless its mean is within "
    f"{MARGIN * 100:.0f} point of the current rate's (x1, `full`), which then stays. With fewer common draws "
    "nothing is chosen."
)


def rgb_only_val_top1(val_top1: dict) -> float | None:
    """The rule's score of one experiment: `rgb_only`'s val top-1 (None when it is missing)."""
    return val_top1["rgb_only"]["top1"] if "rgb_only" in val_top1 else None


def main(argv: list[str] | None = None) -> None:
    choice_cli(argv, doc=__doc__, table="metrics/ablations.json", out="metrics/rgb_lr_choice.json",
               prefix=DECIDED_PREFIX, candidates=CANDIDATES, rule=RULE, score=rgb_only_val_top1, labels=LR_SCALES,
               extra={"lr_scales": LR_SCALES})


if __name__ == "__main__":
    main()
