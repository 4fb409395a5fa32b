"""DVC stage `train_rgb_only`: baseline: the plain RGB student, no teacher, its own epochs.

What is trained: `crychic.training.loop`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("rgb_only", build_parser("rgb_only").parse_args(argv))


if __name__ == "__main__":
    main()
