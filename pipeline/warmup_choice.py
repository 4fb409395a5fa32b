"""Issue 23 B: whether the stage-2 RGB recipe gets a learning-rate warm-up, chosen on val by a rule written
down before the deciding draws ran.

    python -m pipeline.warmup_choice    # apply the rule to the abl7 sweep's experiments (metrics/ablations_abl7.json)

`rgb_only` left chance late on some draws (epoch 16 and 21 of 31 on draws 1 and 3) and ended far below
its accuracy on the others, and the pose-free claim is largest exactly there: the baseline's recipe, not
the method, may be what the claim measures. Both stage-2 RGB networks (the guided student and `rgb_only`,
which trains by `train.student`'s settings, so one switch sets both) are candidates for a linear warm-up
over 3 epochs, the one stage 3 already has (`pipeline.ablations.CONTROLS`, variant `stage2_warmup`).
The baselines get the same tuning effort as the method: the recipe is chosen for both networks at once,
on val. Written after draw 4's control had run (its val figures were seen: rgb_only 74.6 against 57.9,
the guided student 76.2 against 71.3) and before draws 0 and 3, which decide with it. Result, with every
val figure that decided it: `metrics/warmup_choice.json`. Test figures are never read here.

Decided on abl7 (draws 0, 3, 4): `stage2_warmup`, now the default (params.yaml train.student.warmup_epochs:
3); the sweep moved to abl8, where the recipe without it is the control `no_stage2_warmup`.
"""

from __future__ import annotations

import numpy as np

from pipeline.designs import MARGIN, MIN_DRAWS, choice_cli, choose

DECIDED_PREFIX = "abl7"  # the sweep it was decided on (its table: metrics/ablations_abl7.json)
CANDIDATES = ("full", "stage2_warmup")  # full: no warm-up in stage 2 (params.yaml until the decision)
SWITCHES = {"full": "train.student.warmup_epochs: 0", "stage2_warmup": "train.student.warmup_epochs: 3"}
NETWORKS = ("rgb_only", "student_guided")  # the two networks train.student's settings train
RULE = (
    "Val figures only (evaluate's protocol.val_top1, the research profile's 240 val clips per draw). A "
    "candidate's score on a draw is the mean val top-1 of the two networks the switch trains, `rgb_only` and "
    f"the stage-2 guided student (`student_guided`). Over the draws both candidates have (at least {MIN_DRAWS}), "
    "the higher mean score sets the stage-2 recipe (params.yaml train.student.warmup_epochs) unless it is "
    f"within {MARGIN * 100:.0f} point of the current recipe's (no warm-up, `full`), which then stays. With "
    "fewer common draws nothing is chosen."
)


def stage2_val_top1(val_top1: dict) -> float | None:
    """The rule's score of one experiment: the mean val top-1 of `NETWORKS` (None when one is missing)."""
    if not all(name in val_top1 for name in NETWORKS):
        return None
    return float(np.mean([val_top1[name]["top1"] for name in NETWORKS]))


def main(argv: list[str] | None = None) -> None:
    choice_cli(argv, doc=__doc__, table="metrics/ablations_abl7.json", out="metrics/warmup_choice.json",
               prefix=DECIDED_PREFIX, candidates=CANDIDATES, rule=RULE, score=stage2_val_top1, labels=SWITCHES,
               extra={"switches": SWITCHES, "networks": list(NETWORKS)})


if __name__ == "__main__":
    main()
