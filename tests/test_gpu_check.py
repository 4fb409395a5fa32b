"""benchmarks/gpu_check.sh on a machine without CUDA: it must fail, saying why, before training."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would train for real")
def test_gpu_check_fails_cleanly_without_cuda():
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable})
    assert result.returncode != 0
    assert "no CUDA device" in result.stdout and "nothing was run" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_ntu_shapes_check_runs_the_projection_stage_on_the_cpu(tmp_path):
    """gpu_check.sh's NTU-shapes part (benchmarks/gpu_ntu_shapes.py), its same code on the CPU: the joint
    stage's networks at the preset's shapes through the uint8 loader, compared with the projection."""
    out = tmp_path / "ntu.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_ntu_shapes.py"), "--device", "cpu",
                             "--steps", "1", "--warmup", "0", "--batch", "2", "--stages", "train_joint", "--peak-tflops", "1",
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assumed = json.loads((ROOT / "metrics" / "bench_ntu_shapes.json").read_text())["projection"]["assumptions"]
    assert "train_joint" in result.stdout
    assert f"projection assumed {assumed['gpu_utilisation']['value']:.1%}" in result.stdout
    figures = json.loads(out.read_text())["stages"]["train_joint"]
    assert figures["batch"] == 2 and figures["gpu_clips_per_s"] > 0 and 0 <= figures["loader_wait_share"] < 1
