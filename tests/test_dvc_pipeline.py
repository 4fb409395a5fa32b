"""The real thing: `dvc repro` of the default pipeline in a fresh git repository.

The working tree (tracked and untracked, not ignored) is copied into a temporary directory and
committed there, as a user's clone would be; DVC runs the stages with this environment's Python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import PROJECT_ROOT
from crychic.heatmap_shards import HeatmapShards
from crychic.rgb_clips import RgbClips

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
PREPROCESSING = ["ingest", "extract_keypoints", "sample_clips", "render_heatmaps", "decode_rgb"]


def run(cmd: list[str], cwd: Path, timeout: int = 900) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def set_param(repo: Path, dotted: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    node = params
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("clone") / "crychic"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (PROJECT_ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, repo / name)
    shutil.rmtree(repo / "data", ignore_errors=True)  # what a clone has: no generated data
    (repo / "data").mkdir()
    if (PROJECT_ROOT / "data" / ".gitignore").exists():
        shutil.copy2(PROJECT_ROOT / "data" / ".gitignore", repo / "data" / ".gitignore")
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", "clone"], repo)
    return repo


@pytest.fixture(scope="module")
def first_repro(repo) -> str:
    return run(["dvc", "repro"], repo)


def test_repro_runs_every_stage(repo, first_repro):
    assert set(PREPROCESSING) <= stages_run(first_repro)
    manifest = pq.read_table(repo / "data/ingest/manifest.parquet")
    assert manifest.num_rows == 288
    assert list((repo / "data/heatmaps").glob("shard-*.h5")) and list((repo / "data/rgb").glob("shard-*.arrow"))
    assert "samples" in run(["dvc", "metrics", "show"], repo)


def test_second_repro_is_up_to_date(repo, first_repro):
    output = run(["dvc", "repro"], repo)
    assert stages_run(output) == set()
    assert "Data and pipelines are up to date" in output


def test_rgb_size_reruns_only_decode_rgb(repo, first_repro):
    set_param(repo, "rgb.size", 64)
    assert stages_run(run(["dvc", "repro"], repo)) == {"decode_rgb"}
    clips = RgbClips(repo / "data/rgb")
    assert clips.get(clips.ids()[0])["frames"].shape[1:] == (64, 64, 3)


def test_heatmap_sigma_does_not_rerun_keypoints(repo, first_repro):
    set_param(repo, "heatmap.sigma", 0.8)
    assert stages_run(run(["dvc", "repro"], repo)) == {"render_heatmaps"}
    assert HeatmapShards(repo / "data/heatmaps").attrs["sigma"] == pytest.approx(0.8)
