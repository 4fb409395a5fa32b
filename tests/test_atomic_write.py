"""Atomic outputs: a failure half-way leaves the old file (or none), never a half-written one."""

from __future__ import annotations

import os
import stat

import pytest

from crychic.core.atomic_write import atomic_path


def test_success_replaces_and_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "table.parquet"
    with atomic_path(target) as tmp:
        tmp.write_text("complete")
    assert target.read_text() == "complete"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()

    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("killed")
    assert target.read_text() == "complete"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.parquet"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
