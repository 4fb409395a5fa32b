"""Stages run by hand on the pipeline's data, in a clone of their own: a killed stage resumes and ends as an
uninterrupted run would (every long stage), and a training repeats bit for bit in perturbed processes.

They need the preprocessing stages' outputs only, so their clone runs just those (`dvc repro
decode_rgb render_heatmaps`), and under `make test` the module runs beside tests/test_dvc_pipeline.py
on another worker.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from pipeline_clone import ENV, make_clone, params_file, run, run_until_killed, same_files

pytestmark = pytest.mark.slow  # real DVC stages in a git clone


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = make_clone(tmp_path_factory.mktemp("clone") / "crychic")
    run(["dvc", "repro", "decode_rgb", "render_heatmaps"], repo)  # ingest, keypoints, clips, heatmaps, RGB
    return repo


# How a fresh process may differ from the last without its inputs changing: the thread count its
# environment asks for (OMP_NUM_THREADS, as a shell profile, a job scheduler or pytest-xdist sets it:
# before `crychic.core.devices.set_compute_threads`, this one trained other weights from the first
# epoch), where its allocations land (numpy's buffers move between the heap and mmap, at other
# alignments; uninitialised memory holds garbage; the environment's size shifts the stack), and how
# its threads are scheduled (every core also busy with another process). None may change a weight.
PERTURBATIONS = {
    "plain": {},
    "omp_threads": {"OMP_NUM_THREADS": "2" if os.environ.get("OMP_NUM_THREADS") == "1" else "1"},
    "allocations": {"MALLOC_PERTURB_": "165", "MALLOC_MMAP_THRESHOLD_": "65536", "CRYCHIC_PADDING": "x" * 4099},
    "busy_cores": {},  # and a spinning process on every core while it trains
}


def _train_rgb_only(repo: Path, out: Path, env: dict, busy: bool) -> tuple[bytes, bytes, dict]:
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)
                ] if busy else []
    try:
        run([sys.executable, "-m", "stages.train_rgb_only", "--no-mlflow", "--fresh", "--out", str(out / "rgb_only.pt"),
             "--metrics", str(out / "metrics.json"), "--plots", str(out / "plots.json"),
             "--timing", str(out / "timing.json")], repo, env={**ENV, **env})
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    weights = torch.load(out / "rgb_only.pt", map_location="cpu", weights_only=True)["state_dict"]
    return (out / "metrics.json").read_bytes(), (out / "plots.json").read_bytes(), weights


def test_rgb_only_trains_the_same_weights_in_four_perturbed_processes(repo, tmp_path):
    """Four fresh processes on one machine, each perturbed another way: identical accuracy files (timings
    live apart) and identical weights."""
    runs = {name: _train_rgb_only(repo, tmp_path / name, env, busy=name == "busy_cores")
            for name, env in PERTURBATIONS.items()}
    (metrics, plots, weights), *others = runs.values()
    for name, (other_metrics, other_plots, other_weights) in zip(list(runs)[1:], others):
        assert other_metrics == metrics and other_plots == plots, name
        differing = [k for k in weights if not torch.equal(weights[k], other_weights[k])]
        assert not differing, f"{name}: {len(differing)} tensors differ from the plain run's, e.g. {differing[:3]}"


# ------------------------------------------------------------------ kill and resume

@pytest.mark.parametrize("stage,epochs_key", [("teacher", "train.teacher.epochs"), ("gcn", "gcn.epochs")])
def test_killed_training_stage_resumes_and_ends_as_an_uninterrupted_run(repo, tmp_path, stage,
                                                                        epochs_key):
    params = params_file(repo, tmp_path / "params", {epochs_key: 4})

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", f"stages.train_{stage}", "--no-mlflow", "--params", str(params),
                "--out", str(out / f"{stage}.pt"), "--metrics", str(out / "metrics.json"),
                "--plots", str(out / "plots.json"), "--timing", str(out / "timing.json")]

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run(command(whole), repo)
    run_until_killed(command(killed), repo, lambda printed: f"[{stage}] epoch 2/4" in printed)
    point = killed / f".{stage}-partial" / "resume.pt"
    assert point.is_file() and not (killed / "metrics.json").exists()

    output = run(command(killed), repo)
    resumed_after = int(re.search(rf"\[{stage}\] resumed after epoch (\d) of 4", output).group(1))
    assert 2 <= resumed_after < 4 and f"[{stage}] epoch 1/4" not in output and f"[{stage}] epoch 4/4" in output
    for name in ("metrics.json", "plots.json"):  # accuracy and the per-epoch curve, byte for byte
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name
    weights = [torch.load(out / f"{stage}.pt", map_location="cpu", weights_only=True)["state_dict"]
               for out in (whole, killed)]
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not point.parent.exists()  # outputs written: the resume point is gone
    # (A point saved under other params is never resumed from: tests/test_resume.py.)


@pytest.mark.parametrize("stage,out_name,shard_key,suffix", [
    ("render_heatmaps", "heatmaps", "heatmap.shard_size", ".h5"),
    ("decode_rgb", "rgb", "rgb.shard_size", ".arrow"),
])
def test_killed_sharded_stage_keeps_its_finished_shards(repo, tmp_path, stage, out_name, shard_key,
                                                        suffix):
    params = params_file(repo, tmp_path / "params", {shard_key: 30})  # 192 samples: 7 shards

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", f"stages.{stage}", "--params", str(params), "--out", str(out),
                "--metrics", str(out.parent / "metrics.json")]

    whole, killed = tmp_path / "whole" / out_name, tmp_path / "killed" / out_name
    run(command(whole), repo)
    chunks = len(list(whole.glob(f"shard-*{suffix}")))
    partial = killed.parent / f".{out_name}-partial"
    run_until_killed(command(killed), repo, lambda _: len(list(partial.glob("chunk-*.json"))) >= 2)
    done = len(list(partial.glob("chunk-*.json")))
    assert 2 <= done < chunks, f"killed after {done} of {chunks} chunks"
    kept_inode = (partial / f"chunk-00000{suffix}").stat().st_ino
    # What a kill can leave besides finished chunks: a half-written temporary file, and a shard
    # written without its commit mark. Neither may be read.
    (partial / f".chunk-{chunks - 1:05d}{suffix}.x1y2.tmp").write_bytes(b"half a shard")
    (partial / f"chunk-{done:05d}{suffix}").write_bytes(b"not a finished shard")

    output = run(command(killed), repo)
    assert f"{stage}: resuming: {done} of {chunks} shards already done" in output
    same_files(whole, killed, f"shard-*{suffix}")
    assert (killed / f"shard-00000{suffix}").stat().st_ino == kept_inode  # moved into place, not redone
    assert (killed.parent / "metrics.json").read_bytes() == (whole.parent / "metrics.json").read_bytes()
    assert not partial.exists()


def test_killed_extract_keypoints_resumes_from_its_finished_shards(repo, tmp_path):
    env = {**ENV, "CRYCHIC_KEYPOINT_BATCH_SIZE": "8", "CRYCHIC_KEYPOINT_WORKERS": "1"}

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "stages.extract_keypoints", "--out", str(out),
                "--metrics", str(out.parent / "metrics.json")]

    whole, killed = tmp_path / "whole" / "keypoints", tmp_path / "killed" / "keypoints"
    run(command(whole), repo, env=env)
    shards = -(-pq.read_table(repo / "data/ingest/manifest.parquet").num_rows // 8)
    partial = killed.parent / ".keypoints-partial"
    run_until_killed(command(killed), repo, lambda _: len([p for p in partial.glob("*") if p.is_file()]) >= 2,
                     env=env)
    output = run(command(killed), repo, env=env)
    done = int(re.search(r"extract_keypoints: resuming: (\d+) of (\d+) shards", output).group(1))
    assert f"of {shards} shards already done" in output and 2 <= done < shards
    same_files(whole, killed, "*.h5")
    assert (killed.parent / "metrics.json").read_bytes() == (whole.parent / "metrics.json").read_bytes()
    assert not partial.exists()
