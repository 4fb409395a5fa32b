"""Stage 3's start, chosen on val: the warm-up and the pre-trained student's learning rate.

    python -m pipeline.stage3_schedule        # run the candidates as DVC experiments of train_joint, then choose

Stage 3 used to restart AdamW at the full learning rate, and the stage-2 student's pose-free val
top-1 fell from 72.5 to 25.8 in its first epoch. Each candidate below is one `dvc exp run
train_joint -S ...` on the default draw (only stage 3 re-runs; DVC restores the rest); the rule,
fixed before they ran: the candidate with the best mean of stage 3's two kept val figures (the
fused head's, and the pose-free student's, kept by its own score) becomes the default; ties go to
the earlier candidate. The figures and the choice go to `metrics/stage3_schedule.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess

from crychic.core.atomic_write import write_json
from pipeline.dvc_experiments import dvc_executable, finished_experiments

CANDIDATES = {  # name -> overrides of train.joint (the current default first)
    "warmup1_student0.1": {"warmup_epochs": 1, "student_lr_scale": 0.1},
    "warmup1_student0.3": {"warmup_epochs": 1, "student_lr_scale": 0.3},
    "warmup1_student1.0": {"warmup_epochs": 1, "student_lr_scale": 1.0},
    "no_warmup_student1.0": {"warmup_epochs": 0, "student_lr_scale": 1.0},  # the earlier stage 3
}
RULE = ("val only: the mean of train_joint's kept fused val top-1 and its pose-free student's val top-1 "
        "(kept by its own score); the best candidate becomes the default, ties to the earlier one")


def score(metrics: dict) -> float:
    return (metrics["val_top1"] + metrics["val_top1_student_posefree"]) / 2


def joint_metrics(name: str) -> dict | None:
    """The finished experiment `name`'s train_joint metrics (a failed or queued one is listed by
    `dvc exp show` with its baseline's metrics: `dvc_experiments.finished_experiments` skips it)."""
    out = subprocess.run([dvc_executable(), "exp", "show", "--json", "--no-pager"], check=True, capture_output=True, text=True)
    found = finished_experiments(json.loads(out.stdout), "metrics/train_joint.json").get(name)
    return found["metrics"] if found else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="metrics/stage3_schedule.json")
    args = parser.parse_args(argv)
    figures = {}
    for name, settings in CANDIDATES.items():
        experiment = f"stage3-{name}"
        metrics = joint_metrics(experiment)
        if metrics is None:
            command = [dvc_executable(), "exp", "run", "--temp", "-n", experiment, "train_joint"]
            for key, value in settings.items():
                command += ["-S", f"train.joint.{key}={value}"]
            print(f"[stage3] {' '.join(command[1:])}", flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            metrics = joint_metrics(experiment)
        figures[name] = {"settings": settings, "val_fused_top1": metrics["val_top1"],
                         "val_posefree_top1": metrics["val_top1_student_posefree"],
                         "kept_epochs": {"fused": metrics["best_epoch"] + 1,
                                         "posefree": metrics["best_epoch_student_posefree"] + 1},
                         "score": round(score(metrics), 4)}
        print(f"[stage3] {name}: {figures[name]}", flush=True)
    chosen = max(figures, key=lambda name: (figures[name]["score"], -list(figures).index(name)))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())  # trained figures are one machine's
    write_json(args.out, {"rule": RULE, "candidates": figures, "chosen": chosen, "draw": "default (data.seed 0)",
                          "machine": cpu})
    print(f"[stage3] chosen: {chosen}")


if __name__ == "__main__":
    main()
