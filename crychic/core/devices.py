"""Where a run computes and how its processes agree: the torch device, the seeds, and DDP under torchrun.

Devices: CUDA when present (`train.device: auto`), CPU otherwise. Under `torchrun` (WORLD_SIZE > 1)
the same code runs as DDP: gloo on CPU, NCCL on CUDA; only rank 0 logs and saves. Shared by the
training loop, the baselines and evaluate, so that none of them imports another's module for it.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist


def resolve_device(name: str = "auto", *, train: bool = False) -> torch.device:
    """The torch device of `train.device`. Training on CUDA (`train=True`) lets cuDNN time its convolution
    algorithms for each new shape first (`cudnn.benchmark`, as PYSKL's configs do): a stage's shapes are
    fixed, and it made the teacher's training steps 26 % faster on an H200 at NTU shapes
    (metrics/gpu_ntu_shapes.json). Which algorithm wins that timing can change from run to run, so
    evaluation leaves it off (its scores are meant to repeat); the CPU path is untouched."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("train.device asks for CUDA, but torch sees no GPU")
    if name.startswith("cuda") and train:
        torch.backends.cudnn.benchmark = True
    return torch.device(name)


def set_compute_threads(setting: int | None = None) -> int:
    """Fix torch's intra-op threads for this process: `setting` (the `torch_threads` execution setting),
    else this machine's usable cores shared among torchrun's local processes. Returns the count.

    Why: CPU kernels split their reductions by thread, so the thread count reaches every trained weight.
    torch takes it from the environment (OMP_NUM_THREADS, which a shell profile, a job scheduler or a
    test runner may set) or the CPU affinity, so two runs of one stage on one machine trained different
    networks whenever their environments differed (tests/test_dvc_pipeline.py provokes it). Set here
    from the machine alone, the same inputs give the same weights on the same machine."""
    from crychic.core.machine import usable_cores

    threads = setting or max(1, usable_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group that `torchrun` describes through its environment variables."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    ctx = Distributed(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return ctx


def all_reduce_mean(value: float, ctx: Distributed, device: torch.device) -> float:
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item() / ctx.world_size)
