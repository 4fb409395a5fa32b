"""DVC stage `train_i3d`: baseline: an I3D-style RGB network (a ResNet inflated to 3D) on the student's RGB clips.

What is trained: `crychic.training.baselines`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.baselines import train_baseline_from_args
from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("i3d", build_parser("i3d").parse_args(argv), train=train_baseline_from_args)


if __name__ == "__main__":
    main()
