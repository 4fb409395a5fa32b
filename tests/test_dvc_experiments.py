"""DVC's experiment queue as the sweep drives it (pipeline/dvc_experiments.py): `dvc queue status` text read, a
worker's liveness from DVC's process records, waiting, and the finished experiments read from `dvc exp show`.
The queue itself is faked here (its status text, `subprocess.run`); tests/test_dvc_pipeline.py runs a real one."""

from __future__ import annotations

import json

import pipeline.dvc_experiments as dvc_experiments
from pipeline.dvc_experiments import (experiment_baselines, finished_experiments, parse_queue_status, poll_interval,
                                      running_tasks, stale_running, task_alive)


def test_queue_status_prefers_the_entry_furthest_along():
    """An interrupted sweep leaves a Failed entry beside the re-queued run of the same name: the
    sweep must wait for the run, not count the old failure as done (and drop it from the table)."""
    text = """Task     Name                          Created    Status
af86a49  abl3-no-attention-transfer-d1  03:36 AM   Running
1ba6af1  abl3-no-contrastive-d1         03:36 AM   Queued
8a1b7d6  abl3-no-attention-transfer-d1  01:27 AM   Failed
b6214f1  abl3-full-d0                   01:19 AM   Success
c0ffee1  other-experiment              01:19 AM   Success

Worker status: 1 active, 0 idle
"""
    expected = {"no-attention-transfer-d1": "Running", "no-contrastive-d1": "Queued", "full-d0": "Success"}
    assert parse_queue_status(text, "abl3-") == {f"abl3-{name}": state for name, state in expected.items()}  # another prefix's: left out
    assert parse_queue_status(text)["other-experiment"] == "Success"


def test_a_failed_attempt_never_stands_in_for_the_finished_run():
    """`exp show` lists a failed attempt with its baseline's metrics (another draw's): the table
    must take the finished run of that name, whatever the order of the entries."""
    def entry(rev, state, error, seed):
        return {"executor": {"state": state}, "name": "abl3-x-d1",
                "revs": [{"rev": rev, "name": "abl3-x-d1", "error": error,
                          "data": {"metrics": {"metrics/evaluate.json": {"data": {"seed": seed}}}}}]}

    finished = entry("good", "success", None, 1)
    failed = entry("bad", "failed", {"msg": "Experiment run failed"}, 0)
    queued = {**entry("queued", "queued", None, 0), "name": "abl3-y-d1"}
    queued["revs"][0]["name"] = "abl3-y-d1"
    for order in ([finished, failed], [failed, finished]):
        found = finished_experiments([{"rev": "base", "experiments": [*order, queued]}])
        assert found == {"abl3-x-d1": {"metrics": {"seed": 1}, "rev": "good"}}


def test_experiments_are_read_from_the_baselines_that_hold_them_only(tmp_path):
    """`exp show --all-commits` reads every commit of the history (16 min on a 2-core VM): the sweep asks
    for the commits named in DVC's experiment refs (a real git repository's), once each, and never for
    the queue's own refs."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "a")
    a = git("rev-parse", "HEAD")
    assert experiment_baselines(str(tmp_path)) == []
    git("commit", "-q", "--allow-empty", "-m", "b")
    b = git("rev-parse", "HEAD")
    for ref in [f"refs/exps/{a[:2]}/{a[2:]}/abl10-full-d0", f"refs/exps/{a[:2]}/{a[2:]}/abl10-full-d3",
                f"refs/exps/{b[:2]}/{b[2:]}/abl9-full-d1", "refs/exps/celery/failed", "refs/exps/celery/stash",
                "refs/exps/exec/EXEC_BASELINE"]:
        git("update-ref", ref, b)
    assert experiment_baselines(str(tmp_path)) == sorted([a, b])


def test_queue_polls_thin_out_as_the_sweep_runs():
    """Each `dvc queue status` costs seconds of CPU that the training it watches would use."""
    waits = [poll_interval(minutes * 60) for minutes in (0, 1, 10, 60, 600)]
    assert waits == sorted(waits) and waits[0] <= 10 and waits[-1] == 120


def _status_text(states: dict[str, str], workers: int) -> str:
    """`dvc queue status` text for `states` (name -> state) with `workers` live workers."""
    rows = [f"{i:07x}  {name}  03:36 AM   {state}" for i, (name, state) in enumerate(states.items())]
    return "\n".join(["Task     Name    Created    Status", *rows, "", f"Worker status: {workers} active, 0 idle", ""])


def _fake_queue(monkeypatch, states: list[dict[str, str]], workers: list[int], alive: bool = True) -> list[list[str]]:
    """`dvc queue status` answers from the lists, poll by poll, every Running task's process `alive` or not;
    returns the other dvc commands run."""
    import subprocess

    answers = iter(_status_text(s, w) for s, w in zip(states, workers))
    monkeypatch.setattr(dvc_experiments, "_queue_status", lambda: next(answers))
    monkeypatch.setattr(dvc_experiments, "task_alive", lambda task: alive)
    commands = []

    def run(command, **kwargs):
        commands.append(command[1:])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(dvc_experiments.subprocess, "run", run)
    return commands


def test_wait_restarts_a_queue_worker_that_stopped_with_experiments_queued(monkeypatch):
    name = f"abl10-e-d0"
    commands = _fake_queue(monkeypatch, [{name: s} for s in ("Queued", "Queued", "Running", "Success")], [0, 0, 1, 0])
    assert dvc_experiments.wait([name], poll_seconds=0) == {name: "Success"}
    assert commands == [["queue", "start", "-j", "1"]]


def test_wait_leaves_the_worker_alone_while_another_experiment_runs(monkeypatch):
    # "mine" waits in the queue behind "other" (queued by an earlier sweep): the worker is busy, not gone.
    mine, other = f"abl10-mine-d0", f"abl10-other-d0"
    polls = [{other: "Running", mine: "Queued"}] * 3 + [{other: "Success", mine: "Running"}, {mine: "Success"}]
    commands = _fake_queue(monkeypatch, polls, [1, 1, 1, 1, 0])
    assert dvc_experiments.wait([mine], poll_seconds=0) == {mine: "Success"}
    assert commands == []


def test_wait_reports_an_experiment_removed_from_the_queue_and_returns(monkeypatch):
    # "b" was removed by hand (`dvc queue remove`) while "a" ran: the sweep records "a" and goes on.
    a, b = f"abl10-a-d0", f"abl10-b-d0"
    _fake_queue(monkeypatch, [{a: "Running", b: "Queued"}, {a: "Success"}], [1, 0])
    assert dvc_experiments.wait([a, b], poll_seconds=0) == {a: "Success", b: "Removed"}


def test_a_running_experiment_is_stale_only_when_its_process_is_gone(tmp_path):
    """Judged by the process DVC recorded for the task (its pid), never by the queue's worker count, which
    can read 0 while a worker is busy: a live experiment is never killed."""
    import os
    import subprocess

    name = f"abl10-full-seed2-d4"
    text = _status_text({name: "Running", f"abl10-x-d0": "Failed"}, workers=0)
    assert running_tasks(text) == [("0000000", name)]
    assert running_tasks("Task  Name  Created  Status\n1234abc  08:02 PM   Running\n") == [("1234abc", "1234abc")]  # unnamed
    assert stale_running(text, alive=lambda task: False) == [name]
    assert stale_running(text, alive=lambda task: True) == []  # alive: kept, whatever the worker count says
    assert stale_running(text, alive=lambda task: None) == []  # not yet recorded by DVC: kept
    # task_alive reads DVC's ProcessInfo record: this process is alive, a finished child is not.
    assert task_alive("0000000", run_dir=tmp_path, worker_dir=tmp_path) is False  # no record, no worker
    record = tmp_path / "0000000aaaa" / "0000000aaaa.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"pid": os.getpid(), "returncode": None}))
    assert task_alive("0000000", run_dir=tmp_path) is True
    child = subprocess.Popen(["true"])
    child.wait()
    record.write_text(json.dumps({"pid": child.pid, "returncode": None}))
    assert task_alive("0000000", run_dir=tmp_path) is False


def test_a_running_experiment_without_a_process_record_is_stale_once_no_queue_worker_lives(tmp_path):
    """A task killed in its first seconds (a session closed under it) never gets DVC's process record; with
    no live queue worker nothing can still be starting it, and it would stay Running for ever."""
    import os
    import subprocess

    runs, workers = tmp_path / "run", tmp_path / "celery"
    runs.mkdir(), workers.mkdir()
    assert task_alive("0000000", run_dir=runs, worker_dir=workers) is False  # no worker ever recorded
    worker = workers / "dvc-exp-worker-1.json"
    worker.write_text(json.dumps({"pid": os.getpid(), "returncode": None}))
    assert task_alive("0000000", run_dir=runs, worker_dir=workers) is None  # a live worker: maybe starting it
    child = subprocess.Popen(["true"])
    child.wait()
    worker.write_text(json.dumps({"pid": child.pid, "returncode": None}))
    assert task_alive("0000000", run_dir=runs, worker_dir=workers) is False


def test_an_experiment_left_running_by_a_killed_worker_is_marked_failed(monkeypatch):
    """A closed session killed the queue worker mid-experiment: DVC calls it Running for ever. The sweep
    marks it Failed (`dvc queue kill`) rather than wait for ever, and a resumed sweep queues it again."""
    name = f"abl10-full-seed2-d4"
    # wait(): two polls in a row with the process gone, then the kill (which reads the status once more), then Failed.
    commands = _fake_queue(monkeypatch, [{name: "Running"}] * 3 + [{name: "Failed"}], [1] * 4, alive=False)
    assert dvc_experiments.wait([name], poll_seconds=0) == {name: "Failed"}
    assert commands == [["queue", "kill", name]]


def test_a_stale_experiment_is_killed_only_if_still_stale_on_a_second_reading(monkeypatch):
    name = f"abl10-full-d4"
    alive = iter([False, True])  # gone on the first reading, alive on the second (a slow record): not killed
    _fake_queue(monkeypatch, [{name: "Running"}] * 2, [0, 0])
    monkeypatch.setattr(dvc_experiments, "task_alive", lambda task: next(alive))
    assert dvc_experiments.fail_stale_running(confirm_seconds=0.01) == []
