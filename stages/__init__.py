"""One thin command-line entry point per DVC stage: read params, call `crychic`, write outputs.

Every stage runs with CPU kernels capped at AVX2 (`crychic.core.reproducibility`), so a seeded run
gives the same models on any x86 machine; this must happen before torch is imported.
"""

from crychic.core.reproducibility import pin_cpu_kernels

pin_cpu_kernels()
