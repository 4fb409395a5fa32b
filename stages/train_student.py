"""DVC stage `train_student`: the RGB student guided by the frozen teacher (method stage 2).

What is trained: `crychic.training.loop`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("student", build_parser("student").parse_args(argv))


if __name__ == "__main__":
    main()
