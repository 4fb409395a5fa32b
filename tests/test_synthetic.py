"""The synthetic benchmark: reproducible, real decodable videos, subject-disjoint splits, and its
designed property measured on generated data (cross-subject): within an object-defined group
keypoints alone stay near chance while a colour statistic at the hands separates the classes;
within the motion group keypoints separate the classes. Run with `-s` to see the figures."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import decord
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from crychic.core.coco17 import JOINT_INDEX
from crychic.training.colour_cue import hand_colour_features  # the colour_cue baseline's own feature
from crychic.sources.synthetic.classes import CLASSES, GROUPS, OBJECT_GROUPS, classes_in_group
from crychic.sources.synthetic.generate import SyntheticConfig, generate_clip, generate_dataset, subject_body

pytestmark = pytest.mark.slow  # renders and decodes the synthetic benchmark

TINY = SyntheticConfig(seed=3, num_subjects=4, val_subjects=1, test_subjects=1, clips_per_subject=1, num_frames=8,
                       height=48, width=64)
# Big enough for the accuracies to mean something (120 test clips per object group), small frames for speed.
BENCH = SyntheticConfig(seed=0, num_subjects=16, val_subjects=2, test_subjects=5, clips_per_subject=8,
                        num_frames=24, height=96, width=128)
TORSO = [JOINT_INDEX[name] for name in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("synthetic_bench")
    return root, generate_dataset(root, BENCH)


def _load_keypoints(root: Path, row: dict) -> tuple[np.ndarray, np.ndarray]:
    with np.load(root / row["annotation"]) as npz:
        return npz["keypoint"][0], npz["keypoint_score"][0]  # T x V x 2, T x V


def test_class_records_are_complete():
    assert len(CLASSES) >= 12
    assert [c.label for c in CLASSES] == list(range(len(CLASSES)))
    assert len({c.name for c in CLASSES}) == len(CLASSES)
    assert all(c.group in GROUPS and c.distinguished_by for c in CLASSES)
    for group in OBJECT_GROUPS:
        members = classes_in_group(group)
        assert len(members) >= 2
        assert len({c.motion for c in members}) == 1, f"{group}: classes must share one motion sampler"
        assert len({c.held_object for c in members}) == len(members), f"{group}: objects must differ"
    motion_group = [c for c in CLASSES if c.group not in OBJECT_GROUPS]
    assert all(c.held_object is None for c in motion_group)
    assert len({c.motion for c in motion_group}) == len(motion_group)


def test_same_seed_same_dataset_other_seed_other_keypoints(tmp_path):
    first = generate_dataset(tmp_path / "a", TINY)
    second = generate_dataset(tmp_path / "b", TINY)
    other = generate_dataset(tmp_path / "c", SyntheticConfig(**{**TINY.__dict__, "seed": 4}))
    assert first == second
    assert len(first) == TINY.num_subjects * len(CLASSES) * TINY.clips_per_subject
    ids = [r["sample_id"] for r in first]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for row in first:
        kp_a, score_a = _load_keypoints(tmp_path / "a", row)
        kp_b, score_b = _load_keypoints(tmp_path / "b", row)
        assert np.array_equal(kp_a, kp_b) and np.array_equal(score_a, score_b)
    other_by_key = {(r["subject"], r["label"], r["sample_id"][-2:]): r for r in other}
    row = first[0]
    kp_other, _ = _load_keypoints(tmp_path / "c", other_by_key[(row["subject"], row["label"], row["sample_id"][-2:])])
    assert not np.allclose(_load_keypoints(tmp_path / "a", row)[0], kp_other)
    # No temporary files left behind by the atomic writes.
    assert not [p for p in (tmp_path / "a").rglob(".*")]


def test_annotation_layout_and_estimator_noise(bench):
    root, rows = bench
    kp, score = _load_keypoints(root, rows[0])
    with np.load(root / rows[0]["annotation"]) as npz:
        assert npz["keypoint"].dtype == np.float32 and npz["keypoint"].shape == (1, BENCH.num_frames, 17, 2)
        assert npz["keypoint_score"].shape == (1, BENCH.num_frames, 17)
        assert tuple(npz["img_shape"]) == (BENCH.height, BENCH.width)
    scores = np.concatenate([_load_keypoints(root, r)[1].ravel() for r in rows[:200]])
    lost = np.mean(scores == 0)
    quartiles = np.percentile(scores[scores > 0], [25, 50, 75]).round(2)
    print(f"\nlost joints: {lost:.3f}; visible-joint score quartiles: {quartiles}")
    assert 0.01 < lost < 0.15
    assert np.all(kp[score == 0] == 0)
    # Noise: the annotation differs from the exact projection by about 1-2% of the body height.
    clip = generate_clip(BENCH, rows[0]["subject"], rows[0]["label"], int(rows[0]["sample_id"].split("_r")[1]))
    seen = score > 0
    error = np.linalg.norm(kp[seen] - clip.exact_keypoint[seen], axis=-1)
    height = np.ptp(clip.exact_keypoint[..., 1])
    assert 0.005 * height < np.median(error) < 0.05 * height


def test_videos_decode_and_show_the_figure(bench):
    root, rows = bench
    hits, corner_hits, checked = 0, 0, 0
    for row in rows[:: len(rows) // 24]:
        video = decord.VideoReader(str(root / row["video"]))
        assert len(video) == BENCH.num_frames
        frames = video.get_batch(list(range(len(video)))).asnumpy()
        assert frames.shape == (BENCH.num_frames, BENCH.height, BENCH.width, 3)
        clip = generate_clip(BENCH, row["subject"], row["label"], int(row["sample_id"].split("_r")[1]))
        other = generate_clip(BENCH, row["subject"], (row["label"] + 1) % len(CLASSES), 1)
        # mp4v is lossy (about 4-9 grey levels on these textures), but the video is this clip, not another.
        error, other_error = (np.abs(frames.astype(int) - c.frames).mean() for c in (clip, other))
        assert error < 12 and error < 0.5 * other_error
        # The torso centre (between shoulders and hips) shows the subject's shirt; the frame corner
        # farthest from the figure shows background, which rarely has that colour.
        shirt = np.array(subject_body(BENCH, row["subject"]).shirt, float)
        corners = np.array([[2, 2], [BENCH.width - 3, 2], [2, BENCH.height - 3], [BENCH.width - 3, BENCH.height - 3]])
        for t in range(0, BENCH.num_frames, 6):
            joints = clip.exact_keypoint[t]  # V x 2
            x, y = np.round(joints[TORSO].mean(axis=0)).astype(int)
            cx, cy = corners[np.argmax([np.linalg.norm(joints - c, axis=1).min() for c in corners])]
            hits += np.linalg.norm(frames[t, y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(0) - shirt) < 60
            corner_hits += np.linalg.norm(frames[t, cy, cx].astype(float) - shirt) < 60
            checked += 1
    print(f"\ntorso pixel matches the shirt in {hits}/{checked} frames; a far corner in {corner_hits}/{checked}")
    assert hits / checked > 0.75
    assert corner_hits / checked < hits / checked - 0.3


def test_subjects_are_disjoint_and_every_class_in_every_split(bench):
    _, rows = bench
    subjects = {split: {r["subject"] for r in rows if r["split"] == split} for split in ("train", "val", "test")}
    assert len(subjects["val"]) == BENCH.val_subjects and len(subjects["test"]) == BENCH.test_subjects
    assert not subjects["train"] & subjects["val"]
    assert not subjects["train"] & subjects["test"]
    assert not subjects["val"] & subjects["test"]
    for split in subjects:
        assert {r["label"] for r in rows if r["split"] == split} == set(range(len(CLASSES)))
    assert set(Counter(r["camera"] for r in rows)) == {1, 2, 3}
    assert all(Path(r["video"]).stem == Path(r["annotation"]).stem == r["sample_id"] for r in rows)
    assert all(r["label_name"] == CLASSES[r["label"]].name for r in rows)


def keypoint_features(keypoint: np.ndarray, score: np.ndarray, bins: int = 8) -> np.ndarray:
    """T x V x 2, T x V -> a flat trajectory descriptor: positions centred and scaled per clip,
    averaged in `bins` time bins over the joints that were seen, plus how often each was seen."""
    seen = score > 0
    points = keypoint[seen]
    centre = np.median(points, axis=0)
    scale = max(np.percentile(points[:, 1], 95) - np.percentile(points[:, 1], 5), 1.0)
    norm = (keypoint - centre) / scale * seen[..., None]  # T x V x 2, lost joints at 0
    edges = np.linspace(0, len(score), bins + 1).astype(int)
    spans = list(zip(edges[:-1], edges[1:]))
    binned = [norm[a:b].sum(0) / np.maximum(seen[a:b].sum(0), 1)[:, None] for a, b in spans]  # bins x V x 2
    seen_rate = [seen[a:b].mean(0) for a, b in spans]  # bins x V
    return np.concatenate([np.ravel(binned), np.ravel(seen_rate)])


def _split_xy(rows, features, labels):
    train = np.array([r["split"] != "test" for r in rows])
    return features[train], labels[train], features[~train], labels[~train]


def _group_rows(rows, group):
    labels = {c.label for c in classes_in_group(group)}
    return [r for r in rows if r["label"] in labels]


def _logistic(C: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))


def _keypoint_accuracy(root, rows, model) -> float:
    features = np.stack([keypoint_features(*_load_keypoints(root, r)) for r in rows])
    x_train, y_train, x_test, y_test = _split_xy(rows, features, np.array([r["label"] for r in rows]))
    return float(np.mean(model.fit(x_train, y_train).predict(x_test) == y_test))


@pytest.mark.parametrize("group", OBJECT_GROUPS)
def test_object_group_needs_rgb(bench, group):
    root, rows = bench
    rows = _group_rows(rows, group)
    chance = 1 / len(classes_in_group(group))
    logistic = _keypoint_accuracy(root, rows, _logistic(C=0.1))
    forest = _keypoint_accuracy(root, rows, RandomForestClassifier(n_estimators=300, random_state=0))

    colours = []
    for row in rows:
        frames = decord.VideoReader(str(root / row["video"])).get_batch(list(range(BENCH.num_frames))).asnumpy()
        colours.append(hand_colour_features(frames, *_load_keypoints(root, row)))
    x_train, y_train, x_test, y_test = _split_xy(rows, np.stack(colours), np.array([r["label"] for r in rows]))
    colour = float(np.mean(_logistic(C=1.0).fit(x_train, y_train).predict(x_test) == y_test))
    print(f"\n{group}: {len(y_test)} test clips, chance {chance:.3f}; keypoints only: logistic {logistic:.3f}, "
          f"random forest {forest:.3f}; hand colour (from the decoded mp4): {colour:.3f}")
    assert logistic < chance + 0.2 and forest < chance + 0.2
    assert colour > 0.85


def test_motion_group_is_told_by_keypoints(bench):
    root, rows = bench
    rows = [r for r in rows if CLASSES[r["label"]].group not in OBJECT_GROUPS]
    chance = 1 / len({r["label"] for r in rows})
    accuracy = _keypoint_accuracy(root, rows, _logistic(C=0.1))
    print(f"\nmotion group: {sum(r['split'] == 'test' for r in rows)} test clips, chance {chance:.3f}; "
          f"keypoints only (logistic): {accuracy:.3f}")
    assert accuracy > chance + 0.5
