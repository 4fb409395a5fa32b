"""DVC stage `train_gcn`: baseline: an ST-GCN-style graph network on the raw keypoints.

What is trained: `crychic.training.gcn`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("gcn", build_parser("gcn").parse_args(argv))


if __name__ == "__main__":
    main()
