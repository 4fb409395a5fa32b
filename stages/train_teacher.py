"""DVC stage `train_teacher`: the skeleton teacher alone on heatmap volumes (method stage 1).

What is trained: `crychic.training.loop`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("teacher", build_parser("teacher").parse_args(argv))


if __name__ == "__main__":
    main()
