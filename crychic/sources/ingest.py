"""The ingest step: any supported dataset layout -> manifest rows and rejects.

Sources: `synthetic` (the built-in benchmark, generated here), `ntu` (NTU RGB+D 60/120 names and
official splits, plus a val split carved from the training subjects or setups) and `folder` (one
folder per class). Each returns rows in the manifest's columns (`crychic.core.manifest.MANIFEST_SCHEMA`)
plus rejects with their reasons. Every choice is made on `val` and `test` is scored once at the
end, so each source must bring a val split: the synthetic and folder sources draw one, NTU's
benchmarks have none and get one carved here (`crychic.sources.ntu.carve_validation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crychic.sources.folder import list_folder_samples
from crychic.sources.ntu import VAL_UNIT, carve_validation, list_ntu_samples
from crychic.core.manifest import project_relative

SOURCES = ("synthetic", "ntu", "folder")


def ingest(data: dict[str, Any], out_dir: str | Path, *, project_root: str | Path = ".",
           progress: bool = False) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Rows, rejects and notes for the metrics, for the dataset the `data` params section describes.

    The notes say how a split was drawn where the manifest alone does not (NTU: which training
    subjects or setups became val); they are empty for the synthetic and folder sources.
    """
    source = data.get("source")
    if source not in SOURCES:
        raise ValueError(f"params.yaml: data.source = {source!r} is not a known source; expected one of {SOURCES}")
    out_dir = Path(out_dir)
    notes: dict[str, Any] = {}

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
            unit = VAL_UNIT[ntu["protocol"]]  # subjects (X-Sub, X-View) or setups (X-Set)
            if ntu.get(f"val_{unit}") is None:
                raise KeyError(f"params.yaml: missing setting 'data.ntu.val_{unit}' (how many training "
                               f"{unit} become the {ntu['protocol']} val split)")
            seed = int(data["seed"])
            drawn = carve_validation(rows, protocol=ntu["protocol"], count=ntu[f"val_{unit}"], seed=seed)
            notes["ntu_val"] = {"carved_from": f"training {unit}", unit: drawn, "seed": seed}
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
    return rows, rejects, notes
