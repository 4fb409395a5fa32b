"""How the docs write a figure: percentages, intervals and signed differences at one decimal, and a machine's
CPU kind. Shared by `pipeline.results_table` and `pipeline.sweep_report`, so that a figure reads the same
in every block of README.md and docs/REPORT.md."""

from __future__ import annotations


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def interval(ci, scale: float = 100, signed: bool = False) -> str:
    """`[low, high]` at one decimal; a signed end that one decimal would show as a zero it is not gets two,
    so that an interval ending a hair short of zero does not read as touching it."""
    def end(x: float) -> str:
        fmt = "+.1f" if signed else ".1f"
        if signed and x != 0 and abs(scale * x) < 0.05:
            fmt = "+.2f"
        return f"{scale * x:{fmt}}"

    return "–" if ci is None else f"[{end(ci[0])}, {end(ci[1])}]"


def signed(value) -> str:
    return f"{100 * value:+.1f}"


def finite(ci) -> bool:
    return ci is not None and len(ci) == 2 and all(x is not None for x in ci)


def signed_interval(ci) -> str:
    """A difference's interval, signed; "–" where it has no finite ends (one draw's t interval)."""
    return interval(ci, signed=True) if finite(ci) else "–"


def draws_phrase(n: int) -> str:
    return f"{n} draw{'' if n == 1 else 's'}"


def cpu_kind(machine: dict) -> str:
    """' (family F, model M)' from a `crychic.core.machine.describe_machine` record, or "" where it has none:
    a processor's brand string alone does not tell two AMD EPYC generations apart."""
    identity = machine.get("cpu_id") or {}
    return (f" (family {identity['family']}, model {identity['model']})"
            if identity.get("family") and identity.get("model") else "")
