"""The `colour_cue` reference baseline: colour statistics at the hands plus a linear classifier.

Why it exists: the synthetic benchmark is built so that, inside an object-defined class group, the
skeleton alone is near chance and only the colour of the held object (at the hands) tells the
classes apart. This baseline measures what that cue is worth *without* deep learning: locate the
wrists with the keypoints, histogram the saturated hues around them, fit a logistic regression. A
network that does no better than this row has learnt the cue, not more.

Layouts:
- frames: `T x H x W x 3` uint8 RGB (the clip's planned frames, decoded at full source size);
- keypoint: `M x T x V x 3` (persons, frames, V=17 COCO joints, (x, y, score)) in source-frame
  pixels, as in the keypoint store; one person is `T x V x 2` positions and `T x V` scores;
- features: `N x F` float64, one row per clip (F = `hue_bins`).

`tests/test_synthetic.py` uses `hand_colour_features` for the benchmark's design check too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from crychic.core.coco17 import JOINT_INDEX
from crychic.core.stage_registry import params_of
from crychic.core.video import VideoError, read_frames

WRISTS = (JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"])
# Patch half-size as a fraction of the figure height: large enough to hold a held object despite
# keypoint noise (about 1-2% of the height), small enough to exclude most of the shirt.
PATCH_RADIUS = 0.12
MIN_RADIUS = 3  # pixels
# "Saturated" pixels in OpenCV's 8-bit HSV: skin, hair, grey and dark backgrounds fall below these.
MIN_SATURATION = 150
MIN_VALUE = 90
UNSEEN_LOG_PROBA = float(np.log(1e-12))


def hand_colour_features(frames: np.ndarray, keypoint: np.ndarray, score: np.ndarray,
                         hue_bins: int = 12) -> np.ndarray:
    """Saturated-hue histogram of square patches around the wrists, averaged over frames and wrists.

    `frames` T x H x W x 3 uint8 RGB; `keypoint` T x V x 2 and `score` T x V of one person in the
    frames' pixel coordinates (score 0: not seen). Each patch contributes the share of its pixels
    that are saturated and fall in each hue bin, so a bin's value is "what fraction of the hand
    region is this colour" whatever the frame size; the sum over bins is the saturated share.
    Returns `hue_bins` floats; zeros when no wrist is ever seen (nothing to measure, not an error).
    """
    frames, keypoint, score = np.asarray(frames), np.asarray(keypoint, dtype=np.float64), np.asarray(score)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected T x H x W x 3 uint8, got {frames.shape} {frames.dtype}")
    if keypoint.shape[:1] != frames.shape[:1] or keypoint.shape[-1] != 2 or score.shape != keypoint.shape[:2]:
        raise ValueError(f"keypoint {keypoint.shape} / score {score.shape} do not match {len(frames)} frames")
    seen = score > 0
    histogram = np.zeros(hue_bins)
    if not seen[:, list(WRISTS)].any():
        return histogram
    # The figure's height over the whole clip (not per frame): a crouching frame keeps its patch size.
    height = np.ptp(keypoint[seen][:, 1])
    radius = max(MIN_RADIUS, int(round(PATCH_RADIUS * height)))
    frame_h, frame_w = frames.shape[1:3]
    patches = 0
    for t in range(len(frames)):
        wrists = [j for j in WRISTS if seen[t, j]]
        if not wrists:
            continue
        hsv = cv2.cvtColor(frames[t], cv2.COLOR_RGB2HSV)  # H in 0..179
        for j in wrists:
            x, y = np.round(keypoint[t, j]).astype(int)
            y0, y1 = max(0, y - radius), min(frame_h, y + radius + 1)
            x0, x1 = max(0, x - radius), min(frame_w, x + radius + 1)
            patch = hsv[y0:y1, x0:x1].reshape(-1, 3)
            if len(patch):  # a wrist estimated outside the frame counts as a patch with no colour
                vivid = (patch[:, 1] > MIN_SATURATION) & (patch[:, 2] > MIN_VALUE)
                hue_bin = patch[vivid, 0].astype(int) * hue_bins // 180
                histogram += np.bincount(hue_bin, minlength=hue_bins) / len(patch)
            patches += 1
    return histogram / max(patches, 1)


def clip_features(clip_row: Mapping, keypoint_store, hue_bins: int = 12) -> np.ndarray:
    """Features of one clip-plan row: its planned `frame_indices` decoded from its video (full
    frames, source coordinates, so the store's keypoints apply unchanged) and person 0's keypoints
    at those frames (person 0 is the store's main person). Raises `VideoError` naming the file and
    the sample when the video cannot be decoded."""
    sample_id, path = clip_row["sample_id"], clip_row["path"]
    if sample_id not in keypoint_store:
        raise KeyError(f"{sample_id}: no keypoints in {getattr(keypoint_store, 'path', 'the keypoint store')}")
    sample = keypoint_store[sample_id]
    indices = np.asarray(clip_row["frame_indices"], dtype=np.int64)
    try:
        frames = read_frames(path, indices)
    except VideoError as err:
        raise VideoError(f"colour_cue, sample {sample_id}: {err}") from err
    person = sample.keypoint[0, indices]  # T x V x 3
    xy = person[..., :2].astype(np.float64)
    source_h, source_w = sample.img_shape
    if frames.shape[1:3] != (source_h, source_w):  # a video re-encoded at another size: scale, do not fail
        xy = xy * np.array([frames.shape[2] / source_w, frames.shape[1] / source_h])
    return hand_colour_features(frames, xy, person[..., 2], hue_bins=hue_bins)


def _logistic(C: float, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000, random_state=seed))


def fit_colour_cue(features_by_split: Mapping[str, np.ndarray], labels_by_split: Mapping[str, np.ndarray],
                   c_grid: Sequence[float] = (0.1, 1.0, 10.0), seed: int = 0):
    """Choose the regularisation C on the val split and return (model fitted on train, report).

    Each C in `c_grid` is fitted on train and scored (top-1) on val; the best wins, ties going to
    the smaller C (the simpler model). The returned model is the train fit with that C, *not* a
    refit on train + val: val stays a selection set, so its figure is comparable with the other
    stages' val figures. Without a val split there is nothing to select on: C = 1.0 (sklearn's
    default), and the report says so; the test split is never used for selection.
    Report: `{"c_grid": {str(C): val_top1}, "chosen_c", "val_top1", "val_split"}` (+ "note").
    """
    x_train, y_train = np.asarray(features_by_split["train"]), np.asarray(labels_by_split["train"])
    grid = sorted(float(c) for c in c_grid)
    if not grid:
        raise ValueError("colour_cue.c_grid is empty")
    if "val" not in features_by_split or len(labels_by_split["val"]) == 0:
        model = _logistic(1.0, seed).fit(x_train, y_train)
        return model, {"c_grid": {}, "chosen_c": 1.0, "val_top1": None, "val_split": None,
                       "note": "no val split: C = 1.0 without selection"}
    x_val, y_val = np.asarray(features_by_split["val"]), np.asarray(labels_by_split["val"])
    scores, models = {}, {}
    for c in grid:
        models[c] = _logistic(c, seed).fit(x_train, y_train)
        scores[c] = float(np.mean(models[c].predict(x_val) == y_val))
    chosen = max(grid, key=lambda c: (scores[c], -c))  # best val top-1, then the smaller C
    report = {"c_grid": {str(c): round(scores[c], 4) for c in grid}, "chosen_c": chosen,
              "val_top1": round(scores[chosen], 4), "val_split": "val"}
    return models[chosen], report


@dataclass(frozen=True)
class FittedColourCue:
    """The fitted pipeline (standardise, then a linear model) as plain numbers: what `model.json`
    holds, so that the model loads without unpickling. `decision_function` equals sklearn's."""

    C: float
    classes_: np.ndarray  # the class labels the model saw in training (K), ascending
    mean: np.ndarray  # F: the standardiser's
    scale: np.ndarray  # F
    coef: np.ndarray  # K x F (1 x F for two classes: the logit of classes_[1])
    intercept: np.ndarray  # K (1)

    @classmethod
    def of(cls, pipeline) -> "FittedColourCue":
        scaler, logistic = pipeline[0], pipeline[-1]
        return cls(C=float(logistic.C), classes_=np.asarray(logistic.classes_, dtype=np.int64),
                   mean=np.asarray(scaler.mean_, dtype=np.float64), scale=np.asarray(scaler.scale_, dtype=np.float64),
                   coef=np.asarray(logistic.coef_, dtype=np.float64),
                   intercept=np.asarray(logistic.intercept_, dtype=np.float64))

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        scores = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale @ self.coef.T + self.intercept
        return scores.ravel() if self.coef.shape[0] == 1 else scores

    def to_json(self) -> str:
        return json.dumps({"C": self.C, "classes": self.classes_.tolist(), "mean": self.mean.tolist(),
                           "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                           "intercept": self.intercept.tolist()}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "FittedColourCue":
        saved = json.loads(text)
        return cls(C=float(saved["C"]), classes_=np.asarray(saved["classes"], dtype=np.int64),
                   **{key: np.asarray(saved[key], dtype=np.float64) for key in ("mean", "scale", "coef", "intercept")})


def predict_log_proba(model, features: np.ndarray, num_classes: int) -> np.ndarray:
    """N x num_classes log-probabilities, so the evaluate stage can treat them like logits; `model`
    the fitted sklearn pipeline or its `FittedColourCue`.

    Computed as log-softmax of the decision function (no log(0) = -inf for confident rows);
    classes the model never saw in training get log(1e-12), far below any seen class.
    """
    from scipy.special import log_expit, log_softmax

    features = np.asarray(features, dtype=np.float64)
    classes = np.asarray(model.classes_, dtype=np.int64)
    if classes.max() >= num_classes:
        raise ValueError(f"model knows class {int(classes.max())} but num_classes = {num_classes}")
    scores = model.decision_function(features)
    if scores.ndim == 1:  # binary: sklearn's score is the logit of classes_[1]
        seen = np.stack([log_expit(-scores), log_expit(scores)], axis=1)
    else:
        seen = log_softmax(scores, axis=1)
    out = np.full((len(features), num_classes), UNSEEN_LOG_PROBA)
    out[:, classes] = seen
    return out


PARAM_KEYS = params_of("train_colour_cue")
SPLITS = ("train", "val", "test")


def scores_schema(num_classes: int):
    import pyarrow as pa

    return pa.schema([
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("label", pa.int32(), nullable=False),
        pa.field("log_proba", pa.list_(pa.float32(), num_classes), nullable=False),
    ])


def train_colour_cue(params: dict, *, keypoints_path, clip_plan_path, label_names: Sequence[str], out_dir) -> dict:
    """Features for every planned clip, C chosen on val, the model and every clip's scores written.

    Writes `out_dir/model.json` (the fitted pipeline as plain numbers: `FittedColourCue`, which loads
    without unpickling) and `out_dir/scores.parquet`
    (`sample_id, split, label, log_proba [num_classes]` for train, val and test, which evaluate
    treats like logits); returns the metrics: val top-1 per C, the chosen C, the feature count
    (deterministic: no timings)."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    from crychic.clips.plan import read_clip_plan
    from crychic.core.atomic_write import atomic_path
    from crychic.keypoints.store import KeypointStore

    seed, settings = int(params["seed"]), params["colour_cue"]
    c_grid, hue_bins = [float(c) for c in settings["c_grid"]], int(settings["hue_bins"])
    plan = read_clip_plan(clip_plan_path)
    unknown = sorted({row["split"] for row in plan} - set(SPLITS))
    if unknown:
        raise ValueError(f"{clip_plan_path}: unknown splits {unknown}; expected {SPLITS}")
    num_classes = max(len(label_names), max(row["label"] for row in plan) + 1)

    with KeypointStore(keypoints_path) as store:
        features = np.stack([clip_features(row, store, hue_bins=hue_bins)
                             for row in tqdm(plan, desc="train_colour_cue", unit="clip")])
    labels = np.array([row["label"] for row in plan], dtype=np.int64)
    split = np.array([row["split"] for row in plan])
    present = [s for s in SPLITS if (split == s).any()]
    if "train" not in present:
        raise ValueError(f"{clip_plan_path}: no train clips to fit on")
    model, report = fit_colour_cue({s: features[split == s] for s in present},
                                   {s: labels[split == s] for s in present}, c_grid=c_grid, seed=seed)
    log_proba = predict_log_proba(model, features, num_classes)
    train = split == "train"
    train_top1 = float(np.mean(log_proba[train].argmax(1) == labels[train]))

    out = Path(out_dir)
    table = pa.Table.from_pydict({
        "sample_id": [row["sample_id"] for row in plan], "split": split.tolist(), "label": labels.astype(np.int32),
        "log_proba": pa.FixedSizeListArray.from_arrays(pa.array(log_proba.astype(np.float32).ravel()), num_classes),
    }, schema=scores_schema(num_classes))
    with atomic_path(out / "scores.parquet") as tmp:
        pq.write_table(table, tmp)
    with atomic_path(out / "model.json") as tmp:
        tmp.write_text(FittedColourCue.of(model).to_json())
    return {**report, "train_top1": round(train_top1, 4), "num_features": int(features.shape[1]),
            "num_classes": num_classes, "clips": {s: int((split == s).sum()) for s in present}}
