"""NTU ``.skeleton`` parsing and COCO-17 mapping, on the real files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crychic.core.coco17 import JOINT_INDEX
from crychic.keypoints import KeypointSourceError
from crychic.keypoints.ntu_skeleton import (
    COCO17_FROM_KINECT,
    KINECT_JOINT_NAMES,
    read_skeleton,
    skeleton_to_coco17,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"

# (frames, bodies per frame) as listed in the folders' SOURCE.md files.
EXPECTED = {
    "S001C001P001R001A001.skeleton": (103, 1),
    "S001C001P001R001A011.skeleton": (82, 1),
    "S002C001P003R001A003.skeleton": (100, 1),
    "S003C001P015R001A034.skeleton": (71, 1),
    "S004C002P003R001A017.skeleton": (124, 1),
    "S001C003P008R002A058.skeleton": (70, 2),
}


def shared_file(name: str) -> Path:
    matches = sorted(DATA.glob(f"*/{name}"))
    if not matches:
        pytest.skip(f"real sample {name} not found: ../shared/data is absent (only the project's own checkout has it)")
    return matches[0]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_skeleton_files_parse(name):
    skel = read_skeleton(shared_file(name))
    frames, bodies = EXPECTED[name]
    print(f"{name}: {skel.num_frames} frames, bodies per frame {sorted(set(skel.bodies_per_frame.tolist()))}")
    assert skel.num_frames == frames
    assert (skel.bodies_per_frame == bodies).all()
    keypoints = skeleton_to_coco17(skel, max_persons=2)
    assert keypoints.shape == (bodies, frames, 17, 3)
    assert keypoints.dtype == np.float32
    scores = keypoints[..., 2]
    assert set(np.unique(scores).tolist()) <= {0.0, 0.5, 1.0}
    eyes_ears = [JOINT_INDEX[n] for n in ("left_eye", "right_eye", "left_ear", "right_ear")]
    assert (scores[:, :, eyes_ears] == 0).all()
    assert (keypoints[scores == 0][:, :2] == 0).all()
    seen = keypoints[scores > 0]
    assert (seen[:, 0] > 0).all() and (seen[:, 0] < 1920).all()
    assert (seen[:, 1] > 0).all() and (seen[:, 1] < 1080).all()


def test_two_body_file_keeps_both_and_max_persons_limits():
    skel = read_skeleton(shared_file("S001C003P008R002A058.skeleton"))
    assert len(skel.body_ids) == 2
    both = skeleton_to_coco17(skel, max_persons=2)
    assert both.shape[0] == 2
    # Two people shaking hands stand apart: their mean hip x differs by far more than a body width.
    hips = [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]
    assert abs(both[0, :, hips, 0].mean() - both[1, :, hips, 0].mean()) > 200
    one = skeleton_to_coco17(skel, max_persons=1)
    assert one.shape[0] == 1
    assert any(np.array_equal(one[0], person) for person in both)


def test_joint_values_and_score_follow_the_raw_text():
    """Frame 0 of A001, checked against the file's own lines: layout 1 count, 1 body count, 1 body, 1 joint count."""
    path = shared_file("S001C001P001R001A001.skeleton")
    lines = path.read_text().splitlines()
    joint_lines = [lines[4 + j].split() for j in range(25)]
    keypoints = skeleton_to_coco17(read_skeleton(path))
    for coco_name, kinect_name in COCO17_FROM_KINECT.items():
        if kinect_name is None:
            continue
        raw = joint_lines[KINECT_JOINT_NAMES.index(kinect_name)]
        expected_score = {"2": 1.0, "1": 0.5, "0": 0.0}[raw[11]]
        x, y, score = keypoints[0, 0, JOINT_INDEX[coco_name]]
        assert score == expected_score
        if score > 0:
            assert (x, y) == pytest.approx((float(raw[5]), float(raw[6])), abs=1e-3)


def test_spurious_short_body_is_dropped(tmp_path):
    """A third body tracked for 3 frames (Kinect's ghosts) must lose to the two real performers,
    even though its jumps make it the body that "moves" most."""
    source = shared_file("S001C003P008R002A058.skeleton")
    lines = source.read_text().splitlines()
    num_frames = int(lines[0])

    def ghost(frame: int) -> list[str]:  # body line, joint count, 25 joint lines
        return ["99 0 0 0 0 0 0 0 0 2", "25"] + [f"0 0 3 250 200 {300 + 500 * frame} 540 0 0 0 0 2"] * 25
    out, cursor, frame = [lines[0]], 1, 0
    while frame < num_frames:
        count = int(lines[cursor])
        block = lines[cursor + 1 : cursor + 1 + count * 27]
        if frame < 3:
            out += [str(count + 1), *ghost(frame), *block]
        else:
            out += [str(count), *block]
        cursor += 1 + count * 27
        frame += 1
    path = tmp_path / "S001C003P008R002A058.skeleton"
    path.write_text("\n".join(out) + "\n")
    skel = read_skeleton(path)
    assert skel.body_ids[0] == 99 and len(skel.body_ids) == 3
    assert skel.color_xy[0, skel.present[0]].std(axis=0).sum() > skel.color_xy[1:, :].std(axis=1).sum(axis=(1, 2)).max()
    kept = skeleton_to_coco17(skel, max_persons=2)
    reference = skeleton_to_coco17(read_skeleton(source), max_persons=2)
    np.testing.assert_array_equal(kept, reference)


def test_file_without_bodies_gives_one_empty_person(tmp_path):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("3\n0\n0\n0\n")
    keypoints = skeleton_to_coco17(read_skeleton(path))
    assert keypoints.shape == (1, 3, 17, 3)
    assert (keypoints == 0).all()


def _corrupt(lines: list[str], line_number: int, replacement: str | None) -> str:
    """Replace (or, with None, cut the file at) the 1-based line_number."""
    if replacement is None:
        return "\n".join(lines[: line_number - 1])
    return "\n".join(lines[: line_number - 1] + [replacement] + lines[line_number:]) + "\n"


@pytest.mark.parametrize(
    "line_number, replacement, problem",
    [
        (57, "0.1 0.2 0.3", "expected 12 values per joint, got 3"),
        (57, "0.1 0.2 0.3 4 5 abc 7 8 9 10 11 2", "non-numeric value 'abc'"),
        (57, None, "file ends early"),
        (3, "72057594037931101 0 1 1 1 1 0 0.02 0.05", "expected 10 values per body line, got 9"),
        (4, "24", "expected 25 joints per body, got 24"),
        (30, "two", "expected the body count (one integer), got 'two'"),
        (1, "104", "file ends early"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, line_number, replacement, problem):
    lines = shared_file("S001C001P001R001A001.skeleton").read_text().splitlines()
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text(_corrupt(lines, line_number, replacement))
    with pytest.raises(KeypointSourceError) as caught:
        read_skeleton(path)
    message = str(caught.value)
    print(message)
    assert message.startswith(path.name + ": line ")
    assert problem in message
    if replacement is not None and line_number != 1:
        assert f"line {line_number}:" in message


def test_empty_extra_and_bad_tracking_state(tmp_path):
    lines = shared_file("S001C001P001R001A001.skeleton").read_text().splitlines()
    cases = {
        "empty.skeleton": ("", "empty skeleton file"),
        "extra.skeleton": ("\n".join(lines + ["1"]), f"line {len(lines) + 1}: unexpected content after"),
        "cut.skeleton": ("\n".join(lines)[:100_003], "expected 12 values per joint, got "),
        "state.skeleton": (_corrupt(lines, 5, lines[4].rsplit(" ", 1)[0] + " 7"), "trackingState outside"),
    }
    for name, (text, problem) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(KeypointSourceError, match=problem) as caught:
            read_skeleton(path)
        assert str(caught.value).startswith(name)
    with pytest.raises(KeypointSourceError, match="missing.skeleton"):
        read_skeleton(tmp_path / "missing.skeleton")
