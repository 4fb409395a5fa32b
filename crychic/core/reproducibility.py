"""Bitwise-repeatable CPU training across x86 machines of one kind.

Why: PyTorch picks its CPU kernels at run time from the instruction sets the processor has
(oneDNN convolutions and ATen's vectorised ops: AVX2, AVX-512, AMX). Kernels for different sets
round differently, and over a few thousand optimiser steps those last-bit differences grow into
different models: a fresh clone on another 2-core machine reproduced the data stages exactly but
not the trained accuracies. Capping these libraries at AVX2 (which every x86-64 server of the last
decade has) is meant to make the same seed give the same weights on any of them, at some speed
cost on AVX-512 machines (docs/REPORT.md, Reproducibility). The third library is MKL, torch's BLAS
on x86 (`nn.Linear`, every matmul): it picks its kernels by processor too and ignores the other
two caps, so `MKL_CBWR=AVX2` (its "conditional numerical reproducibility" mode) pins it to the AVX2
code path with run-to-run stable reductions. On an AMD EPYC that mode computes the same bits as
MKL's own choice (measured, docs/REPORT.md); on an Intel AVX-512 processor it moves MKL off its
AVX-512 kernels.

The thread count reaches the last bits too: `crychic.core.devices.set_compute_threads`.

The caps must be in the environment before torch first runs a kernel, so `stages/__init__.py`
(every DVC stage) and `tests/conftest.py` call `pin_cpu_kernels()` before importing torch.
`CRYCHIC_CPU_KERNELS=native` opts out (fastest kernels, runs repeat only on the same processor).
CUDA runs are unaffected (and are not bitwise repeatable across GPU models anyway).
"""

from __future__ import annotations

import os

CPU_KERNEL_CAPS = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}


def pin_cpu_kernels() -> dict[str, str]:
    """Cap oneDNN, ATen and MKL at AVX2 unless the user chose otherwise; returns what is in effect."""
    if os.environ.get("CRYCHIC_CPU_KERNELS", "avx2") != "native":
        for key, value in CPU_KERNEL_CAPS.items():
            os.environ.setdefault(key, value)
    return kernel_caps_in_effect()


def kernel_caps_in_effect() -> dict[str, str]:
    """Each cap's value in this process's environment ("native": not capped)."""
    return {key: os.environ.get(key, "native") for key in CPU_KERNEL_CAPS}
