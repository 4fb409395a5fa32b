"""NTU's val split: carved from the official training subjects (setups for X-Set), never from test.

The layouts are fake (empty `SsssCcccPpppRrrrAaaa_rgb.avi` files): NTU ingest reads only the names.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import PROJECT_ROOT
from crychic.core.manifest import NoValidationSplitError, validation_split
from crychic.sources.ingest import ingest
from crychic.sources.ntu import NTU60_XSUB_TRAIN, NTU120_XSUB_TRAIN, carve_validation, ntu_split, parse_ntu_name
from stages.ingest import main as ingest_stage


def fake_ntu(root, *, setups, cameras, performers, actions=(1, 2)):
    root.mkdir(parents=True, exist_ok=True)
    for s in setups:
        for c in cameras:
            for p in performers:
                for a in actions:
                    (root / f"S{s:03d}C{c:03d}P{p:03d}R001A{a:03d}_rgb.avi").write_bytes(b"")
    return root


def ntu_data(root, **ntu) -> dict:
    """params.yaml's `data` section (its defaults included) pointed at an NTU folder."""
    data = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())["data"]
    data.update(source="ntu", root=str(root))
    data["ntu"].update(ntu)
    return data


def official(row: dict, version: str, protocol: str) -> str:
    return ntu_split(parse_ntu_name(row["sample_id"]), version, protocol)


def units(rows, split: str, field: str) -> set[int]:
    return {getattr(parse_ntu_name(r["sample_id"]), field) for r in rows if r["split"] == split}


def test_ntu60_xsub_ingest_carves_val_from_training_subjects(tmp_path):
    videos = fake_ntu(tmp_path / "nturgb+d_rgb", setups=(1,), cameras=(1, 2), performers=range(1, 41))
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    params["data"].update(source="ntu", root=str(videos))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ingest_stage(["--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "ingest"),
                  "--metrics", str(tmp_path / "ingest.json")])

    rows = pq.read_table(tmp_path / "ingest" / "manifest.parquet").to_pylist()
    val = {r["subject"] for r in rows if r["split"] == "val"}
    train = {r["subject"] for r in rows if r["split"] == "train"}
    test = {r["subject"] for r in rows if r["split"] == "test"}
    assert len(val) == params["data"]["ntu"]["val_subjects"] == 4  # the documented default
    assert val <= NTU60_XSUB_TRAIN and not val & train and train | val == NTU60_XSUB_TRAIN
    assert test == set(range(1, 41)) - NTU60_XSUB_TRAIN  # the official test split, untouched
    assert all(r["split"] == "test" for r in rows if official(r, "ntu60", "xsub") == "test")

    metrics = json.loads((tmp_path / "ingest.json").read_text())
    assert metrics["ntu_val"] == {"carved_from": "training subjects", "subjects": sorted(val), "seed": 0}
    assert metrics["split"] == {"test": 80, "train": 64, "val": 16}
    assert validation_split(r["split"] for r in rows) == "val"


def test_the_draw_is_deterministic_by_seed(tmp_path):
    videos = fake_ntu(tmp_path / "v", setups=(1,), cameras=(1,), performers=range(1, 41), actions=(1,))
    draws = {}
    for seed in (0, 0, 1, 2):
        rows, _, notes = ingest({**ntu_data(videos), "seed": seed}, tmp_path / "out")
        draws.setdefault(seed, []).append((notes["ntu_val"]["subjects"], [r["split"] for r in rows]))
    assert draws[0][0] == draws[0][1]
    assert len({tuple(draws[s][0][0]) for s in (0, 1, 2)}) > 1  # the seed chooses the subjects


def test_ntu60_xview_val_is_subject_disjoint_from_train_and_test_stays_camera_1(tmp_path):
    videos = fake_ntu(tmp_path / "v", setups=(1, 2), cameras=(1, 2, 3), performers=range(1, 41), actions=(1,))
    rows, _, notes = ingest(ntu_data(videos, protocol="xview", val_subjects=5), tmp_path / "out")
    val, train = units(rows, "val", "performer"), units(rows, "train", "performer")
    assert len(val) == 5 and not val & train and notes["ntu_val"]["subjects"] == sorted(val)
    assert units(rows, "val", "camera") == {2, 3}  # val comes from the training cameras only
    assert [r["sample_id"] for r in rows if r["split"] == "test"] == [
        r["sample_id"] for r in rows if official(r, "ntu60", "xview") == "test"]


def test_ntu120_xset_carves_val_from_training_setups(tmp_path):
    videos = fake_ntu(tmp_path / "v", setups=range(1, 11), cameras=(1,), performers=(1, 3, 103), actions=(1, 120))
    rows, _, notes = ingest(ntu_data(videos, version="ntu120", protocol="xset", val_setups=2), tmp_path / "out")
    val, train = units(rows, "val", "setup"), units(rows, "train", "setup")
    assert len(val) == 2 and val | train == {2, 4, 6, 8, 10} and not val & train
    assert units(rows, "test", "setup") == {1, 3, 5, 7, 9}
    assert notes["ntu_val"] == {"carved_from": "training setups", "setups": sorted(val), "seed": 0}


def test_ntu120_xsub_val_subjects_are_training_subjects(tmp_path):
    videos = fake_ntu(tmp_path / "v", setups=(20,), cameras=(1,), performers=range(40, 107), actions=(100,))
    rows, _, _ = ingest(ntu_data(videos, version="ntu120", protocol="xsub"), tmp_path / "out")
    val, train = units(rows, "val", "performer"), units(rows, "train", "performer")
    assert len(val) == 4 and val <= NTU120_XSUB_TRAIN and not val & train
    assert not units(rows, "test", "performer") & NTU120_XSUB_TRAIN


def test_too_few_training_subjects_is_a_clear_error(tmp_path):
    videos = fake_ntu(tmp_path / "v", setups=(1,), cameras=(1,), performers=(1, 2, 3), actions=(1,))
    with pytest.raises(ValueError, match=r"data\.ntu\.val_subjects = 2.*only 2 subjects \(\[1, 2\]\)"):
        ingest(ntu_data(videos, val_subjects=2), tmp_path / "out")
    with pytest.raises(KeyError, match=r"data\.ntu\.val_setups"):
        data = ntu_data(videos, version="ntu120", protocol="xset")
        del data["ntu"]["val_setups"]
        ingest(data, tmp_path / "out")
    with pytest.raises(ValueError, match="whole number"):
        carve_validation([], protocol="xsub", count=-1, seed=0)


def test_no_val_split_is_refused_never_replaced_by_test(tmp_path):
    videos = fake_ntu(tmp_path / "v", setups=(1,), cameras=(1,), performers=(1, 2, 3), actions=(1,))
    rows, _, notes = ingest(ntu_data(videos, val_subjects=0), tmp_path / "out")  # the official splits only
    assert {r["split"] for r in rows} == {"train", "test"} and notes["ntu_val"]["subjects"] == []
    with pytest.raises(NoValidationSplitError, match=r"no 'val' split.*val_subjects"):
        validation_split(r["split"] for r in rows)
    with pytest.raises(ValueError, match="never made on 'test'"):
        validation_split(["test"])
    assert validation_split(["train", "val", "test"]) == "val"
