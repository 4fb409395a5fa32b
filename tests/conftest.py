"""Shared fixtures. `../shared/` (real sample clips and NTU files) sits beside a developer's clone;
a user's clone has none, so tests that need it skip with the reason."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from crychic.core.reproducibility import pin_cpu_kernels

pin_cpu_kernels()  # as every stage does, before anything imports torch
# `make test` runs the suite in one pytest worker per core (pytest-xdist). Each worker, and every process
# it starts (DVC stages, servers), then runs torch on one thread, so that the workers never
# oversubscribe the cores: two processes' spinning OpenMP threads slow both many times over.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("CRYCHIC_TORCH_THREADS", "1")  # the stages' own setting (crychic.core.execution)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"

# Offline Prefect: no telemetry, one ephemeral server home per test session (its database
# migration is paid once), and no INFO chatter logged after pytest has closed its streams.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="crychic-prefect-home-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)


def pytest_configure(config):
    """One real `prefect server` per pytest process (each xdist worker, or the one serial session), which every
    flow of the session reports to, the stages that DVC starts included (they inherit PREFECT_API_URL).
    Without it each process that runs a flow starts Prefect's ephemeral server of its own, 15 to 35 s of
    start-up on a busy 2-core machine, paid by every stage the suite runs (docs/REPORT.md, Test suite).
    Not for the unit tier (`-m "not slow"`), which runs no stage; not where PREFECT_API_URL is set."""
    if "PREFECT_API_URL" in os.environ or "not slow" in (config.option.markexpr or ""):
        return
    from prefect_server import PrefectServer

    config._crychic_prefect_server = PrefectServer.start(Path(tempfile.mkdtemp(prefix="crychic-prefect-server-")))
    os.environ["PREFECT_API_URL"] = config._crychic_prefect_server.api_url


def pytest_unconfigure(config):
    server = getattr(config, "_crychic_prefect_server", None)
    if server is not None:
        server.stop()
        os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"real sample data not found at {data} (only developers' checkouts have ../shared)")
    return data


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_in_group(pgid: int) -> list[int]:
    """The live processes of a process group: what a stopped server would have left behind."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    alive.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                pass
    return alive


# Scheduling under `make test` (pytest-xdist, `--dist loadfile`): each module runs on one worker, so its
# module-scoped fixtures (a pipeline run, a server, a decoded dataset) are built once. The modules that
# run the real pipeline come first, longest first, so that the rest of the suite fills the other
# workers meanwhile.
LONG_MODULES = ("test_dvc_pipeline.py", "test_stages_by_hand.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.path.name
        return LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)

    items.sort(key=rank)  # stable: each module keeps its own order
