"""DVC stage `render_heatmaps`: keypoints + clip plan -> PoseConv3D heatmap volumes in HDF5 shards.

Reads params: `PARAM_KEYS`. Each shard is written atomically as soon as its samples are rendered, so
memory stays bounded at NTU scale. Killed and run again, it keeps the shards that had finished
(`crychic.core.partial_shards`: `data/.heatmaps-partial/`, under a token of the params, the
keypoints and the clip plan) and renders only the rest.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

from tqdm import tqdm

from crychic.clips.plan import read_clip_plan
from crychic.core.atomic_write import write_json
from crychic.core.params import load_params, select
from crychic.core.partial_shards import PartialShards, input_token
from crychic.heatmaps.shards import shard_name, write_heatmap_shard
from crychic.heatmaps.volume import channel_names, render_volume
from crychic.keypoints.store import KeypointStore
from crychic.core.stage_registry import params_of

PARAM_KEYS = params_of("render_heatmaps")  # crychic.core.stage_registry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--keypoints", default="data/keypoints/keypoints.h5")
    parser.add_argument("--clips", default="data/clips/clips.parquet")
    parser.add_argument("--out", default="data/heatmaps")
    parser.add_argument("--metrics", default="metrics/render_heatmaps.json")
    parser.add_argument("--timing", help="seconds (default: timing/ beside --metrics)")
    args = parser.parse_args(argv)
    timing = args.timing or Path(args.metrics).parent / "timing" / Path(args.metrics).name

    hm = select(load_params(args.params), PARAM_KEYS)["heatmap"]
    size, sigma = int(hm["size"]), float(hm["sigma"])
    with_joint, with_limb = bool(hm["with_joint"]), bool(hm["with_limb"])
    attrs = {"sigma": sigma, "size": size, "with_joint": with_joint, "with_limb": with_limb,
             "channels": channel_names(with_joint, with_limb)}
    render = functools.partial(render_volume, size=size, sigma=sigma, with_joint=with_joint, with_limb=with_limb)
    plan = read_clip_plan(args.clips)
    shard_size = int(hm["shard_size"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("shard-*.h5"):
        stale.unlink()

    partial = PartialShards(out, input_token(hm, [args.keypoints, args.clips]), suffix=".h5")
    chunks = range(0, len(plan), shard_size)
    if partial.resumed:
        print(f"render_heatmaps: resuming: {partial.resumed} of {len(chunks)} shards already done ({partial.dir})",
              flush=True)
    started = time.perf_counter()
    rendered_now = _render_chunks(args.keypoints, plan, chunks, shard_size, partial, render, attrs)
    partial.finish(out, len(chunks), shard_name)
    shard_bytes = sum(path.stat().st_size for path in out.glob("shard-*.h5"))
    seconds = time.perf_counter() - started
    metrics = _heatmap_metrics(plan, shard_bytes, len(attrs["channels"]), size)
    write_json(args.metrics, metrics)  # no timings: re-running identical work rewrites it byte for byte
    write_json(timing, {"seconds": round(seconds, 2),
                        "volumes_per_second": round(rendered_now / seconds, 1) if seconds else None})
    print(f"render_heatmaps: {len(plan)} volumes ({len(attrs['channels'])} x {len(plan[0]['frame_indices']) if plan else 0}"
          f" x {size} x {size}) in {seconds:.1f} s, {metrics['bytes_per_sample']} bytes each "
          f"(1/{metrics['compression_vs_float32']} of float32)")


def _render_chunks(keypoints: str, plan: list[dict], chunks: range, shard_size: int, partial: PartialShards,
                   render, attrs: dict) -> int:
    """The volumes rendered by this run (the rate; resumed shards are not): each chunk of
    `shard_size` clips not already done is rendered with `render` and written as one shard."""
    rendered_now = 0
    with KeypointStore(keypoints) as store, tqdm(total=len(plan), desc="render_heatmaps", unit="sample") as bar:
        for chunk, first in enumerate(chunks):
            chunk_plan = plan[first : first + shard_size]
            if partial.done(chunk) is None:
                records = []
                for clip in chunk_plan:
                    volume = render(store[clip["sample_id"]].keypoint, clip["box"], clip["frame_indices"])
                    records.append({**clip, "heatmap": volume})
                    bar.update()
                write_heatmap_shard(partial.shard_path(chunk), records, attrs)
                partial.commit(chunk, {"records": len(records)})
                rendered_now += len(records)
            else:
                bar.update(len(chunk_plan))
    return rendered_now


def _heatmap_metrics(plan: list[dict], shard_bytes: int, num_channels: int, size: int) -> dict:
    """The stage's metrics (no timings): bytes per volume in the shards, and against float32."""
    float32_bytes = 4 * num_channels * len(plan[0]["frame_indices"]) * size * size if plan else 0
    return {
        "samples": len(plan),
        "bytes_per_sample": round(shard_bytes / max(len(plan), 1)),
        "float32_bytes_per_sample": float32_bytes,
        "compression_vs_float32": round(float32_bytes / max(shard_bytes / max(len(plan), 1), 1), 1),
    }


if __name__ == "__main__":
    main()
