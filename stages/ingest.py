"""DVC stage `ingest`: dataset layout -> `data/ingest/manifest.parquet` (+ rejects, + counts).

Reads params: `PARAM_KEYS`. For the synthetic source it also generates the videos and their keypoint
annotations under `data/ingest/synthetic/`. The metrics hold the split counts and, for NTU, which
training subjects (setups) became the val split (`ntu_val`), so a run's val split can be read back.
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
    rows, rejects, notes = ingest(data, out, progress=True)
    write_manifest(rows, out / "manifest.parquet")
    write_rejects(rejects, out / "rejects.parquet")

    counts = {
        "samples": len(rows),
        "rejects": len(rejects),
        "classes": len({r["label"] for r in rows}),
        "split": dict(sorted(collections.Counter(r["split"] for r in rows).items())),
        **notes,
    }
    write_json(args.metrics, counts)
    print(f"ingest ({data['source']}): {counts['samples']} samples, {counts['classes']} classes, "
          f"splits {counts['split']}, {counts['rejects']} rejected")
    if "ntu_val" in notes:
        print(f"ingest: val split = {notes['ntu_val']}")
    if "val" not in counts["split"]:
        # Preprocessing can go on (a sample-sized dataset has no room for val); training cannot.
        fix = {"ntu": "data.ntu.val_subjects (xsub, xview) or data.ntu.val_setups (xset) above 0",
               "folder": "data.folder.val_fraction above 0, or val lines in data.folder.split_file"}
        print(f"ingest: WARNING: no val split, so the training stages will refuse to run (every choice is "
              f"made on val, never on test): set {fix.get(data['source'], 'a val split')}")
    for reject in rejects[:20]:
        print(f"  rejected: {reject['reason']}")


if __name__ == "__main__":
    main()
