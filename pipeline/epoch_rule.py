"""One epoch rule for every trained network, read off the val curves of a longer calibration run.

    python -m pipeline.epoch_rule --run      # the calibration experiment (every network at twice its epochs), then the rule
    python -m pipeline.epoch_rule            # the rule on an experiment that already ran
    python -m pipeline.epoch_rule --apply    # ... and write the demo's epochs (`DEMO_FRACTION` of the rule's) into params.yaml

The rule (`RULE`): in a calibration run where every network trains for `FACTOR` times its current
epochs (each with its cosine schedule over that longer run), a network's epochs are the first epoch
at which the running mean of its val top-1 over `WINDOW` epochs comes within `TOLERANCE` of that
running mean's maximum: where its curve has reached its plateau. The sweep's research profile, which
every claim is read from, trains each network for those epochs (`rule_epochs`), a cosine schedule over
its own length. The default profile, the 20-minute demo, trains each for `DEMO_FRACTION` of them,
rounded up (`demo_epochs`): one fraction of the epochs for every network (not one loss: a slow starter such
as `rgb_only` ends much further below its plateau), and none of the demo's networks is trained to its plateau
(at the rule's epochs a forced `dvc repro` took 24 min 43 s on a 2-core AMD EPYC). The baselines are networks like
any other: `rgb_only` and the I3D baseline get the epochs where their own curves plateau, not the
CRYCHIC student's stage-2 + stage-3 total (tying them to it starved them: the single-stage control
trained `rgb_only` for 58 epochs and it gained 7 points). Stage 3 (`joint`) is calibrated from the
calibration's stage-2 student; the text-anchored stage 3 follows `train.joint`.
Val only; the result, with the curves it read, goes to `metrics/epoch_rule.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import yaml

from crychic.core.atomic_write import atomic_path, write_json
from crychic.core.params import flatten, load_params
from pipeline.dvc_experiments import dvc_executable, experiment_metrics

FACTOR, WINDOW, TOLERANCE = 2, 3, 0.01
DEMO_FRACTION = 0.5  # of the rule's epochs, for the default profile (the demo's time budget; module docstring)
RULE_FILE = Path(__file__).resolve().parents[1] / "metrics" / "epoch_rule.json"
RULE = (f"epochs = the first epoch at which the {WINDOW}-epoch running mean of val top-1, in a calibration run "
        f"at {FACTOR}x every network's epochs, is within {TOLERANCE * 100:.0f} point of its maximum")
EXPERIMENT = "calibration-epochs"
# network -> (the params key of its epochs, its curve in the calibration experiment)
NETWORKS = {"teacher": ("train.teacher.epochs", "plots/train_teacher.json"),
            "student": ("train.student.epochs", "plots/train_student.json"),
            "joint": ("train.joint.epochs", "plots/train_joint.json"),
            "gcn": ("gcn.epochs", "plots/train_gcn.json"), "msg3d": ("msg3d.epochs", "plots/train_msg3d.json"),
            "sta_lstm": ("sta_lstm.epochs", "plots/train_sta_lstm.json"),
            "rgb_only": ("train.rgb_only.epochs", "plots/train_rgb_only.json"),
            "i3d": ("i3d.epochs", "plots/train_i3d.json")}


def rule_epochs(rule_file: str | Path = RULE_FILE) -> dict[str, int]:
    """params key -> the rule's epochs (its plateau epoch), from the committed rule."""
    networks = json.loads(Path(rule_file).read_text())["networks"]
    return {entry["params_key"]: int(entry["plateau_epoch"]) for entry in networks.values()}


def demo_epochs(epochs: dict[str, int], fraction: float = DEMO_FRACTION) -> dict[str, int]:
    """The default profile's epochs: `fraction` of each network's rule epochs, rounded up (at least 1)."""
    return {key: max(1, math.ceil(fraction * value)) for key, value in epochs.items()}


def running_means(val_top1: list[float], window: int = WINDOW) -> tuple[np.ndarray, int]:
    """The running means the rule reads (running[i]: epochs i+1 .. i+window) and the window used
    (a curve shorter than `window` is one window)."""
    values = np.asarray(val_top1, dtype=float)
    if values.size == 0:
        raise ValueError("an empty val curve has no plateau")
    window = min(window, values.size)
    return np.convolve(values, np.ones(window) / window, mode="valid"), window


def plateau_epoch(val_top1: list[float], window: int = WINDOW, tolerance: float = TOLERANCE) -> int:
    """1-based epoch where the running mean first comes within `tolerance` of its maximum."""
    running, window = running_means(val_top1, window)
    first = int(np.argmax(running >= running.max() - tolerance - 1e-12))
    return first + window


def _get(params: dict, dotted: str):
    for key in dotted.split("."):
        params = params[key]
    return params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the calibration experiment first")
    parser.add_argument("--apply", action="store_true", help="write the demo's epochs (DEMO_FRACTION of the rule's) into params.yaml")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="metrics/epoch_rule.json")
    args = parser.parse_args(argv)
    from pipeline.ablations import experiment_machine  # (ablations reads the rule)

    params = load_params(args.params)
    if args.run:
        # twice the epochs in force for the claims: the committed rule's, else params.yaml's
        current = rule_epochs(args.out) if Path(args.out).exists() else {}
        command = [dvc_executable(), "exp", "run", "--temp", "-n", EXPERIMENT]
        for key, _ in NETWORKS.values():
            command += ["-S", f"{key}={FACTOR * int(current.get(key, _get(params, key)))}"]
        subprocess.run(command, check=True)
    finished = experiment_metrics()  # name -> its evaluate metrics and commit, for every finished experiment
    if EXPERIMENT not in finished:
        raise SystemExit(f"no finished experiment named {EXPERIMENT}: run with --run first")
    rev = finished[EXPERIMENT]["rev"]
    result = {"rule": RULE, "experiment": EXPERIMENT, "machine": experiment_machine(rev), "networks": {}}
    for name, (key, curve) in NETWORKS.items():
        rows = json.loads(subprocess.run(["git", "show", f"{rev}:{curve}"], check=True, capture_output=True,
                                         text=True).stdout)
        values = [row["val_top1"] for row in rows]
        # "before": the epochs the calibration doubled
        result["networks"][name] = {"params_key": key, "before": len(values) // FACTOR,
                                    "calibration_epochs": len(values), "plateau_epoch": plateau_epoch(values),
                                    "val_top1": [round(v, 4) for v in values]}
    write_json(args.out, result)
    for name, entry in result["networks"].items():
        print(f"{name:10s} plateau at epoch {entry['plateau_epoch']} of {entry['calibration_epochs']} "
              f"(before: {entry['before']})")
    if args.apply:
        apply_epochs(args.params, demo_epochs({e["params_key"]: e["plateau_epoch"] for e in result["networks"].values()}))


def apply_epochs(params_path: str, epochs: dict[str, int]) -> None:
    """Write each network's epochs into params.yaml as a text edit of that one number, so that the file's
    comments and layout stay as written (YAML round-trippers reflow its one-line sections): each
    occurrence of `<leaf>: <int>` is tried, and the one whose change moves exactly `key` is kept."""
    text = Path(params_path).read_text()
    for key, value in epochs.items():
        leaf = key.rsplit(".", 1)[-1]
        before = flatten(yaml.safe_load(text))
        if key not in before:
            raise KeyError(f"params.yaml has no {key}")
        wanted = {**before, key: int(value)}
        for match in re.finditer(rf"(?<![\w.]){re.escape(leaf)}:\s*(\d+)", text):
            edited = text[:match.start(1)] + str(int(value)) + text[match.end(1):]
            if flatten(yaml.safe_load(edited)) == wanted:
                text = edited
                break
        else:
            raise ValueError(f"{params_path}: no `{leaf}: <integer>` that is {key}")
    with atomic_path(params_path) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    main()
