"""Per-sample fan-out as a Prefect flow: local threads by default, a Dask cluster when given one.

A stage hands over its samples (manifest rows) and a pure per-sample function from `crychic`.
Samples travel in shards, contiguous runs of the manifest, one Prefect task each, so that task
bookkeeping stays small next to the work even at NTU scale. A caller may fix the shard size; by
default `shard_size` derives it from the number of samples and of workers (threads here, or the
Dask cluster's worker threads): a few shards per worker so that the last ones finish together, at
most `MAX_SHARD` samples (what one crash can lose per worker, and how often progress is reported)
and at most `MAX_TASKS` tasks per flow. A sample whose function raises becomes a reject with the
error message (and the exception's `reject_details`, when it has them, as `details`); it never
stops the others. The caller decides whether too many rejects fail the stage.

Completed work survives a crash: with a `cache_dir`, each shard's results are persisted by Prefect
under a key made of the caller's `cache_token` (its params) and the shard's files (path, size,
mtime), so a stage killed half-way and run again recomputes only the shards that had not finished.
The shards of a large dataset (`MAX_SHARD` samples each) do not depend on the number of workers,
so a run resumed with more or fewer workers still finds them; a small dataset's do.
"""

from __future__ import annotations

import hashlib
import json
import math
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


SHARDS_PER_WORKER = 4  # a few shards per worker: the last ones finish close together
MAX_SHARD = 256        # samples: 256 NTU videos (~18,000 frames) are minutes of MediaPipe on one core
MAX_TASKS = 512        # Prefect tasks per flow: a flow of tens of thousands of tasks is too heavy


def shard_size(samples: int, workers: int) -> int:
    """Samples per Prefect task when the caller fixes none; see the module docstring.

    NTU-120's 114,480 videos: 256 a shard (448 tasks) with up to 112 workers, then smaller shards
    down to 224 (512 tasks) from 128 workers on; past 512 workers, about one shard per worker.
    The 744 synthetic samples on 2 workers: 93 a shard (8 tasks); 7 samples on 2 workers: 1 each.
    """
    workers = max(1, workers)
    balanced = math.ceil(samples / (workers * SHARDS_PER_WORKER))
    fewest = math.ceil(samples / max(MAX_TASKS, workers))  # the task ceiling, unless workers outnumber it
    return max(1, min(balanced, MAX_SHARD), fewest)


def split_into_shards(samples: Sequence[dict], size: int) -> list[list[dict]]:
    return [list(samples[i : i + size]) for i in range(0, len(samples), size)]


@task(name="process-shard", retries=0, cache_policy=NO_CACHE)
def process_shard(work: Callable[[dict], Any], shard: list[dict], stage: str) -> list[tuple[str, Any, dict | None]]:
    out = []
    for sample in shard:
        try:
            out.append((sample["sample_id"], work(sample), None))
        except Exception as err:  # any failure of one sample is that sample's reject, with its reason
            reason = str(err) if sample["path"] in str(err) else f"{sample['path']}: {err}"
            reject = {"sample_id": sample["sample_id"], "path": sample["path"], "stage": stage,
                      "reason": f"{type(err).__name__}: {reason}"}
            if getattr(err, "reject_details", None) is not None:  # e.g. a partial video's frame counts
                reject["details"] = err.reject_details
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


def _shard_key(cache_token: str):
    def key(context, parameters) -> str:
        identity = [cache_token, parameters["stage"]]
        for sample in parameters["shard"]:
            identity += [sample["sample_id"], *_file_identity(sample.get("path")),
                         *_file_identity(sample.get("annotation"))]
        return hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()

    return key


def dask_worker_threads(address: str, timeout: float = 30.0) -> int:
    """The worker threads a Dask scheduler has now (0 when it has no worker yet)."""
    from distributed import Client

    with Client(address, timeout=timeout, set_as_default=False) as client:
        return int(sum(client.nthreads().values()))


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


def _available_workers(workers: int, dask_address: str | None, dask_local_workers: int) -> int:
    """The threads the shards are sized for: the cluster's at `dask_address`, the local Dask workers, or `workers`."""
    if dask_address:
        return dask_worker_threads(dask_address) or workers  # no worker yet: they may still be coming
    return dask_local_workers or workers


def _cached_shard_task(shards: list[list[dict]], stage: str, cache_dir: str | os.PathLike, cache_token: str):
    """`process_shard` with its result kept per shard in `cache_dir`, so a killed stage resumes; says how many
    shards an earlier run already finished."""
    # Prefect stores each finished shard's result under its cache key, a file in `cache_dir`.
    key = _shard_key(cache_token)
    done = sum((Path(cache_dir) / key(None, {"stage": stage, "shard": shard})).is_file() for shard in shards)
    if done:
        print(f"{stage}: resuming: {done} of {len(shards)} shards already done ({cache_dir})", flush=True)
    # A policy, not `cache_key_fn=`: the task's NO_CACHE default plus a key function draws a warning.
    return process_shard.with_options(cache_policy=CachePolicy.from_cache_key_fn(_shard_key(cache_token)),
                                      persist_result=True)


def run_per_sample(
    samples: Sequence[dict],
    work: Callable[[dict], Any],
    *,
    stage: str,
    workers: int = 2,
    batch_size: int | None = None,
    dask_address: str | None = None,
    dask_local_workers: int = 0,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    cache_token: str = "",
) -> FanOutResult:
    """Run `work(sample)` for every sample through a Prefect flow; see the module docstring.

    `batch_size`: samples per Prefect task; None: `shard_size` of the samples and the workers
    (`workers` threads, `dask_local_workers`, or the threads of the cluster at `dask_address`).
    Sample paths are resolved against the working directory (the project root in a DVC stage).
    The cache is removed once every shard has finished: the stage's outputs take over from there.
    """
    if batch_size is None:
        batch_size = shard_size(len(samples), _available_workers(workers, dask_address, dask_local_workers))
    shards = split_into_shards(samples, batch_size)
    shard_task = process_shard if cache_dir is None else _cached_shard_task(shards, stage, cache_dir, cache_token)

    @flow(name=f"{stage}-fan-out", task_runner=_task_runner(workers, dask_address, dask_local_workers),
          log_prints=False, validate_parameters=False)
    def fan_out_flow() -> FanOutResult:
        result = FanOutResult()
        started = time.perf_counter()
        futures = [shard_task.submit(work, shard, stage) for shard in shards]
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
