"""DVC stage `train_text`: stage 3 again, from the stage-2 student, with the text anchor (`crychic_text`).

Both networks also learn a projection into the frozen space of the class sentences
(`embed_class_text`) and are pulled to their class's sentence (`loss.text_weight`); everything else
is `train_joint`'s, so `crychic_text - crychic_posefree` isolates the anchor.
What is trained: `crychic.training.text`; params read, outputs written: `crychic.training.stage`.

A research arm (`research.text_anchor`, on in the sweep's research profile): with it false, the
default, the stage trains nothing and writes markers in its outputs' places (a checkpoint that says
so, `enabled: false` in its metrics, no epochs), and `evaluate` has no crychic_text rows, so the
default `dvc repro` does not pay for a second stage 3.
"""

from pathlib import Path

from crychic.core.atomic_write import atomic_path, write_json
from crychic.core.params import load_params, select
from crychic.training.stage import PARAM_KEYS, build_parser, run_training_stage
from crychic.training.text import train_text_from_args

SWITCH = "research.text_anchor"


def write_markers(args) -> None:
    """The stage's outputs when the switch is off: nothing trained, each file saying so."""
    import torch

    reason = f"{SWITCH} is false: stage 3 with the text anchor was not trained"
    with atomic_path(args.out) as tmp, open(tmp, "wb") as file:
        torch.save({"stage": "text", "enabled": False, "reason": reason}, file)
    write_json(args.metrics, {"enabled": False, "epochs": 0})
    write_json(args.timing, {"seconds": 0.0})
    write_json(args.plots, [], indent=1)
    print(f"train_text: {reason} ({Path(args.out)} is a marker); the sweep's research profile sets it true")


def main(argv: list[str] | None = None) -> None:
    args = build_parser("text").parse_args(argv)
    if not select(load_params(args.params), PARAM_KEYS["text"])["research"]["text_anchor"]:
        write_markers(args)
        return
    run_training_stage("text", args, train=train_text_from_args)


if __name__ == "__main__":
    main()
