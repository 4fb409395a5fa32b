"""The one table of the pipeline's stages: what each reads, writes and is called, for every part that asks.

`STAGES` holds one `Stage` per DVC stage, in pipeline order. Everything else that used to keep its own
list is read from it: `dvc.yaml` is rendered from it (`python -m pipeline.dvc_yaml`; a test fails when the
committed file differs), each stage selects exactly `params` from params.yaml (so a key changes the
stages that read it and no other), the training stages take their settings section, the stage they
start from and the name of their logged model here, the README's stage table is generated from it,
and MLflow runs are named after `name`.

Code deps are the packages of crychic/ a stage imports (tests/test_dvc_deps.py follows each stage's
imports and fails on a module that no dep covers, so an edit can never leave a stale cached result).
How a stage runs (workers, a Dask cluster) is never a param: crychic/core/execution.py.

Pure data and standard library only: every stage imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

# The `model` params every stage that builds a CrychicModel reads.
MODEL_KEYS = ("model.teacher", "model.student", "model.embed_dim", "model.multiscale", "model.attention_p",
              "model.detach_guidance", "model.guidance_dropout", "model.fusion", "model.fusion_dropout")
_TRAINING_COMMON = ("seed", *MODEL_KEYS, "train.device", "train.amp", "train.batch_size")
# What the guided stages (student, joint, text) read beyond the common keys: the guidance, its losses and
# the designs of issue 23 (what guides the student, residual fusion, confidence gating, the framing).
_GUIDED = ("model.attention_guidance", "loss.attention_weight", "loss.contrastive_weight", "loss.temperature",
           "loss.fr_head_weight", "loss.fr_head_multilevel", "model.guidance_source", "model.residual_fusion",
           "loss.confidence_gating", "research.deployment_framing")
_RGB_DECODE = ("seed", "rgb.clip_len", "rgb.size", "rgb.decode_max_side", "rgb.shard_size", "rgb.max_reject_fraction")

# Code deps shared by several stages.
_KEYPOINT_STORE = ("crychic/core", "crychic/clips", "crychic/keypoints/__init__.py", "crychic/keypoints/store.py")
_TRAINING_CODE = (*_KEYPOINT_STORE, "crychic/keypoints/clips.py", "crychic/heatmaps/shards.py", "crychic/rgb/shards.py",
                  "crychic/models", "crychic/losses", "crychic/training/loop.py", "crychic/training/resume.py",
                  "crychic/training/data.py", "crychic/training/resample.py")
_TRAINING_TAIL = ("crychic/training/stage.py", "crychic/reporting")
_CRYCHIC_CODE = (*_TRAINING_CODE, *_TRAINING_TAIL)
_BASELINE_CODE = (*_TRAINING_CODE, "crychic/training/baselines.py", *_TRAINING_TAIL)
_MANIFEST = "data/ingest/manifest.parquet"


@dataclass(frozen=True)
class Stage:
    """One DVC stage. `training` is the short name the training code uses ("teacher", "gcn"), `settings`
    the `train.<settings>` section a CRYCHIC network trains by, `previous` the training stage whose
    checkpoint it starts from, `model_name` the name its MLflow model is logged under."""
    name: str
    about: str
    params: tuple[str, ...] = ()
    data: tuple[str, ...] = ()          # files and folders of earlier stages
    code: tuple[str, ...] = ()          # beyond stages/<name>.py and stages/__init__.py
    outs: tuple[str, ...] = ()
    uncached_outs: tuple[str, ...] = ()  # outputs git keeps (evaluate's pictures)
    metrics: tuple[str, ...] = ()       # written by the stage, not DVC-cached (git keeps them)
    plots: tuple[tuple[str, dict], ...] = ()
    training: str | None = None
    settings: str | None = None
    previous: str | None = None
    model_name: str | None = None

    @property
    def cmd(self) -> str:
        return f"python -m stages.{self.name}"

    @property
    def stage_files(self) -> tuple[str, ...]:
        return (f"stages/{self.name}.py", *(("stages/decode_rgb.py",) if self.name == "decode_rgb_framed" else ()),
                "stages/__init__.py")


def _trained(name: str, **fields) -> Stage:
    """A training stage: its checkpoint, its accuracy and timing files and its per-epoch plot."""
    return Stage(name=f"train_{name}", training=name, outs=(f"models/{name}.pt",),
                 metrics=(f"metrics/train_{name}.json", f"metrics/timing/train_{name}.json"),
                 plots=((f"plots/train_{name}.json", {"x": "epoch", "y": "val_top1"}),), **fields)


def _keypoint_baseline(name: str, about: str, data: tuple[str, ...] = ("data/keypoints", "data/clips", _MANIFEST),
                       extra_params: tuple[str, ...] = ()) -> Stage:
    return _trained(name, about=about, data=data, code=_BASELINE_CODE,
                    params=("seed", f"{name}.model", f"{name}.epochs", f"{name}.lr", f"{name}.weight_decay",
                            *extra_params, "train.device", "train.batch_size"))


# Every network `evaluate` loads: a checkpoint and a metrics file each (its kept epoch), both among its deps.
_NETWORKS = ("teacher", "student", "joint", "text", "rgb_only", "gcn", "msg3d", "sta_lstm", "i3d")
_STAGE_LIST = (
    Stage("ingest", "videos (or the synthetic generator) -> one manifest of samples, splits and labels",
          params=("data.source", "data.root", "data.seed", "data.probe_videos", "data.synthetic", "data.ntu",
                  "data.folder", "data.preprocess_only"),
          code=("crychic/core", "crychic/sources"), outs=("data/ingest",), metrics=("metrics/ingest.json",)),
    Stage("extract_keypoints", "MediaPipe (or NTU / PYSKL files) -> COCO-17 keypoints per frame",
          params=("keypoints.source", "keypoints.pyskl_file", "keypoints.max_persons", "keypoints.mediapipe_frame_size",
                  "keypoints.mediapipe_min_visibility", "keypoints.max_reject_fraction", "keypoints.min_decoded_fraction"),
          data=("data/ingest",), code=("crychic/core", "crychic/keypoints", "pipeline/fan_out.py"),
          outs=("data/keypoints",), metrics=("metrics/extract_keypoints.json", "metrics/timing/extract_keypoints.json")),
    Stage("sample_clips", "each sample's frames and person box, shared by both modalities",
          params=("seed", "heatmap.clip_len", "heatmap.box_padding", "heatmap.train_box_scale", "heatmap.train_box_shift",
                  "heatmap.train_box_jitter_share"),
          data=(_MANIFEST, "data/keypoints"), code=_KEYPOINT_STORE, outs=("data/clips",)),
    Stage("render_heatmaps", "keypoints -> PoseConv3D heatmap volumes in HDF5 shards",
          params=("heatmap.size", "heatmap.sigma", "heatmap.with_joint", "heatmap.with_limb", "heatmap.shard_size"),
          data=("data/keypoints", "data/clips"), code=(*_KEYPOINT_STORE, "crychic/heatmaps"), outs=("data/heatmaps",),
          metrics=("metrics/render_heatmaps.json", "metrics/timing/render_heatmaps.json")),
    Stage("decode_rgb", "videos -> RGB clips cut by the person box, in Arrow tables", params=_RGB_DECODE,
          data=("data/ingest", "data/clips"), code=("crychic/core", "crychic/clips", "crychic/rgb", "pipeline/fan_out.py"),
          outs=("data/rgb",), metrics=("metrics/decode_rgb.json", "metrics/timing/decode_rgb.json")),
    Stage("decode_rgb_framed",
          "research profile: RGB clips in the pose-free framing (research.deployment_framing)",
          params=(*_RGB_DECODE, "research.deployment_framing", "research.framing"),
          data=("data/ingest", "data/clips"), code=("crychic/core", "crychic/clips", "crychic/rgb", "pipeline/fan_out.py"),
          outs=("data/rgb_framed",), metrics=("metrics/decode_rgb_framed.json", "metrics/timing/decode_rgb_framed.json")),
    Stage("embed_class_text", "class names -> one sentence each -> offline MiniLM embeddings (the text anchors)",
          params=("research.text_anchor",), data=(_MANIFEST,), code=("crychic/core", "crychic/language"), outs=("data/text/class_text.h5",),
          metrics=("metrics/embed_class_text.json",)),
    _trained("teacher", about="method stage 1: the skeleton teacher alone",
             params=(*_TRAINING_COMMON, "train.teacher"), data=("data/heatmaps", _MANIFEST), code=_CRYCHIC_CODE,
             settings="teacher", model_name="teacher"),
    _trained("student", about="method stage 2: RGB student, teacher frozen",
             params=(*_TRAINING_COMMON, *_GUIDED, "train.student"),
             data=("data/heatmaps", "data/rgb", "data/rgb_framed", _MANIFEST, "models/teacher.pt"), code=_CRYCHIC_CODE,
             settings="student", previous="teacher", model_name="pose_free_student"),
    _trained("joint", about="method stage 3: both fine-tuned together, fusion head",
             params=(*_TRAINING_COMMON, *_GUIDED, "train.joint"),
             data=("data/heatmaps", "data/rgb", "data/rgb_framed", _MANIFEST, "models/student.pt"), code=_CRYCHIC_CODE,
             settings="joint", previous="student", model_name="joint_pose_free_student"),
    _trained("text", about="stage 3 again from the stage-2 student, with the text anchor (crychic_text)",
             params=(*_TRAINING_COMMON, *_GUIDED, "train.joint", "loss.text_weight", "research.text_anchor"),
             data=("data/heatmaps", "data/rgb", "data/rgb_framed", _MANIFEST, "models/student.pt", "data/text/class_text.h5"),
             code=(*_TRAINING_CODE, "crychic/training/stage.py", "crychic/training/text.py", "crychic/language",
                   "crychic/reporting"),
             settings="joint", previous="student", model_name="text_anchored_student"),
    # The plain student network (no attention weighting), the student stage's settings at its own learning
    # rate and epochs (crychic.training.loop.stage_settings, stage_epochs).
    _trained("rgb_only", about="baseline: the plain student (no attention weighting), RGB only, its own epochs",
             params=(*_TRAINING_COMMON, "train.student", "train.rgb_only", "research.deployment_framing"),
             data=("data/rgb", "data/rgb_framed", _MANIFEST), code=_CRYCHIC_CODE,
             settings="student", model_name="rgb_only_student"),
    _keypoint_baseline("gcn", "baseline: ST-GCN-style graph network on the raw keypoints, cut by the same person box"),
    _keypoint_baseline("msg3d", "baseline: MS-G3D-style network on the raw keypoints"),
    _keypoint_baseline("sta_lstm", "baseline: STA-LSTM on the raw keypoints"),
    _keypoint_baseline("i3d", "baseline: I3D-style RGB network (ResNet inflated to 3D) on the student's clips",
                       data=("data/keypoints", "data/clips", "data/rgb", _MANIFEST),
                       extra_params=("i3d.warmup_epochs", "i3d.optimizer", "i3d.momentum")),
    Stage("train_colour_cue", "reference baseline: saturated-hue histogram at the wrists + logistic regression",
          params=("seed", "colour_cue.c_grid", "colour_cue.hue_bins"), data=("data/keypoints", "data/clips", "data/ingest"),
          code=(*_KEYPOINT_STORE, "crychic/training/colour_cue.py", "crychic/reporting/tracking.py"),
          outs=("models/colour_cue",), metrics=("metrics/train_colour_cue.json", "metrics/timing/train_colour_cue.json")),
    Stage("evaluate", "choices on val, every trained model scored once on test, alignment and cost",
          params=("data.source", *MODEL_KEYS, "model.attention_guidance", "train.device", "heatmap.clip_len",
                  "heatmap.size", "heatmap.sigma", "heatmap.with_joint", "heatmap.with_limb", "heatmap.box_padding",
                  "rgb.clip_len", "rgb.size", "rgb.decode_max_side", "keypoints.mediapipe_frame_size",
                  "keypoints.mediapipe_min_visibility", "evaluate.split", "evaluate.batch_size",
                  "evaluate.attention_clips", "evaluate.end_to_end_clips", "evaluate.latency_repeats",
                  "evaluate.throughput_batch", "evaluate.bootstrap_resamples", "loss.contrastive_weight",
                  "research.deployment_framing", "research.text_anchor"),
          data=("data/heatmaps", "data/rgb", "data/rgb_framed", "data/keypoints", "data/clips", _MANIFEST,
                *(f"models/{name}.pt" for name in _NETWORKS), "models/colour_cue",
                # every training stage's metrics: the epochs it kept (evaluate's kept_checkpoints), the colour cue's figures
                *(f"metrics/train_{name}.json" for name in (*_NETWORKS, "colour_cue"))),
          code=(*_TRAINING_CODE[:7], "crychic/rgb/decode.py", *_TRAINING_CODE[7:], "crychic/training/baselines.py", *_TRAINING_TAIL, "crychic/keypoints/mediapipe_pose.py",
                "crychic/heatmaps", "crychic/evaluation", "crychic/sources/synthetic/__init__.py",
                "crychic/sources/synthetic/classes.py"),
          uncached_outs=("plots/evaluate",), metrics=("metrics/evaluate.json", "metrics/timing/evaluate.json"),
          plots=(("plots/evaluate_predictions.json", {"template": "confusion", "x": "actual", "y": "crychic_fused"}),)),
)
STAGES: dict[str, Stage] = {stage.name: stage for stage in _STAGE_LIST}
# The training stages by their short name ("teacher", ..., "gcn", "i3d").
TRAINING: dict[str, Stage] = {stage.training: stage for stage in _STAGE_LIST if stage.training}
# CRYCHIC's networks (a `train.<settings>` section each) as against the single-network baselines.
CRYCHIC_TRAINING: dict[str, Stage] = {name: stage for name, stage in TRAINING.items() if stage.settings}


def params_of(name: str) -> list[str]:
    """The params.yaml keys DVC stage `name` reads (and dvc.yaml lists)."""
    return list(STAGES[name].params)
