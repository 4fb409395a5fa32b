"""The ingest step: any supported dataset layout -> manifest rows and rejects.

Sources: `synthetic` (the built-in benchmark, generated here), `ntu` (NTU RGB+D 60/120 names and
official splits) and `folder` (one folder per class). Each returns rows in the manifest's columns
(`crychic.core.manifest.MANIFEST_SCHEMA`) plus rejects with their reasons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crychic.sources.folder import list_folder_samples
from crychic.sources.ntu import list_ntu_samples
from crychic.core.manifest import project_relative

SOURCES = ("synthetic", "ntu", "folder")


def ingest(data: dict[str, Any], out_dir: str | Path, *, project_root: str | Path = ".",
           progress: bool = False) -> tuple[list[dict], list[dict]]:
    """Rows and rejects for the dataset that the `data` params section describes."""
    source = data.get("source")
    if source not in SOURCES:
        raise ValueError(f"params.yaml: data.source = {source!r} is not a known source; expected one of {SOURCES}")
    out_dir = Path(out_dir)

    if source == "synthetic":
        from crychic.sources.synthetic.generate import SyntheticConfig, generate_dataset

        config = SyntheticConfig(seed=int(data["seed"]), **data["synthetic"])
        target = out_dir / "synthetic"
        rows = generate_dataset(target, config, progress=progress)
        rejects: list[dict] = []
        for row in rows:
            row["path"] = str(target / row.pop("video"))
            row["annotation"] = str(target / row["annotation"])
    else:
        root = data["root"]
        if source == "ntu":
            ntu = data["ntu"]
            rows, rejects = list_ntu_samples(
                root, version=ntu["version"], protocol=ntu["protocol"],
                skeleton_root=ntu["skeleton_root"],
            )
        else:
            if root is None:
                raise ValueError("params.yaml: data.root must name the dataset folder for the folder source")
            folder = data["folder"]
            rows, rejects = list_folder_samples(
                root, split_file=folder["split_file"], val_fraction=float(folder["val_fraction"]),
                test_fraction=float(folder["test_fraction"]), seed=int(data["seed"]),
                probe=bool(data["probe_videos"]),
            )
    for row in rows:
        row["path"] = project_relative(row["path"], project_root)
        if row.get("annotation"):
            row["annotation"] = project_relative(row["annotation"], project_root)
    return rows, rejects
