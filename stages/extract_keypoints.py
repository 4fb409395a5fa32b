"""DVC stage `extract_keypoints`: manifest -> per-sample COCO-17 keypoints (HDF5) + rejects.

Reads params: `keypoints`. The per-sample work fans out through a Prefect flow
(`pipeline.fan_out`): local threads, or a Dask cluster with `keypoints.dask_address`.
A sample that fails (unreadable video, no person, malformed skeleton file) becomes a reject with
its reason; the stage fails only when more than `keypoints.max_reject_fraction` of them do.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from crychic.core.atomic_write import write_json
from crychic.keypoints.extraction import extract_sample_keypoints
from crychic.keypoints.store import write_keypoints
from crychic.core.manifest import read_manifest, write_rejects
from crychic.core.params import load_params
from pipeline.fan_out import run_per_sample


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--out", default="data/keypoints")
    parser.add_argument("--metrics", default="metrics/extract_keypoints.json")
    args = parser.parse_args(argv)

    params = load_params(args.params)["keypoints"]
    samples = read_manifest(args.manifest).to_pylist()
    pyskl = None
    if params.get("pyskl_file"):
        from crychic.keypoints.pyskl_annotations import read_pyskl_annotations

        _, annotations = read_pyskl_annotations(params["pyskl_file"])
        pyskl = {ann["frame_dir"]: ann for ann in annotations}

    work = functools.partial(
        extract_sample_keypoints, source=params["source"], pyskl_annotations=pyskl,
        mediapipe_frame_size=params.get("mediapipe_frame_size"),
        mediapipe_min_visibility=float(params.get("mediapipe_min_visibility", 0.5)),
        max_persons=int(params.get("max_persons", 2)),
    )
    out = Path(args.out)
    result = run_per_sample(
        samples, work, stage="extract_keypoints", workers=int(params.get("workers", 2)),
        batch_size=int(params.get("batch_size", 8)), dask_address=params.get("dask_address"),
        cache_dir=out.parent / f".{out.name}-partial", cache_token=json.dumps(params, sort_keys=True, default=str),
    )
    write_keypoints(out / "keypoints.h5", result.results)
    write_rejects(result.rejects, out / "rejects.parquet")

    counts = {"samples": len(samples), "extracted": len(result.results), "rejects": len(result.rejects),
              "reject_fraction": round(result.reject_fraction, 4), "seconds": round(result.seconds, 2)}
    write_json(args.metrics, counts)
    print(f"extract_keypoints: {counts['extracted']} of {counts['samples']} samples, "
          f"{counts['rejects']} rejected, {counts['seconds']} s")
    for reject in result.rejects[:20]:
        print(f"  rejected: {reject['reason']}")
    limit = float(params.get("max_reject_fraction", 0.1))
    if result.reject_fraction > limit:
        sys.exit(f"extract_keypoints: {result.reject_fraction:.1%} of samples rejected, more than "
                 f"keypoints.max_reject_fraction = {limit:.1%}; see {out / 'rejects.parquet'}")


if __name__ == "__main__":
    main()
