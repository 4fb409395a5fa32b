"""DVC stage `ingest`: dataset layout -> `data/ingest/manifest.parquet` (+ rejects, + counts).

Reads params: `PARAM_KEYS`. For the synthetic source it also generates the videos and their keypoint
annotations under `data/ingest/synthetic/`. A dataset that cannot be trained and evaluated (an empty
split, one class, a class without training clips: `crychic.sources.dataset_checks`) stops here,
before any expensive stage, with the reason and what to do; `data.preprocess_only` lets it through.
The metrics hold the clips per class and split (`clips`), the rejects per reason, the warnings and,
for NTU, which training subjects (setups) became the val split (`ntu_val`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crychic.core.atomic_write import write_json
from crychic.core.manifest import write_manifest, write_rejects
from crychic.core.params import load_params, select
from crychic.sources.dataset_checks import DatasetError, check_dataset, format_table
from crychic.sources.ingest import ingest
from crychic.core.stage_registry import params_of

PARAM_KEYS = params_of("ingest")  # crychic.core.stage_registry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/ingest")
    parser.add_argument("--metrics", default="metrics/ingest.json")
    args = parser.parse_args(argv)

    data = select(load_params(args.params), PARAM_KEYS)["data"]
    out = Path(args.out)
    try:
        rows, rejects, notes = ingest(data, out, progress=True)
    except DatasetError as err:
        raise SystemExit(f"ingest: {err}") from None
    report = check_dataset(rows, rejects, data)
    print(f"ingest ({data['source']}): {len(rows)} samples, {len(report.clips)} classes, {len(rejects)} rejected")
    print(format_table(report))
    if report.problems and not data["preprocess_only"]:
        raise SystemExit(report.error_message())  # no manifest written: the next stages cannot start on it
    warnings = report.warnings + [f"(data.preprocess_only) {problem}" for problem in report.problems]
    for warning in warnings:
        print(f"ingest: WARNING: {warning}")
    write_manifest(rows, out / "manifest.parquet")
    write_rejects(rejects, out / "rejects.parquet")
    write_json(args.metrics, {
        "samples": len(rows),
        "rejects": len(rejects),
        "classes": len(report.clips),
        "split": {split: n for split, n in sorted(report.split_totals().items()) if n},
        "clips": report.clips,
        "rejects_by_reason": report.rejects_by_reason,
        "warnings": warnings,
        **notes,
    })
    if "ntu_val" in notes:
        print(f"ingest: val split = {notes['ntu_val']}")
    for reject in rejects[:20]:
        print(f"  rejected: {reject['reason']}")


if __name__ == "__main__":
    main()
