"""Execution settings: how a stage runs (worker counts, Prefect task size, a Dask cluster), never
what it computes. They are not DVC params, so scaling out never invalidates a cached result:
changing them and running `dvc repro` re-runs nothing.

Each is read from the environment (`CRYCHIC_<NAME>`, e.g. `CRYCHIC_DASK_ADDRESS=tcp://host:8786`),
else from `execution.yaml` at the project root (untracked; copy `execution.example.yaml`), else
the default below. Results do not depend on them: keypoints and RGB are computed per sample, and
the training data draws per item from (seed, epoch, index), whatever the number of workers. The
exception is `torch_threads`, which moves trained weights in their last bits (see there); its default
follows the machine, never the ambient OMP_NUM_THREADS, and the machine record states it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Execution:
    keypoint_workers: int = 2      # Prefect worker threads for extract_keypoints (MediaPipe)
    keypoint_batch_size: int = 8   # samples per Prefect task
    rgb_workers: int = 2           # Prefect worker threads for decode_rgb
    rgb_batch_size: int = 4
    dask_address: str | None = None  # a Dask scheduler to fan preprocessing out to, e.g. tcp://scheduler:8786
    train_workers: int | None = None  # DataLoader workers per training process (None: `loader_workers` decides)
    train_cache_mb: int = 1024     # with 0 loader workers: samples kept in memory per store (heatmaps, RGB)
    # torch's intra-op threads in a training or evaluate process (None: the usable cores, shared among
    # torchrun's local processes). The one setting that reaches a result's last bits: CPU reductions are
    # split by thread, so a run repeats bit for bit only with the same count (`set_compute_threads`).
    torch_threads: int | None = None
    # A training batch's pixels out of the loader: "float32" (made ready by the workers), "uint8" (turned
    # to float on the device: a quarter of the bytes), or "auto": uint8 on CUDA, float32 on CPU.
    loader_transport: str = "auto"


TRANSPORT_CHOICES = ("auto", "float32", "uint8")


def loader_transport(setting: str, device_type: str) -> str:
    """The training loader's batch dtype (`crychic.training.data.TRANSPORTS`) for `setting` on a device:
    "auto" keeps the CPU path's float32 batches, whose trained bits every committed figure holds, and
    sends uint8 to a GPU, which converts a batch in microseconds and whose loader workers are the
    bottleneck (bench_loader: the float32 batches' shared-memory page faults)."""
    if setting == "auto":
        return "uint8" if device_type == "cuda" else "float32"
    return setting


def loader_workers(setting: int | None, device_type: str, compute_threads: int | None = None,
                   cores: int | None = None) -> int:
    """DataLoader workers for a training process: `setting` when given, else on CPU the cores that
    the model's intra-op threads leave free (0 for the CRYCHIC networks on 2 cores: a worker
    there only takes turns with the model's own threads, and an `rgb_only` epoch ran slower with
    one than loading in the main process: docs/REPORT.md, Design measurements), and on CUDA 8 or
    the cores there are, if fewer.
    Results do not depend on it: items draw from (seed, epoch, index), and the dataset runs its
    own tensor ops on one thread wherever it runs (`crychic.training.data`)."""
    if setting is not None:
        return setting
    import torch

    cores = cores or os.cpu_count() or 1
    if device_type == "cuda":
        return min(8, cores)
    return max(cores - (compute_threads or torch.get_num_threads()), 0)


def execution_settings(config: str | Path = "execution.yaml", environ: dict | None = None) -> Execution:
    """The settings for this run: environment over `config` over the defaults."""
    environ = os.environ if environ is None else environ
    path = Path(config)
    from_file = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    fields = {f.name: f for f in dataclasses.fields(Execution)}
    unknown = sorted(set(from_file) - set(fields))
    if unknown:
        raise ValueError(f"{path}: unknown execution settings {unknown}; known: {sorted(fields)}")
    values = dict(from_file)
    for name in fields:
        raw = environ.get(f"CRYCHIC_{name.upper()}")
        if raw is not None:
            values[name] = raw
    out = {}
    for name, value in values.items():
        if name == "dask_address":
            out[name] = str(value) if value not in (None, "") else None
        elif name == "train_workers" and value in (None, "", "auto"):
            out[name] = None
        elif name == "loader_transport":
            if value not in TRANSPORT_CHOICES:
                raise ValueError(f"execution setting loader_transport must be one of {TRANSPORT_CHOICES}, got {value!r}")
            out[name] = value
        else:
            try:
                out[name] = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"execution setting {name} must be an integer, got {value!r}") from None
            least = 0 if name in ("train_workers", "train_cache_mb") else 1
            if out[name] < least:
                raise ValueError(f"execution setting {name} must be at least {least}, got {out[name]}")
    return Execution(**out)
