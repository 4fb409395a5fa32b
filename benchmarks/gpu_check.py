"""GPU readiness: every training stage for a few steps on CUDA, with AMP, timed; DDP under torchrun.

Run ``benchmarks/gpu_check.sh`` (it calls this once, then under ``torchrun`` over every GPU), after
``dvc repro`` (or ``dvc pull``) has made the default profile's data: ``data/heatmaps``, ``data/rgb``,
``data/keypoints`` and ``data/clips`` (the ``text`` stage's class-sentence embeddings are encoded here,
as ``embed_class_text`` does with the text anchor's arm on: in the default it writes a marker). Each
stage trains one epoch cut to ``--steps`` batches with ``train.amp: true`` (the keypoint and I3D
baselines have no AMP path: full precision), and prints its median step time and the share of the
epoch spent waiting for the DataLoader. The checkpoints go to a temporary folder; nothing of the
pipeline's is touched.

Exit status: 0 when every stage ran; 1 on any error, or with no CUDA device (a CPU-only machine
fails cleanly, saying so, before it trains anything).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # crychic, when run as a script

CRYCHIC_STAGES = ("teacher", "student", "joint", "text", "rgb_only")
BASELINES = ("gcn", "msg3d", "sta_lstm", "i3d")
INPUTS = ("data/heatmaps", "data/rgb", "data/keypoints/keypoints.h5", "data/clips/clips.parquet",
          "data/ingest/manifest.parquet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="batches per stage")
    parser.add_argument("--stages", nargs="+", default=list(CRYCHIC_STAGES + BASELINES),
                        choices=list(CRYCHIC_STAGES + BASELINES))
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))

    def say(message: str) -> None:
        if rank == 0:
            print(f"[gpu_check] {message}", flush=True)

    if not torch.cuda.is_available():
        say(f"no CUDA device: torch {torch.__version__} (CUDA build {torch.version.cuda}) sees none; nothing was run")
        return 1
    missing = [path for path in INPUTS if not Path(path).exists()]
    if missing:
        say(f"missing inputs {missing}: run `dvc repro` (or `dvc pull`) first")
        return 1

    from crychic.core.manifest import read_label_names
    from crychic.core.params import load_params

    params = load_params(args.params)
    params["train"].update(device="cuda", amp=True)
    label_names = read_label_names("data/ingest/manifest.parquet")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    say(f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}, world size {world}, "
        f"{args.steps} steps per stage, batch {params['train']['batch_size']} per process, AMP on")
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        for stage in args.stages:
            try:
                history = _run(stage, params, label_names, Path(scratch), args.steps)
            except Exception as error:  # report every stage, then fail
                failures += 1
                say(f"{stage:9s} FAILED: {type(error).__name__}: {error}")
                continue
            row = history[-1]  # seconds: the epoch's steps and its validation
            say(f"{stage:9s} ok: epoch of {args.steps} steps + validation {row['seconds']:6.2f} s, "
                f"{row['seconds'] / args.steps * 1000:7.1f} ms/step, loader wait {row['loader_wait_seconds']:6.2f} s "
                f"({row['loader_wait_seconds'] / max(row['seconds'], 1e-9):5.1%})")
    say("PASS" if not failures else f"FAIL: {failures} stage(s) failed")
    return 0 if not failures else 1


def _run(stage: str, params: dict, label_names: list[str], scratch: Path, steps: int) -> list[dict]:
    """One epoch of `steps` batches; returns the stage's history (validation included)."""
    started = time.perf_counter()
    if stage in BASELINES:
        from crychic.training.baselines import train_baseline

        params = {**params, stage: {**params[stage], "epochs": 1}}
        result = train_baseline(stage, params, keypoints_path="data/keypoints/keypoints.h5",
                                clip_plan_path="data/clips/clips.parquet", rgb_dir="data/rgb",
                                out_checkpoint=scratch / f"{stage}.pt", label_names=label_names, max_steps=steps)
    else:
        from crychic.language.class_text import class_texts
        from crychic.language.text_encoder import encode_texts
        from crychic.training.loop import SETTINGS, train_stage

        section = SETTINGS[stage]
        params = {**params, "train": {**params["train"], section: {**params["train"][section], "epochs": 1},
                                      "joint": {**params["train"]["joint"], "epochs": 1}}}
        previous = {"student": "teacher", "joint": "student", "text": "student"}.get(stage)
        init = scratch / f"{previous}.pt" if previous else None
        if init is not None and not init.exists():
            raise FileNotFoundError(f"{init}: run the {previous} stage first (it is earlier in --stages)")
        class_text = encode_texts(class_texts(label_names)) if stage == "text" else None  # embed_class_text's work
        result = train_stage(stage, params=params, heatmap_dir="data/heatmaps", rgb_dir="data/rgb",
                             init_checkpoint=init, out_checkpoint=scratch / f"{stage}.pt", label_names=label_names,
                             class_text=class_text, max_steps=steps)
    torch.cuda.synchronize()
    history = result["history"]
    history[-1]["wall_seconds"] = time.perf_counter() - started
    return history


if __name__ == "__main__":
    sys.exit(main())
