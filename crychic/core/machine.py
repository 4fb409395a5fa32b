"""Which machine made a figure.

Trained networks differ between processors from the first epoch, even with the CPU kernels capped
(`crychic.core.reproducibility`; the spread is in docs/REPORT.md, Reproducibility), so a figure is
only reproducible on the kind of machine that made it. Every stage that trains or evaluates writes
`describe_machine()` into its timing file (never into an accuracy file, which must stay comparable
across machines) and tags its MLflow run with it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from crychic.core.reproducibility import kernel_caps_in_effect


def cpu_model(cpuinfo: str | None = None) -> str:
    """The processor's name ("AMD EPYC 7B13", "Intel(R) Xeon(R) ..."), from /proc/cpuinfo on Linux."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Processor", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


# The cpuinfo lines that tell two processors sold under one name apart ("AMD EPYC" on a VM can be a
# Zen 3 or a Zen 4: other caches and instruction sets, so other kernel choices and other weights).
CPU_ID_FIELDS = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "stepping": "stepping",
                 "cache size": "cache"}
# Instruction sets a kernel library may choose by (the caps in crychic.core.reproducibility limit which).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")


def cpu_identity(cpuinfo: str | None = None) -> dict:
    """Vendor, family, model, stepping, cache size and the vector instruction sets of the first
    processor in /proc/cpuinfo (empty where there is none): two machines with equal identities run
    the same kernels, which the CPU model's name alone does not say."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.exists() else ""
    identity: dict = {}
    for line in cpuinfo.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in CPU_ID_FIELDS:
            identity[CPU_ID_FIELDS[key]] = value
        elif key == "flags":
            flags = set(value.split())
            identity["isa"] = [flag for flag in ISA_FLAGS if flag in flags]
    return identity


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one), at least 1."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def describe_machine() -> dict:
    """CPU model and identity (`cpu_identity`), cores, the torch build and threads, the kernel caps in
    effect, and the GPU if any."""
    import torch

    record = {
        "cpu": cpu_model(), "cpu_id": cpu_identity(), "cores": usable_cores(), "logical_cpus": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(),
        "cpu_kernels": kernel_caps_in_effect(),
        "python": platform.python_version(), "system": f"{platform.system()} {platform.release()}",
    }
    if torch.cuda.is_available():
        record["gpu"] = torch.cuda.get_device_name(0)
        record["gpus"] = torch.cuda.device_count()
    return record


def machine_tags(record: dict) -> dict[str, str]:
    """The record as MLflow tags (`machine.cpu`, `machine.cores`, ...): comparable in the UI's run table."""
    tags = {}
    for key, value in record.items():
        if isinstance(value, dict):
            tags.update({f"machine.{key}.{k}": str(v) for k, v in value.items()})
        else:
            tags[f"machine.{key}"] = str(value)
    return tags
