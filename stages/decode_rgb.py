"""DVC stage `decode_rgb`: clip plan -> RGB clips cut by the planned person box, in Arrow IPC shards.

Reads params: `seed`, `rgb` (clip_len, size, shard_size, decode_max_side, workers, batch_size,
max_reject_fraction, and optionally dask_address). Samples are decoded one shard at a time
(`pipeline.fan_out`: local threads, or a Dask cluster), and each shard is written atomically as
soon as its clips are cut, so memory stays bounded at NTU scale. A sample that cannot be decoded
becomes a reject with its reason; the stage fails only past `rgb.max_reject_fraction`.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

from crychic.core.atomic_write import write_json
from crychic.clips.plan import read_clip_plan
from crychic.core.manifest import write_rejects
from crychic.core.params import load_params
from crychic.rgb.clips import SHARD_GLOB, decode_planned_clip, shard_name, write_rgb_shard
from pipeline.fan_out import run_per_sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--out", default="data/rgb")
    parser.add_argument("--metrics", default="metrics/decode_rgb.json")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    rgb = params["rgb"]
    clip_len, size, shard_size = int(rgb["clip_len"]), int(rgb["size"]), int(rgb["shard_size"])
    work = functools.partial(decode_planned_clip, clip_len=clip_len, size=size, seed=int(params["seed"]),
                             decode_max_side=rgb["decode_max_side"])
    plan = read_clip_plan(args.clips)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(SHARD_GLOB):
        stale.unlink()

    started = time.perf_counter()
    decoded, shards, shard_bytes, rejects = 0, 0, 0, []
    for first in range(0, len(plan), shard_size):
        chunk = plan[first : first + shard_size]
        result = run_per_sample(chunk, work, stage="decode_rgb", workers=int(rgb["workers"]),
                                batch_size=int(rgb["batch_size"]), dask_address=rgb.get("dask_address"),
                                progress=False)
        rejects += result.rejects
        records = [result.results[clip["sample_id"]] for clip in chunk if clip["sample_id"] in result.results]
        if records:  # shards are numbered by what was written, so a wholly rejected chunk leaves no gap
            path = out / shard_name(shards)
            write_rgb_shard(path, records)
            shards, shard_bytes, decoded = shards + 1, shard_bytes + path.stat().st_size, decoded + len(records)
        print(f"decode_rgb: {first + len(chunk)} of {len(plan)} samples, {len(rejects)} rejected", flush=True)
    seconds = time.perf_counter() - started
    write_rejects(rejects, out / "rejects.parquet")

    reject_fraction = len(rejects) / len(plan) if plan else 0.0
    metrics = {
        "samples": decoded, "rejects": len(rejects), "shards": shards, "reject_fraction": round(reject_fraction, 4),
        "seconds": round(seconds, 2), "clips_per_second": round(decoded / seconds, 2) if seconds else None,
        "bytes_per_sample": round(shard_bytes / decoded) if decoded else None,
        "raw_bytes_per_sample": clip_len * size * size * 3,
    }
    write_json(args.metrics, metrics)
    print(f"decode_rgb: {decoded} clips ({clip_len} x {size} x {size} x 3) of {len(plan)} samples, "
          f"{len(rejects)} rejected, {seconds:.1f} s, {metrics['bytes_per_sample']} bytes per clip")
    for reject in rejects[:20]:
        print(f"  rejected: {reject['reason']}")
    limit = float(rgb["max_reject_fraction"])
    if reject_fraction > limit:
        sys.exit(f"decode_rgb: {reject_fraction:.1%} of samples rejected, more than "
                 f"rgb.max_reject_fraction = {limit:.1%}; see {out / 'rejects.parquet'}")


if __name__ == "__main__":
    main()
