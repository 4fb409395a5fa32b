"""DVC stage `extract_keypoints`: manifest -> per-sample COCO-17 keypoints (HDF5) + rejects.

Reads params: `PARAM_KEYS`. The per-sample work fans out through a Prefect flow
(`pipeline.fan_out`), in shards of videos sized from the dataset and the workers (one task each),
on local threads or a Dask cluster (`crychic.core.execution`: not DVC params). Each worker thread
keeps one MediaPipe graph for all the videos it is given (`crychic.keypoints.mediapipe_pose`).
A sample that fails (unreadable video, no person, malformed skeleton file) becomes a reject with
its reason; the stage fails only when more than `keypoints.max_reject_fraction` of them do.
Every partial (truncated) video, kept or rejected by `keypoints.min_decoded_fraction`
(`crychic.keypoints.extraction`), is a row of `partial_videos.parquet` with its declared and decoded
frame counts; the metrics count the kept ones as `partial_videos` (the rejected ones are rejects).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import yaml

from crychic.core.atomic_write import write_json
from crychic.core.execution import execution_settings
from crychic.core.manifest import read_manifest, write_rejects, write_table
from crychic.core.params import load_params, select
from crychic.keypoints.extraction import PARTIAL_VIDEOS_SCHEMA, extract_sample_keypoints
from crychic.keypoints.store import write_keypoints
from crychic.core.stage_registry import params_of
from pipeline.fan_out import run_per_sample

PARAM_KEYS = params_of("extract_keypoints")  # crychic.core.stage_registry


def task_size(config: str | Path = "execution.yaml", environ: dict | None = None) -> int | None:
    """Videos per Prefect task: `keypoint_batch_size` when it is set (`CRYCHIC_KEYPOINT_BATCH_SIZE`
    or `execution.yaml`), else None, for shards sized from the dataset and the workers
    (`pipeline.fan_out.shard_size`). The default of 8 in `crychic.core.execution` is not used here:
    8 videos a task would be 14,000 tasks on NTU-120."""
    environ = os.environ if environ is None else environ
    path = Path(config)
    in_file = path.is_file() and "keypoint_batch_size" in (yaml.safe_load(path.read_text()) or {})
    if "CRYCHIC_KEYPOINT_BATCH_SIZE" in environ or in_file:
        return execution_settings(config, environ).keypoint_batch_size  # validated there
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--out", default="data/keypoints")
    parser.add_argument("--metrics", default="metrics/extract_keypoints.json")
    parser.add_argument("--timing", help="seconds (default: timing/ beside --metrics)")
    args = parser.parse_args(argv)
    timing = args.timing or Path(args.metrics).parent / "timing" / Path(args.metrics).name

    params = select(load_params(args.params), PARAM_KEYS)["keypoints"]
    execution = execution_settings()
    samples = read_manifest(args.manifest).to_pylist()
    pyskl = None
    if params["pyskl_file"]:
        from crychic.keypoints.pyskl_annotations import read_pyskl_annotations

        _, annotations = read_pyskl_annotations(params["pyskl_file"])
        pyskl = {ann["frame_dir"]: ann for ann in annotations}

    work = functools.partial(
        extract_sample_keypoints, source=params["source"], pyskl_annotations=pyskl,
        mediapipe_frame_size=params["mediapipe_frame_size"],
        mediapipe_min_visibility=float(params["mediapipe_min_visibility"]),
        max_persons=int(params["max_persons"]), min_decoded_fraction=float(params["min_decoded_fraction"]),
    )
    out = Path(args.out)
    result = run_per_sample(
        samples, work, stage="extract_keypoints", workers=execution.keypoint_workers,
        batch_size=task_size(), dask_address=execution.dask_address,
        cache_dir=out.parent / f".{out.name}-partial", cache_token=json.dumps(params, sort_keys=True, default=str),
    )
    write_keypoints(out / "keypoints.h5", result.results)
    write_rejects(result.rejects, out / "rejects.parquet")
    kept = [asdict(r.partial) for r in result.results.values() if getattr(r, "partial", None) is not None]
    partial = kept + [r["details"] for r in result.rejects if "details" in r]
    write_table(sorted(partial, key=lambda r: r["sample_id"]), PARTIAL_VIDEOS_SCHEMA, out / "partial_videos.parquet")

    counts = {"samples": len(samples), "extracted": len(result.results), "rejects": len(result.rejects),
              "reject_fraction": round(result.reject_fraction, 4), "partial_videos": len(kept)}
    write_json(args.metrics, counts)  # counts only: re-running identical work rewrites it byte for byte
    write_json(timing, {"seconds": round(result.seconds, 2)})
    print(f"extract_keypoints: {counts['extracted']} of {counts['samples']} samples, "
          f"{counts['rejects']} rejected, {result.seconds:.1f} s")
    if partial:
        print(f"  {len(partial)} partial videos ({len(kept)} kept, cut to their decoded frames): "
              f"see {out / 'partial_videos.parquet'}")
    for reject in result.rejects[:20]:
        print(f"  rejected: {reject['reason']}")
    limit = float(params["max_reject_fraction"])
    if result.reject_fraction > limit:
        sys.exit(f"extract_keypoints: {result.reject_fraction:.1%} of samples rejected, more than "
                 f"keypoints.max_reject_fraction = {limit:.1%}; see {out / 'rejects.parquet'}")


if __name__ == "__main__":
    main()
