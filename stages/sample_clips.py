"""DVC stage `sample_clips`: keypoints -> the clip plan (frames and one person box per sample).

Reads params: `PARAM_KEYS` (with the framing jitter of training boxes, `crychic.clips.plan.jitter_box`). Both `render_heatmaps` and
`decode_rgb` cut their sample from the box planned here, which is what keeps the two modalities
in one spatial frame (see `crychic.clips.plan`).
"""

from __future__ import annotations

import argparse
import collections

from tqdm import tqdm

from crychic.clips.plan import CLIP_PLAN_SCHEMA, plan_clip
from crychic.core.manifest import EmptySplitError, read_manifest, require_splits, write_table
from crychic.core.params import load_params, select
from crychic.keypoints.store import KeypointStore
from crychic.core.stage_registry import params_of

PARAM_KEYS = params_of("sample_clips")  # crychic.core.stage_registry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--manifest", default="data/ingest/manifest.parquet")
    parser.add_argument("--keypoints", default="data/keypoints/keypoints.h5")
    parser.add_argument("--out", default="data/clips/clips.parquet")
    args = parser.parse_args(argv)

    params = select(load_params(args.params), PARAM_KEYS)
    heatmap = params["heatmap"]
    rows = []
    with KeypointStore(args.keypoints) as store:
        manifest = read_manifest(args.manifest).to_pylist()
        samples = [r for r in manifest if r["sample_id"] in store]
        # A split that ingest let through but extract_keypoints emptied (every clip rejected) stops here.
        given = collections.Counter(r["split"] for r in manifest)
        try:
            require_splits(collections.Counter(r["split"] for r in samples), [s for s in given if given[s]],
                           where=f"{args.keypoints} (keypoints of {args.manifest})")
        except EmptySplitError as err:
            raise SystemExit(f"sample_clips: {err}") from None
        for row in tqdm(samples, desc="sample_clips", unit="sample"):
            sample = store[row["sample_id"]]
            rows.append(plan_clip(row, sample.keypoint, sample.img_shape, clip_len=int(heatmap["clip_len"]),
                                  padding=float(heatmap["box_padding"]), seed=int(params["seed"]),
                                  train_box_scale=float(heatmap["train_box_scale"]),
                                  train_box_shift=float(heatmap["train_box_shift"]),
                                  train_box_jitter_share=float(heatmap["train_box_jitter_share"])))
    write_table(rows, CLIP_PLAN_SCHEMA, args.out)
    print(f"sample_clips: {len(rows)} clips planned ({heatmap['clip_len']} heatmap frames each)")


if __name__ == "__main__":
    main()
