"""The Prefect fan-out: rejects with reasons, Dask on loopback, and work that survives a crash."""

from __future__ import annotations

import pytest

import os
import signal
import subprocess
import sys
import textwrap

from conftest import PROJECT_ROOT
from pipeline.fan_out import MAX_SHARD, MAX_TASKS, run_per_sample, shard_size, split_into_shards

pytestmark = pytest.mark.slow  # real Prefect flows on threads and a local Dask cluster


def square_or_fail(sample: dict) -> int:
    if sample["sample_id"].endswith("3"):
        raise ValueError(f"{sample['path']}: corrupt on purpose")
    return int(sample["sample_id"][1:]) ** 2


SAMPLES = [{"sample_id": f"s{i}", "path": f"/clips/{i}.mp4"} for i in range(10)]


def test_shard_size_follows_the_dataset_and_the_workers():
    ntu120 = 114_480
    assert shard_size(ntu120, 2) == MAX_SHARD == 256 and len(split_into_shards(range(ntu120), 256)) == 448
    assert shard_size(ntu120, 64) == 256  # large datasets: shards of hundreds, whatever the workers
    assert shard_size(ntu120, 200) == 224 and -(-ntu120 // 224) <= MAX_TASKS  # the task ceiling
    assert 1900 < -(-ntu120 // shard_size(ntu120, 2000)) <= 2000  # workers beyond the ceiling: about one shard each
    assert shard_size(744, 2) == 93  # the synthetic benchmark: 8 shards, 4 per worker
    assert shard_size(7, 2) == 1 and shard_size(7, 16) == 1 and shard_size(0, 2) == 1
    shards = split_into_shards([{"sample_id": str(i)} for i in range(10)], 4)
    assert [len(s) for s in shards] == [4, 4, 2] and shards[2][-1]["sample_id"] == "9"  # contiguous, in order


def test_threads_collect_results_and_rejects():
    result = run_per_sample(SAMPLES, square_or_fail, stage="unit", workers=2, batch_size=3, progress=False)
    assert result.results == {f"s{i}": i * i for i in range(10) if i != 3}
    assert result.rejects == [{"sample_id": "s3", "path": "/clips/3.mp4", "stage": "unit",
                               "reason": "ValueError: /clips/3.mp4: corrupt on purpose"}]
    assert abs(result.reject_fraction - 0.1) < 1e-9


def test_two_worker_dask_cluster_on_loopback():
    result = run_per_sample(SAMPLES, square_or_fail, stage="unit-dask", batch_size=2,
                            dask_local_workers=2, progress=False)
    assert len(result.results) == 9 and [r["sample_id"] for r in result.rejects] == ["s3"]


CRASHING_RUN = textwrap.dedent("""
    import os, sys
    from pipeline.fan_out import run_per_sample
    log, crash_at = sys.argv[1], sys.argv[2]
    def work(sample):
        if sample["sample_id"] == crash_at:
            os._exit(9)  # the process dies mid-stage, as a killed DVC stage would
        with open(log, "a") as f:
            f.write(sample["sample_id"] + "\\n")
        return sample["sample_id"].upper()
    samples = [{"sample_id": f"s{i}", "path": f"/clips/{i}.mp4"} for i in range(8)]
    result = run_per_sample(samples, work, stage="crash", workers=1, batch_size=1, progress=False,
                            cache_dir=sys.argv[3], cache_token="v1")
    print(sorted(result.results.items()))
""")


def _run_in_own_group(args: list[str], out) -> int:
    """Run a child in its own process group and clean the group up afterwards: a crashed flow
    leaves Prefect's temporary API server orphaned, as a SIGKILLed DVC stage would."""
    child = subprocess.Popen(args, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        return child.wait(timeout=300)
    finally:
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_completed_batches_survive_a_crash(tmp_path):
    log, cache = tmp_path / "calls.log", tmp_path / "cache"
    run = [sys.executable, "-c", CRASHING_RUN, str(log), "s5", str(cache)]
    with open(tmp_path / "first.out", "w") as out:
        assert _run_in_own_group(run, out) == 9, (tmp_path / "first.out").read_text()[-2000:]
    done_before_crash = log.read_text().split()
    assert 1 <= len(done_before_crash) <= 5

    run[4] = "none"  # the same run again, nothing crashes now
    with open(tmp_path / "second.out", "w") as out:
        assert _run_in_own_group(run, out) == 0, (tmp_path / "second.out").read_text()[-2000:]
    assert "('s7', 'S7')" in (tmp_path / "second.out").read_text()
    calls = log.read_text().split()
    redone = calls[len(done_before_crash):]
    assert sorted(redone) == sorted(set(f"s{i}" for i in range(8)) - set(done_before_crash))
    assert not cache.exists()  # removed once the stage's work is complete


def test_keypoint_extraction_fans_out_on_a_two_worker_dask_cluster(shared_data):
    import threading

    from crychic.sources.ntu import list_ntu_samples
    from crychic.keypoints.extraction import extract_sample_keypoints

    rows, _ = list_ntu_samples(None, skeleton_root=shared_data)
    threads: set[str] = set()

    def extract(sample: dict):
        threads.add(threading.current_thread().name)
        return extract_sample_keypoints(sample, source="auto")

    result = run_per_sample(rows, extract, stage="extract_keypoints", batch_size=1, dask_local_workers=2,
                            progress=False)
    assert sorted(result.results) == sorted(r["sample_id"] for r in rows) and not result.rejects
    assert result.results["S001C003P008R002A058"].keypoint.shape[0] == 2
    assert threading.current_thread().name not in threads  # the work ran on the Dask workers' threads
