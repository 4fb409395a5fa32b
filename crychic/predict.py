"""`crychic predict`: video files in, the predicted actions out (and pictures of where the networks looked).

    crychic predict clip.mp4 videos/ 'more/*.avi' [--mode pose-free|full|both] [--model models]
                    [--top-k 5] [--json out.jsonl] [--overlay DIR]

Modes (the two deployments of `crychic.evaluation.end_to_end`, the code the evaluate stage measures):
`pose-free` runs the RGB student alone on the clip framed without keypoints; `full` runs MediaPipe
Pose on the sampled frames, renders the heatmaps, and fuses teacher and student; `both` runs each.
The choices evaluate made on val (framing, fusion rule, whose attention guides) are read from
`metrics/evaluate.json` when it is there, so a prediction here is the one evaluate scored.

`--model` is the pipeline's `models/` folder (default: `joint.pt`, its stage-3 student kept by its
own pose-free val score for the pose-free path) or an MLflow model URI (`runs:/<run_id>/<name>`,
`models:/<name>/<version>`) of a CRYCHIC stage. Tensors: ``rgb 1 x 3 x T x S x S``, ``heatmap 1 x K x
T_h x H x W``, logits ``C``.

A video that cannot be decoded, is truncated, or (full mode) shows no person is reported on its
own line with the reason and the run goes on (with `both`, the pose-free answer stays when only the
full path fails); the exit code is 1 only when no video was classified.
"""

from __future__ import annotations

import argparse
import glob
import itertools
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crychic.core.reproducibility import pin_cpu_kernels

pin_cpu_kernels()  # as the stages do, before torch runs a kernel: evaluate's kernels, evaluate's logits

import numpy as np  # noqa: E402
import torch  # noqa: E402

from crychic.core.video import VIDEO_EXTENSIONS, VideoError  # noqa: E402
from crychic.evaluation.end_to_end import NoPersonError  # noqa: E402
from crychic.keypoints import KeypointSourceError  # noqa: E402

# What is wrong with one video: its line says so and the run goes on; anything else stops the run.
VIDEO_ERRORS = (VideoError, KeypointSourceError, NoPersonError, OSError)

MODES = {"pose-free": ("pose_free",), "full": ("full",), "both": ("pose_free", "full")}


def find_videos(inputs: Iterable[str]) -> list[Path]:
    """Files as given (whatever their extension: a bad one is reported, not skipped), folders
    searched recursively for video files, and glob patterns; in the order given, without repeats."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        elif glob.has_magic(item):
            found += sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
        else:
            found.append(path)  # a missing file is reported on its own line
    return list(dict.fromkeys(found))


@dataclass
class VideoResult:
    path: str
    mode: str
    predictions: dict[str, list[dict]] = field(default_factory=dict)  # path name -> top-k [{label, probability}]
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # path name -> part -> seconds
    error: str | None = None

    def as_json(self) -> dict:
        return {"path": self.path, "mode": self.mode, "predictions": self.predictions, "seconds": self.seconds,
                "error": self.error}


def top_k(logits: torch.Tensor, label_names: list[str], k: int) -> list[dict]:
    probabilities = logits.float().softmax(0)
    values, indices = probabilities.topk(min(k, len(label_names)))
    return [{"label": label_names[int(i)], "probability": round(float(v), 4)} for v, i in zip(values, indices)]


def load_deployment(model: str, *, params_path: str = "params.yaml", choices_path: str = "metrics/evaluate.json"):
    """The `Deployment` of `--model`, with val's choices from evaluate's metrics where they exist."""
    from crychic.core.params import load_params
    from crychic.evaluation.end_to_end import Deployment

    choices = {}
    if not Path(choices_path).is_file():
        print(f"crychic predict: WARNING: {choices_path} not found: val's choices unknown, using framing 'centre' "
              "and fusion 'mean_all/student' (run from the project root after `dvc repro`, or pass --choices)",
              file=sys.stderr)
    else:
        protocol = json.loads(Path(choices_path).read_text()).get("protocol", {})
        if "crychic_fused" in protocol:
            rule, guidance = protocol["crychic_fused"]["chosen"].split("/")
            choices = {"fusion_rule": rule, "guidance": guidance,
                       "framing": protocol["crychic_posefree_nokp"]["chosen"]}
    if "://" in model or model.startswith(("runs:", "models:")):
        from crychic.models.logged import load_logged_model

        logged = load_logged_model(model)
        if logged.modality != "rgb":
            raise ValueError(f"{model}: a {logged.stage} model reads heatmaps only; predict needs a stage with the "
                             "RGB student (train_student, train_joint, train_text)")
        # Only stage 3 trains the fusion head: the full path of another stage's model would fuse untrained weights.
        return Deployment(joint=logged.module if logged.stage == "joint" else None, posefree=logged.module,
                          label_names=logged.label_names, **choices)
    from crychic.evaluation.evaluate import load_crychic

    folder = Path(model)
    checkpoint = folder / "joint.pt" if folder.is_dir() else folder
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: no trained model (run `make demo`, or pass --model)")
    model_params = load_params(params_path)["model"]
    joint, label_names = load_crychic(checkpoint, model_params)
    posefree, _ = load_crychic(checkpoint, model_params, head="student_posefree")
    return Deployment(joint=joint, posefree=posefree, label_names=label_names, **choices)


def predict_video(deployment, path: Path, modes: tuple[str, ...], settings, *, k: int, overlay_dir: Path | None,
                  pose_every_frame: bool = False, pose=None) -> VideoResult:
    """``pose``: this video's `estimate_poses` item when the caller estimated it ahead (None: here)."""
    from crychic.evaluation.end_to_end import PartTimes, full_forward, pose_free_forward

    result = VideoResult(path=str(path), mode="+".join(modes))
    outputs, errors = {}, {}
    for name in modes:  # one path failing (no person for the full path) leaves the other's answer
        times = PartTimes()
        started = time.perf_counter()
        try:
            if name == "pose_free":
                outputs[name] = pose_free_forward(deployment, path, settings, times)
            else:
                outputs[name] = full_forward(deployment, path, settings, times, pose_every_frame=pose_every_frame,
                                             pose=pose)
        except VIDEO_ERRORS as err:
            errors[name] = _reason(path, err)
            continue
        result.predictions[name] = top_k(outputs[name].logits, deployment.label_names, k)
        ahead = pose.seconds if name == "full" and pose is not None else 0.0  # estimated in a pose thread
        result.seconds[name] = {**{part: round(s, 4) for part, s in times.seconds.items()},
                                "total": round(time.perf_counter() - started + ahead, 4)}  # the video's own cost
    if errors:  # the same reason from every path (an unreadable file) is said once
        reasons = set(errors.values())
        result.error = reasons.pop() if len(reasons) == 1 and len(errors) == len(modes) else "; ".join(
            f"{name.replace('_', '-')}: {reason}" for name, reason in errors.items())
    if overlay_dir is not None and outputs:
        out = overlay_dir / f"{path.stem}.png"
        for n in range(1, 10_000):  # two clip.mp4 in different folders: clip.png, clip-2.png
            if not out.exists():
                break
            out = overlay_dir / f"{path.stem}-{n + 1}.png"
        write_overlay(outputs, result, out)
    return result


def _reason(path: Path, err: Exception) -> str:
    text = str(err)
    return text if str(path) in text or path.name in text else f"{path}: {text}"


def write_overlay(outputs: dict, result: VideoResult, out: Path) -> Path:
    """One PNG per video: per path, the frames the student saw with its attention (and in the full
    path the teacher's) over them, titled with the top class."""
    from crychic.reporting.figures import attention_overlay_figure, figure_pixels, save_png

    images = []
    for name, output in outputs.items():
        best = result.predictions[name][0]
        fig = attention_overlay_figure(output.frames, output.teacher_attention, output.student_attention,
                                       title=f"{Path(result.path).name} ({name.replace('_', '-')}): "
                                             f"{best['label']} {best['probability']:.0%}")
        images.append(figure_pixels(fig))
    width = max(image.shape[1] for image in images)
    padded = [np.pad(image, ((0, 0), (0, width - image.shape[1]), (0, 0)), constant_values=255) for image in images]
    return save_png(np.concatenate(padded, axis=0), out)


def format_row(result: VideoResult) -> str:
    if not result.predictions:  # nothing classified: one line, whose reason names the file
        return f"ERROR {result.error}"
    parts = []
    for name, ranked in result.predictions.items():
        cells = ", ".join(f"{p['label']} {p['probability']:.2f}" for p in ranked)
        parts.append(f"  {name.replace('_', '-'):9s} {cells}  ({result.seconds[name]['total']:.2f} s)")
    if result.error:
        parts.append(f"  ERROR {result.error}")
    return f"{result.path}\n" + "\n".join(parts)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crychic predict", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="video files, folders (searched recursively) or glob patterns")
    parser.add_argument("--mode", choices=list(MODES), default="both")
    parser.add_argument("--model", default="models",
                        help="the pipeline's models folder or joint.pt, or an MLflow model URI (runs:/..., models:/...)")
    parser.add_argument("--params", default="params.yaml", help="the clip settings the models were trained with")
    parser.add_argument("--choices", default="metrics/evaluate.json",
                        help="evaluate's metrics: the framing, fusion rule and guidance chosen on val")
    parser.add_argument("--top-k", type=_positive, default=5)
    parser.add_argument("--json", type=Path, help="write one JSON line per video here")
    parser.add_argument("--overlay", type=Path, help="write one PNG per classified video here")
    parser.add_argument("--pose-every-frame", action="store_true",
                        help="full mode: run pose estimation on every frame (as extraction does), not the sampled ones")
    parser.add_argument("--pose-threads", type=_positive, default=None,
                        help="full mode: videos whose poses are estimated at once, ahead of the networks "
                             "(default: one per core; the keypoints are the same for any number)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from crychic.core.atomic_write import atomic_path
    from crychic.core.params import load_params
    from crychic.evaluation.end_to_end import clip_settings, estimate_poses, networks_beside_pose_threads, pose_workers

    args = build_parser().parse_args(argv)
    videos = find_videos(args.inputs)
    if not videos:
        print("crychic predict: no video found in " + " ".join(args.inputs), file=sys.stderr)
        return 1
    deployment = load_deployment(args.model, params_path=args.params, choices_path=args.choices)
    if "full" in MODES[args.mode] and deployment.joint is None:
        print(f"crychic predict: {args.model} is not a stage-3 (train_joint) model: only --mode pose-free",
              file=sys.stderr)
        return 2
    settings = clip_settings(load_params(args.params))
    print(f"model {args.model}: {len(deployment.label_names)} classes ({', '.join(deployment.label_names)}); "
          f"pose-free framing {deployment.framing}, fusion {deployment.fusion_rule}/{deployment.guidance}")
    if args.overlay:
        args.overlay.mkdir(parents=True, exist_ok=True)
    results = []
    workers = (args.pose_threads or pose_workers()) if "full" in MODES[args.mode] else 1
    poses = (estimate_poses(videos, settings, every_frame=args.pose_every_frame, workers=workers)
             if "full" in MODES[args.mode] else itertools.repeat(None))
    progress = tqdm(videos, desc="crychic predict", unit="video", file=sys.stderr, disable=len(videos) < 2)
    with networks_beside_pose_threads(workers):
        for video, pose in zip(progress, poses):
            result = predict_video(deployment, video, MODES[args.mode], settings, k=args.top_k,
                                   overlay_dir=args.overlay, pose_every_frame=args.pose_every_frame, pose=pose)
            results.append(result)
            tqdm.write(format_row(result), file=sys.stdout)
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text("".join(json.dumps(r.as_json()) + "\n" for r in results))
    classified = sum(bool(r.predictions) for r in results)
    print(f"{classified} of {len(results)} videos classified" + (f", {len(results) - classified} failed" if
                                                                  classified < len(results) else ""))
    return 0 if classified else 1


if __name__ == "__main__":
    sys.exit(main())
