"""Does pose estimation on the sampled frames only cost the full path accuracy? Measured on every val video.

    python -m pipeline.pose_sampling          # after `dvc repro`: writes metrics/pose_sampling.json

The deployed full path (`crychic.evaluation.end_to_end.full_forward`) runs MediaPipe Pose on the
clip's heatmap frames only (16 of the synthetic videos' 48), because the heatmaps and the person
box read nothing else; extraction for training ran it on every frame, whose tracking and landmark
smoothing see the frames in between. This runs both on each val clip, one clip after the other
with the same models and val's choices, and records each path's top-1, how often the two agree,
and each path's clips/s (batch 1, this machine, one run). Val, not test: it decides which path is
deployed. `evaluate` measures the same two paths' speed on its end-to-end test clips.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from crychic.core.atomic_write import write_json


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--models", default="models")
    parser.add_argument("--choices", default="metrics/evaluate.json")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips (a quick look)")
    parser.add_argument("--out", default="metrics/pose_sampling.json")
    return parser.parse_args(argv)


def _run_both_paths(deployment, rows: list[dict], settings, split: str) -> tuple[dict, dict, dict]:
    """Each clip through the full path twice, pose on the sampled frames then on every frame: per path the
    predicted labels (-1: no person found), whether each was right, and the seconds spent."""
    from tqdm import tqdm

    from crychic.evaluation.end_to_end import NoPersonError, PartTimes, full_forward

    correct = {"sampled": [], "every_frame": []}
    predicted = {"sampled": [], "every_frame": []}
    seconds = {"sampled": 0.0, "every_frame": 0.0}
    for row in tqdm(rows, desc=f"pose sampling ({split})", unit="clip"):
        for name, every_frame in (("sampled", False), ("every_frame", True)):
            started = time.perf_counter()
            try:
                label = int(full_forward(deployment, row["path"], settings, PartTimes(),
                                         pose_every_frame=every_frame).logits.argmax())
            except NoPersonError:
                label = -1
            seconds[name] += time.perf_counter() - started
            predicted[name].append(label)
            correct[name].append(label == int(row["label"]))
    return predicted, correct, seconds


def _report(split: str, clips: int, fusion: str, predicted: dict, correct: dict, seconds: dict) -> dict:
    """Per path top-1 with its interval, the paired difference, how often the two agree, and clips/s."""
    from crychic.evaluation.statistics import bootstrap_ci, paired_difference

    hits = {name: np.array(values) for name, values in correct.items()}
    report = {
        "split": split, "clips": clips, "fusion": fusion,
        "top1": {name: round(float(h.mean()), 4) for name, h in hits.items()},
        "top1_ci95": {name: list(bootstrap_ci(h)) for name, h in hits.items()},
        "sampled_minus_every_frame": paired_difference(hits["sampled"], hits["every_frame"]),
        "agreement": round(float(np.mean(np.array(predicted["sampled"]) == np.array(predicted["every_frame"]))), 4),
        "clips_per_second": {name: round(clips / s, 3) for name, s in seconds.items()},
    }
    report["speedup"] = round(report["clips_per_second"]["sampled"] / report["clips_per_second"]["every_frame"], 2)
    return report


def _print_report(report: dict) -> None:
    print(f"{report['split']}, {report['clips']} clips: top-1 sampled {report['top1']['sampled']:.3f}, every frame "
          f"{report['top1']['every_frame']:.3f} (difference {report['sampled_minus_every_frame']['difference']:+.3f} "
          f"{report['sampled_minus_every_frame']['ci95']}), agreement {report['agreement']:.3f}; clips/s "
          f"{report['clips_per_second']['sampled']:.2f} vs {report['clips_per_second']['every_frame']:.2f} "
          f"({report['speedup']:.2f}x)")


def main(argv: list[str] | None = None) -> dict:
    from crychic.core.reproducibility import pin_cpu_kernels

    pin_cpu_kernels()  # before torch is first imported: the oneDNN and ATen caps are read then
    from crychic.clips.plan import read_clip_plan
    from crychic.core.params import load_params
    from crychic.evaluation.end_to_end import clip_settings
    from crychic.predict import load_deployment

    args = _parse_args(argv)
    deployment = load_deployment(args.models, params_path=args.params, choices_path=args.choices)
    settings = clip_settings(load_params(args.params))
    rows = [row for row in read_clip_plan(args.clips) if row["split"] == args.split][: args.limit]
    predicted, correct, seconds = _run_both_paths(deployment, rows, settings, args.split)
    report = _report(args.split, len(rows), f"{deployment.fusion_rule}/{deployment.guidance}", predicted, correct,
                     seconds)
    write_json(args.out, report)
    _print_report(report)
    return report


if __name__ == "__main__":
    main()
