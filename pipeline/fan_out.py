"""Per-sample fan-out as a Prefect flow: local threads by default, a Dask cluster when given one.

A stage hands over its samples (manifest rows) and a pure per-sample function from `crychic`.
Samples travel in small batches (one Prefect task each) so that task bookkeeping stays small next
to the work, even at NTU scale. A sample whose function raises becomes a reject with the error
message; it never stops the others. The caller decides whether too many rejects fail the stage.

Completed work survives a crash: with a `cache_dir`, each batch's results are persisted by
Prefect under a key made of the caller's `cache_token` (its params) and the batch's files
(path, size, mtime), so a stage killed half-way and run again recomputes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline machines: no telemetry noise
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the progress bar reports; not a line per task
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # 20 s is too short on a busy 2-core machine

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE, CachePolicy  # noqa: E402
from prefect.futures import as_completed  # noqa: E402
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402


@dataclass
class FanOutResult:
    results: dict[str, Any] = field(default_factory=dict)  # sample_id -> the function's return value
    rejects: list[dict] = field(default_factory=list)      # manifest columns + stage + reason
    seconds: float = 0.0

    @property
    def reject_fraction(self) -> float:
        total = len(self.results) + len(self.rejects)
        return len(self.rejects) / total if total else 0.0


@task(name="process-batch", retries=0, cache_policy=NO_CACHE)
def process_batch(work: Callable[[dict], Any], batch: list[dict], stage: str) -> list[tuple[str, Any, dict | None]]:
    out = []
    for sample in batch:
        try:
            out.append((sample["sample_id"], work(sample), None))
        except Exception as err:  # any failure of one sample is that sample's reject, with its reason
            reason = str(err) if sample["path"] in str(err) else f"{sample['path']}: {err}"
            reject = {"sample_id": sample["sample_id"], "path": sample["path"], "stage": stage,
                      "reason": f"{type(err).__name__}: {reason}"}
            out.append((sample["sample_id"], None, reject))
    return out


def _file_identity(path: str | None) -> list:
    if not path:
        return [None]
    try:
        stat = os.stat(path)
        return [path, stat.st_size, stat.st_mtime_ns]
    except OSError:
        return [path, None]


def _batch_key(cache_token: str):
    def key(context, parameters) -> str:
        identity = [cache_token, parameters["stage"]]
        for sample in parameters["batch"]:
            identity += [sample["sample_id"], *_file_identity(sample.get("path")),
                         *_file_identity(sample.get("annotation"))]
        return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()

    return key


def _task_runner(workers: int, dask_address: str | None, dask_local_workers: int):
    if dask_address or dask_local_workers:
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        # Threaded workers share this process's Prefect server (see ENVIRONMENT.md); TCP on loopback,
        # since Dask's in-process transport would bind a non-loopback address.
        return DaskTaskRunner(cluster_kwargs={
            "n_workers": dask_local_workers, "threads_per_worker": 1, "processes": False,
            "protocol": "tcp://", "host": "127.0.0.1", "dashboard_address": None})
    return ThreadPoolTaskRunner(max_workers=max(1, workers))


def run_per_sample(
    samples: Sequence[dict],
    work: Callable[[dict], Any],
    *,
    stage: str,
    workers: int = 2,
    batch_size: int = 8,
    dask_address: str | None = None,
    dask_local_workers: int = 0,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    cache_token: str = "",
) -> FanOutResult:
    """Run `work(sample)` for every sample through a Prefect flow; see the module docstring.

    Sample paths are resolved against the working directory (the project root in a DVC stage).
    The cache is removed once every batch has finished: the stage's outputs take over from there.
    """
    batches = [list(samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)]
    batch_task = process_batch
    if cache_dir is not None:
        # A policy, not `cache_key_fn=`: the task's NO_CACHE default plus a key function draws a warning.
        batch_task = process_batch.with_options(cache_policy=CachePolicy.from_cache_key_fn(_batch_key(cache_token)),
                                                persist_result=True)

    @flow(name=f"{stage}-fan-out", task_runner=_task_runner(workers, dask_address, dask_local_workers),
          log_prints=False, validate_parameters=False)
    def fan_out_flow() -> FanOutResult:
        result = FanOutResult()
        started = time.perf_counter()
        futures = [batch_task.submit(work, batch, stage) for batch in batches]
        with tqdm(total=len(samples), desc=stage, unit="sample", disable=not progress) as bar:
            for future in as_completed(futures):
                for sample_id, value, reject in future.result():
                    if reject is None:
                        result.results[sample_id] = value
                    else:
                        result.rejects.append(reject)
                bar.update(len(future.result()))
                bar.set_postfix(rejected=len(result.rejects))
        result.seconds = time.perf_counter() - started
        return result

    if cache_dir is None:
        return fan_out_flow()
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: str(Path(cache_dir).resolve())}):
        result = fan_out_flow()
    shutil.rmtree(cache_dir, ignore_errors=True)
    return result
