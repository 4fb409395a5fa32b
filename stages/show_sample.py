"""Draw one sample's RGB frames with its heatmaps on top: `plots/sample_<id>.png`.

A quick look that both modalities share one spatial frame and one time base. Without
`--sample-id` it takes the first sample (by id) of `--split` that has both modalities.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from crychic.heatmaps.shards import HeatmapShards
from crychic.reporting.figures import overlay_sample, save_png
from crychic.rgb.shards import RgbClips
from crychic.training.data import PoseRgbDataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample-id", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--heatmaps", default="data/heatmaps")
    parser.add_argument("--rgb", default="data/rgb")
    parser.add_argument("--panels", type=int, default=4)
    parser.add_argument("--panel-size", type=int, default=224, help="pixels per panel side (RGB is enlarged)")
    parser.add_argument("--out", default=None, help="default: plots/sample_<id>.png")
    args = parser.parse_args(argv)

    sample_id = args.sample_id
    if sample_id is None:
        paired = PoseRgbDataset(args.heatmaps, args.rgb, split=args.split)
        if not len(paired):
            raise SystemExit(f"show_sample: no sample of split {args.split!r} has both a heatmap and an RGB clip "
                             f"(missing: { {m: len(ids) for m, ids in paired.missing.items()} })")
        sample_id = paired.sample_ids[0]
    heatmap = HeatmapShards(args.heatmaps).get(sample_id)
    rgb = RgbClips(args.rgb).get(sample_id)
    image = overlay_sample(rgb["frames"], rgb["frame_indices"], heatmap["heatmap"], heatmap["frame_indices"],
                           num_panels=args.panels, panel_size=args.panel_size)
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)
    out = save_png(image, args.out or Path("plots") / f"sample_{safe_id}.png")
    print(out)


if __name__ == "__main__":
    main()
