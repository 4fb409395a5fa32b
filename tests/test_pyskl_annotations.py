"""PYSKL annotation pickles: a small file in the published layout read back, malformed ones, and
hostile ones (a pickle that would run code on load) refused before anything of them runs."""

from __future__ import annotations

import builtins
import os
import pickle

import numpy as np
import pytest

from crychic.keypoints import KeypointSourceError
from crychic.keypoints.pyskl_annotations import annotation_to_keypoints, read_pyskl_annotations


def make_annotation(frame_dir: str, persons: int, frames: int, seed: int) -> dict:
    """One sample as PYSKL's ntu60_hrnet.pkl stores it (float16 coordinates, float16 scores)."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(0.0, 1.0, size=(persons, frames, 17)).astype(np.float16)
    score[0, 0, :3] = 0  # unseen joints
    return {
        "frame_dir": frame_dir,
        "label": int(frame_dir[-3:]) - 1,
        "img_shape": (1080, 1920),
        "original_shape": (1080, 1920),
        "total_frames": frames,
        "keypoint": rng.uniform(0, 1000, size=(persons, frames, 17, 2)).astype(np.float16),
        "keypoint_score": score,
    }


def write_pickle(path, content, protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    with path.open("wb") as file:
        pickle.dump(content, file, protocol=protocol)


@pytest.fixture
def published(tmp_path):
    annotations = [
        make_annotation("S001C001P001R001A001", persons=1, frames=103, seed=1),
        make_annotation("S001C003P008R002A058", persons=2, frames=70, seed=2),
        make_annotation("S002C001P003R001A003", persons=1, frames=100, seed=3),
    ]
    split = {"xsub_train": ["S001C001P001R001A001", "S001C003P008R002A058"], "xsub_val": ["S002C001P003R001A003"]}
    path = tmp_path / "ntu60_hrnet.pkl"
    write_pickle(path, {"split": split, "annotations": annotations})
    return path, split, annotations


@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
def test_published_layout_round_trips(published, protocol):
    path, split, written = published
    write_pickle(path, {"split": split, "annotations": written}, protocol)  # 2: mmcv's default, which PYSKL used
    read_split, annotations = read_pyskl_annotations(path)
    assert read_split == split
    assert [a["frame_dir"] for a in annotations] == [a["frame_dir"] for a in written]
    for ann, original in zip(annotations, written):
        keypoints = annotation_to_keypoints(ann)
        persons, frames = original["keypoint"].shape[:2]
        assert keypoints.shape == (persons, frames, 17, 3) and keypoints.dtype == np.float32
        seen = original["keypoint_score"] > 0
        np.testing.assert_array_equal(keypoints[..., :2][seen], original["keypoint"][seen].astype(np.float32))
        np.testing.assert_array_equal(keypoints[..., 2], original["keypoint_score"].astype(np.float32))
        assert (keypoints[~seen][:, :2] == 0).all()
        assert (keypoints[0, 0, :3] == 0).all()


def corrupt(annotations: list[dict], index: int, **changes) -> list[dict]:
    broken = [dict(a) for a in annotations]
    for field, value in changes.items():
        if value is None:
            del broken[index][field]
        else:
            broken[index][field] = value
    return broken


@pytest.mark.parametrize(
    "changes, field, problem",
    [
        ({"keypoint_score": None}, "keypoint_score", "missing"),
        ({"total_frames": None}, "total_frames", "missing"),
        ({"keypoint": np.zeros((2, 70, 25, 2), np.float32)}, "keypoint", "expected V = 17 COCO joints, got 25"),
        ({"keypoint": np.zeros((2, 70, 17, 3), np.float32)}, "keypoint", "M x T x V x 2"),
        ({"keypoint": np.zeros((2, 69, 17, 2), np.float32)}, "keypoint", "69 frames but total_frames is 70"),
        ({"keypoint_score": np.zeros((1, 70, 17), np.float32)}, "keypoint_score", "expected shape (2, 70, 17)"),
        ({"img_shape": (1080,)}, "img_shape", "(height, width)"),
        ({"label": "handshaking"}, "label", "expected an int"),
    ],
)
def test_malformed_annotation_names_file_sample_and_field(published, tmp_path, changes, field, problem):
    _, split, annotations = published
    path = tmp_path / "broken.pkl"
    write_pickle(path, {"split": split, "annotations": corrupt(annotations, 1, **changes)})
    with pytest.raises(KeypointSourceError) as caught:
        read_pyskl_annotations(path)
    message = str(caught.value)
    print(message)
    assert message.startswith("broken.pkl: sample 'S001C003P008R002A058': field ")
    assert f"'{field}'" in message and problem in message


def test_malformed_files(published, tmp_path):
    _, split, annotations = published
    cases = {
        "not_a_pickle.pkl": (b"plain text, not a pickle", "not a readable pickle"),
        "truncated.pkl": (pickle.dumps({"split": split, "annotations": annotations})[:500], "not a readable pickle"),
        "no_split.pkl": (pickle.dumps({"annotations": annotations}), "'split' and 'annotations'"),
        "bad_split.pkl": (pickle.dumps({"split": {"xsub_train": [1, 2]}, "annotations": annotations}), "'split'"),
        "duplicate.pkl": (
            pickle.dumps({"split": split, "annotations": annotations + annotations[:1]}),
            "'S001C001P001R001A001': frame_dir appears twice",
        ),
    }
    for name, (content, problem) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(KeypointSourceError) as caught:
            read_pyskl_annotations(path)
        assert str(caught.value).startswith(name) and problem in str(caught.value)
    with pytest.raises(KeypointSourceError, match="missing.pkl"):
        read_pyskl_annotations(tmp_path / "missing.pkl")


class RunsCode:
    """What a hostile pickle holds: unpickled plainly, it calls `function(*args)` (here: write `marker`)."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("where", ["top", "inside an annotation"])
@pytest.mark.parametrize("function, refused", [(os.system, f"{os.system.__module__}.system"),
                                               (builtins.exec, "builtins.exec")])
def test_a_pickle_that_asks_for_code_is_refused_and_runs_nothing(published, tmp_path, function, refused, where):
    _, split, annotations = published
    marker = tmp_path / "ran.txt"
    payload = RunsCode(function, f"touch {marker}" if function is os.system else f"open({str(marker)!r}, 'w')")
    if where == "top":
        content = payload
    else:  # a valid file with the call hidden in one field of one sample
        content = {"split": split, "annotations": corrupt(annotations, 1, label=payload)}
    path = tmp_path / "hostile.pkl"
    write_pickle(path, content)
    assert refused.encode().split(b".")[-1] in path.read_bytes()  # the file does name the function
    with pytest.raises(KeypointSourceError) as caught:
        read_pyskl_annotations(path)
    message = str(caught.value)
    assert message.startswith("hostile.pkl: refused: the pickle asks for ") and refused in message
    assert "arrays, numbers, strings, lists and dicts" in message
    assert not marker.exists()
