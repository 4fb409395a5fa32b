"""DVC's experiment queue, driven and read: queue state, a worker's liveness, waiting for experiments, and the
finished experiments' metrics (`dvc exp show`). The sweep (`pipeline.ablations`), the held-out check, the epoch
rule's calibration and the stage-3 schedule all queue or read experiments through it.

DVC 3 keeps each queued task's process record under `.dvc/tmp/exps/run/` and each worker's under
`.dvc/tmp/exps/celery/`; `dvc queue status` prints a table (task id, name, created, status). A worker killed
mid-experiment leaves the experiment Running for ever, so liveness is read from the process records, never from
the queue's one-second "Worker status" broadcast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def dvc_executable() -> str:
    """This environment's `dvc` (beside its Python), so that a sweep drives the DVC it was installed with."""
    return shutil.which("dvc", path=os.path.dirname(sys.executable)) or "dvc"


def _queue_status() -> str:
    return subprocess.run([dvc_executable(), "queue", "status"], check=True, capture_output=True, text=True).stdout


def queue_states(prefix: str = "") -> dict[str, str]:
    """Experiment name (those starting `prefix`) -> DVC queue state (Queued, Running, Success, Failed)."""
    return parse_queue_status(_queue_status(), prefix)


QUEUE_RUN_DIR = Path(".dvc/tmp/exps/run")  # DVC's record of each queued task's process: <task id>/<task id>.json
QUEUE_WORKER_DIR = Path(".dvc/tmp/exps/celery")  # and of each queue worker's: dvc-exp-worker-<n>.json


def running_tasks(out: str) -> list[tuple[str, str]]:
    """(task id, name) of every experiment (any prefix) that `dvc queue status` text calls Running; an
    unnamed one goes by its task id."""
    rows = []
    for line in out.splitlines()[1:]:
        fields = line.split()  # task id, [name], created (two fields: "08:02 PM", "Dec 04"), status
        if len(fields) >= 4 and fields[-1] == "Running":
            rows.append((fields[0], fields[1] if len(fields) >= 5 else fields[0]))
    return rows


def _pid_alive(record: Path) -> bool:
    """Whether the process a DVC ProcessInfo record (JSON with its `pid`) names is alive."""
    try:
        os.kill(int(json.loads(record.read_text())["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def task_alive(task_id: str, run_dir: Path = QUEUE_RUN_DIR, worker_dir: Path = QUEUE_WORKER_DIR) -> bool | None:
    """Whether the process DVC started for a queued task is alive, from DVC's record of it (the task's
    ProcessInfo JSON, its `pid`). Before DVC writes that record the task can only be starting inside a
    queue worker: None while a worker's process (its own record) is alive, False when none is (a task
    killed in its first seconds, with its worker, stays Running for ever otherwise). The queue's
    "Worker status" line is not read: it is a one-second broadcast to celery that can miss a busy worker."""
    records = sorted(Path(run_dir).glob(f"{task_id}*/*.json"))
    if records:
        return _pid_alive(records[0])
    workers = sorted(Path(worker_dir).glob("dvc-exp-worker-*.json"))
    return None if any(_pid_alive(worker) for worker in workers) else False


def queue_busy() -> bool:
    """Whether an experiment (of any prefix) is running in this repository's DVC queue: a Running entry
    whose process is alive, or not yet recorded."""
    return any(task_alive(task) is not False for task, _ in running_tasks(_queue_status()))


def stale_running(out: str, alive=None) -> list[str]:
    """Experiments (any prefix) that `dvc queue status` text calls Running whose process is dead (`alive`:
    task id -> `task_alive`'s answer): it was killed (a crash, a closed session) and DVC would call it
    Running for ever."""
    alive = alive or task_alive
    return [name for task, name in running_tasks(out) if alive(task) is False]


def fail_stale_running(confirm_seconds: float = 20.0) -> list[str]:
    """Mark the stale Running experiments Failed (`dvc queue kill`), so that a resumed sweep queues them again.
    Only those stale in two readings `confirm_seconds` apart; a kill that fails is reported, never raised."""
    names = stale_running(_queue_status())
    if names and confirm_seconds:
        time.sleep(confirm_seconds)
        names = [name for name in stale_running(_queue_status()) if name in names]
    for name in names:
        print(f"[queue] {name} is Running but its process is gone (killed?): marking it Failed", flush=True)
        done = subprocess.run([dvc_executable(), "queue", "kill", name], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"[queue] dvc queue kill {name} failed: {(done.stderr or done.stdout).strip()[-500:]}", flush=True)
    return names


def parse_queue_status(out: str, prefix: str = "") -> dict[str, str]:
    """`dvc queue status` text -> {experiment name: state} for the experiments named `prefix`...; a sweep
    passes its own prefix, so that another prefix's experiments never count as its own."""
    # A name can appear twice (an interrupted sweep's Failed entry, then its re-queued run): the
    # entry furthest along wins, so an old failure never hides a run that is queued, running or done.
    rank = {"Failed": 0, "Success": 1, "Queued": 2, "Running": 3}
    states: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[1].startswith(prefix) and fields[-1] in rank:
            name, state = fields[1], fields[-1]
            if rank[state] > rank.get(states.get(name), -1):
                states[name] = state
    return states


def poll_interval(elapsed_seconds: float, longest: float = 120.0) -> float:
    """Seconds to the next `dvc queue status`: each costs about 7 s of CPU on a 2-core VM, taken from the
    training it watches, so polls thin out as a sweep runs (5 s at first, 2 min once an hour has passed)."""
    return min(longest, 5.0 + elapsed_seconds / 30.0)


def wait(names: list[str], poll_seconds: float | None = None) -> dict[str, str]:
    """Block until every named experiment has finished, printing progress with counts and rate
    (`poll_seconds` fixes the interval between polls; by default `poll_interval`).
    An experiment that left the queue unfinished (removed by hand with `dvc queue remove`) is
    reported as "Removed", one whose process died under it (`stale_running`, two polls in a row) is
    marked Failed, and the sweep goes on to record the others."""
    started, last, idle_polls, orphan_polls = time.perf_counter(), None, 0, 0
    while True:
        out = _queue_status()
        states = parse_queue_status(out)
        # A worker killed mid-experiment leaves it Running for ever: after two polls in a row, marked Failed.
        orphan_polls = orphan_polls + 1 if any(n in stale_running(out) for n in names) else 0
        if orphan_polls >= 2:
            fail_stale_running(confirm_seconds=0)  # two readings already
            orphan_polls = 0
            continue
        done = [n for n in names if states.get(n) in {"Success", "Failed"}]
        running = [n for n in names if states.get(n) == "Running"]
        elapsed = time.perf_counter() - started
        line = (f"[queue] {len(done)}/{len(names)} done, running: {', '.join(running) or '-'}, "
                f"{elapsed / 60:.1f} min" + (f", {elapsed / len(done) / 60:.1f} min per experiment" if done else ""))
        if line != last:
            print(line, flush=True)
            last = line
        if len(done) == len(names):
            return {n: states[n] for n in names}
        queued = any(states.get(n) == "Queued" for n in names)
        if not running and not queued:
            missing = [n for n in names if states.get(n) not in {"Success", "Failed"}]
            print(f"[queue] no longer queued, not finished (removed?): {missing}", flush=True)
            return {n: "Removed" if n in missing else states[n] for n in names}
        # DVC's queue worker can exit between experiments with some still queued (seen with DVC 3):
        # nothing would ever run them, so after two idle polls in a row a worker is started again.
        # Idle means no experiment of the queue runs, ours or another (a sweep asked for a few while
        # an earlier one's experiment still runs: the worker is busy, not gone).
        idle_polls = idle_polls + 1 if queued and not running_tasks(out) else 0
        if idle_polls >= 2:
            print("[queue] the queue worker stopped with experiments queued: starting it again", flush=True)
            subprocess.run([dvc_executable(), "queue", "start", "-j", "1"], check=True, stdout=subprocess.DEVNULL)
            idle_polls = 0
        time.sleep(poll_interval(elapsed) if poll_seconds is None else poll_seconds)


def experiment_baselines(root: str = ".") -> list[str]:
    """The commits that finished experiments were run from, read off DVC's experiment refs by DVC itself
    (`exp_refs` skips the queue's and executor's own refs)."""
    from dvc.repo.experiments.utils import exp_refs
    from dvc.scm import SCM

    return sorted({ref.baseline_sha for ref in exp_refs(SCM(root))})


def experiment_metrics() -> dict[str, dict]:
    """Experiment name -> {"metrics": its metrics/evaluate.json, "rev": its commit}, for every
    experiment `dvc exp show` lists."""
    # `exp show --all-commits` reads the metrics of every commit of the history (16 min for 340 commits on a
    # 2-core VM): asking for the baselines that hold experiments, and only those, takes seconds.
    # A killed experiment stays Running, and its half-removed workspace makes `exp show` fail: marked Failed first.
    fail_stale_running()
    baselines = experiment_baselines()
    if not baselines:
        return {}
    revs = [arg for sha in baselines for arg in ("--rev", sha)]
    result = subprocess.run([dvc_executable(), "exp", "show", *revs, "--json", "--no-pager"], check=True, capture_output=True,
                            text=True)
    return finished_experiments(json.loads(result.stdout))


def finished_experiments(exp_show: list[dict], metrics_file: str = "metrics/evaluate.json") -> dict[str, dict]:
    """`dvc exp show --json` -> {name: {"metrics": its `metrics_file`, "rev"}} of the experiments that finished."""
    # `exp show` also lists queued, running and failed experiments, each with its *baseline's*
    # metrics (a re-run's name can appear twice: the failed attempt and the finished one): skip all
    # but the finished ones, judged per entry, never per name.
    found = {}
    for baseline in exp_show:
        for experiment in baseline.get("experiments") or []:
            state = ((experiment.get("executor") or {}).get("state") or "success").lower()
            for rev in experiment.get("revs") or []:
                name = rev.get("name") or experiment.get("name")
                data = ((rev.get("data") or {}).get("metrics") or {}).get(metrics_file) or {}
                if name and state == "success" and not rev.get("error") and data.get("data"):
                    found[name] = {"metrics": data["data"], "rev": rev.get("rev")}
    return found
