"""DVC stage `train_text`: stage 3 again, from the stage-2 student, with the text anchor (`crychic_text`).

Both networks also learn a projection into the frozen space of the class sentences
(`embed_class_text`) and are pulled to their class's sentence (`loss.text_weight`); everything else
is `train_joint`'s, so `crychic_text - crychic_posefree` isolates the anchor.
What is trained: `crychic.training.text`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.stage import build_parser, run_training_stage
from crychic.training.text import train_text_from_args


def main(argv: list[str] | None = None) -> None:
    run_training_stage("text", build_parser("text").parse_args(argv), train=train_text_from_args)


if __name__ == "__main__":
    main()
