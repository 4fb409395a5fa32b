"""The colour_cue baseline: hue features at the wrists, C chosen on val, log-probabilities for every
class, and the stage end to end on a small generated synthetic set (a few seconds on 2 cores)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crychic.clips.plan import CLIP_PLAN_SCHEMA, plan_clip
from crychic.core.coco17 import JOINT_INDEX
from crychic.training.colour_cue import (UNSEEN_LOG_PROBA, FittedColourCue, clip_features, fit_colour_cue,
                                         hand_colour_features, predict_log_proba)
from crychic.keypoints.store import SampleKeypoints
from crychic.keypoints.store import KeypointStore, write_keypoints
from crychic.core.manifest import write_manifest
from crychic.sources.synthetic.generate import SyntheticConfig, generate_dataset
from crychic.core.video import VideoError

LEFT_WRIST, RIGHT_WRIST = JOINT_INDEX["left_wrist"], JOINT_INDEX["right_wrist"]
H, W, T = 60, 80, 3


def person(wrist_xy=(40, 30), *, seen_wrists=True) -> tuple[np.ndarray, np.ndarray]:
    """T x V x 2, T x V: a 40-pixel-tall figure (head at y=10, ankles at y=50), wrists at `wrist_xy`."""
    keypoint = np.zeros((T, 17, 2))
    keypoint[..., 0] = 40
    keypoint[..., 1] = np.linspace(10, 50, 17)
    keypoint[:, [LEFT_WRIST, RIGHT_WRIST]] = wrist_xy
    score = np.ones((T, 17))
    if not seen_wrists:
        score[:, [LEFT_WRIST, RIGHT_WRIST]] = 0
    return keypoint, score


def frames_with_square(rgb, centre=(40, 30), half=3) -> np.ndarray:
    frames = np.full((T, H, W, 3), 128, np.uint8)  # grey: no saturation
    x, y = centre
    frames[:, y - half:y + half + 1, x - half:x + half + 1] = rgb
    return frames


def test_red_square_at_the_wrist_lands_in_the_red_bin():
    features = hand_colour_features(frames_with_square((255, 0, 0)), *person(), hue_bins=12)
    assert features.shape == (12,)
    assert features[0] > 0.2 and np.count_nonzero(features) == 1  # OpenCV hue 0 -> bin 0
    blue = hand_colour_features(frames_with_square((0, 0, 255)), *person(), hue_bins=12)
    assert np.argmax(blue) == 120 * 12 // 180 and blue[0] == 0  # blue: OpenCV hue 120
    # The share is per patch, so the value is the square's share of the patch (radius 0.12 * 40 -> 5).
    assert features[0] == pytest.approx(49 / 121)


def test_no_saturated_colour_or_no_wrist_gives_zeros():
    grey = np.full((T, H, W, 3), 128, np.uint8)
    assert not hand_colour_features(grey, *person()).any()
    dark_red = frames_with_square((60, 0, 0))  # saturated but too dark (V < 90)
    assert not hand_colour_features(dark_red, *person()).any()
    red_far_away = frames_with_square((255, 0, 0), centre=(10, 10))
    assert not hand_colour_features(red_far_away, *person()).any()
    unseen = hand_colour_features(frames_with_square((255, 0, 0)), *person(seen_wrists=False))
    assert unseen.shape == (12,) and not unseen.any()
    off_frame = hand_colour_features(frames_with_square((255, 0, 0)), *person(wrist_xy=(500, 500)))
    assert not off_frame.any()


def test_c_choice_follows_val_accuracy_and_ties_go_to_the_smaller_c():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    features = {"train": x[:40], "val": x[40:]}
    labels = {"train": y[:40], "val": y[40:]}
    model, report = fit_colour_cue(features, labels, c_grid=(10.0, 0.1, 1.0))
    assert list(report["c_grid"]) == ["0.1", "1.0", "10.0"]
    best = max(report["c_grid"].values())
    assert report["val_top1"] == best
    assert report["chosen_c"] == min(float(c) for c, v in report["c_grid"].items() if v == best)
    assert model[-1].C == report["chosen_c"]
    # Flip val labels: every C is now wrong; still a deterministic, smallest-C choice among equals.
    _, flipped = fit_colour_cue(features, {"train": y[:40], "val": 1 - y[40:]}, c_grid=(0.1, 1.0, 10.0))
    assert flipped["val_top1"] < 0.5


def test_c_choice_prefers_the_c_that_wins_on_val(monkeypatch):
    import crychic.training.colour_cue as colour_cue

    class Fixed:  # a classifier whose val accuracy is set by its C
        def __init__(self, c):
            self.c = c

        def fit(self, x, y):
            return self

        def predict(self, x):
            return np.zeros(len(x), int) if self.c == 1.0 else np.ones(len(x), int)

    monkeypatch.setattr(colour_cue, "_logistic", lambda c, seed: Fixed(c))
    features = {"train": np.zeros((4, 2)), "val": np.zeros((4, 2))}
    labels = {"train": np.array([0, 1, 0, 1]), "val": np.array([0, 0, 0, 1])}
    model, report = fit_colour_cue(features, labels, c_grid=(0.1, 1.0, 10.0))
    assert report["chosen_c"] == 1.0 and report["val_top1"] == 0.75 and model.c == 1.0
    assert report["c_grid"] == {"0.1": 0.25, "1.0": 0.75, "10.0": 0.25}


def test_without_val_split_c_is_one_and_the_report_says_so():
    rng = np.random.default_rng(1)
    model, report = fit_colour_cue({"train": rng.normal(size=(20, 2))}, {"train": np.arange(20) % 2})
    assert report["chosen_c"] == 1.0 and report["val_top1"] is None and "no val" in report["note"]
    assert model[-1].C == 1.0


@pytest.mark.parametrize("train_classes", [[0, 2, 3], [1, 3]])
def test_predict_log_proba_covers_every_class(train_classes):
    rng = np.random.default_rng(2)
    labels = np.repeat(train_classes, 10)
    x = rng.normal(size=(len(labels), 4)) + labels[:, None] * 3.0
    model, _ = fit_colour_cue({"train": x}, {"train": labels})
    log_proba = predict_log_proba(model, x, num_classes=5)
    assert log_proba.shape == (len(x), 5) and np.isfinite(log_proba).all()
    unseen = sorted(set(range(5)) - set(train_classes))
    assert np.all(log_proba[:, unseen] == UNSEEN_LOG_PROBA)
    np.testing.assert_allclose(np.exp(log_proba[:, train_classes]).sum(1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(np.exp(log_proba[:, train_classes]), model.predict_proba(x), atol=1e-9)
    assert np.mean(log_proba.argmax(1) == labels) > 0.9
    with pytest.raises(ValueError, match="num_classes"):
        predict_log_proba(model, x, num_classes=max(train_classes))
    # the plain-number model the stage writes (model.json) predicts what the sklearn pipeline does
    plain = FittedColourCue.from_json(FittedColourCue.of(model).to_json())
    np.testing.assert_allclose(predict_log_proba(plain, x, num_classes=5), log_proba, rtol=1e-9, atol=1e-9)


# A generated set big enough that each class has train, val and test clips and the held objects
# are a few pixels wide; small enough for seconds.
SMALL = SyntheticConfig(seed=5, num_subjects=5, val_subjects=1, test_subjects=1, clips_per_subject=1,
                        num_frames=16, height=96, width=128)


@pytest.fixture(scope="module")
def small_pipeline(tmp_path_factory):
    """What ingest -> extract_keypoints -> sample_clips would write for `SMALL` (absolute paths)."""
    root = tmp_path_factory.mktemp("colour_cue_data")
    rows = generate_dataset(root / "synthetic", SMALL)
    samples, plan, manifest = {}, [], []
    for row in rows:
        row = {**row, "path": str(root / "synthetic" / row.pop("video")),
               "annotation": str(root / "synthetic" / row["annotation"])}
        with np.load(row["annotation"]) as npz:
            keypoint = np.concatenate([npz["keypoint"], npz["keypoint_score"][..., None]], axis=-1)
            img_shape = tuple(int(v) for v in npz["img_shape"])
        samples[row["sample_id"]] = SampleKeypoints(keypoint=keypoint.astype(np.float32), img_shape=img_shape)
        plan.append(plan_clip(row, keypoint, img_shape, clip_len=8, padding=0.25, seed=0))
        manifest.append(row)
    write_keypoints(root / "keypoints.h5", samples)
    pq.write_table(pa.Table.from_pylist(plan, schema=CLIP_PLAN_SCHEMA), root / "clips.parquet")
    write_manifest(manifest, root / "manifest.parquet")
    params = root / "params.yaml"
    params.write_text("seed: 0\ncolour_cue:\n  c_grid: [0.1, 1.0, 10.0]\n  hue_bins: 12\n")
    return root, plan


def test_clip_features_use_the_planned_frames_and_name_a_bad_video(small_pipeline, tmp_path):
    root, plan = small_pipeline
    with KeypointStore(root / "keypoints.h5") as store:
        features = clip_features(plan[0], store)
        assert features.shape == (12,) and np.isfinite(features).all()
        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"not a video")
        with pytest.raises(VideoError, match=f"{plan[0]['sample_id']}.*broken.mp4"):
            clip_features({**plan[0], "path": str(broken)}, store)
        with pytest.raises(KeyError, match="no keypoints"):
            clip_features({**plan[0], "sample_id": "nobody"}, store)


def test_stage_writes_scores_model_and_metrics(small_pipeline, tmp_path):
    from stages.train_colour_cue import main

    root, plan = small_pipeline
    out, metrics, timing = tmp_path / "models" / "colour_cue", tmp_path / "metrics.json", tmp_path / "timing.json"
    main(["--params", str(root / "params.yaml"), "--keypoints", str(root / "keypoints.h5"),
          "--clips", str(root / "clips.parquet"), "--manifest", str(root / "manifest.parquet"), "--out", str(out),
          "--metrics", str(metrics), "--timing", str(timing), "--no-mlflow"])

    report = json.loads(metrics.read_text())
    assert set(report["c_grid"]) == {"0.1", "1.0", "10.0"} and report["chosen_c"] in (0.1, 1.0, 10.0)
    assert report["val_top1"] == report["c_grid"][str(report["chosen_c"])]
    assert report["num_features"] == 12 and report["num_classes"] == 12
    assert report["clips"] == {"train": 36, "val": 12, "test": 12}
    assert "seconds" not in report and "mlflow_run_id" not in report
    assert set(json.loads(timing.read_text())) == {"seconds", "mlflow_run_id", "machine"}

    table = pq.read_table(out / "scores.parquet")
    assert table.schema.field("label").type == pa.int32()
    assert table.schema.field("log_proba").type.value_type == pa.float32()
    rows = table.to_pylist()
    assert [r["sample_id"] for r in rows] == [r["sample_id"] for r in plan]
    assert all(len(r["log_proba"]) == 12 for r in rows)
    log_proba = np.array([r["log_proba"] for r in rows])
    labels = np.array([r["label"] for r in rows])
    val = np.array([r["split"] == "val" for r in rows])
    assert np.mean(log_proba[val].argmax(1) == labels[val]) == pytest.approx(report["val_top1"], abs=1e-4)

    model = FittedColourCue.from_json((out / "model.json").read_text())  # plain numbers: no pickle
    assert model.C == report["chosen_c"] and model.coef.shape == (12, 12)
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "scores.parquet"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
