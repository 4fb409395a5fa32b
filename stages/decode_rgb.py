"""DVC stage `decode_rgb`: clip plan -> RGB clips cut by the planned person box, in Arrow IPC shards.

Reads params: `PARAM_KEYS`. Samples are decoded one shard at a time (`pipeline.fan_out`: local
threads, or a Dask cluster, set in `crychic.core.execution`, not DVC params), and each shard is written atomically as
soon as its clips are cut, so memory stays bounded at NTU scale. A sample that cannot be decoded
becomes a reject with its reason; the stage fails only past `rgb.max_reject_fraction`.

Killed and run again, it keeps the shards that had finished (`crychic.core.partial_shards`:
`data/.rgb-partial/`, under a token of the params and the clip plan) and decodes only the rest.
`run_decode_stage` is that machinery; `decode_rgb_framed` runs it with a deployment framing.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

from crychic.clips.plan import read_clip_plan
from crychic.core.atomic_write import write_json
from crychic.core.execution import Execution, execution_settings
from crychic.core.manifest import write_rejects
from crychic.core.partial_shards import PartialShards, input_token
from crychic.core.params import load_params, select
from crychic.rgb.decode import decode_planned_clip
from crychic.rgb.shards import SHARD_GLOB, shard_name, write_rgb_shard
from crychic.core.stage_registry import params_of
from pipeline.fan_out import run_per_sample

PARAM_KEYS = params_of("decode_rgb")  # crychic.core.stage_registry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--out", default="data/rgb")
    parser.add_argument("--metrics", default="metrics/decode_rgb.json")
    parser.add_argument("--timing", help="seconds (default: timing/ beside --metrics)")
    args = parser.parse_args(argv)
    params = select(load_params(args.params), PARAM_KEYS)
    run_decode_stage("decode_rgb", params, args)


def run_decode_stage(stage: str, params: dict, args: argparse.Namespace, framing: str | None = None) -> None:
    """Decode every clip of the plan `args.clips` into RGB shards in `args.out`, one chunk of
    `rgb.shard_size` samples at a time (fanned out, resumable, atomic; rejects and metrics), cut
    by each clip's person box, or with `framing` by that deployment framing box (stage
    `decode_rgb_framed`). `params` are the stage's own (`select`ed), which also key its resume."""
    timing = args.timing or Path(args.metrics).parent / "timing" / Path(args.metrics).name
    rgb, execution = params["rgb"], execution_settings()
    clip_len, size, shard_size = int(rgb["clip_len"]), int(rgb["size"]), int(rgb["shard_size"])
    work = functools.partial(decode_planned_clip, clip_len=clip_len, size=size, seed=int(params["seed"]),
                             decode_max_side=rgb["decode_max_side"], framing=framing)
    plan = read_clip_plan(args.clips)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(SHARD_GLOB):
        stale.unlink()

    partial = PartialShards(out, input_token(params, [args.clips]), suffix=".arrow")
    chunks = range(0, len(plan), shard_size)
    if partial.resumed:
        print(f"{stage}: resuming: {partial.resumed} of {len(chunks)} shards already done ({partial.dir})",
              flush=True)
    started = time.perf_counter()
    rejects, decoded_now = _decode_chunks(stage, plan, chunks, shard_size, partial, work, execution)
    # Shards are numbered by what was written, so a wholly rejected chunk leaves no gap.
    infos = partial.finish(out, len(chunks), shard_name)
    metrics = _decode_metrics(infos, out, len(rejects), len(plan), clip_len * size * size * 3, framing)
    seconds = time.perf_counter() - started
    write_rejects(rejects, out / "rejects.parquet")
    write_json(args.metrics, metrics)  # no timings: re-running identical work rewrites it byte for byte
    write_json(timing, {"seconds": round(seconds, 2),
                        "clips_per_second": round(decoded_now / seconds, 2) if seconds else None})
    print(f"{stage}: {metrics['samples']} clips ({clip_len} x {size} x {size} x 3) of {len(plan)} samples, "
          f"{len(rejects)} rejected, {seconds:.1f} s, {metrics['bytes_per_sample']} bytes per clip")
    _check_rejects(stage, rejects, len(plan), rgb["max_reject_fraction"], out)


def _decode_chunks(stage: str, plan: list[dict], chunks: range, shard_size: int, partial: PartialShards, work,
                   execution: Execution) -> tuple[list[dict], int]:
    """(every chunk's rejects, the clips decoded by this run): each chunk of `shard_size` samples
    not already done is fanned out with `work` and written as one shard (none when all its samples
    are rejected)."""
    rejects, decoded_now = [], 0  # decoded_now: by this run (the rate), not resumed
    for chunk, first in enumerate(chunks):
        chunk_plan = plan[first : first + shard_size]
        info = partial.done(chunk)
        if info is None:
            result = run_per_sample(chunk_plan, work, stage=stage, workers=execution.rgb_workers,
                                    batch_size=execution.rgb_batch_size, dask_address=execution.dask_address,
                                    progress=False)
            records = [result.results[clip["sample_id"]] for clip in chunk_plan if clip["sample_id"] in result.results]
            if records:
                write_rgb_shard(partial.shard_path(chunk), records)
            info = {"records": len(records), "rejects": result.rejects}
            partial.commit(chunk, info)
            decoded_now += len(records)
        rejects += info["rejects"]
        print(f"{stage}: {first + len(chunk_plan)} of {len(plan)} samples, {len(rejects)} rejected", flush=True)
    return rejects, decoded_now


def _decode_metrics(infos: list[dict], out: Path, num_rejects: int, num_samples: int, raw_bytes: int,
                    framing: str | None) -> dict:
    """The stage's metrics (no timings), from the finished shards' infos and files."""
    decoded, shards = sum(info["records"] for info in infos), sum(1 for info in infos if info["records"])
    shard_bytes = sum(path.stat().st_size for path in out.glob(SHARD_GLOB))
    metrics = {
        "samples": decoded, "rejects": num_rejects, "shards": shards,
        "reject_fraction": round(num_rejects / num_samples if num_samples else 0.0, 4),
        "bytes_per_sample": round(shard_bytes / decoded) if decoded else None,
        "raw_bytes_per_sample": raw_bytes,
    }
    if framing:
        metrics["framing"] = framing
    return metrics


def _check_rejects(stage: str, rejects: list[dict], num_samples: int, max_reject_fraction, out: Path) -> None:
    """List the first 20 rejects; exit when more than `rgb.max_reject_fraction` of the samples are."""
    for reject in rejects[:20]:
        print(f"  rejected: {reject['reason']}")
    reject_fraction = len(rejects) / num_samples if num_samples else 0.0
    limit = float(max_reject_fraction)
    if reject_fraction > limit:
        sys.exit(f"{stage}: {reject_fraction:.1%} of samples rejected, more than "
                 f"rgb.max_reject_fraction = {limit:.1%}; see {out / 'rejects.parquet'}")


if __name__ == "__main__":
    main()
