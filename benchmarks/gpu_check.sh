#!/usr/bin/env bash
# GPU readiness (benchmarks/gpu_check.py): every training stage a few steps on CUDA with AMP, then
# the joint stage under DDP (NCCL) over every GPU present. Exits non-zero on any error, and on a
# machine without CUDA (saying so). Run from the project root after `dvc repro`; STEPS=20 for more.
# Then the NTU projection's assumptions checked on this GPU (benchmarks/gpu_ntu_shapes.py): step
# times, loader waits and implied utilisation at NTU shapes, beside the projection's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
STEPS="${STEPS:-10}"
"$PY" benchmarks/gpu_check.py --steps "$STEPS"
GPUS="$("$PY" -c 'import torch; print(torch.cuda.device_count())')"
if [ "$GPUS" -ge 2 ]; then
  "$PY" -m torch.distributed.run --standalone --nproc_per_node="$GPUS" benchmarks/gpu_check.py \
    --steps "$STEPS" --stages teacher student joint
else
  echo "[gpu_check] one GPU: DDP (NCCL) not exercised"
fi
"$PY" benchmarks/gpu_ntu_shapes.py --steps "$STEPS"
