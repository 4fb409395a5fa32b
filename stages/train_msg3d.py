"""DVC stage `train_msg3d`: baseline: an MS-G3D-style network (multi-scale graph convolution with unified spatiotemporal G3D edges) on the raw keypoints.

What is trained: `crychic.training.baselines`; params read, outputs written: `crychic.training.stage`.
"""

from crychic.training.baselines import train_baseline_from_args
from crychic.training.stage import build_parser, run_training_stage


def main(argv: list[str] | None = None) -> None:
    run_training_stage("msg3d", build_parser("msg3d").parse_args(argv), train=train_baseline_from_args)


if __name__ == "__main__":
    main()
