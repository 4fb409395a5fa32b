"""A real `prefect server` on loopback for the test session (tests/conftest.py starts one per pytest process).

The server keeps its database in a home of its own, so that two xdist workers' servers never share one
SQLite file, and answers on a free port; `stop` ends its whole process group and removes the home.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT = 300  # s: the first start migrates a new database, minutes on a loaded 2-core machine


def server_command(port: int) -> list[str]:
    """`prefect server start` on loopback at `port`, API only (no UI, scheduler or late-run service)."""
    return [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
            "--no-ui", "--no-scheduler", "--no-late-runs"]


def healthy(api_url: str) -> bool:
    """Whether the server at `api_url` answers its health check (a starved server answers late)."""
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=10) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


@dataclass
class PrefectServer:
    process: subprocess.Popen
    home: Path
    api_url: str

    @classmethod
    def start(cls, home: Path) -> "PrefectServer":
        from conftest import free_port

        port = free_port()
        env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_LOGGING_LEVEL": "WARNING"}
        env.pop("PREFECT_API_URL", None)
        with open(home / "server.log", "w") as log:  # the server keeps its own copy of the descriptor
            process = subprocess.Popen(server_command(port), env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        server = cls(process, home, f"http://127.0.0.1:{port}/api")
        deadline = time.monotonic() + READY_TIMEOUT
        while not healthy(server.api_url):
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop(keep_home=True)
                raise RuntimeError(f"the test session's prefect server did not start (exit {process.poll()}): "
                                   f"{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        return server

    def stop(self, keep_home: bool = False) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        if not keep_home:
            shutil.rmtree(self.home, ignore_errors=True)
