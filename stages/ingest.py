"""DVC stage `ingest`: dataset layout -> `data/ingest/manifest.parquet` (+ rejects, + counts).

Reads params: `PARAM_KEYS`. For the synthetic source it also generates the videos and their keypoint
annotations under `data/ingest/synthetic/`.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from crychic.core.atomic_write import write_json
from crychic.core.manifest import write_manifest, write_rejects
from crychic.core.params import load_params, select
from crychic.sources.ingest import ingest

PARAM_KEYS = ["data.source", "data.root", "data.seed", "data.probe_videos", "data.synthetic", "data.ntu", "data.folder"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/ingest")
    parser.add_argument("--metrics", default="metrics/ingest.json")
    args = parser.parse_args(argv)

    data = select(load_params(args.params), PARAM_KEYS)["data"]
    out = Path(args.out)
    rows, rejects = ingest(data, out, progress=True)
    write_manifest(rows, out / "manifest.parquet")
    write_rejects(rejects, out / "rejects.parquet")

    counts = {
        "samples": len(rows),
        "rejects": len(rejects),
        "classes": len({r["label"] for r in rows}),
        "split": dict(sorted(collections.Counter(r["split"] for r in rows).items())),
    }
    write_json(args.metrics, counts)
    print(f"ingest ({data['source']}): {counts['samples']} samples, {counts['classes']} classes, "
          f"splits {counts['split']}, {counts['rejects']} rejected")
    for reject in rejects[:20]:
        print(f"  rejected: {reject['reason']}")


if __name__ == "__main__":
    main()
