"""NTU RGB+D names and official splits, on the real file names in ../shared/data."""

from __future__ import annotations

import pytest

from crychic.sources.ntu import NtuNameError, list_ntu_samples, ntu_split, parse_ntu_name


def test_parse_real_names(shared_data):
    names = sorted(p.name for p in shared_data.rglob("*.skeleton"))
    assert len(names) == 6
    parsed = {parse_ntu_name(n).sample_id: parse_ntu_name(n) for n in names}
    a058 = parsed["S001C003P008R002A058"]
    assert (a058.setup, a058.camera, a058.performer, a058.replication, a058.action) == (1, 3, 8, 2, 58)
    assert a058.label == 57 and a058.label_name == "handshaking"
    assert parsed["S001C001P001R001A011"].label_name == "reading"
    assert parsed["S002C001P003R001A003"].label_name == "brushing teeth"
    assert parse_ntu_name(shared_data / "ntu-rgbd-samples-mmaction2/S001C001P001R001A001_rgb.avi").label_name == "drink water"


@pytest.mark.parametrize(
    "name, version, protocol, expected",
    [
        ("S001C001P001R001A011", "ntu60", "xsub", "train"),   # P001 is an X-Sub training subject
        ("S002C001P003R001A003", "ntu60", "xsub", "test"),    # P003 is not
        ("S001C003P008R002A058", "ntu60", "xsub", "train"),
        ("S003C001P015R001A034", "ntu60", "xsub", "train"),
        ("S004C002P003R001A017", "ntu60", "xsub", "test"),
        ("S001C001P001R001A011", "ntu60", "xview", "test"),   # camera 1 tests in X-View
        ("S004C002P003R001A017", "ntu60", "xview", "train"),
        ("S001C003P008R002A058", "ntu60", "xview", "train"),
        ("S001C001P001R001A011", "ntu120", "xset", "test"),   # odd setups test in X-Set
        ("S002C001P003R001A003", "ntu120", "xset", "train"),
        ("S004C002P003R001A017", "ntu120", "xset", "train"),
        ("S050C001P103R001A100", "ntu120", "xsub", "train"),  # NTU-120-only training subject
        ("S050C001P102R001A100", "ntu120", "xsub", "test"),
    ],
)
def test_official_splits(name, version, protocol, expected):
    assert ntu_split(parse_ntu_name(name), version, protocol) == expected


def test_split_counts_match_the_protocols():
    from crychic.sources.ntu import NTU60_XSUB_TRAIN, NTU120_XSUB_TRAIN

    assert len(NTU60_XSUB_TRAIN) == 20 and len(NTU120_XSUB_TRAIN) == 53


def test_bad_names_and_protocols():
    with pytest.raises(NtuNameError, match="clip.avi"):
        parse_ntu_name("videos/clip.avi")
    with pytest.raises(NtuNameError, match="A121"):
        parse_ntu_name("S001C001P001R001A121.skeleton")
    with pytest.raises(ValueError, match="xset"):
        ntu_split(parse_ntu_name("S001C001P001R001A001"), "ntu60", "xset")


def test_list_skeleton_only_samples(shared_data, tmp_path):
    rows, rejects = list_ntu_samples(None, version="ntu60", protocol="xsub", skeleton_root=shared_data)
    assert len(rows) == 6 and not rejects
    by_id = {r["sample_id"]: r for r in rows}
    assert by_id["S002C001P003R001A003"]["split"] == "test"
    assert by_id["S001C003P008R002A058"]["annotation"].endswith("S001C003P008R002A058.skeleton")


def test_list_videos_pairs_skeletons_and_rejects_stray_files(shared_data, tmp_path):
    videos = tmp_path / "nturgb+d_rgb"
    videos.mkdir()
    real = shared_data / "ntu-rgbd-samples-mmaction2" / "S001C001P001R001A001_rgb.avi"
    (videos / real.name).symlink_to(real)
    (videos / "README.txt").write_text("not a sample")
    (videos / "S001C001P001R001A099_rgb.avi").write_bytes(b"")  # NTU-120 only: not part of NTU-60
    rows, rejects = list_ntu_samples(videos, version="ntu60", protocol="xview",
                                     skeleton_root=shared_data / "ntu-rgbd-samples-mmaction2")
    assert [r["sample_id"] for r in rows] == ["S001C001P001R001A001"]
    assert rows[0]["split"] == "test" and rows[0]["annotation"].endswith("S001C001P001R001A001.skeleton")
    reasons = sorted(r["reason"] for r in rejects)
    assert len(reasons) == 2
    assert "README.txt" in reasons[0] and "not an NTU RGB+D sample name" in reasons[0]
    assert "A099 is not part of ntu60" in reasons[1]


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_ntu_samples(tmp_path / "nowhere")
