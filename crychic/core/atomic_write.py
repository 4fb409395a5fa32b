"""Atomic file output: a stage killed half-way leaves no half-written file that looks whole.

Every writer in CRYCHIC writes to a temporary name in the destination's own directory (so the
final rename never crosses file systems) and renames it into place only after it is closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path`, on error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | os.PathLike, value, *, indent: int = 2) -> None:
    """A metrics or plots file for DVC, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=indent) + "\n")
