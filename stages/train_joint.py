"""DVC stage `train_joint`: teacher and student fine-tuned together (method stage 3).

What is trained: `crychic.training.loop`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("joint", build_parser("joint").parse_args(argv))


if __name__ == "__main__":
    main()
