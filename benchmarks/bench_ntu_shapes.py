"""Every stage of the pipeline at NTU-60 X-Sub's shapes, per sample, and what that projects for the
whole of NTU-60 X-Sub on 1, 8 and 64 GPUs (issue 26 B).

Run: ``.venv/bin/python benchmarks/bench_ntu_shapes.py [--cores-per-gpu 8] [--gpu A100|H200|RTX3090]
[--utilisation U] [--storage-gb-per-s 2] [--usd-per-gpu-hour PRICE] [--reproject]`` (meant to take a few
minutes on 2 idle cores, under 10: few repeats of each stage; nothing else running, or the figures
mean little: it prints the load average it started under and warns when the machine is busy). It
writes ``metrics/bench_ntu_shapes.json`` (the machine, both tables, every measured figure and every
assumption) and prints both tables as Markdown. The GPU rate is measured where a GPU run of
``benchmarks/gpu_ntu_shapes.py`` is committed (``metrics/gpu_ntu_shapes.json``): that GPU at the
lowest share of its dense FP16 peak any training stage reached there (an H200: 3.3 %, where the
first projection assumed an A100 at 30 %); without that file, an A100 at 30 % (an assumption). 8 cores
per GPU and 2 GB/s of shared storage; the options change them. ``--reproject`` re-reads the committed
measurements and only recomputes the projection (new assumptions, no CPU measured again).

Shapes: ``presets/ntu60_xsub.yaml`` over ``params.yaml``: heatmaps 17 x 48 x 56 x 56 (joints only),
RGB 8 x 224 x 224, teacher ``posec3d_slowonly_r50``, student ``resnet18_temporal``, batch 32,
epochs 24 / 24 / 12 (teacher, student, joint). What it measures, per sample:
- keypoint extraction: MediaPipe as `extract_keypoints` runs it (`bench_extraction.run_workers`:
  one worker process, one pass over the NTU group of ``../shared/data``, two 1920 x 1080 clips,
  after a warm-up video, then two worker processes at once on the same clips, in alternating trials:
  the median); seconds per NTU video = 70 frames / that frames/s (NTU-120 averages about 70 frames a
  video: 8 M frames / 114,480 videos, as bench_extraction.py states). Half the median speed-up of
  two workers over one is `parallel_efficiency`, the share of a core each busy core keeps, which the
  projection applies to every further core of extraction and decoding (an assumption beyond the
  second core; measured here, not quoted). Without
  ``../shared/data`` (a user's clone) this row and the decoding row are skipped, saying so.
- heatmap rendering: `generate_pose_target` at 48 frames, 56 x 56, joints only, on
  `bench_heatmaps.realistic_keypoints` (one person), after an untimed call that loads the
  compiled loops; HDF5 writing is not included.
- RGB decoding: `decode_planned_clip` (stage `decode_rgb`'s function) of 8 frames cut at 224 x 224
  from the NTU clips, decoded at `rgb.decode_max_side`; the person box is a 640 px square at the
  frame's centre (an assumption: an NTU performer about 500 px tall, grown by the box padding).
- loading: samples/s of `PoseRgbDataset` (augmentation on) in the main process and with 2 workers,
  on `bench_loader.write_inputs`' 48 samples, heatmaps alone (the teacher stage) and heatmaps + RGB
  (the other stages); per core = the 2-worker rate / 2. Bytes per sample: the shards' file sizes.
- training step: forward and backward FLOPs per clip of each network, counted by torch's
  `FlopCounterMode` (2 FLOPs a multiply-add, matmuls and convolutions only, as
  `crychic.evaluation.efficiency.count_flops`, here with the backward too), teacher on a heatmap
  batch of 2, student on an RGB batch of 2; and the CPU seconds per clip of one SGD step at batch 2.

The projection (`project`, pure arithmetic: no torch, callable on made-up figures) charges each
stage of NTU-60 X-Sub end to end: extraction of all 56,880 videos, rendering and decoding of all
samples, the three training stages at the preset's epochs over the 40,320 X-Sub training clips
(Shahroudy et al., NTU RGB+D, CVPR 2016: 40,320 train / 16,560 test; the pipeline moves about 20 %
of them to val, scored forward only each epoch), and evaluate over the 16,560 test clips. A stage
takes as long as its slowest resource, which it names: CPU cores (extraction and decoding as Prefect
tasks of `pipeline.fan_out`'s sizes on one Dask worker thread per core, rendering in one process),
the GPUs' FLOPs at a stated share of their dense FP16 tensor peak, the loader (samples/s per core x
cores per GPU), the shared storage's bandwidth, and the scheduler's per-task overhead. It compares
the FLOPs-based GPU rate with PoseConv3D's reported training speed (0.212 s per iteration of 16
clips on one RTX 3090, MMAction2 issue #2758, about 75 clips/s) and states GPU-hours, and dollars
only when given a price. Every assumption is a named field with its source or the word
"assumption". Not modelled: DDP's gradient all-reduce and per-step overheads, ingest and
sample_clips, writing the shards, a page cache that would spare storage after the first epoch, and
evaluate's baselines (only CRYCHIC's two networks are charged there). With Kinect ``.skeleton``
files (``data.ntu.skeleton_root``) extraction is a parse, far cheaper than the MediaPipe charged here.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(PROJECT_ROOT))  # crychic, when run as a script
sys.path.insert(0, str(BENCHMARKS))  # bench_extraction, bench_heatmaps, bench_loader

PRESET = PROJECT_ROOT / "presets" / "ntu60_xsub.yaml"
OUTPUT = PROJECT_ROOT / "metrics" / "bench_ntu_shapes.json"
GPU_MEASURED = PROJECT_ROOT / "metrics" / "gpu_ntu_shapes.json"  # benchmarks/gpu_ntu_shapes.py on a real GPU
NUM_CLASSES = 60
STEP_BATCH = 2  # clips per measured training step and per FLOP count: small, so the run stays short
STEP_REPEATS = 2  # timed steps per network, after one untimed
RENDER_REPEATS = 200
DECODE_REPEATS = 4  # clips per NTU video
NTU_BOX_SIDE = 640  # px: the assumed person box (module docstring)
FRAMES_PER_VIDEO = 70  # NTU-120: about 8 M frames / 114,480 videos (bench_extraction.py)

NTU_PAPER = "Shahroudy et al., NTU RGB+D, CVPR 2016"
GPUS = {
    "A100": {"name": "NVIDIA A100", "peak_flops": 312e12,
             "source": "NVIDIA A100 datasheet: 312 TFLOPS dense FP16/BF16 tensor (624 with sparsity)"},
    "H200": {"name": "NVIDIA H200", "peak_flops": 989e12,
             "source": "NVIDIA H200 datasheet: 989 TFLOPS dense FP16 tensor, SXM (1,979 with sparsity)"},
    "RTX3090": {"name": "NVIDIA GeForce RTX 3090", "peak_flops": 71e12,
                "source": "NVIDIA Ampere GA102 whitepaper: about 71 TFLOPS FP16 tensor with FP32 accumulate, dense"},
}
# Per training clip: networks trained (forward + backward), networks run forward only (the frozen
# teacher guiding stage 2), networks a val clip runs, and what the stage's loader reads
# (crychic.training.loop SPECS, model.freeze_teacher in stage 2).
STAGE_WORK = {
    "train_teacher": {"trained": ("teacher",), "frozen": (), "val": ("teacher",), "reads": ("heatmap",)},
    "train_student": {"trained": ("student",), "frozen": ("teacher",), "val": ("student",),
                      "reads": ("heatmap", "rgb")},
    "train_joint": {"trained": ("teacher", "student"), "frozen": (), "val": ("teacher", "student"),
                    "reads": ("heatmap", "rgb")},
}
CPU_STAGES = ("extract_keypoints", "render_heatmaps", "decode_rgb")


# ---------------------------------------------------------------- the projection (no torch)

def _named(value, source: str) -> dict:
    return {"value": value, "source": source}


def measured_gpu(path: Path | None = None) -> tuple[str, float, str] | None:
    """(GPUS key, share of its peak, source) from a committed GPU run of gpu_ntu_shapes.py (its `--out`, or
    several runs gathered with the one for the projection marked): at its lowest stage, since the
    projection charges one share to every stage. None without such a file, or for a GPU of unknown peak."""
    path = path or GPU_MEASURED
    if not path.is_file():
        return None
    import json

    record = json.loads(path.read_text())
    run = record.get("runs", [record])[record.get("projection_run", 0)]
    key = next((k for k, gpu in GPUS.items() if gpu["name"] == run.get("device")), None)
    if key is None or not all(s.get("implied_utilisation") for s in run.get("stages", {}).values()):
        return None
    stage, figures = min(run["stages"].items(), key=lambda item: item[1]["implied_utilisation"])
    return key, figures["implied_utilisation"], (
        f"measured: benchmarks/gpu_ntu_shapes.py on an {run['device']} (metrics/gpu_ntu_shapes.json, batch "
        f"{run['batch']}, cuDNN benchmark {'on' if run['cudnn_benchmark'] else 'off'}), the lowest stage's "
        f"share ({stage}); small 3D networks leave most of the tensor peak unused")


PARALLEL_SOURCE = ("measured: this benchmark's extraction row, 1 and then 2 MediaPipe worker processes on the NTU "
                   "1080p clips, the median of alternating trials (measurements.extraction.speedup_2_workers / 2); "
                   "assumption: every further core, and RGB decoding, scale so")


def default_assumptions(epochs: dict, *, cores_per_gpu: int = 8, gpu: str = "A100", utilisation: float = 0.30,
                        storage_gb_per_s: float = 2.0, usd_per_gpu_hour: float | None = None,
                        gpu_counts=(1, 8, 64), utilisation_source: str | None = None,
                        parallel_efficiency: float | None = None) -> dict:
    """Every figure the projection takes that this benchmark does not measure, each with where it
    comes from, so that a reader can see which numbers are facts and which are guesses."""
    return {
        "gpu_counts": _named(list(gpu_counts), "issue 26: the sizes projected"),
        "cores_per_gpu": _named(cores_per_gpu, "assumption (--cores-per-gpu): in training they all feed that GPU's "
                                               "loader; in preprocessing each is one Dask worker thread"),
        "ntu60_videos": _named(56_880, NTU_PAPER),
        "xsub_train_clips": _named(40_320, f"{NTU_PAPER}: X-Sub training part"),
        "xsub_test_clips": _named(16_560, f"{NTU_PAPER}: X-Sub test part"),
        "val_fraction_of_train": _named(0.2, "params.yaml data.ntu.val_subjects: 4 of X-Sub's 20 training subjects "
                                             "go to val; assumption: their share of the clips is theirs of the "
                                             "subjects"),
        "frames_per_video": _named(FRAMES_PER_VIDEO, "benchmarks/bench_extraction.py: NTU-120, about 8 M frames / "
                                                     "114,480 videos"),
        "epochs": _named(dict(epochs), "presets/ntu60_xsub.yaml train.{teacher,student,joint}.epochs"),
        "gpu": _named({"name": GPUS[gpu]["name"], "peak_flops": GPUS[gpu]["peak_flops"]}, GPUS[gpu]["source"]),
        "gpu_utilisation": _named(utilisation, utilisation_source or "assumption: the share of the dense FP16 tensor "
                                                                     "peak a training step sustains under AMP (train.amp)"),
        "reference_gpu": _named({"name": GPUS["RTX3090"]["name"], "peak_flops": GPUS["RTX3090"]["peak_flops"]},
                                GPUS["RTX3090"]["source"]),
        "poseconv3d_seconds_per_iteration": _named(0.212, "MMAction2 issue #2758: PoseC3D SlowOnly-R50 training on "
                                                          "one RTX 3090"),
        "poseconv3d_clips_per_iteration": _named(16, "MMAction2 issue #2758: 16 clips per GPU per iteration"),
        "poseconv3d_teacher_gmacs": _named(20.6, "PoseConv3D paper and MMAction2 model zoo: SlowOnly-R50, 48 x 56 x "
                                                 "56 keypoint heatmaps, '20.6 GFLOPs' as mmcv counts them, one per "
                                                 "multiply-add"),
        "storage_gb_per_s": _named(storage_gb_per_s, "assumption (--storage-gb-per-s): aggregate read bandwidth of "
                                                     "the shared storage every node reads, no page cache"),
        "parallel_efficiency": _named(parallel_efficiency, PARALLEL_SOURCE if parallel_efficiency is not None else
                                      "not measured (no ../shared/data): extraction and decoding are not projected"),
        "render_processes": _named(1, "stages/render_heatmaps.py renders in one process"),
        "rgb_chunk_samples": _named(256, "presets/ntu60_xsub.yaml rgb.shard_size: stages/decode_rgb.py runs one "
                                         "Prefect flow per shard, one after another"),
        "rgb_task_samples": _named(4, "execution.example.yaml rgb_batch_size: samples per Prefect task in decode_rgb"),
        "dask_s_per_task": _named(0.001, "Dask best practices (docs.dask.org): a task's overhead is between 200 us "
                                         "and 1 ms; the upper end"),
        "prefect_s_per_task": _named(0.05, "assumption: Prefect's bookkeeping of one task run (submitting it, its "
                                           "state changes through the API server), taken as serial"),
        "prefect_flow_start_s": _named(2.0, "assumption: starting one Prefect flow run"),
        "evaluate_gpus": _named(1, "stages/evaluate.py runs in one process (not under torchrun)"),
        "usd_per_gpu_hour": _named(usd_per_gpu_hour, "assumption (--usd-per-gpu-hour); none given: no dollar figure"),
    }


def _value(assumptions: dict, name: str):
    return assumptions[name]["value"]


def _bounded(bounds: dict[str, float], serial: dict[str, float] | None = None) -> dict:
    """A stage's resources work at once (workers compute while storage streams and the scheduler
    hands out tasks), so it lasts as long as the slowest of them, plus what runs one after another
    (flow starts); the largest term is its bottleneck."""
    serial = serial or {}
    terms = {**bounds, **serial}
    return {"seconds": max(bounds.values()) + sum(serial.values()), "bottleneck": max(terms, key=terms.get),
            "bounds": terms}


def _task_overhead(assumptions: dict) -> float:
    return _value(assumptions, "dask_s_per_task") + _value(assumptions, "prefect_s_per_task")


def _core_seconds(seconds_per_sample: float, workers: int, assumptions: dict) -> float:
    """Seconds per sample on one of `workers` busy cores: they share memory bandwidth, as the second
    MediaPipe worker showed."""
    return seconds_per_sample / (1.0 if workers == 1 else _value(assumptions, "parallel_efficiency"))


def _video_read_seconds(measured: dict, assumptions: dict) -> float:
    per_frame = measured.get("video_bytes_per_frame") or 0.0
    videos_bytes = _value(assumptions, "ntu60_videos") * _value(assumptions, "frames_per_video") * per_frame
    return videos_bytes / (_value(assumptions, "storage_gb_per_s") * 1e9)


def extraction_time(measured: dict, assumptions: dict, cores: int, shard_size) -> dict | None:
    """One Prefect flow of `shard_size` tasks over one worker thread per core: whole waves of
    tasks, so a shard count that does not divide the workers costs a partial wave."""
    per_video = measured.get("extraction_s_per_video")
    if per_video is None:
        return None
    videos = _value(assumptions, "ntu60_videos")
    size = shard_size(videos, cores)
    tasks = math.ceil(videos / size)
    bounds = {"cpu": math.ceil(tasks / cores) * size * _core_seconds(per_video, cores, assumptions),
              "storage": _video_read_seconds(measured, assumptions),
              "scheduler": tasks * _task_overhead(assumptions)}
    return {**_bounded(bounds, {"flow start": _value(assumptions, "prefect_flow_start_s")}),
            "tasks": tasks, "samples_per_task": size, "workers": cores}


def rendering_time(measured: dict, assumptions: dict) -> dict:
    """render_heatmaps renders in its own process, however many cores the cluster has."""
    samples, processes = _value(assumptions, "ntu60_videos"), _value(assumptions, "render_processes")
    cpu = samples * measured["render_s_per_sample"] / processes
    return {**_bounded({"one core": cpu}), "workers": processes}


def decoding_time(measured: dict, assumptions: dict, cores: int) -> dict | None:
    """decode_rgb runs one flow per shard of `rgb_chunk_samples`, in tasks of `rgb_task_samples`:
    at most chunk / task workers are busy at once, and each flow starts after the last one ends."""
    per_clip = measured.get("decode_s_per_sample")
    if per_clip is None:
        return None
    samples = _value(assumptions, "ntu60_videos")
    chunk, task = _value(assumptions, "rgb_chunk_samples"), _value(assumptions, "rgb_task_samples")
    chunks, tasks_per_chunk = math.ceil(samples / chunk), math.ceil(chunk / task)
    busy = min(cores, tasks_per_chunk)
    bounds = {"cpu": chunks * math.ceil(tasks_per_chunk / cores) * task * _core_seconds(per_clip, busy, assumptions),
              "storage": _video_read_seconds(measured, assumptions),
              "scheduler": chunks * tasks_per_chunk * _task_overhead(assumptions)}
    serial = {"flow starts": chunks * _value(assumptions, "prefect_flow_start_s")}
    return {**_bounded(bounds, serial), "tasks": chunks * tasks_per_chunk, "samples_per_task": task, "workers": busy}


def _gpu_flops_per_s(assumptions: dict) -> float:
    return _value(assumptions, "gpu")["peak_flops"] * _value(assumptions, "gpu_utilisation")


def _loader_per_gpu(measured: dict, assumptions: dict, reads: tuple[str, ...]) -> float:
    return measured["loader_samples_per_s_per_core"]["+".join(reads)] * _value(assumptions, "cores_per_gpu")


def stage_flops_per_clip(flops: dict, stage: str) -> tuple[float, float]:
    """(FLOPs of a training clip, of a val clip): what the GPU must do for one clip of the stage."""
    work = STAGE_WORK[stage]
    train = sum(flops[n]["forward"] + flops[n]["backward"] for n in work["trained"])
    train += sum(flops[n]["forward"] for n in work["frozen"])
    return train, sum(flops[n]["forward"] for n in work["val"])


def training_time(measured: dict, assumptions: dict, stage: str, gpus: int) -> dict:
    """Each GPU gets 1/gpus of the clips and its own loader; the storage is shared by all of them."""
    val = round(_value(assumptions, "xsub_train_clips") * _value(assumptions, "val_fraction_of_train"))
    train = _value(assumptions, "xsub_train_clips") - val
    train_flops, val_flops = stage_flops_per_clip(measured["flops_per_clip"], stage)
    reads = STAGE_WORK[stage]["reads"]
    loader = _loader_per_gpu(measured, assumptions, reads)
    sample_bytes = sum(measured["bytes_per_sample"][m] for m in reads)
    epoch = _bounded({"gpu": (train * train_flops + val * val_flops) / (gpus * _gpu_flops_per_s(assumptions)),
                      "loader": (train + val) / (gpus * loader),
                      "storage": (train + val) * sample_bytes / (_value(assumptions, "storage_gb_per_s") * 1e9)})
    epochs = _value(assumptions, "epochs")[stage.removeprefix("train_")]
    return {"seconds": epochs * epoch["seconds"], "bottleneck": epoch["bottleneck"],
            "bounds_per_epoch": epoch["bounds"], "epochs": epochs, "train_clips": train, "val_clips": val,
            "gpu_clips_per_s": _gpu_flops_per_s(assumptions) / train_flops, "loader_clips_per_s": loader}


def evaluation_time(measured: dict, assumptions: dict) -> dict:
    """evaluate scores the test clips in one process, so more GPUs do not shorten it."""
    gpus, test = _value(assumptions, "evaluate_gpus"), _value(assumptions, "xsub_test_clips")
    flops = measured["flops_per_clip"]["teacher"]["forward"] + measured["flops_per_clip"]["student"]["forward"]
    sample_bytes = measured["bytes_per_sample"]["heatmap"] + measured["bytes_per_sample"]["rgb"]
    result = _bounded({"gpu": test * flops / (gpus * _gpu_flops_per_s(assumptions)),
                       "loader": test / (gpus * _loader_per_gpu(measured, assumptions, ("heatmap", "rgb"))),
                       "storage": test * sample_bytes / (_value(assumptions, "storage_gb_per_s") * 1e9)})
    return {**result, "test_clips": test, "gpus": gpus}


def project_size(measured: dict, assumptions: dict, gpus: int, shard_size) -> dict:
    """NTU-60 X-Sub end to end on `gpus` GPUs: the stages run one after another (DVC), the GPUs
    are held throughout (they idle during preprocessing), and the slowest stage names the bottleneck."""
    cores = gpus * _value(assumptions, "cores_per_gpu")
    stages = {"extract_keypoints": extraction_time(measured, assumptions, cores, shard_size),
              "render_heatmaps": rendering_time(measured, assumptions),
              "decode_rgb": decoding_time(measured, assumptions, cores)}
    stages.update({stage: training_time(measured, assumptions, stage, gpus) for stage in STAGE_WORK})
    stages["evaluate"] = evaluation_time(measured, assumptions)
    done = {name: stage for name, stage in stages.items() if stage is not None}
    wall = sum(stage["seconds"] for stage in done.values())
    slowest = max(done, key=lambda name: done[name]["seconds"])
    busy = sum(done[s]["seconds"] for s in STAGE_WORK) * gpus + done["evaluate"]["seconds"] * done["evaluate"]["gpus"]
    price = _value(assumptions, "usd_per_gpu_hour")
    held_hours = wall * gpus / 3600
    return {"gpus": gpus, "cores": cores, "stages": stages, "not_measured": [n for n, s in stages.items() if s is None],
            "wall_seconds": wall, "bottleneck": f"{slowest}: {done[slowest]['bottleneck']}",
            "gpu_hours_held": held_hours, "gpu_hours_busy": busy / 3600,
            "usd_assumed_price": None if price is None else held_hours * price}


def poseconv3d_check(measured: dict, assumptions: dict) -> dict:
    """The FLOPs-based rate against one published: if the implied utilisation is far from the
    assumed one, the GPU rows of the projection are off by the same factor."""
    reference = _value(assumptions, "reference_gpu")
    reported = (_value(assumptions, "poseconv3d_clips_per_iteration")
                / _value(assumptions, "poseconv3d_seconds_per_iteration"))
    teacher = measured["flops_per_clip"]["teacher"]
    per_clip = teacher["forward"] + teacher["backward"]
    predicted = reference["peak_flops"] * _value(assumptions, "gpu_utilisation") / per_clip
    published = 2e9 * _value(assumptions, "poseconv3d_teacher_gmacs")  # FLOPs, 2 a multiply-add as counted here
    return {"gpu": reference["name"], "reported_clips_per_s": reported, "predicted_clips_per_s": predicted,
            "teacher_forward_over_published": teacher["forward"] / published,
            "predicted_over_reported": predicted / reported,
            "implied_utilisation": reported * per_clip / reference["peak_flops"],
            "note": "an iteration's time in MMAction2's log includes waiting for data, so where the loader held it "
                    "back the GPU's own rate is higher and the implied utilisation a lower bound"}


def project(measured: dict, assumptions: dict, shard_size=None) -> dict:
    """Wall time, bottleneck and GPU-hours of NTU-60 X-Sub end to end at each GPU count (module
    docstring). `measured`: what main() measures, or made-up figures of the same keys;
    `shard_size(samples, workers)`: the Prefect task size, by default `pipeline.fan_out`'s own."""
    if shard_size is None:
        from pipeline.fan_out import shard_size
    return {"sizes": [project_size(measured, assumptions, gpus, shard_size)
                      for gpus in _value(assumptions, "gpu_counts")],
            "poseconv3d_check": poseconv3d_check(measured, assumptions), "assumptions": assumptions}


# ---------------------------------------------------------------- the measurements

def _merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def preset_params() -> dict:
    """params.yaml with the NTU preset over it: the values `make ntu60` runs with."""
    import yaml

    base = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    return _merged(base, yaml.safe_load(PRESET.read_text()))


# The 1 -> 2 worker speed-up of a few seconds' run moved from 1.38x to 1.82x between back-to-back runs on one idle
# 2-core VM, so it is measured in alternating trials (1 worker, then 2, each one pass over the NTU clips): the
# medians of the trials' rates and speed-ups are taken, every trial kept in the record.
EXTRACTION_TRIALS = 5


def measure_extraction(params: dict) -> dict | None:
    """MediaPipe frames/s of one worker process on the NTU 1080p clips, as the stage runs it, and the
    speed-up of two at once (both on the same clips: `bench_extraction.run_workers`), over alternating trials."""
    import statistics

    import bench_extraction as extraction

    videos = extraction.GROUPS[extraction.NTU_GROUP]
    needed = [extraction.SHARED / v for v in [*videos, extraction.WARM_UP]]
    if not all(path.is_file() for path in needed):
        print(f"extraction: skipped: the real clips are not at {extraction.SHARED} (only developers' checkouts "
              "have ../shared/data); decoding is skipped too")
        return None
    frame_size = params["keypoints"]["mediapipe_frame_size"]
    rates, speedups = [], []
    for _ in range(EXTRACTION_TRIALS):
        frames, wall, _ = extraction.run_workers(1, videos, 1, frame_size)
        frames2, wall2, _ = extraction.run_workers(2, videos, 1, frame_size)
        rates.append(frames / wall)
        speedups.append((frames2 / wall2) / (frames / wall))
    video_bytes = sum((extraction.SHARED / v).stat().st_size for v in videos)
    rate, speedup = statistics.median(rates), statistics.median(speedups)
    return {"videos": [str(extraction.SHARED / v) for v in videos], "frames": frames, "trials": EXTRACTION_TRIALS,
            "frames_per_s": rate, "s_per_video": FRAMES_PER_VIDEO / rate, "video_bytes_per_frame": video_bytes / frames,
            "frames_per_s_trials": [round(r, 2) for r in rates],
            "speedup_2_workers_trials": [round(x, 4) for x in speedups],
            "speedup_2_workers": round(speedup, 4), "parallel_efficiency": round(speedup / 2, 4)}


def measure_rendering(params: dict, rng) -> dict:
    """Seconds per heatmap volume, the loops compiled (or loaded from numba's cache) beforehand."""
    from bench_heatmaps import MAP_SIZE, NUM_FRAMES, realistic_keypoints
    from crychic.heatmaps.render import generate_pose_target

    heatmap = params["heatmap"]
    if (NUM_FRAMES, MAP_SIZE) != (heatmap["clip_len"], heatmap["size"]) or heatmap["with_limb"]:
        raise SystemExit(f"bench_heatmaps' keypoints are {NUM_FRAMES} frames on {MAP_SIZE} px; the preset renders "
                         f"{heatmap['clip_len']} on {heatmap['size']} px (with_limb {heatmap['with_limb']})")
    inputs = [realistic_keypoints(rng) for _ in range(RENDER_REPEATS)]
    shape = (MAP_SIZE, MAP_SIZE)
    generate_pose_target(*inputs[0], shape, sigma=heatmap["sigma"], with_limb=False)
    started = time.perf_counter()
    for keypoint, score in inputs:
        generate_pose_target(keypoint, score, shape, sigma=heatmap["sigma"], with_limb=False)
    seconds = (time.perf_counter() - started) / RENDER_REPEATS
    return {"samples": RENDER_REPEATS, "s_per_sample": seconds}


def ntu_clip_plans(paths: list[Path]) -> list[dict]:
    """Clip-plan rows for the NTU clips, as sample_clips writes them, each clip with its own frames."""
    from crychic.core.video import probe_video

    plans = []
    for path in paths:
        info = probe_video(path)
        x0, y0 = (info.width - NTU_BOX_SIDE) / 2, (info.height - NTU_BOX_SIDE) / 2
        for k in range(DECODE_REPEATS):
            plans.append({"sample_id": f"{path.stem}-{k}", "label": 0, "split": "train", "path": str(path),
                          "num_frames": info.num_frames, "img_shape": (info.height, info.width),
                          "box": [x0, y0, x0 + NTU_BOX_SIDE, y0 + NTU_BOX_SIDE]})
    return plans


def measure_decoding(params: dict, videos: list[str]) -> dict:
    """Seconds per clip of decode_rgb's own function, after one untimed clip (decord's start)."""
    from crychic.rgb.decode import decode_planned_clip

    rgb = params["rgb"]
    plans = ntu_clip_plans([Path(v) for v in videos])

    def decode(plan):
        return decode_planned_clip(plan, clip_len=rgb["clip_len"], size=rgb["size"], seed=int(params["seed"]),
                                   decode_max_side=rgb["decode_max_side"])

    decode(plans[0])
    started = time.perf_counter()
    shapes = {decode(plan)["frames"].shape for plan in plans}
    seconds = (time.perf_counter() - started) / len(plans)
    return {"samples": len(plans), "s_per_sample": seconds, "clip_shape": [list(s) for s in shapes],
            "box_side_px": _named(NTU_BOX_SIDE, "assumption: an NTU performer about 500 px tall in 1080p, grown by "
                                                "heatmap.box_padding, at the frame's centre"),
            "decode_max_side": rgb["decode_max_side"]}


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def measure_loading(rng) -> dict:
    """Samples/s of the training loader on one thread per process, heatmaps alone and with RGB, as it
    feeds a GPU (uint8 transport: the batch turned to float on the device)."""
    import torch
    from bench_loader import SAMPLES, samples_per_second, write_inputs
    from crychic.training.data import PoseRgbDataset

    torch.set_num_threads(1)
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        heatmap_dir, rgb_dir = write_inputs(Path(folder), rng)
        sample_bytes = {"heatmap": _folder_bytes(heatmap_dir) / SAMPLES, "rgb": _folder_bytes(rgb_dir) / SAMPLES}
        for reads in (("heatmap",), ("heatmap", "rgb")):
            dataset = PoseRgbDataset(heatmap_dir, rgb_dir if "rgb" in reads else None, split="train", augment=True,
                                     modalities=reads, transport="uint8")
            rates["+".join(reads)] = {"main_process": samples_per_second(dataset, 0),
                                      "2_workers": samples_per_second(dataset, 2)}
    per_core = {reads: rate["2_workers"] / 2 for reads, rate in rates.items()}
    return {"samples": SAMPLES, "samples_per_s": rates, "samples_per_s_per_core": per_core,
            "bytes_per_sample": sample_bytes}


def build_networks(params: dict) -> dict:
    """Teacher and student as `build_model` configures them from the preset's `model` params."""
    import crychic.models  # noqa: F401  (registers every builder)
    from crychic.models.registry import create_model

    multiscale = bool(params["model"]["multiscale"])
    channels = 17 * (int(params["heatmap"]["with_joint"]) + int(params["heatmap"]["with_limb"]))
    teacher = create_model(params["model"]["teacher"], num_classes=NUM_CLASSES, multiscale_blocks=multiscale,
                           in_channels=channels)
    student = create_model(params["model"]["student"], num_classes=NUM_CLASSES,
                           temporal="multiscale" if multiscale else "plain")
    return {"teacher": (teacher, channels), "student": (student, 3)}


def train_step_flops(network, clips, labels) -> dict:
    """Forward and backward FLOPs per clip: a training step costs the backward too, about twice the
    forward, which an inference count (`count_flops`) leaves out."""
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    network.train()
    forward = FlopCounterMode(display=False)
    with forward:
        network(clips)
    both = FlopCounterMode(display=False)
    with both:
        F.cross_entropy(network(clips)["logits"], labels).backward()
    network.zero_grad(set_to_none=True)
    n = len(labels)
    return {"forward": forward.get_total_flops() / n,
            "backward": (both.get_total_flops() - forward.get_total_flops()) / n}


def step_seconds_per_clip(network, clips, labels) -> float:
    """CPU seconds per clip of one SGD step (forward, loss, backward, update), after one untimed step
    (oneDNN builds its kernels on the first)."""
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(network(clips)["logits"], labels).backward()
        optimizer.step()

    step()
    started = time.perf_counter()
    for _ in range(STEP_REPEATS):
        step()
    return (time.perf_counter() - started) / (STEP_REPEATS * len(labels))


def measure_training(params: dict) -> dict:
    """FLOPs and CPU time of a training step of each network at the preset's shapes."""
    import torch
    from crychic.core.machine import usable_cores

    torch.set_num_threads(usable_cores())
    torch.manual_seed(0)
    h, r = params["heatmap"], params["rgb"]
    results = {}
    for name, (network, channels) in build_networks(params).items():
        if name == "teacher":
            clips = torch.rand(STEP_BATCH, channels, h["clip_len"], h["size"], h["size"])
        else:
            clips = torch.randn(STEP_BATCH, channels, r["clip_len"], r["size"], r["size"])
        labels = torch.arange(STEP_BATCH) % NUM_CLASSES
        results[name] = {"model": params["model"][name], "input": list(clips.shape),
                         "parameters": sum(p.numel() for p in network.parameters()),
                         **train_step_flops(network, clips, labels),
                         "cpu_step_s_per_clip": step_seconds_per_clip(network, clips, labels)}
    return {"batch": STEP_BATCH, "torch_threads": torch.get_num_threads(), "networks": results}


def measured_inputs(extraction, rendering, decoding, loading, training) -> dict:
    """The projection's inputs, from the measurements (None where a stage could not be measured)."""
    networks = training["networks"]
    return {
        "extraction_s_per_video": None if extraction is None else extraction["s_per_video"],
        "video_bytes_per_frame": None if extraction is None else extraction["video_bytes_per_frame"],
        "parallel_efficiency": None if extraction is None else extraction["parallel_efficiency"],
        "render_s_per_sample": rendering["s_per_sample"],
        "decode_s_per_sample": None if decoding is None else decoding["s_per_sample"],
        "loader_samples_per_s_per_core": loading["samples_per_s_per_core"],
        "bytes_per_sample": loading["bytes_per_sample"],
        "flops_per_clip": {name: {"forward": net["forward"], "backward": net["backward"]}
                           for name, net in networks.items()},
    }


# ---------------------------------------------------------------- tables

def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} d"


def stage_table(extraction, rendering, decoding, loading, training) -> list[dict]:
    """One row per measured stage: what was timed, seconds per sample, and its rate."""
    rows = [{"stage": "extract_keypoints", "timed": "MediaPipe, 1 worker process, NTU 1920x1080",
             "s_per_sample": None if extraction is None else extraction["s_per_video"],
             "rate": "skipped: no ../shared/data" if extraction is None else
             f"{extraction['frames_per_s']:.1f} frames/s, {FRAMES_PER_VIDEO} frames a video"},
            {"stage": "render_heatmaps", "timed": "generate_pose_target, 17 x 48 x 56 x 56 joints",
             "s_per_sample": rendering["s_per_sample"], "rate": f"{1 / rendering['s_per_sample']:.0f} volumes/s"},
            {"stage": "decode_rgb", "timed": "decode_planned_clip, 8 x 224 x 224 from 1080p",
             "s_per_sample": None if decoding is None else decoding["s_per_sample"],
             "rate": "skipped: no ../shared/data" if decoding is None else
             f"{1 / decoding['s_per_sample']:.1f} clips/s"}]
    for reads, rate in loading["samples_per_s"].items():
        rows.append({"stage": f"loader ({reads})", "timed": "PoseRgbDataset, augmentation on, batch 8, uint8 transport",
                     "s_per_sample": 1 / rate["2_workers"],
                     "rate": f"{rate['main_process']:.1f} samples/s main process, "
                             f"{rate['2_workers']:.1f} with 2 workers"})
    for name, net in training["networks"].items():
        rows.append({"stage": f"train step ({name})",
                     "timed": f"{net['model']}, batch {training['batch']}, {training['torch_threads']} CPU threads",
                     "s_per_sample": net["cpu_step_s_per_clip"],
                     "rate": f"{net['forward'] / 1e9:.1f} GFLOPs forward + "
                             f"{net['backward'] / 1e9:.1f} backward a clip"})
    return rows


def markdown_stages(rows: list[dict]) -> str:
    lines = ["| stage | timed | s per sample | rate |", "|---|---|---|---|"]
    for row in rows:
        seconds = "-" if row["s_per_sample"] is None else f"{row['s_per_sample']:.4g}"
        lines.append(f"| {row['stage']} | {row['timed']} | {seconds} | {row['rate']} |")
    return "\n".join(lines)


def markdown_projection(projection: dict) -> str:
    sizes = projection["sizes"]
    header = " | ".join(f"{s['gpus']} GPU{'s' if s['gpus'] > 1 else ''} ({s['cores']} cores)" for s in sizes)
    lines = [f"| stage | {header} |", "|---" * (len(sizes) + 1) + "|"]
    for name in sizes[0]["stages"]:
        cells = [("not measured" if s["stages"][name] is None else
                  f"{_duration(s['stages'][name]['seconds'])} ({s['stages'][name]['bottleneck']})") for s in sizes]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines.append(f"| **total wall** | {' | '.join(_duration(s['wall_seconds']) for s in sizes)} |")
    lines.append(f"| bottleneck | {' | '.join(s['bottleneck'] for s in sizes)} |")
    if sizes[0]["not_measured"]:
        lines.append(f"| (totals leave out) | {' | '.join(', '.join(s['not_measured']) for s in sizes)} |")
    hours = [f"{s['gpu_hours_held']:.0f} ({s['gpu_hours_busy']:.0f})" for s in sizes]
    lines.append(f"| GPU-hours held (busy) | {' | '.join(hours)} |")
    if sizes[0]["usd_assumed_price"] is not None:
        dollars = [f"{s['usd_assumed_price']:.0f}" for s in sizes]
        lines.append(f"| USD at the assumed price | {' | '.join(dollars)} |")
    check = projection["poseconv3d_check"]
    lines.append(f"\nPoseConv3D check ({check['gpu']}): reported {check['reported_clips_per_s']:.1f} clips/s, "
                 f"FLOPs-based {check['predicted_clips_per_s']:.1f} at the assumed utilisation; the reported rate "
                 f"implies {100 * check['implied_utilisation']:.0f} % of the tensor peak ({check['note']}). "
                 f"The teacher's forward FLOPs counted here are {check['teacher_forward_over_published']:.2f}x "
                 "PoseConv3D's published count.")
    for stage in STAGE_WORK:
        s = sizes[0]["stages"][stage]
        lines.append(f"- {stage}, per GPU: the GPU consumes {s['gpu_clips_per_s']:.0f} clips/s, its loader "
                     f"({sizes[0]['cores'] // sizes[0]['gpus']} cores) supplies {s['loader_clips_per_s']:.0f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores-per-gpu", type=int, default=8)
    parser.add_argument("--gpu", choices=sorted(GPUS), default=None,
                        help="the GPU whose peak the projection uses (default: the measured one, else A100)")
    parser.add_argument("--utilisation", type=float, default=None,
                        help="share of the dense FP16 tensor peak (default: measured, else 0.30)")
    parser.add_argument("--storage-gb-per-s", type=float, default=2.0)
    parser.add_argument("--usd-per-gpu-hour", type=float, default=None, help="an assumed price; none: no dollars")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    parser.add_argument("--reproject", action="store_true",
                        help="recompute only the projection from the measurements already in --out")
    return parser.parse_args(argv)


def gpu_assumption(args: argparse.Namespace) -> dict:
    """--gpu / --utilisation as given; otherwise the measured GPU run's (also for --gpu naming that GPU),
    else an A100 at 30 % (assumed)."""
    measured = measured_gpu() if args.utilisation is None else None
    if measured and args.gpu in (None, measured[0]):
        return {"gpu": measured[0], "utilisation": measured[1], "utilisation_source": measured[2]}
    return {"gpu": args.gpu or "A100", "utilisation": 0.30 if args.utilisation is None else args.utilisation}


def measure_all(params: dict) -> dict:
    """Every stage; extraction first, so that its worker process starts before this one loads torch."""
    import numpy as np

    rng = np.random.default_rng(0)
    extraction = measure_extraction(params)
    rendering = measure_rendering(params, rng)
    decoding = None if extraction is None else measure_decoding(params, extraction["videos"])
    loading = measure_loading(rng)
    training = measure_training(params)
    return {"extraction": extraction, "rendering": rendering, "decoding": decoding, "loading": loading,
            "training": training}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from crychic.core.reproducibility import pin_cpu_kernels

    pin_cpu_kernels()  # as every stage does, before torch loads
    from crychic.core.atomic_write import write_json
    from crychic.core.machine import describe_machine

    params = preset_params()
    if args.reproject:
        import json

        recorded = json.loads(args.out.read_text())
        if recorded["measured"].get("extraction_s_per_video") and recorded["measured"].get("parallel_efficiency") is None:
            sys.exit(f"bench_ntu_shapes: {args.out} measured extraction without the 2-worker speed-up (an older run): "
                     "--reproject cannot project it; run the benchmark again")
        assumptions = default_assumptions(recorded["shapes"]["epochs"], cores_per_gpu=args.cores_per_gpu,
                                          storage_gb_per_s=args.storage_gb_per_s,
                                          usd_per_gpu_hour=args.usd_per_gpu_hour, **gpu_assumption(args),
                                          parallel_efficiency=recorded["measured"].get("parallel_efficiency"))
        recorded["projection"] = project(recorded["measured"], assumptions)
        write_json(args.out, recorded)
        print("NTU-60 X-Sub end to end (projection; assumptions in the JSON):\n\n"
              + markdown_projection(recorded["projection"]) + f"\n\nwrote {args.out}")
        return 0
    load = os.getloadavg()
    print(f"bench_ntu_shapes: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if load[0] > 0.5:
        print("  WARNING: the machine is busy; every rate below understates what idle cores do")
    started = time.perf_counter()
    m = measure_all(params)
    measured = measured_inputs(m["extraction"], m["rendering"], m["decoding"], m["loading"], m["training"])
    epochs = {stage: params["train"][stage]["epochs"] for stage in ("teacher", "student", "joint")}
    assumptions = default_assumptions(epochs, cores_per_gpu=args.cores_per_gpu, storage_gb_per_s=args.storage_gb_per_s,
                                      usd_per_gpu_hour=args.usd_per_gpu_hour, **gpu_assumption(args),
                                      parallel_efficiency=measured["parallel_efficiency"])
    projection = project(measured, assumptions)
    stages = stage_table(m["extraction"], m["rendering"], m["decoding"], m["loading"], m["training"])
    write_json(args.out, {
        "machine": describe_machine(), "load_average_at_start": list(load),
        "benchmark_seconds": round(time.perf_counter() - started, 1),
        "shapes": {"heatmap": [17, params["heatmap"]["clip_len"], params["heatmap"]["size"], params["heatmap"]["size"]],
                   "rgb": [params["rgb"]["clip_len"], params["rgb"]["size"], params["rgb"]["size"]],
                   "teacher": params["model"]["teacher"], "student": params["model"]["student"],
                   "batch_size": params["train"]["batch_size"], "epochs": epochs},
        "stages": stages, "measurements": m, "measured": measured, "projection": projection})
    print("\nPer stage, at NTU shapes:\n\n" + markdown_stages(stages))
    print("\nNTU-60 X-Sub end to end (projection; assumptions in the JSON):\n\n" + markdown_projection(projection))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
