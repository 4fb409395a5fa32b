"""benchmarks/gpu_check.sh on a machine without CUDA: it must fail, saying why, before training."""

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
