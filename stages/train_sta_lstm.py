"""DVC stage `train_sta_lstm`: baseline: STA-LSTM (an LSTM with spatial and temporal attention) on the raw keypoints.

What is trained: `crychic.training.baselines`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.baselines import train_baseline_from_args
from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("sta_lstm", build_parser("sta_lstm").parse_args(argv), train=train_baseline_from_args)


if __name__ == "__main__":
    main()
